//! The link to the server: the connection, its reconnections with
//! back-off, and sending frames and reading their acks, every attempt
//! within one deadline.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{msgpack, record, Shared, MAX_RETRY_WAIT};
use crate::drivers::util::conn::Stream;
use crate::drivers::util::Backoff;

/// How long a periodic reconnect waits for the server to end the old
/// connection.
const RECONNECT_GRACE: Duration = Duration::from_millis(100);

/// The connection, and when to try again after it failed.
pub(super) struct Link {
    pub(super) stream: Option<(Stream, Instant)>,
    /// When to try connecting again.
    pub(super) backoff: Backoff,
    buf: Vec<u8>,
    /// Where each frame in `buf` ends.
    ends: Vec<usize>,
}

/// How far a failed write of frames got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    /// Frames through: acked, or without acks written whole.
    through: usize,
    /// Frames after those that were written whole, or whose ack did not
    /// come: sent again, they may reach the server twice.
    unsure: usize,
}

impl Link {
    pub(super) fn new(retry_wait: Duration) -> Link {
        Link {
            stream: None,
            backoff: Backoff::new(retry_wait, MAX_RETRY_WAIT),
            buf: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Connects if not connected; `false` when that failed, with the next
    /// attempt put off by the backoff.
    pub(super) fn connect(&mut self, shared: &Shared, deadline: Instant) -> bool {
        let config = &shared.config;
        if let (Some((_, since)), Some(every)) = (&self.stream, config.reconnect_interval) {
            if since.elapsed() >= every {
                // In order: TLS's close_notify, our end, and what the
                // server still says, briefly; a connection dropped with
                // unread input is reset instead.
                if let Some((old, _)) = self.stream.take() {
                    old.shutdown(RECONNECT_GRACE);
                }
            }
        }
        if self.stream.is_some() {
            return true;
        }
        match Stream::connect(config.peer(), shared.tls.as_ref(), deadline) {
            Ok(stream) => {
                self.stream = Some((stream, Instant::now()));
                self.backoff.reset();
                shared.down.store(false, Ordering::Release);
                true
            }
            Err(_) => {
                self.failed();
                false
            }
        }
    }

    /// Drops the connection and puts the next attempt off.
    fn failed(&mut self) {
        self.stream = None;
        self.backoff.failed();
    }

    /// Sends `entries` (one frame each, or one Forward-mode frame) until
    /// they are through (and acked), or `deadline` passes, or
    /// `fluentd-max-retries` attempts were made. Each attempt has one
    /// deadline for its connect, its write and its acks, whatever the peer
    /// does within it. Frames acked before a failure are not sent again,
    /// nor, without acks, frames written whole; the others are, with their
    /// chunk ids, and a frame written whole but not acked counts as
    /// resent.
    ///
    /// Returns how many of `entries` went through: all, or those before
    /// the first that did not.
    pub(super) fn send(
        &mut self,
        shared: &Shared,
        entries: &[Vec<u8>],
        forward: bool,
        deadline: Option<Instant>,
    ) -> usize {
        let config = &shared.config;
        let frames = if forward { 1 } else { entries.len() };
        let chunks: Vec<String> = if config.request_ack {
            (0..frames).map(|_| record::chunk_id()).collect()
        } else {
            Vec::new()
        };
        let mut done = 0; // frames through
        let mut attempts = 0u64;
        while done < frames {
            // A close that starts meanwhile brings the deadline closer.
            let closing = shared.queue.lock().closing;
            let deadline = deadline.into_iter().chain(closing).min();
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) || attempts >= config.max_retries {
                // A Forward-mode frame goes whole or not at all.
                return if forward { 0 } else { done };
            }
            let timeout = left.map_or(config.write_timeout, |l| l.min(config.write_timeout));
            let by = Instant::now() + timeout;
            let wait = self.backoff.remaining();
            if self.stream.is_none() && !wait.is_zero() {
                // Wait out the backoff; `close` cuts it short.
                let mut queue = shared.queue.lock();
                if queue.closing == closing {
                    shared.work.wait_for(&mut queue, wait.min(timeout));
                }
                continue;
            }
            attempts += 1;
            if !self.connect(shared, by) {
                continue;
            }
            match self.write_frames(shared, &entries[done..], forward, chunks.get(done..), by) {
                Ok(()) => done = frames,
                Err(Cut { through, unsure }) => {
                    done += through;
                    shared.counts.resent(unsure as u64);
                    self.failed();
                }
            }
        }
        entries.len()
    }

    /// Writes the frames for `entries` in one `write`, then reads their
    /// acks when `chunks` are given, all by `deadline`. On failure, how
    /// far it got.
    fn write_frames(
        &mut self,
        shared: &Shared,
        entries: &[Vec<u8>],
        forward: bool,
        chunks: Option<&[String]>,
        deadline: Instant,
    ) -> std::result::Result<(), Cut> {
        let chunks = chunks.filter(|c| !c.is_empty());
        let buf = &mut self.buf;
        buf.clear();
        // Where each frame ends in `buf`.
        let ends = &mut self.ends;
        ends.clear();
        if forward {
            msgpack::array(buf, 3);
            msgpack::str(buf, &shared.tag);
            msgpack::array(buf, entries.len());
            for entry in entries {
                msgpack::array(buf, 2);
                buf.extend_from_slice(entry);
            }
            let chunk = chunks.map(|c| &c[0]);
            msgpack::map(buf, 1 + usize::from(chunk.is_some()));
            msgpack::str(buf, b"size");
            msgpack::int(buf, entries.len() as i64);
            if let Some(chunk) = chunk {
                msgpack::str(buf, b"chunk");
                msgpack::str(buf, chunk.as_bytes());
            }
            ends.push(buf.len());
        } else {
            for (i, entry) in entries.iter().enumerate() {
                msgpack::array(buf, 4);
                msgpack::str(buf, &shared.tag);
                buf.extend_from_slice(entry);
                let chunk = chunks.map(|c| &c[i]);
                msgpack::map(buf, usize::from(chunk.is_some()));
                if let Some(chunk) = chunk {
                    msgpack::str(buf, b"chunk");
                    msgpack::str(buf, chunk.as_bytes());
                }
                ends.push(buf.len());
            }
        }
        let (stream, _) = self.stream.as_mut().expect("connected");
        if let Err(written) = stream.write_all_by(buf, deadline) {
            let whole = ends.iter().take_while(|&&end| end <= written).count();
            // Without acks, a frame written whole went out: it is not sent
            // again. With them, only an ack says so.
            return Err(match chunks {
                None => Cut {
                    through: whole,
                    unsure: 0,
                },
                Some(_) => Cut {
                    through: 0,
                    unsure: whole,
                },
            });
        }
        let Some(chunks) = chunks else {
            return Ok(());
        };
        let by = deadline.min(Instant::now() + shared.config.read_timeout);
        let cut = |acked: usize| Cut {
            through: acked,
            unsure: chunks.len() - acked,
        };
        let mut answer = Vec::new();
        let mut part = [0u8; 4096];
        let mut acked = 0;
        while acked < chunks.len() {
            match msgpack::value_len(&answer) {
                Ok(Some(len)) => {
                    if msgpack::ack(&answer[..len]) != Some(chunks[acked].as_bytes()) {
                        return Err(cut(acked));
                    }
                    answer.drain(..len);
                    acked += 1;
                    continue;
                }
                Err(_) => return Err(cut(acked)),
                Ok(None) => {}
            }
            match stream.read_by(&mut part, by) {
                Ok(n) if n > 0 && answer.len() < 1 << 16 => answer.extend_from_slice(&part[..n]),
                _ => return Err(cut(acked)),
            }
        }
        Ok(())
    }
}
