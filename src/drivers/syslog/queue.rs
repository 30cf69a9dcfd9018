//! The byte-bounded queue of framed messages between `log` and the
//! worker that writes them, and how `log` waits for room in it.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{Shared, NAME};
use crate::error::Error;

/// One framed message, waiting for the server.
struct Queued {
    bytes: Vec<u8>,
    /// The bytes of its line, for the counts.
    line: u64,
}

/// The messages not yet written, oldest first.
#[derive(Default)]
pub(super) struct Queue {
    messages: VecDeque<Queued>,
    /// The bytes of `messages`.
    bytes: usize,
    /// How much of the first message is written already: a write that
    /// timed out mid-message goes on from there on the same connection.
    offset: usize,
    /// When `close` stops the worker: what is not written by then is
    /// dropped.
    pub(super) closing: Option<Instant>,
}

impl Queue {
    /// The bytes queued, as encoded.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

/// What [`Queue::written`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Written {
    pub(super) messages: u64,
    pub(super) line_bytes: u64,
}

impl Queue {
    pub(super) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Copies into `batch` what to write next: the rest of the first
    /// message, then whole messages while the batch stays within `max`
    /// bytes and `ends` (where each message ends in `batch`) within
    /// `max_messages`.
    pub(super) fn fill(
        &self,
        batch: &mut Vec<u8>,
        ends: &mut Vec<usize>,
        max: usize,
        max_messages: usize,
    ) {
        batch.clear();
        ends.clear();
        let mut messages = self.messages.iter();
        if let Some(first) = messages.next() {
            batch.extend_from_slice(&first.bytes[self.offset..]);
            ends.push(batch.len());
        }
        for next in messages {
            if batch.len() + next.bytes.len() > max || ends.len() >= max_messages {
                break;
            }
            batch.extend_from_slice(&next.bytes);
            ends.push(batch.len());
        }
    }

    /// `n` bytes of the batch from [`fill`](Queue::fill) were written: the
    /// messages they complete leave the queue.
    pub(super) fn written(&mut self, mut n: usize) -> Written {
        let mut done = Written::default();
        while let Some(first) = self.messages.front() {
            let rest = first.bytes.len() - self.offset;
            if n < rest {
                self.offset += n;
                break;
            }
            n -= rest;
            self.offset = 0;
            self.bytes -= first.bytes.len();
            done.messages += 1;
            done.line_bytes += first.line;
            self.messages.pop_front();
        }
        done
    }

    /// The message a failed connection cut in the middle: it went out in
    /// part, so it counts as written (the server may keep what it got),
    /// and is not written again, which would give the server its start
    /// twice.
    pub(super) fn cut_short(&mut self) -> Written {
        if self.offset == 0 {
            return Written::default();
        }
        let rest = self.messages.front().map_or(0, |m| m.bytes.len()) - self.offset;
        self.written(rest)
    }

    /// Empties the queue; returns how many messages it held.
    pub(super) fn clear(&mut self) -> u64 {
        let n = self.messages.len() as u64;
        self.messages.clear();
        self.bytes = 0;
        self.offset = 0;
        n
    }
}

impl Shared {
    /// Queues each of `messages` (framed, with their lines' lengths). One
    /// that finds the queue full waits for room until `deadline`, unless
    /// the server is down: then it is dropped at once. `failed` gets an
    /// error for each message not queued.
    pub(super) fn push(
        &self,
        messages: impl IntoIterator<Item = (Vec<u8>, u64)>,
        deadline: Instant,
        failed: &mut dyn FnMut(Error),
    ) {
        let limit = self.config.buffer_limit;
        let mut queue = self.queue.lock();
        let mut pushed = false;
        for (bytes, line) in messages {
            if queue.closing.is_some() {
                failed(Error::closed(NAME));
                continue;
            }
            // A message bigger than the whole queue still goes, alone.
            let fits = |q: &Queue| q.bytes + bytes.len() <= limit || q.is_empty();
            while !fits(&queue) && !self.down.load(Ordering::Acquire) && queue.closing.is_none() {
                if pushed {
                    self.work.notify_one();
                    pushed = false;
                }
                if self.room.wait_until(&mut queue, deadline).timed_out() {
                    break;
                }
            }
            if queue.closing.is_some() {
                failed(Error::closed(NAME));
                continue;
            }
            if !fits(&queue) {
                self.counts.dropped_full(1);
                failed(Error::dropped(NAME, DROPPED));
                continue;
            }
            queue.bytes += bytes.len();
            queue.messages.push_back(Queued { bytes, line });
            pushed = true;
        }
        drop(queue);
        if pushed {
            self.work.notify_one();
        }
    }
}

/// Why a message is dropped at `log`.
const DROPPED: &str =
    "the syslog-buffer-limit queue is full: the server is down or slower than the container";

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(messages: &[&[u8]]) -> Queue {
        let mut q = Queue::default();
        for m in messages {
            q.bytes += m.len();
            q.messages.push_back(Queued {
                bytes: m.to_vec(),
                line: m.len() as u64 - 1,
            });
        }
        q
    }

    #[test]
    fn a_batch_goes_on_from_where_the_last_write_stopped() {
        let mut q = queue(&[b"aaaa\n", b"bb\n", b"cccccc\n"]);
        let (mut batch, mut ends) = (Vec::new(), Vec::new());
        q.fill(&mut batch, &mut ends, 9, 10);
        assert_eq!((&batch[..], &ends[..]), (&b"aaaa\nbb\n"[..], &[5, 8][..]));
        assert_eq!(q.written(3), Written::default());
        q.fill(&mut batch, &mut ends, 9, 10);
        assert_eq!((&batch[..], &ends[..]), (&b"a\nbb\n"[..], &[2, 5][..]));
        q.fill(&mut batch, &mut ends, 100, 1);
        assert_eq!(batch, b"a\n");
        assert_eq!(
            q.written(5),
            Written {
                messages: 2,
                line_bytes: 6
            }
        );
        // The first message of a batch goes whole, however big.
        q.fill(&mut batch, &mut ends, 2, 10);
        assert_eq!(batch, b"cccccc\n");
        assert_eq!(q.bytes, 7);
    }

    #[test]
    fn a_message_cut_by_a_broken_connection_counts_as_written_once() {
        let mut q = queue(&[b"aaaa\n", b"bb\n"]);
        assert_eq!(q.cut_short(), Written::default());
        q.written(2);
        assert_eq!(
            q.cut_short(),
            Written {
                messages: 1,
                line_bytes: 4
            }
        );
        let (mut batch, mut ends) = (Vec::new(), Vec::new());
        q.fill(&mut batch, &mut ends, 100, 10);
        assert_eq!(batch, b"bb\n");
        assert_eq!(q.clear(), 1);
        assert_eq!((q.bytes, q.offset), (0, 0));
    }
}
