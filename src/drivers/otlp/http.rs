//! Just enough HTTP/1.1 for OTLP: one POST with a known length on a
//! kept-alive connection, and its answer, every step by one deadline.
//!
//! Hand-written over the drivers' own [`Stream`] (which already keeps a
//! deadline on every step, and speaks TLS) with `httparse` for the
//! answer's head: a client crate would bring its own sockets, timeouts
//! and TLS settings, for one request shape.

use std::io;
use std::time::{Duration, Instant, SystemTime};

use crate::drivers::util::conn::Stream;

/// The largest answer head and body read: OTLP answers are small.
const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 1 << 20;
/// The largest request sent with one write.
const ONE_WRITE: usize = 4 << 20;

/// A collector's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Answer {
    pub(super) status: u16,
    /// What `Retry-After` asked for.
    pub(super) retry_after: Option<Duration>,
    pub(super) body: Vec<u8>,
    /// The collector closes the connection after this answer.
    pub(super) close: bool,
}

/// Why a request got no answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// It was not sent whole: the collector cannot have taken it.
    Unsent,
    /// It was sent whole, and no answer came: the collector may have
    /// taken it.
    Unanswered,
}

/// Sends `head` (the request line and headers, without
/// `Content-Length` and the blank line) and `body` in `parts`, and reads
/// the answer, by `deadline`. `start` is scratch room for the request,
/// kept from one request to the next.
pub(super) fn post(
    stream: &mut Stream,
    start: &mut Vec<u8>,
    head: &[u8],
    parts: &[&[u8]],
    deadline: Instant,
) -> Result<Answer, Failure> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    // One write for the whole request, as long as it is not big: a copy
    // costs less than a segment (and a wake-up of the collector) per part.
    let whole = len <= ONE_WRITE;
    start.clear();
    start.extend_from_slice(head);
    start.extend_from_slice(format!("Content-Length: {len}\r\n\r\n").as_bytes());
    let rest = if whole {
        parts.iter().for_each(|p| start.extend_from_slice(p));
        &[][..]
    } else {
        parts
    };
    let unsent = |(_, result): (usize, io::Result<()>)| result.map_err(|_| Failure::Unsent);
    unsent(stream.write_by(start, deadline))?;
    for part in rest {
        unsent(stream.write_by(part, deadline))?;
    }
    read_answer(stream, deadline).map_err(|_| Failure::Unanswered)
}

fn read_answer(stream: &mut Stream, deadline: Instant) -> io::Result<Answer> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let (status, retry_after, close, framing, head_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = response.code.unwrap_or(0);
                    let (retry_after, close, framing) = read_headers(&response);
                    let old = response.version == Some(0);
                    break (status, retry_after, close || old, framing, n);
                }
                Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {
                    fill(stream, &mut buf, deadline)?;
                }
                Ok(httparse::Status::Partial) => return Err(invalid("an answer head over 64 KiB")),
                Err(e) => return Err(invalid(&format!("not an HTTP answer: {e}"))),
            }
        };
        buf.drain(..head_len);
        if (100..200).contains(&status) {
            // 100 Continue and its kind: the real answer follows.
            continue;
        }
        let body = read_body(stream, &mut buf, framing, deadline)?;
        let close = close || framing == Framing::UntilClose;
        return Ok(Answer {
            status,
            retry_after,
            body,
            close,
        });
    }
}

/// How the answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

fn read_headers(response: &httparse::Response<'_, '_>) -> (Option<Duration>, bool, Framing) {
    let (mut retry_after, mut close, mut framing) = (None, false, Framing::UntilClose);
    for h in response.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            if let Ok(n) = value.parse() {
                if framing != Framing::Chunked {
                    framing = Framing::Length(n);
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().ends_with("chunked") {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= value.eq_ignore_ascii_case("close");
        } else if h.name.eq_ignore_ascii_case("retry-after") {
            retry_after = parse_retry_after(value, SystemTime::now());
        }
    }
    let status = response.code.unwrap_or(0);
    if status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    (retry_after, close, framing)
}

/// `Retry-After`: seconds, or an HTTP date.
pub(super) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn read_body(
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    framing: Framing,
    deadline: Instant,
) -> io::Result<Vec<u8>> {
    match framing {
        Framing::Length(n) if n > MAX_BODY => Err(invalid("an answer body over 1 MiB")),
        Framing::Length(n) => {
            while buf.len() < n {
                fill(stream, buf, deadline)?;
            }
            Ok(buf.drain(..n).collect())
        }
        Framing::UntilClose => {
            loop {
                match fill(stream, buf, deadline) {
                    Ok(()) if buf.len() > MAX_BODY => {
                        return Err(invalid("an answer body over 1 MiB"))
                    }
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(std::mem::take(buf))
        }
        Framing::Chunked => {
            let mut body = Vec::new();
            loop {
                let line = read_line(stream, buf, deadline)?;
                let size = line.split(';').next().unwrap_or("").trim();
                let size =
                    usize::from_str_radix(size, 16).map_err(|_| invalid("a bad chunk size"))?;
                if size == 0 {
                    // Trailers, up to the blank line.
                    while !read_line(stream, buf, deadline)?.is_empty() {}
                    return Ok(body);
                }
                if body.len() + size > MAX_BODY {
                    return Err(invalid("an answer body over 1 MiB"));
                }
                while buf.len() < size + 2 {
                    fill(stream, buf, deadline)?;
                }
                body.extend_from_slice(&buf[..size]);
                buf.drain(..size + 2);
            }
        }
    }
}

/// One CRLF-ended line from the front of `buf`, without its end.
fn read_line(stream: &mut Stream, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<String> {
    loop {
        if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..at]).into_owned();
            buf.drain(..at + 2);
            return Ok(line);
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("a chunk line over 64 KiB"));
        }
        fill(stream, buf, deadline)?;
    }
}

/// Reads more of the answer into `buf`; the end of the stream is
/// `UnexpectedEof`.
fn fill(stream: &mut Stream, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<()> {
    let mut chunk = [0; 8192];
    loop {
        match stream.read_by(&mut chunk, deadline) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::util::conn::Peer;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Answers the first request on a fresh connection with `answer`, and
    /// gives back what was asked.
    fn exchange(answer: &'static [u8], parts: &[&[u8]]) -> (Result<Answer, Failure>, Vec<u8>) {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let body_len: usize = parts.iter().map(|p| p.len()).sum();
        let serving = std::thread::spawn(move || {
            let (mut conn, _) = server.accept().unwrap();
            let mut asked = Vec::new();
            let mut chunk = [0; 4096];
            while !asked.windows(4).any(|w| w == b"\r\n\r\n")
                || asked.len()
                    < asked.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4 + body_len
            {
                let n = conn.read(&mut chunk).unwrap();
                asked.extend_from_slice(&chunk[..n]);
            }
            conn.write_all(answer).unwrap();
            asked
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let host = "127.0.0.1";
        let mut stream = Stream::connect(Peer::Tcp { host, port }, None, deadline).unwrap();
        let head = b"POST /v1/logs HTTP/1.1\r\nHost: c\r\n";
        let got = post(&mut stream, &mut Vec::new(), head, parts, deadline);
        (got, serving.join().unwrap())
    }

    #[test]
    fn a_post_carries_its_length_and_its_parts_in_order() {
        let (got, asked) = exchange(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            &[b"ab", &[b'c'; 5000]],
        );
        let mut expected =
            b"POST /v1/logs HTTP/1.1\r\nHost: c\r\nContent-Length: 5002\r\n\r\nab".to_vec();
        expected.extend_from_slice(&[b'c'; 5000]);
        assert_eq!(asked, expected);
        let got = got.unwrap();
        assert_eq!(
            (got.status, &got.body[..], got.close),
            (200, &b"ok"[..], false)
        );
    }

    #[test]
    fn chunked_answers_continue_and_retry_after_are_read() {
        let (got, _) = exchange(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nRetry-After: 3\r\n\
              Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
              3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n",
            &[b"x"],
        );
        let got = got.unwrap();
        assert_eq!(
            got,
            Answer {
                status: 503,
                retry_after: Some(Duration::from_secs(3)),
                body: b"abcde".to_vec(),
                close: true
            }
        );
    }

    #[test]
    fn an_answer_without_a_length_ends_with_the_connection() {
        let (got, _) = exchange(b"HTTP/1.0 400 Bad\r\n\r\nno", &[b"x"]);
        let got = got.unwrap();
        assert_eq!(
            (got.status, &got.body[..], got.close),
            (400, &b"no"[..], true)
        );
    }

    #[test]
    fn garbage_is_no_answer() {
        let (got, _) = exchange(b"SSH-2.0-OpenSSH\r\n\r\n", &[b"x"]);
        assert!(matches!(got, Err(Failure::Unanswered)));
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
