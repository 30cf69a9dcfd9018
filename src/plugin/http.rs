//! Just enough HTTP/1.1 for dockerd's plugin client, on a unix socket.
//!
//! dockerd sends small JSON requests with a `Content-Length`, keeps the
//! connection alive between them, and reads `ReadLogs` answers as a stream.
//! A server of our own lets each streamed batch go out as its own chunk,
//! flushed at once, and lets a streamed answer notice that its client has
//! gone even while it has nothing to send.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest request head (request line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;

/// The largest request body accepted: dockerd's requests are a few KiB.
const MAX_BODY: usize = 16 << 20;

/// How long a connection may sit idle between requests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The most connections served at once, each on a thread of its own:
/// dockerd holds a few, and one per `docker logs -f`.
pub(super) const MAX_CONNECTIONS: usize = 256;

/// The connections being served, bounded; a slot is given back when its
/// guard drops.
#[derive(Debug, Default)]
pub(super) struct Slots(Arc<AtomicUsize>);

/// One connection's place among [`Slots`].
#[derive(Debug)]
pub(super) struct Slot(Arc<AtomicUsize>);

impl Slots {
    /// A slot, if fewer than `max` are taken.
    pub(super) fn take(&self, max: usize) -> Option<Slot> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(&self.0)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers `503` and closes, for a connection over [`MAX_CONNECTIONS`];
/// within a second, so that the accepting thread never waits on it.
pub(super) fn refuse_busy(stream: &UnixStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let mut responder = Responder {
        stream,
        http11: true,
        close: true,
    };
    responder.send(503, "text/plain", b"too many connections");
}

/// One request: its path and body.
pub(super) struct Request {
    pub(super) url: String,
    pub(super) body: Vec<u8>,
}

/// Why a request could not be read.
enum BadRequest {
    /// The client closed the connection between requests.
    Closed,
    /// The request is malformed: answer 400 and close.
    Malformed(String),
}

impl From<io::Error> for BadRequest {
    fn from(e: io::Error) -> BadRequest {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => BadRequest::Closed,
            _ => BadRequest::Malformed(e.to_string()),
        }
    }
}

/// The answer to one request; see [`serve_connection`].
pub(super) struct Responder<'a> {
    stream: &'a UnixStream,
    /// HTTP/1.1, where a streamed body is chunked; HTTP/1.0 ends it by
    /// closing the connection.
    http11: bool,
    /// The connection ends after this answer.
    close: bool,
}

impl Responder<'_> {
    /// Answers with a complete body.
    pub(super) fn send(&mut self, status: u16, content_type: &str, body: &[u8]) {
        let connection = if self.close { "close" } else { "keep-alive" };
        let head = format!(
            "{} {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
            self.version(),
            reason(status),
            body.len(),
        );
        let mut out = self.stream;
        if out
            .write_all(head.as_bytes())
            .and_then(|()| out.write_all(body))
            .is_err()
        {
            self.close = true;
        }
    }

    /// Starts a streamed `200` answer; the body follows in [`Stream::send`]s.
    ///
    /// The connection ends with the answer: while it streams, the server
    /// reads the socket only to see whether the client has gone, so a
    /// request sent behind this one would not survive.
    pub(super) fn stream(&mut self, content_type: &str) -> io::Result<Stream<'_>> {
        self.close = true;
        let framing = if self.http11 {
            "Transfer-Encoding: chunked\r\nConnection: close"
        } else {
            "Connection: close"
        };
        let head = format!(
            "{} 200 OK\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n",
            self.version()
        );
        let mut out = self.stream;
        out.write_all(head.as_bytes())?;
        Ok(Stream {
            stream: self.stream,
            chunked: self.http11,
        })
    }

    fn version(&self) -> &'static str {
        if self.http11 {
            "HTTP/1.1"
        } else {
            "HTTP/1.0"
        }
    }
}

/// A streamed answer's body.
pub(super) struct Stream<'a> {
    stream: &'a UnixStream,
    chunked: bool,
}

impl Stream<'_> {
    /// Sends `data` at once: one chunk over HTTP/1.1.
    pub(super) fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let mut out = self.stream;
        if self.chunked {
            let mut chunk = Vec::with_capacity(data.len() + 16);
            write!(chunk, "{:x}\r\n", data.len())?;
            chunk.extend_from_slice(data);
            chunk.extend_from_slice(b"\r\n");
            out.write_all(&chunk)?;
        } else {
            out.write_all(data)?;
        }
        out.flush()
    }

    /// Ends the body.
    pub(super) fn finish(self) -> io::Result<()> {
        let mut out = self.stream;
        if self.chunked {
            out.write_all(b"0\r\n\r\n")?;
        }
        out.flush()
    }

    /// Whether the client has closed its end, without waiting: a client
    /// reads a streamed answer and sends nothing, so any end of input
    /// means it is gone.
    pub(super) fn client_gone(&self) -> bool {
        let mut probe = self.stream;
        if probe
            .set_read_timeout(Some(Duration::from_millis(1)))
            .is_err()
        {
            return true;
        }
        let mut byte = [0u8; 1];
        match probe.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            ),
        }
    }
}

/// Serves the requests of one connection, one after another, with
/// `handle`, until the client closes it or asks to.
pub(super) fn serve_connection(stream: UnixStream, handle: &dyn Fn(Request, &mut Responder<'_>)) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    loop {
        let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
        let (request, http11, close) = match read_request(&mut reader) {
            Ok(parsed) => parsed,
            Err(BadRequest::Closed) => return,
            Err(BadRequest::Malformed(why)) => {
                let mut responder = Responder {
                    stream: &stream,
                    http11: true,
                    close: true,
                };
                responder.send(400, "text/plain", why.as_bytes());
                return;
            }
        };
        let mut responder = Responder {
            stream: &stream,
            http11,
            close,
        };
        handle(request, &mut responder);
        if responder.close {
            return;
        }
    }
}

/// Reads one request: its path, whether it is HTTP/1.1, and whether the
/// connection ends after it.
fn read_request(reader: &mut impl BufRead) -> Result<(Request, bool, bool), BadRequest> {
    let malformed = |why: &str| BadRequest::Malformed(why.to_owned());
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = reader
            .by_ref()
            .take((MAX_HEAD - before) as u64 + 1)
            .read_until(b'\n', &mut head)?;
        if n == 0 {
            return Err(if before == 0 {
                BadRequest::Closed
            } else {
                malformed("the request ends inside its head")
            });
        }
        if head.len() > MAX_HEAD {
            return Err(malformed("the request head is too large"));
        }
        // Blank lines before a request are allowed (RFC 9112, 2.2).
        if head[before..].starts_with(b"\r\n") || head[before..] == *b"\n" {
            if before == 0 {
                head.clear();
                continue;
            }
            break;
        }
    }
    let head = std::str::from_utf8(&head).map_err(|_| malformed("the request head is not text"))?;
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let (Some(_method), Some(url), Some(version)) = (
        request_line.next(),
        request_line.next(),
        request_line.next(),
    ) else {
        return Err(malformed("not an HTTP request line"));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(malformed("only HTTP/1.0 and HTTP/1.1 are served")),
    };
    let mut length = None;
    let mut chunked = false;
    let mut close = !http11;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(malformed("a header line without ':'"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| malformed("a bad Content-Length"))?;
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
            if !chunked {
                return Err(malformed("only chunked transfer encoding is served"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close")
                || (!http11 && !value.eq_ignore_ascii_case("keep-alive"));
        }
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let n = length.unwrap_or(0);
        if n > MAX_BODY {
            return Err(malformed("the request body is too large"));
        }
        // Grown as the bytes come, not allocated up front on the client's
        // word.
        let mut body = Vec::new();
        read_exactly(reader, n, &mut body)?;
        body
    };
    let request = Request {
        url: url.to_owned(),
        body,
    };
    Ok((request, http11, close))
}

/// Reads a chunked body, trailers included.
fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, BadRequest> {
    let malformed = |why: &str| BadRequest::Malformed(why.to_owned());
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.by_ref().take(1024).read_line(&mut line)?;
        if !line.ends_with('\n') {
            return Err(malformed("a chunk size line cut short or too long"));
        }
        let size = line.trim_end().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size, 16).map_err(|_| malformed("a bad chunk size"))?;
        if size == 0 {
            break;
        }
        if size > MAX_BODY - body.len() {
            return Err(malformed("the request body is too large"));
        }
        read_exactly(reader, size, &mut body)?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
    // Trailers, up to the blank line.
    loop {
        let mut line = String::new();
        reader.by_ref().take(MAX_HEAD as u64).read_line(&mut line)?;
        if !line.ends_with('\n') {
            return Err(malformed("the request ends inside its trailers"));
        }
        if line.trim().is_empty() {
            return Ok(body);
        }
    }
}

/// Appends exactly `n` bytes of `reader` to `out`, growing it as they come.
fn read_exactly(reader: &mut impl BufRead, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
    let got = reader.by_ref().take(n as u64).read_to_end(out)?;
    if got < n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

#[cfg(test)]
mod tests;
