//! The datagram transports: UDP and unix datagram sockets, one message a
//! datagram. A message too big for the socket is cut to what fits, never
//! split, and the caller counts it as truncated.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::drivers::util::conn;

/// The largest UDP payload over IPv4: 65,535 less the IP and UDP headers.
const MAX_UDP: usize = 65_507;

/// A connected datagram socket.
#[derive(Debug)]
pub(crate) enum Datagram {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

/// What a send did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Whole,
    /// Cut to this many bytes: the socket takes no more in one datagram.
    Cut(usize),
}

impl Datagram {
    /// A UDP socket connected to `host:port`, looked up by `deadline`.
    pub(crate) fn udp(host: &str, port: u16, deadline: Instant) -> io::Result<Datagram> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
        for addr in conn::resolve(host, port, deadline)? {
            let local: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            match UdpSocket::bind(local).and_then(|s| s.connect(addr).map(|()| s)) {
                Ok(socket) => return Ok(Datagram::Udp(socket)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A unix datagram socket connected to `path`.
    pub(crate) fn unix(path: &Path) -> io::Result<Datagram> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(Datagram::Unix(socket))
    }

    /// Sets how long a send may wait for room in the socket (a unix
    /// socket's reader that is slow), at least a millisecond.
    pub(crate) fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        match self {
            Datagram::Udp(s) => s.set_write_timeout(timeout),
            Datagram::Unix(s) => s.set_write_timeout(timeout),
        }
    }

    /// Sends `message` as one datagram, cut to what the socket takes.
    pub(crate) fn send(&self, message: &[u8]) -> io::Result<Sent> {
        let mut len = match self {
            Datagram::Udp(_) => message.len().min(MAX_UDP),
            Datagram::Unix(_) => message.len(),
        };
        loop {
            let sent = match self {
                Datagram::Udp(s) => s.send(&message[..len]),
                Datagram::Unix(s) => s.send(&message[..len]),
            };
            match sent {
                Ok(_) if len == message.len() => return Ok(Sent::Whole),
                Ok(_) => return Ok(Sent::Cut(len)),
                // Too big for the socket's buffer: halve until it fits.
                Err(e) if is_too_big(&e) && len > 1024 => len /= 2,
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_too_big(e: &io::Error) -> bool {
    // Linux's EMSGSIZE: std has no ErrorKind for it.
    e.raw_os_error() == Some(90)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_sends_one_message_a_datagram_and_cuts_what_is_too_big() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let port = server.local_addr().unwrap().port();
        let deadline = Instant::now() + Duration::from_secs(5);
        let client = Datagram::udp("127.0.0.1", port, deadline).unwrap();
        assert_eq!(client.send(b"<30>one").unwrap(), Sent::Whole);
        let big = vec![b'x'; 70_000];
        assert_eq!(client.send(&big).unwrap(), Sent::Cut(MAX_UDP));
        let mut buf = vec![0; 80_000];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<30>one");
        assert_eq!(server.recv(&mut buf).unwrap(), MAX_UDP);
    }

    #[test]
    fn unix_datagrams_are_whole_up_to_the_socket_and_cut_beyond() {
        let dir = std::env::temp_dir().join(format!("logdriver-dgram-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let client = Datagram::unix(&path).unwrap();
        let line = vec![b'y'; 4000];
        assert_eq!(client.send(&line).unwrap(), Sent::Whole);
        let mut buf = vec![0; 1 << 22];
        assert_eq!(server.recv(&mut buf).unwrap(), 4000);
        // Over any unix socket's buffer: cut, never split.
        let huge = vec![b'z'; 4 << 20];
        let Sent::Cut(len) = client.send(&huge).unwrap() else {
            panic!("a 4 MiB datagram went whole");
        };
        assert_eq!(server.recv(&mut buf).unwrap(), len);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
