//! Drop-oldest: making room for a message by evicting the oldest whole
//! lines, without cutting a line the worker has started or the one being
//! queued.

use super::*;

impl Queue {
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
    pub(super) fn evict_for(&mut self, cost: usize, own: Option<(Source, &str)>) -> bool {
        let room = |stays: usize| stays == 0 || stays + cost <= self.max;
        let quick = own.is_none() && room(self.held + 2 + self.closings.len());
        if !quick && !room(self.held + self.pinned(own)) {
            return false;
        }
        let mut steps = self.entries.iter().map(Entry::len).sum::<usize>();
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
        // A run holds whole lines only: none of them stays.
        for msg in self.entries.iter().filter_map(Entry::made).flatten() {
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
        self.entries.iter().enumerate().find_map(|(b, entry)| {
            // A run's first line is a whole line: evictable.
            let i = entry
                .made()
                .map_or(Some(0), |batch| batch.iter().position(evictable))?;
            Some((b, i))
        })
    }

    /// Evicts the message at `i` in batch `b` and, for a chunk, every
    /// queued chunk of its line after it. If chunks of the line went
    /// before, it stays as the line's closing chunk, where it stood.
    fn evict_at(&mut self, b: usize, i: usize) {
        let msg = self.entries[b]
            .batch()
            .remove(i)
            .expect("an evictable message");
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
        for entry in self.entries.iter_mut().skip(b) {
            // A run holds no chunk.
            let Entry::Messages(batch) = entry else {
                continue;
            };
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
            self.entries[b].batch().insert(i, close);
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
    pub(super) fn forget_closing(&mut self, source: Source, id: &str) -> bool {
        let found = self
            .closings
            .iter()
            .position(|(s, i)| *s == source && i == id);
        found.map(|at| self.closings.swap_remove(at)).is_some()
    }

    /// Recycles the batches that eviction emptied.
    fn tidy(&mut self) {
        while let Some(at) = self.entries.iter().position(Entry::is_empty) {
            if let Some(Entry::Messages(empty)) = self.entries.remove(at) {
                self.recycle(empty);
            }
        }
    }
}
