//! The connection to the syslog server: made for each transport, found
//! among the local daemon's sockets, and written to by the worker, which
//! reconnects with back-off and never resends what a server got.

use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::address::Address;
use super::datagram::{Datagram, Sent};
use super::Shared;
use crate::drivers::util::conn::{self, Peer, Stream};
use crate::drivers::util::Backoff;

/// Where a local syslog daemon listens, in the order Docker (Go's
/// `log/syslog`) tries them.
const LOCAL_SOCKETS: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];

/// The first wait before reconnecting, and the longest.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(10);

/// The most bytes the worker writes to a stream at once.
const MAX_WRITE: usize = 64 << 10;
/// The most datagrams the worker sends for one look at the queue.
const MAX_DATAGRAMS: usize = 64;

/// An open connection.
pub(super) enum Conn {
    Stream(Stream),
    Datagram(Datagram),
}

/// Connects by `deadline`.
fn connect(shared: &Shared, deadline: Instant) -> io::Result<Conn> {
    let stream = |peer| Stream::connect(peer, shared.tls.as_ref(), deadline).map(Conn::Stream);
    match &shared.config.address {
        Address::Local => local(),
        Address::Udp { host, port } => Datagram::udp(host, *port, deadline).map(Conn::Datagram),
        Address::Unixgram(path) => Datagram::unix(path).map(Conn::Datagram),
        Address::Tcp { host, port } => stream(Peer::Tcp { host, port: *port }),
        Address::Tls { host, port } => stream(Peer::Tls { host, port: *port }),
        Address::Unix(path) => stream(Peer::Unix(path)),
    }
}

/// The local daemon: each socket as a datagram socket, then each as a
/// stream, as Docker tries them.
fn local() -> io::Result<Conn> {
    let paths = LOCAL_SOCKETS.map(Path::new);
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no local syslog socket");
    for path in paths {
        match Datagram::unix(path) {
            Ok(socket) => return Ok(Conn::Datagram(socket)),
            Err(e) => last = e,
        }
    }
    for path in paths {
        match Stream::connect(Peer::Unix(path), None, Instant::now() + MAX_RETRY) {
            Ok(stream) => return Ok(Conn::Stream(stream)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The worker: writes what is queued, in order, until the driver closes
/// and the queue is empty, or the close deadline passes and what is left
/// is dropped.
pub(super) fn worker(shared: &Shared) {
    write_queue(shared);
    if let Some(Conn::Stream(stream)) = shared.conn.lock().take() {
        // In order, so that a TLS server keeps what it has not yet
        // decrypted: close_notify, our end, the server's.
        let closing = shared.queue.lock().closing;
        let left = closing.map_or(Duration::ZERO, |by| {
            by.saturating_duration_since(Instant::now())
        });
        stream.shutdown(left.min(Duration::from_millis(500)));
    }
}

fn write_queue(shared: &Shared) {
    let mut backoff = Backoff::new(FIRST_RETRY, MAX_RETRY);
    let (mut batch, mut ends) = (Vec::new(), Vec::new());
    // A datagram socket's send timeout, once a close brings it down.
    let mut send_timeout = shared.config.write_timeout;
    loop {
        // Wait for work without the connection, which `log` sends on
        // itself meanwhile (datagrams, while the queue is empty).
        {
            let mut queue = shared.queue.lock();
            while queue.is_empty() {
                if queue.closing.is_some() {
                    return;
                }
                shared.work.wait(&mut queue);
            }
        }
        let mut conn = shared.conn.lock();
        let closing = {
            let mut queue = shared.queue.lock();
            if queue.closing.is_some_and(|by| Instant::now() >= by) {
                let cut = queue.cut_short();
                let lost = queue.clear();
                drop(queue);
                shared.counts.sent(cut.messages, cut.line_bytes);
                shared.counts.dropped(lost);
                return;
            }
            match *conn {
                Some(Conn::Stream(_)) => queue.fill(&mut batch, &mut ends, MAX_WRITE, usize::MAX),
                _ => queue.fill(&mut batch, &mut ends, usize::MAX, MAX_DATAGRAMS),
            }
            queue.closing
        };
        let by = Instant::now() + shared.config.write_timeout;
        let deadline = closing.map_or(by, |close| close.min(by));
        let Some(open) = conn.as_mut() else {
            let wait = backoff.remaining();
            if !wait.is_zero() {
                drop(conn);
                let mut queue = shared.queue.lock();
                if queue.closing == closing {
                    let until = (Instant::now() + wait).min(deadline);
                    shared.work.wait_until(&mut queue, until);
                }
                continue;
            }
            let made = connect(shared, deadline).and_then(|open| {
                if let Conn::Datagram(socket) = &open {
                    socket.set_timeout(shared.config.write_timeout)?;
                }
                Ok(open)
            });
            match made {
                Ok(open) => {
                    *conn = Some(open);
                    backoff.reset();
                }
                Err(_) => {
                    backoff.failed();
                    shared.set_down(true);
                }
            }
            continue;
        };
        let (written, failure) = match open {
            Conn::Stream(stream) => {
                if stream.peer_closed() {
                    // Closed while idle: a new connection, at once.
                    *conn = None;
                    continue;
                }
                let (n, result) = stream.write_by(&batch, deadline);
                (n, result.err())
            }
            Conn::Datagram(socket) => {
                // A send rarely waits: the socket keeps the write timeout
                // it was given when made, until a close, whose deadline
                // comes sooner, halves it as that deadline nears.
                let left = deadline.saturating_duration_since(Instant::now());
                let mut timeout = Ok(());
                if closing.is_some() && left < send_timeout / 2 {
                    send_timeout = left;
                    timeout = socket.set_timeout(left);
                }
                let mut sent = 0;
                let mut failure = timeout.err();
                let mut start = 0;
                for &end in &ends {
                    if failure.is_some() {
                        break;
                    }
                    match socket.send(&batch[start..end]) {
                        Ok(cut) => {
                            shared.count_cut(cut);
                            sent = end;
                        }
                        Err(e) => failure = Some(e),
                    }
                    start = end;
                }
                (sent, failure)
            }
        };
        let broken = failure.as_ref().is_some_and(|e| !conn::is_timeout(e));
        if broken {
            *conn = None;
            backoff.failed();
        }
        drop(conn);
        let mut queue = shared.queue.lock();
        let mut done = queue.written(written);
        if broken {
            let cut = queue.cut_short();
            done.messages += cut.messages;
            done.line_bytes += cut.line_bytes;
        }
        drop(queue);
        shared.counts.sent(done.messages, done.line_bytes);
        shared.room.notify_all();
        // Down while the server takes nothing: then `log` does not wait.
        shared.set_down(written == 0 && failure.is_some());
    }
}

impl Shared {
    /// Sends a datagram from the caller's thread, as Docker's driver
    /// does, when nothing waits in the queue and the socket is free: a
    /// hand-off to the worker would cost more than the send. `false` when
    /// `message` must be queued instead: the queue holds lines, the worker
    /// is sending, there is no socket yet (the worker makes it), or the
    /// send failed (the worker makes a new one and sends it again).
    pub(super) fn send_now(&self, message: &[u8], line: u64) -> bool {
        let queue = self.queue.lock();
        if !queue.is_empty() || queue.closing.is_some() {
            return false;
        }
        let Some(mut conn) = self.conn.try_lock() else {
            return false;
        };
        // Behind the socket's lock, no line queued now can overtake this.
        drop(queue);
        let Some(Conn::Datagram(socket)) = conn.as_ref() else {
            return false;
        };
        match socket.send(message) {
            Ok(sent) => {
                self.count_cut(sent);
                self.counts.sent(1, line);
                true
            }
            Err(_) => {
                *conn = None;
                false
            }
        }
    }

    fn count_cut(&self, sent: Sent) {
        if let Sent::Cut(_) = sent {
            self.counts.truncated(1);
        }
    }

    /// Says whether the server takes nothing now; `log` waits for room in
    /// the queue only while it does.
    fn set_down(&self, down: bool) {
        if self.down.swap(down, Ordering::AcqRel) != down && down {
            // Those waiting for room stop waiting.
            self.room.notify_all();
        }
    }
}
