//! The non-blocking buffer: one queue in arrival order, its byte budget,
//! and the rules for what a full buffer drops.
//!
//! No threads here: [`Queue`] is plain data behind the handle's lock, so
//! its rules are tested one by one below, and all together by a property
//! test.
//!
//! **Accounting.** Every message offered ends as exactly one of:
//! delivered (the driver took it), failed (its `log` failed or panicked)
//! or dropped (refused, evicted, or given up at close). A long line cut
//! short keeps its first chunks; the chunk where the cut falls goes out
//! emptied, with `last: true` (the *closing chunk*), so that the line ends
//! and its ordinals have no gap. That chunk counts as delivered and as
//! [`truncated`](Counts::truncated), not as dropped; the chunks after it
//! are dropped.

use std::collections::VecDeque;
use std::time::SystemTime;

use bytes::Bytes;

use super::Overflow;
use crate::message::{Message, PartialMeta, Source};

/// What a message costs in the buffer: its line's bytes, and at least one,
/// so that a flood of empty lines cannot grow the buffer without bound.
pub(super) fn cost(msg: &Message) -> usize {
    msg.line.len().max(1)
}

/// Whether `msg` is an empty `last` chunk after others: evicting it would
/// only put the same closing chunk back, so it is never evicted alone.
fn is_closing(msg: &Message) -> bool {
    msg.line.is_empty()
        && msg
            .partial
            .as_ref()
            .is_some_and(|p| p.last && p.ordinal > 1)
}

/// A line whose chunks are being dropped on one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dropping {
    /// The group's id.
    id: String,
    /// The chunk refused at `ordinal` will go out as the closing chunk,
    /// when the line's end comes (or its stream moves on, or `close`).
    /// `false` when nothing of the line went before, or its closing chunk
    /// is queued already.
    pending_close: bool,
    /// The ordinal of the first chunk dropped.
    ordinal: u32,
}

/// The counts of a [`Queue`], as [`NonBlocking`](super::NonBlocking)
/// reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    /// Messages offered to the queue.
    pub(super) offered: u64,
    /// Messages the driver took.
    pub(super) delivered: u64,
    /// The bytes of their lines.
    pub(super) delivered_bytes: u64,
    /// Messages whose `log` failed or panicked.
    pub(super) errors: u64,
    /// Of `errors`, the panics.
    pub(super) panics: u64,
    /// Lines lost in whole or in part: refused, evicted, cut short or
    /// abandoned.
    pub(super) lines_dropped: u64,
    /// Lines cut short: their closing chunk went in place of the rest.
    pub(super) truncated: u64,
    /// Partial chunks among the dropped messages.
    pub(super) chunks_dropped: u64,
    /// Messages dropped, of every kind.
    pub(super) dropped: u64,
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
    /// The cost of the queued messages.
    queued: usize,
    /// The cost of the messages the worker has taken and not yet handed
    /// over: they count against the limit until the driver has them.
    held: usize,
    /// How many messages the worker holds.
    held_msgs: usize,
    max: usize,
    overflow: Overflow,
    /// Per stream, the line being dropped, if any.
    dropping: [Option<Dropping>; 2],
    /// The closing chunks this queue made that are still queued, by
    /// stream and group: evicting one again does not cut its line twice.
    closings: Vec<(Source, String)>,
    /// `close` was called: nothing more is admitted.
    pub(super) closed: bool,
    /// `close` gave up: every count is final, and what the worker still
    /// reports changes none of them.
    settled: bool,
    pub(super) counts: Counts,
}

impl Queue {
    pub(super) fn new(max: usize, overflow: Overflow) -> Queue {
        Queue {
            batches: VecDeque::new(),
            spares: Vec::new(),
            queued: 0,
            held: 0,
            held_msgs: 0,
            max,
            overflow,
            dropping: [None, None],
            closings: Vec::new(),
            closed: false,
            settled: false,
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
    /// in as it is, and `batch` gets an empty one back. Only a single
    /// message may go over the limit, so a batch that does not fit goes in
    /// message by message.
    pub(super) fn push_batch(&mut self, batch: &mut Batch) {
        let cost: usize = batch.iter().map(cost).sum();
        let fits = self.queued + self.held + cost <= self.max;
        if fits && self.dropping == [None, None] && !batch.is_empty() {
            self.queued += cost;
            self.counts.offered += batch.len() as u64;
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

    /// The messages admitted and not yet delivered, failed or dropped.
    pub(super) fn unflushed(&self) -> u64 {
        (self.batches.iter().map(VecDeque::len).sum::<usize>() + self.held_msgs) as u64
    }

    /// Admits `msg`, or drops it (or older ones) as the overflow policy
    /// says. Never fails: what is dropped is counted.
    pub(super) fn push(&mut self, msg: Message) {
        self.counts.offered += 1;
        let source = msg.source;
        if let Some(dropping) = self.dropping[source as usize].take() {
            let last = match &msg.partial {
                Some(p) if p.id == dropping.id => Some(p.last),
                _ => None,
            };
            if let Some(last) = last {
                // The rest of a line already cut short.
                self.count_drop(&msg, false);
                if !last {
                    self.dropping[source as usize] = Some(dropping);
                } else if dropping.pending_close {
                    self.close_line(source, dropping, msg.timestamp);
                }
                return;
            }
            // The line never ended (its stream moved on without a `last`
            // chunk): end it for the driver, then go on.
            if dropping.pending_close {
                self.close_line(source, dropping, msg.timestamp);
            }
        }
        let cost = cost(&msg);
        // Evicting the earlier chunks of `msg`'s own line makes no room
        // for it: they stay, and only older lines can go.
        let own = msg
            .partial
            .as_ref()
            .filter(|p| p.ordinal > 1)
            .map(|p| (source, p.id.as_str()));
        if self.fits(cost) || (self.overflow == Overflow::DropOldest && self.evict_for(cost, own)) {
            self.admit(msg);
        } else {
            self.refuse(msg);
        }
    }

    /// Whether `cost` more bytes fit; an empty buffer takes anything.
    fn fits(&self, cost: usize) -> bool {
        let held = self.queued + self.held;
        held == 0 || held + cost <= self.max
    }

    /// Queues `msg` whatever the limit, after the newest message.
    fn admit(&mut self, msg: Message) {
        self.queued += cost(&msg);
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

    /// Counts `msg` as offered and dropped without looking at it further:
    /// the buffer cannot take anything (its worker never started).
    pub(super) fn count_refused(&mut self, msg: &Message) {
        self.counts.offered += 1;
        self.count_drop(msg, true);
    }

    /// Drops `msg`, which did not fit. A chunk drops the rest of its line
    /// with it; if chunks went before, this one goes out as the closing
    /// chunk, when the line's end comes. An empty `last` chunk is that
    /// closing chunk already, and goes in as it is.
    fn refuse(&mut self, msg: Message) {
        if is_closing(&msg) {
            return self.admit(msg);
        }
        let Some(p) = &msg.partial else {
            return self.count_drop(&msg, true);
        };
        let dropping = Dropping {
            id: p.id.clone(),
            pending_close: p.ordinal > 1,
            ordinal: p.ordinal,
        };
        if dropping.pending_close {
            self.counts.lines_dropped += 1;
            if p.last {
                return self.close_line(msg.source, dropping, msg.timestamp);
            }
        } else {
            self.count_drop(&msg, true);
            if p.last {
                return;
            }
        }
        self.dropping[msg.source as usize] = Some(dropping);
    }

    /// Queues the closing chunk of `dropping`'s line, whatever the limit:
    /// it costs one byte, and without it the line would be glued to the
    /// next.
    fn close_line(&mut self, source: Source, dropping: Dropping, timestamp: SystemTime) {
        let close = closing_chunk(source, &dropping.id, dropping.ordinal, timestamp);
        self.closings.push((source, dropping.id));
        self.counts.truncated += 1;
        self.admit(close);
    }

    /// Ends the lines being cut short, before the queue closes: their
    /// closing chunks go out with the rest.
    pub(super) fn close_pending_lines(&mut self) {
        for source in [Source::Stdout, Source::Stderr] {
            if let Some(d) = self.dropping[source as usize].take() {
                if d.pending_close {
                    self.close_line(source, d, SystemTime::now());
                }
            }
        }
    }

    /// Evicts the oldest queued lines until `cost` more bytes fit, if
    /// evicting can make room at all; otherwise evicts nothing.
    ///
    /// What eviction cannot take back is what the worker holds, and one
    /// byte per line whose first queued chunk comes after others (its
    /// closing chunk stays). Those lines are, per stream, at most the
    /// first one queued (the worker took its start) and the lines this
    /// queue cut: a bound that is checked first, before counting exactly.
    /// Each step takes at least one message out for good, so this ends
    /// within as many steps as there are messages.
    /// The queued chunks of line `own`, if given, stay.
    fn evict_for(&mut self, cost: usize, own: Option<(Source, &str)>) -> bool {
        let room = |stays: usize| stays == 0 || stays + cost <= self.max;
        let quick = own.is_none() && room(self.held + 2 + self.closings.len());
        if !quick && !room(self.held + self.pinned(own)) {
            return false;
        }
        let mut steps = self.batches.iter().map(VecDeque::len).sum::<usize>();
        while !self.fits(cost) {
            let Some((b, i)) = self.oldest_evictable(own).filter(|_| steps > 0) else {
                debug_assert!(false, "room was counted, yet nothing is left to evict");
                break;
            };
            steps -= 1;
            self.evict_at(b, i);
        }
        true
    }

    /// The bytes that stay queued when every line that can go has gone:
    /// all of line `own`, and one byte for each other line whose first
    /// queued chunk comes after others.
    fn pinned(&self, own: Option<(Source, &str)>) -> usize {
        let mut seen: Vec<(Source, &str)> = Vec::new();
        let mut pinned = 0;
        for msg in self.batches.iter().flatten() {
            let Some(p) = &msg.partial else { continue };
            let line = (msg.source, p.id.as_str());
            if own == Some(line) {
                pinned += cost(msg);
            } else if !seen.contains(&line) {
                seen.push(line);
                pinned += usize::from(p.ordinal > 1);
            }
        }
        pinned
    }

    /// Where the oldest queued message is that is neither a closing chunk
    /// nor part of line `own`.
    fn oldest_evictable(&self, own: Option<(Source, &str)>) -> Option<(usize, usize)> {
        let evictable = |m: &Message| {
            let line = m.partial.as_ref().map(|p| (m.source, p.id.as_str()));
            !is_closing(m) && (own.is_none() || own != line)
        };
        self.batches.iter().enumerate().find_map(|(b, batch)| {
            let i = batch.iter().position(evictable)?;
            Some((b, i))
        })
    }

    /// Evicts the message at `i` in batch `b` and, for a chunk, every
    /// queued chunk of its line after it. If chunks of the line went
    /// before, it stays as the line's closing chunk, where it stood.
    fn evict_at(&mut self, b: usize, i: usize) {
        let msg = self.batches[b].remove(i).expect("an evictable message");
        self.unqueue(&msg);
        let Some(p) = &msg.partial else {
            self.count_drop(&msg, true);
            return self.tidy();
        };
        let source = msg.source;
        // A later chunk of this line was refused: the line was counted as
        // cut already, and that chunk no longer closes it.
        let mut counted = false;
        if let Some(d) = self.dropping[source as usize].take_if(|d| d.id == p.id) {
            counted = true;
            if d.pending_close {
                self.counts.dropped += 1;
                self.counts.chunks_dropped += 1;
            }
        }
        let mut ended = p.last;
        let mut gone = Vec::new();
        for batch in self.batches.iter_mut().skip(b) {
            let mut k = 0;
            while k < batch.len() {
                let m = &batch[k];
                if m.source == source && m.partial.as_ref().is_some_and(|q| q.id == p.id) {
                    gone.extend(batch.remove(k));
                } else {
                    k += 1;
                }
            }
        }
        for m in &gone {
            self.unqueue(m);
            ended |= m.partial.as_ref().is_some_and(|q| q.last);
            if is_closing(m) && self.forget_closing(source, &p.id) {
                // This queue's own closing chunk: its line was counted as
                // cut, and the chunk it stood for goes now.
                counted = true;
                self.counts.truncated -= 1;
            }
            self.count_drop(m, false);
        }
        if p.ordinal > 1 {
            let close = closing_chunk(source, &p.id, p.ordinal, msg.timestamp);
            self.counts.lines_dropped += u64::from(!counted);
            self.counts.truncated += 1;
            self.closings.push((source, p.id.clone()));
            self.queued += cost(&close);
            self.batches[b].insert(i, close);
        } else {
            self.count_drop(&msg, !counted);
        }
        if !ended {
            self.dropping[source as usize] = Some(Dropping {
                id: p.id.clone(),
                pending_close: false,
                ordinal: p.ordinal,
            });
        }
        self.tidy();
    }

    /// Takes `msg`'s cost out of the queue's.
    fn unqueue(&mut self, msg: &Message) {
        self.queued -= cost(msg);
    }

    /// Forgets this queue's closing chunk for `id`, if it made one.
    fn forget_closing(&mut self, source: Source, id: &str) -> bool {
        let found = self
            .closings
            .iter()
            .position(|(s, i)| *s == source && i == id);
        found.map(|at| self.closings.swap_remove(at)).is_some()
    }

    /// Recycles the batches that eviction emptied.
    fn tidy(&mut self) {
        while let Some(at) = self.batches.iter().position(VecDeque::is_empty) {
            let empty = self.batches.remove(at).unwrap_or_default();
            self.recycle(empty);
        }
    }

    /// Moves the oldest batches, up to `budget` bytes (at least one
    /// message), into `out` for the worker; they stay counted until
    /// [`delivered`](Queue::delivered). Only a batch that alone is over the
    /// budget is split.
    pub(super) fn take(&mut self, budget: usize, out: &mut VecDeque<Batch>) {
        let (mut taken, mut msgs) = (0, 0);
        let start = out.len();
        while let Some(batch) = self.batches.front_mut() {
            let c: usize = batch.iter().map(cost).sum();
            if taken + c <= budget {
                (taken, msgs) = (taken + c, msgs + batch.len());
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
                msgs += part.len();
                if batch.is_empty() {
                    // One message over the budget: no empty batch stays.
                    let empty = self.batches.pop_front().unwrap_or_default();
                    self.recycle(empty);
                }
                out.push_back(part);
            }
            break;
        }
        if !self.closings.is_empty() {
            for m in out.range(start..).flatten().filter(|m| is_closing(m)) {
                let id = &m.partial.as_ref().expect("a chunk").id;
                self.forget_closing(m.source, id);
            }
        }
        self.queued -= taken;
        self.held += taken;
        self.held_msgs += msgs;
    }

    /// The worker handed messages over: `report` says how they went.
    pub(super) fn delivered(&mut self, report: &Handed) {
        self.held -= report.bytes;
        self.held_msgs -= report.msgs;
        if self.settled {
            return;
        }
        let c = &mut self.counts;
        c.delivered += report.delivered;
        c.delivered_bytes += report.delivered_bytes;
        c.errors += report.errors;
        c.panics += report.panics;
        c.dropped += report.abandoned;
        c.lines_dropped += report.abandoned;
    }

    /// `close` gave up waiting: what is queued and what the worker holds
    /// are dropped now, and every count is final. Returns how many.
    pub(super) fn settle(&mut self) -> u64 {
        let unflushed = self.unflushed();
        if !self.settled {
            let queued: Vec<Batch> = self.batches.drain(..).collect();
            for msg in queued.iter().flatten() {
                self.count_drop(msg, true);
            }
            self.counts.dropped += self.held_msgs as u64;
            self.counts.lines_dropped += self.held_msgs as u64;
            self.queued = 0;
            self.closings.clear();
            self.settled = true;
        }
        unflushed
    }
}

/// What the worker did with a slice of messages it took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Handed {
    /// Messages handed over, and their cost in the buffer.
    pub(super) msgs: usize,
    pub(super) bytes: usize,
    /// Messages the driver took, and the bytes of their lines.
    pub(super) delivered: u64,
    pub(super) delivered_bytes: u64,
    /// Messages that failed, and the panics among them.
    pub(super) errors: u64,
    pub(super) panics: u64,
    /// Messages given up because `close` did.
    pub(super) abandoned: u64,
}

/// The empty `last` chunk that ends line `id` on `source` at `ordinal`.
fn closing_chunk(source: Source, id: &str, ordinal: u32, timestamp: SystemTime) -> Message {
    Message {
        line: Bytes::new(),
        source,
        timestamp,
        partial: Some(PartialMeta {
            id: id.to_owned(),
            ordinal,
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

    /// The worker handed `msgs` messages of `bytes` to the driver.
    fn hand_over(q: &mut Queue, msgs: usize, bytes: usize) {
        q.delivered(&Handed {
            msgs,
            bytes,
            delivered: msgs as u64,
            ..Handed::default()
        });
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
        hand_over(&mut q, 1, 13);
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
        // Chunk 3 goes out emptied, as the closing chunk: it is the line's
        // cut, not a drop. Chunks 4 and 5 are dropped.
        let c = q.counts;
        assert_eq!(
            (c.lines_dropped, c.truncated, c.chunks_dropped, c.dropped),
            (1, 1, 2, 2)
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
        hand_over(&mut q, 1, 4); // ...and the driver has it
        q.push(chunk("bbbb", 2, false));
        q.push(chunk("cccc", 3, false));
        q.push(whole(Source::Stderr, "x"));
        // 8 bytes must go: chunk 2 is the oldest, so its whole line goes,
        // and an empty last chunk ends it in its place.
        q.push(whole(Source::Stderr, "yyyyyyyy"));
        q.push(chunk("dddd", 4, true)); // the line's end, dropped
        assert_eq!(drain(&mut q), [c("", 2, true), w("x"), w("yyyyyyyy")]);
        let c = q.counts;
        assert_eq!((c.lines_dropped, c.truncated, c.chunks_dropped), (1, 1, 2));
    }

    #[test]
    fn a_group_that_never_ends_is_closed_when_its_stream_moves_on() {
        let mut q = Queue::new(4, Overflow::DropNewest);
        q.push(chunk("aaaa", 1, false));
        q.push(chunk("bbbb", 2, false)); // refused
        let mut out = VecDeque::new();
        q.take(usize::MAX, &mut out);
        hand_over(&mut q, 1, 4);
        q.push(whole(Source::Stdout, "new"));
        assert_eq!(drain(&mut q), [c("", 2, true), w("new")]);
    }

    #[test]
    fn a_closing_chunk_in_front_is_passed_over_and_eviction_ends() {
        // The shape that once spun forever: the worker holds chunk 1 of a
        // long stdout line, its last chunk and three stderr lines fill the
        // buffer, and a fourth stderr line comes.
        let mut q = Queue::new(64, Overflow::DropOldest);
        q.push(chunk(&"a".repeat(16), 1, false));
        let mut held = VecDeque::new();
        q.take(16, &mut held);
        q.push(chunk("bb", 2, true));
        for line in ["c", "d", "e"] {
            q.push(whole(Source::Stderr, &line.repeat(15)));
        }
        q.push(whole(Source::Stderr, &"f".repeat(15)));
        // Chunk 2 becomes the closing chunk, and then "c" has to go too:
        // the closing chunk itself is never evicted.
        assert_eq!(
            drain(&mut q),
            [
                c("", 2, true),
                w(&"d".repeat(15)),
                w(&"e".repeat(15)),
                w(&"f".repeat(15))
            ]
        );
        let c = q.counts;
        assert_eq!((c.dropped, c.truncated, c.lines_dropped), (1, 1, 2));
    }

    #[test]
    fn eviction_that_cannot_make_room_evicts_nothing() {
        let mut q = Queue::new(10, Overflow::DropOldest);
        q.push(chunk("aaaa", 1, false));
        let mut held = VecDeque::new();
        q.take(4, &mut held); // the worker holds 4 bytes
        q.push(chunk("bbbb", 2, true)); // evictable, but its closing chunk stays
        q.push(whole(Source::Stderr, "x"));
        // 4 held + 1 closing + 6 > 10: no eviction can make room.
        q.push(whole(Source::Stderr, "yyyyyy"));
        assert_eq!(drain(&mut q), [c("bbbb", 2, true), w("x")]);
        assert_eq!((q.counts.dropped, q.counts.truncated), (1, 0));
    }

    #[test]
    fn a_batch_into_an_empty_buffer_keeps_to_the_limit() {
        let mut q = Queue::new(1024, Overflow::DropNewest);
        let mut batch: Batch = (0..50)
            .map(|i| whole(Source::Stdout, &format!("{i:0>1000}")))
            .collect();
        q.push_batch(&mut batch);
        assert_eq!((q.len(), q.counts.dropped), (1, 49));
        assert_eq!(q.queued, 1000);
    }

    /// One step of the property test below.
    #[derive(Debug, Clone)]
    enum Step {
        /// The next message of a stream, through `push`.
        Push(Source),
        /// The next `n` messages of a stream, through `push_batch`.
        Batch(Source, usize),
        /// The worker takes up to this many bytes.
        Take(usize),
        /// The worker hands its oldest taken batch to the driver.
        Hand,
    }

    /// A stream's messages: whole lines and chunk groups (which end with
    /// a `last` chunk, possibly empty), as the Copier cuts them.
    fn stream(source: Source, lines: &[Vec<usize>]) -> VecDeque<Message> {
        let mut out = VecDeque::new();
        for (n, sizes) in lines.iter().enumerate() {
            let id = format!("{source}-{n}");
            for (k, &size) in sizes.iter().enumerate() {
                let text = format!("{id}/{k}:").repeat(size + 1)[..size].to_owned();
                let mut msg = whole(source, &text);
                if sizes.len() > 1 {
                    msg.partial = Some(PartialMeta {
                        id: id.clone(),
                        ordinal: k as u32 + 1,
                        last: k + 1 == sizes.len(),
                    });
                }
                out.push_back(msg);
            }
        }
        out
    }

    fn lines() -> impl proptest::strategy::Strategy<Value = Vec<Vec<usize>>> {
        use proptest::prelude::*;
        let line = prop_oneof![
            (0usize..40).prop_map(|n| vec![n]),
            (prop::collection::vec(1usize..40, 1..5), 0usize..40).prop_map(|(mut chunks, last)| {
                chunks.push(last);
                chunks
            }),
        ];
        prop::collection::vec(line, 0..12)
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        let source = prop_oneof![Just(Source::Stdout), Just(Source::Stderr)];
        prop_oneof![
            3 => source.clone().prop_map(Step::Push),
            1 => (source, 1usize..6).prop_map(|(s, n)| Step::Batch(s, n)),
            1 => (1usize..60).prop_map(Step::Take),
            2 => Just(Step::Hand),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(
            std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
        ))]

        /// Any messages, limits, policy and worker: the queue keeps its
        /// bound, ends every line it cuts, glues none, and accounts for
        /// every message exactly once.
        #[test]
        fn fuzz_the_queue_keeps_its_bound_its_lines_and_its_counts(
            out_lines in lines(),
            err_lines in lines(),
            steps in proptest::collection::vec(step(), 0..120),
            max in 1usize..120,
            oldest in proptest::bool::ANY,
        ) {
            use proptest::{prop_assert, prop_assert_eq};
            let overflow = if oldest { Overflow::DropOldest } else { Overflow::DropNewest };
            let mut q = Queue::new(max, overflow);
            let offered = [stream(Source::Stdout, &out_lines), stream(Source::Stderr, &err_lines)];
            let mut next = offered.clone();
            let mut held: VecDeque<Batch> = VecDeque::new();
            let mut got: Vec<Message> = Vec::new();
            let hand = |q: &mut Queue, batch: Batch, got: &mut Vec<Message>| {
                let bytes = batch.iter().map(cost).sum();
                hand_over(q, batch.len(), bytes);
                got.extend(batch);
            };
            for step in &steps {
                match step {
                    Step::Push(s) => {
                        if let Some(msg) = next[*s as usize].pop_front() {
                            q.push(msg);
                        }
                    }
                    Step::Batch(s, k) => {
                        let from = &mut next[*s as usize];
                        let mut batch: Batch = from.drain(..(*k).min(from.len())).collect();
                        q.push_batch(&mut batch);
                        prop_assert!(batch.is_empty());
                    }
                    Step::Take(budget) => q.take(*budget, &mut held),
                    Step::Hand => {
                        if let Some(batch) = held.pop_front() {
                            hand(&mut q, batch, &mut got);
                        }
                    }
                }
                // The bound: the limit, or one message alone over it, and
                // a closing chunk per stream.
                let largest = q.batches.iter().chain(&held).flatten().map(cost).max().unwrap_or(0);
                prop_assert!(q.queued + q.held <= max.max(largest) + 2,
                    "{} queued + {} held over {max} (largest {largest})", q.queued, q.held);
                let msgs: usize = q.batches.iter().chain(&held).map(VecDeque::len).sum();
                prop_assert_eq!(q.queued + q.held, q.batches.iter().chain(&held).flatten().map(cost).sum::<usize>());
                prop_assert_eq!(q.unflushed() as usize, msgs);
            }
            // The rest of both streams, then close and drain.
            for s in [Source::Stdout, Source::Stderr] {
                while let Some(msg) = next[s as usize].pop_front() {
                    q.push(msg);
                }
            }
            q.close_pending_lines();
            while let Some(batch) = held.pop_front() {
                hand(&mut q, batch, &mut got);
            }
            q.take(usize::MAX, &mut held);
            while let Some(batch) = held.pop_front() {
                hand(&mut q, batch, &mut got);
            }
            prop_assert!(q.is_empty());
            prop_assert_eq!((q.queued, q.held), (0, 0));
            let c = q.counts;
            let total = (offered[0].len() + offered[1].len()) as u64;
            prop_assert_eq!(c.offered, total);
            prop_assert_eq!(c.delivered, got.len() as u64);
            prop_assert_eq!(c.delivered + c.dropped, total, "{:?}", c);
            // Per stream: what arrived is what was offered, in order, with
            // each line whole, or its first chunks and then a closing chunk
            // at the next ordinal; nothing else between them.
            let mut cut = 0;
            for s in [Source::Stdout, Source::Stderr] {
                let mine: Vec<&Message> = got.iter().filter(|m| m.source == s).collect();
                let sent = &offered[s as usize];
                let mut at = 0; // in `sent`
                let mut i = 0;
                while i < mine.len() {
                    let m = mine[i];
                    // Find it among what was sent, from `at` on.
                    let Some(p) = &m.partial else {
                        let k = (at..sent.len()).find(|&k| sent[k].partial.is_none() && sent[k].line == m.line);
                        prop_assert!(k.is_some(), "a whole line that was not sent");
                        at = k.unwrap() + 1;
                        i += 1;
                        continue;
                    };
                    prop_assert_eq!(p.ordinal, 1, "a line delivered without its start");
                    let first = (at..sent.len()).find(|&k| sent[k].partial.as_ref().is_some_and(|q| q.id == p.id));
                    prop_assert!(first.is_some());
                    let first = first.unwrap();
                    let mut ordinal = 1;
                    loop {
                        let m = mine[i];
                        let q = m.partial.as_ref();
                        prop_assert!(q.is_some_and(|q| q.id == p.id && q.ordinal == ordinal),
                            "a line with a hole, or glued to the next: {:?}", q);
                        let q = q.unwrap();
                        let orig = &sent[first + ordinal as usize - 1];
                        let last = q.last;
                        if m.line != orig.line || last != orig.partial.as_ref().unwrap().last {
                            prop_assert!(m.line.is_empty() && last, "a chunk changed but not cut");
                            cut += 1;
                        }
                        i += 1;
                        ordinal += 1;
                        if last {
                            break;
                        }
                        prop_assert!(i < mine.len(), "a line left open");
                    }
                    at = first + 1;
                }
            }
            prop_assert_eq!(c.truncated, cut);
        }
    }
}
