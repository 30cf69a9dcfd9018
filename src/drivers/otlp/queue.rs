//! The byte-bounded queue of encoded records between `log` and the
//! worker, the partial groups being joined, and how `log` waits for room.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use parking_lot::MutexGuard;

use super::proto::{Part, Record};
use super::{Shared, NAME};
use crate::error::Error;
use crate::message::{Message, PartialMeta};

/// Encoded records waiting for the collector, back to back as a batch's
/// request carries them, in buffers of at least [`CHUNK`] bytes: a full
/// buffer is followed by a new one, so that nothing queued is ever copied
/// again (one growing buffer would copy all it holds each time it grows).
#[derive(Debug, Default)]
pub(super) struct Queue {
    chunks: VecDeque<BytesMut>,
    /// The bytes in `chunks`.
    bytes: usize,
    /// Each record's encoded length and its line's bytes.
    records: VecDeque<(usize, u64)>,
    /// When the oldest record came: a batch goes once it waited the delay.
    oldest: Option<Instant>,
    /// Set by `close`: write what is queued by then.
    pub(super) closing: Option<Instant>,
    /// The partial group being joined on each stream.
    joins: [Join; 2],
}

/// A partial group's chunks so far.
#[derive(Debug, Default)]
struct Join {
    /// The group's id; `None` when no group is open.
    id: Option<String>,
    body: BytesMut,
    /// The first chunk's time, which every chunk of a group carries.
    time: u64,
    /// Parts sent already, when the line outgrew the join bound.
    parts: u32,
}

/// Records taken from the queue for one request.
#[derive(Debug)]
pub(super) struct Batch {
    /// The records, back to back, in one or more pieces.
    pub(super) records: Vec<Bytes>,
    /// Their bytes.
    pub(super) len: usize,
    pub(super) count: u64,
    pub(super) line_bytes: u64,
}

impl Queue {
    pub(super) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The bytes queued, as encoded.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a batch should go now: full by count or bytes, old
    /// enough, or the driver closing.
    pub(super) fn ready(&self, records: usize, bytes: usize, delay: std::time::Duration) -> bool {
        self.records.len() >= records
            || self.bytes >= bytes
            || self.closing.is_some()
            || self.oldest.is_some_and(|t| t.elapsed() >= delay)
    }

    /// When the oldest record has waited `delay`.
    pub(super) fn due(&self, delay: std::time::Duration) -> Option<Instant> {
        self.oldest.map(|t| t + delay)
    }

    /// Up to `max_records` records of at most `max_bytes` (the first goes
    /// whatever its size), without copying them.
    pub(super) fn take(&mut self, max_records: usize, max_bytes: usize) -> Batch {
        let (mut n, mut len, mut line_bytes) = (0, 0, 0);
        for &(record, line) in &self.records {
            if n == max_records || (n > 0 && len + record > max_bytes) {
                break;
            }
            n += 1;
            len += record;
            line_bytes += line;
        }
        self.records.drain(..n);
        self.oldest = (!self.records.is_empty()).then(Instant::now);
        self.bytes -= len;
        let mut records = Vec::new();
        let mut left = len;
        while left > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let piece = left.min(front.len());
            records.push(front.split_to(piece).freeze());
            left -= piece;
            if front.is_empty() && self.chunks.len() > 1 {
                self.chunks.pop_front();
            }
        }
        Batch {
            records,
            len,
            count: n as u64,
            line_bytes,
        }
    }

    /// The buffer to write a record of `len` bytes into.
    fn tail(&mut self, len: usize) -> &mut BytesMut {
        let full = self
            .chunks
            .back()
            .is_none_or(|b| b.capacity() - b.len() < len);
        if full {
            self.chunks
                .push_back(BytesMut::with_capacity(len.max(CHUNK)));
        }
        self.chunks.back_mut().expect("just made")
    }

    /// Empties the queue; returns how many records it held.
    pub(super) fn clear(&mut self) -> u64 {
        let n = self.records.len() as u64;
        self.records.clear();
        self.chunks.clear();
        self.bytes = 0;
        self.oldest = None;
        n
    }
}

/// `t` as OTLP's times are: nanoseconds since the Unix epoch.
pub(super) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Shared {
    /// Turns `msgs` into records: whole lines at once, a partial group's
    /// chunks once its last comes (or its body reaches `otlp-max-record`,
    /// or another group or a whole line ends it). A record that finds the
    /// queue full waits for room until `deadline`, unless the collector is
    /// down: then it is dropped at once. `failed` gets an error for each
    /// record not queued.
    pub(super) fn push(
        &self,
        msgs: &mut dyn Iterator<Item = Message>,
        deadline: Instant,
        failed: &mut dyn FnMut(Error),
    ) {
        // One clock read for the whole read's worth: on some machines a
        // read costs as much as encoding a record.
        let observed = unix_nanos(SystemTime::now());
        // The lines of one read share their time: converted once.
        let mut stamp = (SystemTime::UNIX_EPOCH, 0);
        let mut time_of = |t: SystemTime| {
            if t != stamp.0 {
                stamp = (t, unix_nanos(t));
            }
            stamp.1
        };
        let mut queue = self.queue.lock();
        for msg in msgs {
            if queue.closing.is_some() {
                failed(Error::closed(NAME));
                continue;
            }
            let source = msg.source as usize;
            let Some(PartialMeta { id, last, .. }) = msg.partial else {
                self.end_group(&mut queue, source, observed, deadline, failed);
                let time = time_of(msg.timestamp);
                self.enqueue(
                    &mut queue,
                    source,
                    (time, observed),
                    &msg.line,
                    None,
                    deadline,
                    failed,
                );
                continue;
            };
            if queue.joins[source]
                .id
                .as_ref()
                .is_some_and(|open| *open != id)
            {
                self.end_group(&mut queue, source, observed, deadline, failed);
            }
            let join = &mut queue.joins[source];
            if join.id.is_none() {
                join.time = time_of(msg.timestamp);
                join.parts = 0;
            }
            // A part holds whole chunks, as many as fit in the bound.
            let over = join.body.len() + msg.line.len() > self.config.max_record;
            if over && !join.body.is_empty() {
                self.flush_group(&mut queue, source, false, observed, deadline, failed);
            }
            let join = &mut queue.joins[source];
            join.body.extend_from_slice(&msg.line);
            join.id = Some(id);
            if last {
                self.flush_group(&mut queue, source, true, observed, deadline, failed);
            }
        }
    }

    /// Sends what `source`'s open group holds as a part that is not the
    /// last: the group was cut short (a whole line or another group came,
    /// or the driver closes).
    pub(super) fn end_group(
        &self,
        queue: &mut MutexGuard<'_, Queue>,
        source: usize,
        observed: u64,
        deadline: Instant,
        failed: &mut dyn FnMut(Error),
    ) {
        if queue.joins[source].id.is_some() {
            self.flush_group(queue, source, false, observed, deadline, failed);
            queue.joins[source].id = None;
        }
    }

    /// Sends `source`'s joined chunks: as one whole record when they are
    /// the whole line, else as a part with the group's id, ordinal and
    /// whether it is the `last`.
    fn flush_group(
        &self,
        queue: &mut MutexGuard<'_, Queue>,
        source: usize,
        last: bool,
        observed: u64,
        deadline: Instant,
        failed: &mut dyn FnMut(Error),
    ) {
        let join = &mut queue.joins[source];
        let body = std::mem::take(&mut join.body);
        let id = if last {
            join.id.take()
        } else {
            join.id.clone()
        };
        let id = id.unwrap_or_default();
        let whole = last && join.parts == 0;
        join.parts += 1;
        let part = (!whole).then_some(Part {
            id: &id,
            ordinal: join.parts,
            last,
        });
        let times = (join.time, observed);
        self.enqueue(queue, source, times, &body, part, deadline, failed);
        // The buffer's room is kept for the group's next chunks.
        let mut body = body;
        body.clear();
        queue.joins[source].body = body;
    }

    /// Encodes one record into the queue, waiting for room as
    /// [`push`](Shared::push) says.
    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &self,
        queue: &mut MutexGuard<'_, Queue>,
        source: usize,
        (time, observed): (u64, u64),
        body: &[u8],
        part: Option<Part<'_>>,
        deadline: Instant,
        failed: &mut dyn FnMut(Error),
    ) {
        let record = Record::new(time, observed, &self.streams[source], body, part);
        let len = record.len();
        let limit = self.config.buffer_limit;
        // A record bigger than the whole queue still goes, alone.
        let fits = |q: &Queue| q.bytes + len <= limit || q.is_empty();
        while !fits(queue) && !self.down.load(Ordering::Acquire) && queue.closing.is_none() {
            self.work.notify_one();
            if self.room.wait_until(queue, deadline).timed_out() {
                break;
            }
        }
        if !fits(queue) {
            self.counts.dropped_full(1);
            self.drops.full.fetch_add(1, Ordering::Relaxed);
            failed(Error::dropped(NAME, DROPPED));
            return;
        }
        let (was_empty, before) = (queue.is_empty(), queue.bytes);
        record.put(queue.tail(len));
        queue.bytes += len;
        queue.records.push_back((len, body.len() as u64));
        if was_empty {
            queue.oldest = Some(Instant::now());
        }
        let c = &self.config;
        let full = queue.records.len() == c.batch_records
            || (before < c.batch_bytes && queue.bytes >= c.batch_bytes);
        if was_empty || full {
            self.work.notify_one();
        }
    }
}

/// The size of the queue's buffers (a bigger record gets one of its own).
const CHUNK: usize = 256 << 10;

/// Why a record is dropped at `log`.
const DROPPED: &str =
    "the otlp-buffer-limit queue is full: the collector is down or slower than the container";
