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

mod evict;

use std::collections::VecDeque;
use std::time::SystemTime;

use bytes::Bytes;

use super::Overflow;
use crate::line_run::LineRun;
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
    /// Of `dropped`, those given up at close: the rest found the buffer
    /// full.
    pub(super) abandoned: u64,
}

/// Messages that came in together, oldest first.
pub(super) type Batch = VecDeque<Message>;

/// What the queue holds, in arrival order: messages that came in
/// together, or the short whole lines of one read, whose messages the
/// worker makes.
#[derive(Debug)]
pub(super) enum Entry {
    /// Made by the Copier, or by `log`: never empty in the queue.
    Messages(Batch),
    /// To be made by the worker: never empty.
    Run(LineRun),
}

impl Entry {
    /// How many messages it is.
    pub(super) fn len(&self) -> usize {
        match self {
            Entry::Messages(batch) => batch.len(),
            Entry::Run(run) => run.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What its messages cost in the buffer.
    pub(super) fn cost(&self) -> usize {
        match self {
            Entry::Messages(batch) => batch.iter().map(cost).sum(),
            Entry::Run(run) => run.cost(),
        }
    }

    /// Its messages, if they are made already: a run holds whole lines
    /// only, no chunk.
    fn made(&self) -> Option<&Batch> {
        match self {
            Entry::Messages(batch) => Some(batch),
            Entry::Run(_) => None,
        }
    }

    /// Its messages, made from the run first if it is one: for the rare
    /// paths (eviction, a split) that pick messages out one by one.
    pub(super) fn batch(&mut self) -> &mut Batch {
        if let Entry::Run(run) = self {
            *self = Entry::Messages(run.messages().collect());
        }
        match self {
            Entry::Messages(batch) => batch,
            Entry::Run(_) => unreachable!("made into messages above"),
        }
    }
}

/// How many emptied batches are kept for reuse.
const MAX_SPARES: usize = 32;

/// The most messages a single `log` call adds to the newest batch; past
/// it, a new batch starts, so that the worker can take batches whole
/// rather than split one long run of single lines.
const MAX_JOINED: usize = 256;

/// The buffer, in arrival order across both streams.
#[derive(Debug)]
pub(super) struct Queue {
    /// Messages waiting for the worker, oldest first, in the batches and
    /// runs they came in (a single message joins the newest batch), so
    /// that a batch or run that fits goes in and out whole, without being
    /// copied. No entry in it is empty.
    entries: VecDeque<Entry>,
    /// Emptied batches, to be filled again: the one emptied longest ago
    /// first, whose memory the worker's core has most likely let go of,
    /// so that filling it costs the Copier's core less.
    spares: VecDeque<Batch>,
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
            entries: VecDeque::new(),
            spares: VecDeque::new(),
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
        self.entries.is_empty()
    }

    /// The cost of what is queued and what the worker holds; nothing once
    /// `close` gave up, which counted all of it as dropped.
    pub(super) fn bytes(&self) -> usize {
        if self.settled {
            0
        } else {
            self.queued + self.held
        }
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
            let spare = self.spares.pop_front().unwrap_or_default();
            let batch = std::mem::replace(batch, spare);
            self.entries.push_back(Entry::Messages(batch));
            return;
        }
        for msg in batch.drain(..) {
            self.push(msg);
        }
    }

    /// Admits the lines of a run, as [`push_batch`](Queue::push_batch)
    /// admits a batch: as it is when it fits whole and no line is being
    /// dropped, else message by message.
    pub(super) fn push_run(&mut self, run: LineRun) {
        let fits = self.queued + self.held + run.cost() <= self.max;
        if fits && self.dropping == [None, None] && !run.is_empty() {
            self.queued += run.cost();
            self.counts.offered += run.len() as u64;
            self.entries.push_back(Entry::Run(run));
            return;
        }
        for msg in run.messages() {
            self.push(msg);
        }
    }

    /// Keeps an emptied batch for reuse, if there is room.
    pub(super) fn recycle(&mut self, mut batch: Batch) {
        if self.spares.len() < MAX_SPARES {
            batch.clear();
            self.spares.push_back(batch);
        }
    }

    /// The messages admitted and not yet delivered, failed or dropped.
    pub(super) fn unflushed(&self) -> u64 {
        (self.entries.iter().map(Entry::len).sum::<usize>() + self.held_msgs) as u64
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
        match self.entries.back_mut() {
            Some(Entry::Messages(newest)) if newest.len() < MAX_JOINED => newest.push_back(msg),
            _ => {
                let mut batch = self.spares.pop_front().unwrap_or_default();
                batch.push_back(msg);
                self.entries.push_back(Entry::Messages(batch));
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

    /// Moves the oldest entries, up to `budget` bytes (at least one
    /// message), into `out` for the worker; they stay counted until
    /// [`delivered`](Queue::delivered). Only an entry that alone is over
    /// the budget is split.
    pub(super) fn take(&mut self, budget: usize, out: &mut VecDeque<Entry>) {
        let (mut taken, mut msgs) = (0, 0);
        let start = out.len();
        if self.queued <= budget {
            // All of it, as it is: no message need be looked at.
            (taken, msgs) = (self.queued, self.entries.iter().map(Entry::len).sum());
            out.extend(self.entries.drain(..));
        }
        while let Some(entry) = self.entries.front_mut() {
            let c = entry.cost();
            if taken + c <= budget {
                (taken, msgs) = (taken + c, msgs + entry.len());
                out.push_back(self.entries.pop_front().expect("front exists"));
                continue;
            }
            if taken == 0 {
                // Over the budget alone: take what fits, at least one.
                let batch = entry.batch();
                let mut part = self.spares.pop_front().unwrap_or_default();
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
                    if let Some(Entry::Messages(empty)) = self.entries.pop_front() {
                        self.recycle(empty);
                    }
                }
                out.push_back(Entry::Messages(part));
            }
            break;
        }
        if !self.closings.is_empty() {
            let made = out.range(start..).filter_map(Entry::made).flatten();
            for m in made.filter(|m| is_closing(m)) {
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
        c.abandoned += report.abandoned;
        c.lines_dropped += report.abandoned;
    }

    /// `close` gave up waiting: what is queued and what the worker holds
    /// are dropped now, and every count is final. Returns how many.
    pub(super) fn settle(&mut self) -> u64 {
        let unflushed = self.unflushed();
        if !self.settled {
            let mut queued: Vec<Entry> = self.entries.drain(..).collect();
            for msg in queued.iter_mut().flat_map(|entry| entry.batch().iter()) {
                self.count_drop(msg, true);
                self.counts.abandoned += 1;
            }
            self.counts.dropped += self.held_msgs as u64;
            self.counts.abandoned += self.held_msgs as u64;
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
mod tests;
