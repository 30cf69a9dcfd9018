//! Async mode: the byte-bounded queue of encoded events between `log`
//! and the worker thread that sends them.
//!
//! It is not the crate's [`NonBlocking`](crate::NonBlocking) buffer: that
//! holds messages, in arrival order across streams, and hands them to a
//! driver; this holds events already encoded (`fluentd-buffer-limit` counts
//! their bytes, as Docker's docs say) and sends up to 256 in one write.

use std::collections::VecDeque;
use std::time::Instant;

use super::{Error, FluentdLogger, Message, Shared, NAME};

/// The most events the async worker sends in one write (or one
/// Forward-mode frame).
const MAX_BATCH_EVENTS: usize = 256;

/// One encoded event, queued in async mode: `time ‖ record`.
pub(super) struct Event {
    entry: Vec<u8>,
    line_bytes: u64,
}

/// The async queue between `log` and the worker.
#[derive(Default)]
pub(super) struct Queue {
    events: VecDeque<Event>,
    bytes: usize,
    pub(super) closing: Option<Instant>,
}

impl Queue {
    /// The bytes queued, as encoded.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl FluentdLogger {
    /// Queues `msgs` (async mode); a line that does not fit in
    /// `fluentd-buffer-limit` is dropped, counted and handed to `failed`.
    pub(super) fn queue(
        &self,
        msgs: &mut dyn Iterator<Item = Message>,
        failed: &mut dyn FnMut(Error),
    ) {
        let shared = &self.shared;
        let limit = shared.config.buffer_limit;
        let mut full = 0;
        {
            let mut queue = shared.queue.lock();
            for msg in msgs {
                if queue.closing.is_some() {
                    failed(Error::closed(NAME));
                    continue;
                }
                let entry = self.entry(&msg);
                if queue.bytes + entry.len() > limit {
                    full += 1;
                    continue;
                }
                queue.bytes += entry.len();
                queue.events.push_back(Event {
                    entry,
                    line_bytes: msg.line.len() as u64,
                });
            }
        }
        shared.work.notify_one();
        if full > 0 {
            shared.counts.dropped_full(full);
            for _ in 0..full {
                failed(Error::dropped(
                    NAME,
                    "the fluentd-buffer-limit queue is full",
                ));
            }
        }
    }
}

/// The async worker: sends what is queued until the driver closes, then
/// what is left within the write timeout, and drops the rest.
pub(super) fn worker(shared: &Shared) {
    let forward = shared.config.forward_mode;
    loop {
        let (batch, closing) = {
            let mut queue = shared.queue.lock();
            loop {
                if !queue.events.is_empty() {
                    break;
                }
                match queue.closing {
                    Some(_) => return,
                    None => shared.work.wait(&mut queue),
                }
            }
            // Back-to-back frames (or one Forward frame) in one write.
            let take = queue.events.len().min(MAX_BATCH_EVENTS);
            let batch: Vec<Event> = queue.events.drain(..take).collect();
            queue.bytes -= batch.iter().map(|e| e.entry.len()).sum::<usize>();
            (batch, queue.closing)
        };
        // Moved out, not copied: a 64 KiB line is 64 KiB to copy.
        let (entries, line_bytes): (Vec<Vec<u8>>, Vec<u64>) =
            batch.into_iter().map(|e| (e.entry, e.line_bytes)).unzip();
        // Once closing, nothing is sent past the close deadline.
        let mut link = shared.link.lock();
        let through = link.send(shared, &entries, forward, closing);
        drop(link);
        let sent = line_bytes[..through].iter().sum();
        shared.counts.sent(through as u64, sent);
        if through == entries.len() {
            continue;
        }
        // Out of time or attempts: the rest of this batch, and at close
        // all the rest.
        let mut lost = entries.len() - through;
        let mut queue = shared.queue.lock();
        if queue.closing.is_some_and(|d| Instant::now() >= d) {
            lost += queue.events.len();
            queue.events.clear();
            queue.bytes = 0;
        }
        drop(queue);
        shared.counts.dropped(lost as u64);
    }
}
