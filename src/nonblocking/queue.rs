//! The non-blocking buffer: one queue in arrival order, its byte budget,
//! and the rules for what a full buffer drops.
//!
//! No threads here: [`Queue`] is plain data behind the handle's lock, so
//! its rules are tested one by one below.

use std::collections::VecDeque;

use bytes::Bytes;

use super::Overflow;
use crate::message::{Message, PartialMeta, Source};

/// What a message costs in the buffer: its line's bytes, and at least one,
/// so that a flood of empty lines cannot grow the buffer without bound.
pub(super) fn cost(msg: &Message) -> usize {
    msg.line.len().max(1)
}

/// A partial group whose chunks are being dropped on one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dropping {
    /// The group's id.
    id: String,
    /// Chunks of the group went out before the drop: the driver needs an
    /// empty `last` chunk to end the line. `false` once one is queued.
    needs_close: bool,
    /// The ordinal of the first chunk dropped: the empty `last` chunk
    /// that ends the line takes it, so that ordinals have no gap.
    first_dropped: u32,
}

/// The counts of a [`Queue`], as [`NonBlocking`](super::NonBlocking)
/// reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    /// Messages admitted into the queue.
    pub(super) accepted: u64,
    /// Messages the driver took.
    pub(super) delivered: u64,
    /// Messages whose `log` failed or panicked.
    pub(super) errors: u64,
    /// Lines lost in whole or in part: refused, evicted or abandoned.
    pub(super) lines_dropped: u64,
    /// Partial chunks among the dropped messages.
    pub(super) chunks_dropped: u64,
    /// Messages dropped, of every kind.
    pub(super) dropped: u64,
    /// Messages admitted and then evicted or abandoned: not to be delivered.
    pub(super) discarded: u64,
}

/// Messages that came in together, oldest first.
pub(super) type Batch = VecDeque<Message>;

/// How many emptied batches are kept for reuse.
const MAX_SPARES: usize = 32;

/// The most messages a single `log` call adds to the newest batch; past
/// it, a new batch starts, so that the worker can take batches whole
/// rather than split one long run of single lines.
const MAX_JOINED: usize = 256;

/// The buffer, in arrival order across both streams.
#[derive(Debug)]
pub(super) struct Queue {
    /// Messages waiting for the worker, oldest first, in the batches they
    /// came in (a single message joins the newest batch), so that a batch
    /// that fits goes in and out whole, without being copied. No batch in
    /// it is empty.
    batches: VecDeque<Batch>,
    /// Emptied batches, to be filled again.
    spares: Vec<Batch>,
    /// The cost of `msgs`.
    queued: usize,
    /// The cost of the messages the worker has taken and not yet handed
    /// over: they count against the limit until the driver has them.
    held: usize,
    max: usize,
    overflow: Overflow,
    /// Per stream, the group being dropped, if any.
    dropping: [Option<Dropping>; 2],
    /// `close` was called: nothing more is admitted.
    pub(super) closed: bool,
    pub(super) counts: Counts,
}

impl Queue {
    pub(super) fn new(max: usize, overflow: Overflow) -> Queue {
        Queue {
            batches: VecDeque::new(),
            spares: Vec::new(),
            queued: 0,
            held: 0,
            max,
            overflow,
            dropping: [None, None],
            closed: false,
            counts: Counts::default(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Whether the buffer holds half its limit or more.
    pub(super) fn half_full(&self) -> bool {
        self.queued + self.held >= self.max / 2
    }

    /// Admits a batch of messages, as [`push`](Queue::push) would one by
    /// one. A batch that fits whole, while no line is being dropped, goes
    /// in as it is, and `batch` gets an empty one back.
    pub(super) fn push_batch(&mut self, batch: &mut Batch) {
        let cost: usize = batch.iter().map(cost).sum();
        let held = self.queued + self.held;
        let fits = held == 0 || held + cost <= self.max;
        if fits && self.dropping == [None, None] && !batch.is_empty() {
            self.queued += cost;
            self.counts.accepted += batch.len() as u64;
            let spare = self.spares.pop().unwrap_or_default();
            self.batches.push_back(std::mem::replace(batch, spare));
            return;
        }
        for msg in batch.drain(..) {
            self.push(msg);
        }
    }

    /// Keeps an emptied batch for reuse, if there is room.
    pub(super) fn recycle(&mut self, mut batch: Batch) {
        if self.spares.len() < MAX_SPARES {
            batch.clear();
            self.spares.push(batch);
        }
    }

    /// Takes the oldest queued message out.
    fn pop_oldest(&mut self) -> Option<Message> {
        let oldest = self.batches.front_mut()?;
        let msg = oldest.pop_front();
        if oldest.is_empty() {
            let empty = self.batches.pop_front().unwrap_or_default();
            self.recycle(empty);
        }
        msg
    }

    /// The messages admitted and not yet delivered, failed or discarded.
    pub(super) fn unflushed(&self) -> u64 {
        let c = &self.counts;
        c.accepted - c.delivered - c.errors - c.discarded
    }

    /// Admits `msg`, or drops it (or older ones) as the overflow policy
    /// says. Never fails: what is dropped is counted.
    pub(super) fn push(&mut self, msg: Message) {
        let source = msg.source;
        if let Some(dropping) = self.dropping[source as usize].take() {
            match &msg.partial {
                Some(p) if p.id == dropping.id => {
                    // The rest of a line already cut short.
                    self.count_drop(&msg, false);
                    if !p.last {
                        self.dropping[source as usize] = Some(dropping);
                    } else if dropping.needs_close {
                        let close = closing_chunk(source, &dropping, msg.timestamp);
                        self.force(close);
                    }
                    return;
                }
                // The group never ended (its stream moved on without a
                // `last` chunk): end it for the driver, then go on.
                _ if dropping.needs_close => {
                    let close = closing_chunk(source, &dropping, msg.timestamp);
                    self.force(close);
                }
                _ => {}
            }
        }
        let cost = cost(&msg);
        let room =
            self.fits(cost) || (self.overflow == Overflow::DropOldest && self.evict_for(cost));
        if room {
            self.force(msg);
        } else {
            self.refuse(&msg);
        }
    }

    /// Whether `cost` more bytes fit; an empty buffer takes anything.
    fn fits(&self, cost: usize) -> bool {
        let held = self.queued + self.held;
        held == 0 || held + cost <= self.max
    }

    /// Counts `msg` in: its cost against the limit, and as accepted.
    fn count_admitted(&mut self, msg: &Message) {
        self.queued += cost(msg);
        self.counts.accepted += 1;
    }

    /// Admits `msg` whatever the limit, after the newest message.
    fn force(&mut self, msg: Message) {
        self.count_admitted(&msg);
        match self.batches.back_mut() {
            Some(newest) if newest.len() < MAX_JOINED => newest.push_back(msg),
            _ => {
                let mut batch = self.spares.pop().unwrap_or_default();
                batch.push_back(msg);
                self.batches.push_back(batch);
            }
        }
    }

    /// Counts `msg` as dropped; `new_line` when it is the first message of
    /// its line to go.
    fn count_drop(&mut self, msg: &Message, new_line: bool) {
        self.counts.dropped += 1;
        self.counts.lines_dropped += u64::from(new_line);
        self.counts.chunks_dropped += u64::from(msg.partial.is_some());
    }

    /// Counts `msg` as dropped without looking at it further: the buffer
    /// cannot take anything (its worker never started).
    pub(super) fn count_refused(&mut self, msg: &Message) {
        self.count_drop(msg, true);
    }

    /// Drops `msg`, which did not fit. A chunk drops the rest of its line
    /// with it; chunks that went before get an empty `last` chunk.
    fn refuse(&mut self, msg: &Message) {
        self.count_drop(msg, true);
        let Some(p) = &msg.partial else { return };
        let needs_close = p.ordinal > 1;
        let dropping = Dropping {
            id: p.id.clone(),
            needs_close,
            first_dropped: p.ordinal,
        };
        if !p.last {
            self.dropping[msg.source as usize] = Some(dropping);
        } else if needs_close {
            let close = closing_chunk(msg.source, &dropping, msg.timestamp);
            self.force(close);
        }
    }

    /// Evicts the oldest queued lines until `cost` more bytes fit, if
    /// evicting can make room at all; otherwise evicts nothing.
    fn evict_for(&mut self, cost: usize) -> bool {
        if self.held != 0 && self.held + cost > self.max {
            return false;
        }
        while !self.fits(cost) {
            let Some(oldest) = self.pop_oldest() else {
                break;
            };
            self.evict(oldest);
        }
        true
    }

    /// Evicts `oldest`, the queue's front message, and, for a chunk, every
    /// queued chunk of its line after it.
    fn evict(&mut self, oldest: Message) {
        self.discard(&oldest, true);
        let Some(p) = oldest.partial.clone() else {
            return;
        };
        // The rest of its line goes with it, wherever it is queued.
        let same = |m: &Message| {
            m.source == oldest.source && m.partial.as_ref().is_some_and(|q| q.id == p.id)
        };
        let mut gone = Vec::new();
        for batch in &mut self.batches {
            let (rest, line): (Batch, Batch) = batch.drain(..).partition(|m| !same(m));
            *batch = rest;
            gone.extend(line);
        }
        self.batches.retain(|b| !b.is_empty());
        let mut ended = p.last;
        for chunk in &gone {
            ended |= chunk.partial.as_ref().is_some_and(|q| q.last);
            self.discard(chunk, false);
        }
        let mut dropping = Dropping {
            id: p.id.clone(),
            needs_close: p.ordinal > 1,
            first_dropped: p.ordinal,
        };
        if dropping.needs_close {
            // Earlier chunks went to the driver: end their line where this
            // one stood, so that it comes before anything newer.
            let close = closing_chunk(oldest.source, &dropping, oldest.timestamp);
            self.count_admitted(&close);
            match self.batches.front_mut() {
                Some(front) => front.push_front(close),
                None => self.batches.push_back(Batch::from([close])),
            }
            dropping.needs_close = false;
        }
        if !ended {
            self.dropping[oldest.source as usize] = Some(dropping);
        }
    }

    /// Takes a queued message out as dropped.
    fn discard(&mut self, msg: &Message, new_line: bool) {
        self.queued -= cost(msg);
        self.counts.discarded += 1;
        self.count_drop(msg, new_line);
    }

    /// Moves the oldest batches, up to `budget` bytes (at least one
    /// message), into `out` for the worker; they stay counted until
    /// [`delivered`](Queue::delivered). Only a batch that alone is over the
    /// budget is split.
    pub(super) fn take(&mut self, budget: usize, out: &mut VecDeque<Batch>) {
        let mut taken = 0;
        while let Some(batch) = self.batches.front_mut() {
            let c: usize = batch.iter().map(cost).sum();
            if taken + c <= budget {
                taken += c;
                out.push_back(self.batches.pop_front().expect("front exists"));
                continue;
            }
            if taken == 0 {
                // Over the budget alone: take what fits, at least one.
                let mut part = self.spares.pop().unwrap_or_default();
                while let Some(msg) = batch.front() {
                    let c = cost(msg);
                    if !part.is_empty() && taken + c > budget {
                        break;
                    }
                    taken += c;
                    part.push_back(batch.pop_front().expect("front exists"));
                }
                if batch.is_empty() {
                    // One message over the budget: no empty batch stays.
                    let empty = self.batches.pop_front().unwrap_or_default();
                    self.recycle(empty);
                }
                out.push_back(part);
            }
            break;
        }
        self.queued -= taken;
        self.held += taken;
    }

    /// The worker handed `bytes` of messages over: `delivered` taken by the
    /// driver, `errors` failed, `abandoned` given up at close.
    pub(super) fn delivered(&mut self, bytes: usize, delivered: u64, errors: u64, abandoned: u64) {
        self.held -= bytes;
        self.counts.delivered += delivered;
        self.counts.errors += errors;
        self.counts.discarded += abandoned;
        self.counts.dropped += abandoned;
        self.counts.lines_dropped += abandoned;
    }
}

/// The empty `last` chunk that ends `dropping`'s line on `source`.
fn closing_chunk(source: Source, dropping: &Dropping, timestamp: std::time::SystemTime) -> Message {
    Message {
        line: Bytes::new(),
        source,
        timestamp,
        partial: Some(PartialMeta {
            id: dropping.id.clone(),
            ordinal: dropping.first_dropped,
            last: true,
        }),
    }
}

#[cfg(test)]
impl Queue {
    /// Messages queued.
    fn len(&self) -> usize {
        self.batches.iter().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(source: Source, text: &str) -> Message {
        Message::new(source, text.to_owned())
    }

    fn chunk(text: &str, ordinal: u32, last: bool) -> Message {
        Message {
            partial: Some(PartialMeta {
                id: "g".repeat(64),
                ordinal,
                last,
            }),
            ..whole(Source::Stdout, text)
        }
    }

    /// What the worker would get, as (line, Some((ordinal, last))).
    fn drain(q: &mut Queue) -> Vec<(String, Option<(u32, bool)>)> {
        let mut out = VecDeque::new();
        q.take(usize::MAX, &mut out);
        out.iter()
            .flatten()
            .map(|m| {
                let line = String::from_utf8(m.line.to_vec()).unwrap();
                (line, m.partial.as_ref().map(|p| (p.ordinal, p.last)))
            })
            .collect()
    }

    fn w(s: &str) -> (String, Option<(u32, bool)>) {
        (s.to_owned(), None)
    }

    fn c(s: &str, ordinal: u32, last: bool) -> (String, Option<(u32, bool)>) {
        (s.to_owned(), Some((ordinal, last)))
    }

    #[test]
    fn admits_into_an_empty_buffer_and_up_to_the_limit() {
        let mut q = Queue::new(10, Overflow::DropNewest);
        q.push(whole(Source::Stdout, "0123456789abc")); // over the limit, but empty
        q.push(whole(Source::Stdout, "x")); // does not fit
        assert_eq!(q.counts.dropped, 1);
        assert_eq!(drain(&mut q), [w("0123456789abc")]);
        q.delivered(13, 1, 0, 0);
        q.push(whole(Source::Stdout, "12345"));
        q.push(whole(Source::Stderr, "12345"));
        q.push(whole(Source::Stdout, "1"));
        assert_eq!(q.counts.dropped, 2);
        assert_eq!(drain(&mut q), [w("12345"), w("12345")]);
    }

    #[test]
    fn arrival_order_is_kept_across_streams() {
        let mut q = Queue::new(100, Overflow::DropNewest);
        for (i, source) in [
            Source::Stdout,
            Source::Stderr,
            Source::Stdout,
            Source::Stderr,
        ]
        .into_iter()
        .enumerate()
        {
            q.push(whole(source, &i.to_string()));
        }
        let mut out = VecDeque::new();
        q.take(usize::MAX, &mut out);
        let order: Vec<(Source, &[u8])> = out
            .iter()
            .flatten()
            .map(|m| (m.source, &m.line[..]))
            .collect();
        assert_eq!(
            order,
            [
                (Source::Stdout, &b"0"[..]),
                (Source::Stderr, b"1"),
                (Source::Stdout, b"2"),
                (Source::Stderr, b"3")
            ]
        );
    }

    #[test]
    fn drop_oldest_evicts_only_when_that_makes_room() {
        let mut q = Queue::new(1000, Overflow::DropOldest);
        for _ in 0..5 {
            q.push(whole(Source::Stdout, &"a".repeat(10)));
        }
        let mut held = VecDeque::new();
        q.take(10, &mut held); // the worker holds one line of 10 bytes
                               // 995 bytes cannot fit beside the 10 the worker holds, whatever is
                               // evicted: only the new line is dropped.
        q.push(whole(Source::Stdout, &"b".repeat(995)));
        assert_eq!((q.counts.dropped, q.len()), (1, 4));
        // 975 bytes fit once 3 of the 4 queued lines go: exactly 3 go.
        q.push(whole(Source::Stdout, &"c".repeat(975)));
        assert_eq!((q.counts.dropped, q.len()), (4, 2));
        assert_eq!(q.counts.lines_dropped, 4);
    }

    #[test]
    fn the_worker_takes_at_most_its_budget_and_at_least_one() {
        let mut q = Queue::new(1000, Overflow::DropNewest);
        for _ in 0..10 {
            q.push(whole(Source::Stdout, &"a".repeat(100)));
        }
        let mut out = VecDeque::new();
        q.take(250, &mut out);
        assert_eq!(out.iter().flatten().count(), 2);
        q.take(50, &mut out);
        assert_eq!(out.iter().flatten().count(), 3);
        assert_eq!((q.held, q.queued), (300, 700));
    }

    #[test]
    fn a_message_over_the_budget_is_taken_alone_and_leaves_no_empty_batch() {
        let mut q = Queue::new(1000, Overflow::DropNewest);
        q.push(whole(Source::Stdout, &"a".repeat(600)));
        let mut out = VecDeque::new();
        q.take(250, &mut out);
        assert_eq!(out.iter().flatten().count(), 1);
        assert!(q.is_empty());
    }

    #[test]
    fn a_refused_chunk_drops_the_rest_of_its_line_and_closes_the_group() {
        let mut q = Queue::new(11, Overflow::DropNewest);
        q.push(chunk("aaaa", 1, false));
        q.push(chunk("bbbb", 2, false));
        q.push(chunk("cccc", 3, false)); // does not fit
        q.push(whole(Source::Stderr, "x")); // another stream goes on
        q.push(chunk("dd", 4, false)); // the rest of the line is dropped...
        q.push(chunk("ee", 5, true)); // ...and its end becomes an empty last chunk
        q.push(whole(Source::Stdout, "n"));
        assert_eq!(
            drain(&mut q),
            [
                c("aaaa", 1, false),
                c("bbbb", 2, false),
                w("x"),
                c("", 3, true),
                w("n")
            ]
        );
        assert_eq!(
            (
                q.counts.lines_dropped,
                q.counts.chunks_dropped,
                q.counts.dropped
            ),
            (1, 3, 3)
        );
    }

    #[test]
    fn a_line_refused_from_its_first_chunk_leaves_nothing() {
        let mut q = Queue::new(4, Overflow::DropNewest);
        q.push(whole(Source::Stdout, "full"));
        q.push(chunk("aaaa", 1, false));
        q.push(chunk("bbbb", 2, true));
        assert_eq!(drain(&mut q), [w("full")]);
        assert_eq!((q.counts.lines_dropped, q.counts.chunks_dropped), (1, 2));
    }

    #[test]
    fn evicting_a_chunk_evicts_its_line_and_ends_what_went_before() {
        let mut q = Queue::new(12, Overflow::DropOldest);
        q.push(chunk("aaaa", 1, false));
        let mut held = VecDeque::new();
        q.take(4, &mut held); // chunk 1 went to the worker...
        q.delivered(4, 1, 0, 0); // ...and the driver has it
        q.push(chunk("bbbb", 2, false));
        q.push(chunk("cccc", 3, false));
        q.push(whole(Source::Stderr, "x"));
        // 8 bytes must go: chunk 2 is the oldest, so its whole line goes,
        // and an empty last chunk ends it in its place.
        q.push(whole(Source::Stderr, "yyyyyyyy"));
        q.push(chunk("dddd", 4, true)); // the line's end, dropped
        assert_eq!(drain(&mut q), [c("", 2, true), w("x"), w("yyyyyyyy")]);
        assert_eq!((q.counts.lines_dropped, q.counts.chunks_dropped), (1, 3));
    }

    #[test]
    fn a_group_that_never_ends_is_closed_when_its_stream_moves_on() {
        let mut q = Queue::new(4, Overflow::DropNewest);
        q.push(chunk("aaaa", 1, false));
        q.push(chunk("bbbb", 2, false)); // refused
        let mut out = VecDeque::new();
        q.take(usize::MAX, &mut out);
        q.delivered(4, 1, 0, 0);
        q.push(whole(Source::Stdout, "new"));
        assert_eq!(drain(&mut q), [c("", 2, true), w("new")]);
    }
}
