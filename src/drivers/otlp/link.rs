//! The worker: takes batches from the queue, posts them to the collector
//! and reads each answer, retrying what the collector could not take,
//! with back-off, as OTLP/HTTP says.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use flate2::write::DeflateEncoder;
use flate2::Crc;

use super::config::Compression;
use super::http::{self, Failure};
use super::queue::Batch;
use super::{proto, Shared};
use crate::drivers::util::conn::{Peer, Stream};
use crate::drivers::util::Backoff;

/// The first wait before trying again, and the longest.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The statuses OTLP/HTTP says to retry.
const RETRYABLE: [u16; 4] = [429, 502, 503, 504];

/// The worker: posts every batch, in order, until the driver closes and
/// the queue is empty, or the linger passes and what is left is dropped.
pub(super) fn worker(shared: &Shared) {
    let mut conn = Link::default();
    let mut backoff = Backoff::new(FIRST_RETRY, MAX_RETRY);
    let mut gzip = None;
    while let Some(batch) = next_batch(shared) {
        shared.room.notify_all();
        let body = body(shared, &mut gzip, &batch);
        deliver(shared, &mut conn, &mut backoff, &batch, &body);
    }
    if let Some(stream) = conn.stream {
        stream.shutdown(Duration::from_millis(100));
    }
}

/// The connection to the collector, and when it last answered.
#[derive(Default)]
struct Link {
    stream: Option<Stream>,
    answered: Option<Instant>,
    /// Room for a request, kept: a big batch's would be mapped and
    /// faulted in again for every request.
    request: Vec<u8>,
}

/// A connection idle for longer than this is checked before it is used:
/// a collector (or a load balancer) may have closed it meanwhile.
const IDLE: Duration = Duration::from_secs(1);

/// Waits for a batch to be due; `None` once the driver has closed and
/// nothing is left, or the linger passed (what is left is then dropped).
fn next_batch(shared: &Shared) -> Option<Batch> {
    let c = &shared.config;
    let mut queue = shared.queue.lock();
    loop {
        if let Some(by) = queue.closing {
            if Instant::now() >= by {
                let lost = queue.clear();
                shared.unflushed(lost);
                return None;
            }
            if queue.is_empty() {
                return None;
            }
        }
        if queue.is_empty() {
            shared.work.wait(&mut queue);
            continue;
        }
        if queue.ready(c.batch_records, c.batch_bytes, c.batch_delay) {
            return Some(queue.take(c.batch_records, c.batch_bytes));
        }
        if let Some(due) = queue.due(c.batch_delay) {
            shared.work.wait_until(&mut queue, due);
        }
    }
}

/// gzip, with one compressor for every request: making one zeroes
/// hundreds of KiB of tables, which costs more than a small batch's
/// compression.
pub(super) struct Gzip(DeflateEncoder<Vec<u8>>);

impl Gzip {
    pub(super) fn new() -> Gzip {
        Gzip(DeflateEncoder::new(Vec::new(), flate2::Compression::fast()))
    }

    /// `pieces`, one after another, as one gzip member (RFC 1952).
    pub(super) fn compress<'a>(&mut self, pieces: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
        // Magic, deflate, no flags, no time, no extra flags, Unix.
        const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        let mut out = Vec::with_capacity(64 << 10);
        out.extend_from_slice(&HEADER);
        // Writing to a Vec cannot fail: `reset` hands back what was written.
        let _ = self.0.reset(out);
        let mut crc = Crc::new();
        for piece in pieces {
            crc.update(piece);
            let _ = self.0.write_all(piece);
        }
        let _ = self.0.try_finish();
        let mut out = self.0.reset(Vec::new()).unwrap_or_default();
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        out
    }
}

/// The request's body: the request's head, then the batch's records.
fn body(shared: &Shared, gzip: &mut Option<Gzip>, batch: &Batch) -> Vec<bytes::Bytes> {
    let head = proto::request_head(&shared.resource, &shared.scope, batch.len);
    match shared.config.compression {
        Compression::None => std::iter::once(head.into())
            .chain(batch.records.iter().cloned())
            .collect(),
        Compression::Gzip => {
            let gzip = gzip.get_or_insert_with(Gzip::new);
            let pieces = std::iter::once(&head[..]).chain(batch.records.iter().map(|r| &r[..]));
            vec![gzip.compress(pieces).into()]
        }
    }
}

/// Posts `batch` until the collector answers for it, or the driver's
/// linger passes.
fn deliver(
    shared: &Shared,
    link: &mut Link,
    backoff: &mut Backoff,
    batch: &Batch,
    body: &[bytes::Bytes],
) {
    let c = &shared.config;
    let parts: Vec<&[u8]> = body.iter().map(|b| &b[..]).collect();
    // Whether an earlier try may have reached the collector.
    let mut maybe_taken = false;
    loop {
        let closing = shared.queue.lock().closing;
        if closing.is_some_and(|by| Instant::now() >= by) {
            shared.unflushed(batch.count);
            return;
        }
        let wait = backoff.remaining();
        if !wait.is_zero() {
            let mut queue = shared.queue.lock();
            if queue.closing == closing {
                let until = Instant::now() + wait;
                shared
                    .work
                    .wait_until(&mut queue, closing.map_or(until, |by| by.min(until)));
            }
            continue;
        }
        let by = Instant::now() + c.timeout;
        let deadline = closing.map_or(by, |close| close.min(by));
        let idle = link.answered.is_none_or(|at| at.elapsed() >= IDLE);
        if idle && link.stream.as_mut().is_some_and(Stream::peer_closed) {
            // Closed while idle: a new connection, at once.
            link.stream = None;
        }
        let conn = &mut link.stream;
        let stream = match conn {
            Some(stream) => stream,
            None => match connect(shared, deadline) {
                Ok(stream) => conn.insert(stream),
                Err(_) => {
                    backoff.failed();
                    shared.set_down(true);
                    continue;
                }
            },
        };
        if maybe_taken {
            shared.counts.resent(batch.count);
        }
        let answer = match http::post(stream, &mut link.request, &shared.head, &parts, deadline) {
            Ok(answer) => answer,
            Err(failure) => {
                maybe_taken = matches!(failure, Failure::Unanswered);
                *conn = None;
                backoff.failed();
                shared.set_down(true);
                continue;
            }
        };
        link.answered = Some(Instant::now());
        if answer.close {
            *conn = None;
        }
        maybe_taken = false;
        match answer.status {
            200..=299 => {
                let rejected = proto::rejected(&answer.body);
                let n = rejected.as_ref().map_or(0, |(n, _)| (*n).min(batch.count));
                shared.counts.sent(batch.count - n, batch.line_bytes);
                if n > 0 {
                    shared.counts.rejected(n);
                    shared.drops.partial.fetch_add(n, Ordering::Relaxed);
                }
                if let Some((_, why)) = rejected.filter(|(_, why)| !why.is_empty()) {
                    *shared.last_rejection.lock() = Some(why);
                }
                backoff.reset();
                shared.set_down(false);
                return;
            }
            status if RETRYABLE.contains(&status) => {
                backoff.failed();
                if let Some(after) = answer.retry_after {
                    backoff.not_before(Instant::now() + after.min(MAX_RETRY_AFTER));
                }
                shared.set_down(true);
            }
            status => {
                shared.counts.rejected(batch.count);
                shared
                    .drops
                    .rejected
                    .fetch_add(batch.count, Ordering::Relaxed);
                let text = String::from_utf8_lossy(&answer.body[..answer.body.len().min(512)]);
                *shared.last_rejection.lock() = Some(format!("HTTP {status}: {}", text.trim()));
                backoff.reset();
                shared.set_down(false);
                return;
            }
        }
    }
}

fn connect(shared: &Shared, deadline: Instant) -> std::io::Result<Stream> {
    let e = &shared.config.endpoint;
    let host = e.host.as_str();
    let peer = if e.tls {
        Peer::Tls { host, port: e.port }
    } else {
        Peer::Tcp { host, port: e.port }
    };
    Stream::connect(peer, shared.tls.as_ref(), deadline)
}

impl Shared {
    /// `n` records were still queued when the linger passed.
    fn unflushed(&self, n: u64) {
        self.counts.dropped(n);
        self.drops.unflushed.fetch_add(n, Ordering::Relaxed);
    }

    /// Says whether the collector takes nothing now; `log` waits for room
    /// in the queue only while it does.
    fn set_down(&self, down: bool) {
        if self.down.swap(down, Ordering::AcqRel) != down && down {
            self.room.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn one_compressor_makes_whole_gzip_members_again_and_again() {
        let mut gzip = Gzip::new();
        for round in 0..3u8 {
            let pieces: [&[u8]; 3] = [b"head ", &[round; 70_000], b" tail"];
            let member = gzip.compress(pieces.into_iter());
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&member[..])
                .read_to_end(&mut plain)
                .unwrap();
            assert_eq!(plain, pieces.concat(), "round {round}");
        }
    }
}
