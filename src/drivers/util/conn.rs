//! A connection to a peer, TCP, a unix socket or TCP with TLS, whose
//! every step (the lookup, the connect, the handshake, each write and
//! read) keeps one absolute deadline, whatever the peer does.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::Path;

/// Where to connect.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Peer<'a> {
    Tcp { host: &'a str, port: u16 },
    Tls { host: &'a str, port: u16 },
    Unix(&'a Path),
}

/// TLS settings, made once per driver.
#[cfg(feature = "fluentd-tls")]
pub(crate) type Tls = Arc<rustls::ClientConfig>;
/// Without the `fluentd-tls` feature there is nothing to set.
#[cfg(not(feature = "fluentd-tls"))]
pub(crate) type Tls = Arc<()>;

/// An open connection.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    #[cfg(feature = "fluentd-tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// The time left until `deadline`, or a timed-out error once none is.
fn left(deadline: Instant) -> io::Result<Duration> {
    match deadline.saturating_duration_since(Instant::now()) {
        d if d.is_zero() => Err(io::ErrorKind::TimedOut.into()),
        d => Ok(d),
    }
}

/// The addresses of `host`, resolved by `deadline`. A literal address
/// needs no lookup; a name is looked up on a thread of its own, which is
/// left to finish by itself if the resolver is slower than the deadline.
pub(crate) fn resolve(host: &str, port: u16, deadline: Instant) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("logdriver-resolve".into())
        .spawn(move || {
            let _ = tx.send((name.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        })?;
    rx.recv_timeout(left(deadline)?).unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{host}: no address within the timeout"),
        ))
    })
}

impl Stream {
    /// Connects by `deadline`: the name's lookup, each address's connect
    /// and the TLS handshake all count against it. The read and write
    /// timeouts are set by each [`write_all_by`](Stream::write_all_by) and
    /// [`read_by`](Stream::read_by).
    pub(crate) fn connect(
        peer: Peer<'_>,
        tls: Option<&Tls>,
        deadline: Instant,
    ) -> io::Result<Stream> {
        let tcp = |host: &str, port: u16| -> io::Result<TcpStream> {
            let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
            for addr in resolve(host, port, deadline)? {
                match TcpStream::connect_timeout(&addr, left(deadline)?) {
                    Ok(s) => {
                        s.set_nodelay(true)?;
                        return Ok(s);
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        };
        match peer {
            Peer::Tcp { host, port } => tcp(host, port).map(Stream::Tcp),
            Peer::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
            #[cfg(feature = "fluentd-tls")]
            Peer::Tls { host, port } => {
                let config = tls.ok_or_else(|| io::Error::other("no TLS settings"))?;
                let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let mut conn = rustls::ClientConnection::new(Arc::clone(config), name)
                    .map_err(io::Error::other)?;
                let mut sock = tcp(host, port)?;
                while conn.is_handshaking() {
                    let left = Some(left(deadline)?);
                    sock.set_read_timeout(left)?;
                    sock.set_write_timeout(left)?;
                    conn.complete_io(&mut sock)?;
                }
                Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, sock))))
            }
            #[cfg(not(feature = "fluentd-tls"))]
            Peer::Tls { host, port } => {
                let _ = (tls, deadline);
                Err(io::Error::other(format!(
                    "tls://{host}:{port} needs the fluentd-tls feature"
                )))
            }
        }
    }

    /// Writes all of `buf` by `deadline`, however slowly the peer reads:
    /// before each write the socket's timeout is set to the time left. On
    /// failure, how many bytes of `buf` were written.
    pub(crate) fn write_all_by(&mut self, buf: &[u8], deadline: Instant) -> Result<(), usize> {
        let mut written = 0;
        while written < buf.len() {
            let step = left(deadline)
                .and_then(|left| self.set_timeout(left))
                .and_then(|()| self.write(&buf[written..]));
            match step {
                Ok(0) => return Err(written),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(written),
            }
        }
        let flushed = left(deadline)
            .and_then(|left| self.set_timeout(left))
            .and_then(|()| self.flush());
        flushed.map_err(|_| written)
    }

    /// Reads what the peer sent, waiting at most until `deadline`.
    pub(crate) fn read_by(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        self.set_timeout(left(deadline)?)?;
        self.read(buf)
    }

    /// Ends the connection in order: TLS's close_notify, then the end of
    /// our side, then whatever the server still says until it closes too,
    /// at most `timeout`. A TLS server may throw away what it has not yet
    /// decrypted when a connection just drops.
    pub(crate) fn shutdown(mut self, timeout: Duration) {
        use std::net::Shutdown;
        let _ = self.set_timeout(timeout);
        let _ = self.flush();
        let shut = match &mut self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            #[cfg(feature = "fluentd-tls")]
            Stream::Tls(s) => {
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
                s.sock.shutdown(Shutdown::Write)
            }
        };
        if shut.is_err() {
            return;
        }
        let deadline = std::time::Instant::now() + timeout;
        let mut sink = [0u8; 4096];
        while std::time::Instant::now() < deadline {
            match self.read(&mut sink) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }

    /// Sets the read and write timeouts.
    pub(crate) fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        match self {
            Stream::Tcp(s) => s
                .set_read_timeout(timeout)
                .and(s.set_write_timeout(timeout)),
            Stream::Unix(s) => s
                .set_read_timeout(timeout)
                .and(s.set_write_timeout(timeout)),
            #[cfg(feature = "fluentd-tls")]
            Stream::Tls(s) => s
                .sock
                .set_read_timeout(timeout)
                .and(s.sock.set_write_timeout(timeout)),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "fluentd-tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "fluentd-tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            #[cfg(feature = "fluentd-tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The TLS settings: the system's roots, plus the CAs in `ca_file`.
#[cfg(feature = "fluentd-tls")]
pub(crate) fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Tls, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut any = false;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            any = true;
        }
        if !any {
            return Err(format!("{}: no certificate in it", path.display()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Without the `fluentd-tls` feature, `tls://` is refused at validation.
#[cfg(not(feature = "fluentd-tls"))]
pub(crate) fn tls_config(_: Option<&std::path::Path>) -> Result<Tls, String> {
    Err("tls:// needs the logdriver feature fluentd-tls".into())
}
