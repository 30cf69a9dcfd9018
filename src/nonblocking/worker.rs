//! The worker thread: takes what the queue holds, a slice at a time, and
//! hands it to the driver; and the sleep protocol it shares with `log`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::queue::{cost, Batch, Entry, Handed, Queue};
use crate::error::{Error, Result};
use crate::line_run::LineRun;
use crate::logger::{self, Logger};
use crate::message::Message;

/// How many messages the worker hands over before it gives their room
/// back (a run's, to a driver that takes lines one by one: once per run,
/// which is one read at most), and the most a driver that prefers batches
/// gets at once.
pub(super) const RELEASE_EVERY: usize = 256;

/// How often a worker that was busy a moment ago looks for new lines.
/// Polling, rather than being woken for each batch, saves a wake-up (a
/// system call on both sides) per batch while lines stream in. Short, so
/// that the worker stays close behind the Copier: the fewer read buffers
/// its lag holds, the more of them are still in cache when reused.
const POLL: Duration = Duration::from_micros(250);

/// How many empty polls (10 ms of them) before the worker sleeps until
/// woken.
const IDLE_POLLS: u32 = 40;

/// What the worker is doing, as `log` needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WorkerState {
    /// Delivering: it will look at the queue again without being woken.
    Busy,
    /// Looking at the queue every [`POLL`]: woken only when the buffer is
    /// half full (or closing).
    Polling,
    /// Waiting on [`Shared::wake`] for the next line.
    Asleep,
    /// Everything is delivered; closing the driver, which has a bound of
    /// its own.
    ClosingDriver,
}

/// The queue and the worker's state, under one lock.
#[derive(Debug)]
pub(super) struct State {
    pub(super) queue: Queue,
    pub(super) worker: WorkerState,
}

/// What the handle and the worker share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    /// Signalled when a message arrives for a sleeping worker, or at close.
    pub(super) wake: Condvar,
    /// `close` gave up waiting: the worker stops calling the driver, and
    /// counts what is left as dropped.
    pub(super) abandon: AtomicBool,
}

impl Shared {
    pub(super) fn new(queue: Queue) -> Shared {
        Shared {
            state: Mutex::new(State {
                queue,
                worker: WorkerState::Busy,
            }),
            wake: Condvar::new(),
            abandon: AtomicBool::new(false),
        }
    }

    /// Wakes the worker if it sleeps, or if it polls and the buffer is
    /// half full or closed. Called with the lock held, after a message was
    /// queued or the queue was closed: a worker that is busy or polling
    /// looks at the queue again by itself, so no wake-up is lost.
    pub(super) fn nudge(&self, state: &mut State) {
        let urgent = state.queue.closed || state.queue.half_full();
        match state.worker {
            WorkerState::Asleep => {}
            WorkerState::Polling if urgent => {}
            _ => return,
        }
        state.worker = WorkerState::Busy;
        self.wake.notify_one();
    }
}

pub(super) struct Worker {
    pub(super) inner: Arc<dyn Logger>,
    pub(super) shared: Arc<Shared>,
    /// The most bytes taken from the queue at once: what the worker holds
    /// is bounded, so that the queue keeps room to drop the oldest lines.
    pub(super) budget: usize,
}

impl Worker {
    /// Delivers until the queue is closed and empty, then closes the driver.
    pub(super) fn run(self) -> Result<()> {
        let mut taken = VecDeque::new();
        // Where a run's messages are made, a slice at a time: on this
        // thread, in memory that stays in its cache.
        let mut made = Batch::new();
        loop {
            {
                let mut state = self.shared.state.lock();
                let mut idle = 0;
                while state.queue.is_empty() {
                    // `closed` is set under this lock: once the queue is
                    // closed and empty, nothing more can arrive.
                    if state.queue.closed {
                        state.worker = WorkerState::ClosingDriver;
                        drop(state);
                        return Error::guard(self.inner.name(), || self.inner.close());
                    }
                    if idle < IDLE_POLLS {
                        idle += 1;
                        state.worker = WorkerState::Polling;
                        self.shared.wake.wait_for(&mut state, POLL);
                    } else {
                        state.worker = WorkerState::Asleep;
                        self.shared.wake.wait(&mut state);
                    }
                }
                state.worker = WorkerState::Busy;
                state.queue.take(self.budget, &mut taken);
            }
            while let Some(entry) = taken.pop_front() {
                match entry {
                    Entry::Messages(batch) => self.deliver(batch),
                    Entry::Run(run) => self.deliver_run(&run, &mut made),
                }
            }
        }
    }

    fn abandoned(&self) -> bool {
        self.shared.abandon.load(Ordering::Relaxed)
    }

    /// Hands `batch` to the driver, [`RELEASE_EVERY`] messages at a time,
    /// giving their room back after each; the emptied batch goes back to
    /// the queue for reuse.
    fn deliver(&self, mut batch: Batch) {
        while !batch.is_empty() {
            let n = batch.len().min(RELEASE_EVERY);
            let handed = self.hand(&mut batch, n);
            let emptied = batch.is_empty().then(|| std::mem::take(&mut batch));
            self.report(&handed, emptied);
        }
    }

    /// Hands the lines of `run` to the driver as messages made here, and
    /// gives their room back. A driver that prefers batches gets them
    /// [`RELEASE_EVERY`] at a time, made into `made`; any other gets each
    /// as it is made, and the room comes back once for the run, which is
    /// one read at most.
    fn deliver_run(&self, run: &LineRun, made: &mut Batch) {
        if !self.inner.prefers_batches() || self.abandoned() {
            let mut handed = Handed {
                msgs: run.len(),
                ..Handed::default()
            };
            self.deliver_each(run.messages(), &mut handed);
            return self.report(&handed, None);
        }
        let mut msgs = run.messages();
        loop {
            made.extend(msgs.by_ref().take(RELEASE_EVERY));
            if made.is_empty() {
                return;
            }
            let handed = self.hand(made, made.len());
            self.report(&handed, None);
        }
    }

    /// Hands the first `n` messages of `batch` to the driver, or gives
    /// them up if `close` did, and says how that went.
    fn hand(&self, batch: &mut Batch, n: usize) -> Handed {
        let mut handed = Handed {
            msgs: n,
            ..Handed::default()
        };
        if self.abandoned() {
            handed.bytes = batch.drain(..n).map(|m| cost(&m)).sum();
            handed.abandoned = n as u64;
        } else if self.inner.prefers_batches() {
            let (bytes, lines) = batch
                .iter()
                .take(n)
                .fold((0, 0), |(b, l), m| (b + cost(m), l + m.line.len()));
            handed.bytes = bytes;
            let mut count = |err: Error| {
                handed.errors += 1;
                handed.panics += u64::from(matches!(err, Error::Panicked { .. }));
            };
            if n == batch.len() {
                logger::deliver(&*self.inner, batch, &mut count);
            } else {
                let mut part: Batch = batch.drain(..n).collect();
                logger::deliver(&*self.inner, &mut part, &mut count);
            }
            handed.delivered = n as u64 - handed.errors;
            // Which messages failed is not known: count the bytes of
            // the ones that did not as the slice's share.
            handed.delivered_bytes = (lines as u64 * handed.delivered)
                .checked_div(n as u64)
                .unwrap_or(0);
        } else {
            self.deliver_each(batch.drain(..n), &mut handed);
        }
        handed
    }

    /// Hands `msgs` to the driver one by one, with one unwind guard for
    /// them all, and adds up their cost: a panic costs its own message,
    /// and the rest go on. Stops calling the driver at once when `close`
    /// gives up.
    fn deliver_each(&self, mut msgs: impl Iterator<Item = Message>, handed: &mut Handed) {
        loop {
            let run = Error::guard(self.inner.name(), || {
                for msg in msgs.by_ref() {
                    let len = msg.line.len();
                    handed.bytes += cost(&msg);
                    if self.abandoned() {
                        handed.abandoned += 1;
                    } else if self.inner.log(msg).is_ok() {
                        handed.delivered += 1;
                        handed.delivered_bytes += len as u64;
                    } else {
                        handed.errors += 1;
                    }
                }
                Ok(())
            });
            if run.is_ok() {
                return;
            }
            handed.errors += 1;
            handed.panics += 1;
        }
    }

    /// Gives the room of handed-over messages back, counts them, and keeps
    /// an emptied batch for reuse.
    fn report(&self, handed: &Handed, emptied: Option<Batch>) {
        let mut state = self.shared.state.lock();
        state.queue.delivered(handed);
        if let Some(batch) = emptied {
            state.queue.recycle(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, Source};
    use crate::nonblocking::Overflow;
    use crate::testing::Collect;

    fn worker(max: usize) -> (Worker, Arc<Collect>) {
        let keep = Arc::new(Collect::default());
        let worker = Worker {
            inner: keep.clone(),
            shared: Arc::new(Shared::new(Queue::new(max, Overflow::DropNewest))),
            budget: max / 4,
        };
        (worker, keep)
    }

    #[test]
    fn a_closed_empty_queue_ends_the_worker_and_closes_the_driver() {
        let (worker, keep) = worker(100);
        {
            let mut state = worker.shared.state.lock();
            state.queue.push(Message::new(Source::Stdout, "last words"));
            state.queue.closed = true;
        }
        let shared = Arc::clone(&worker.shared);
        worker.run().unwrap();
        assert_eq!(keep.0.lock().len(), 1);
        assert_eq!(shared.state.lock().queue.counts.delivered, 1);
    }

    #[test]
    fn a_run_reaches_the_driver_as_its_messages_in_slices() {
        let (worker, keep) = worker(1 << 20);
        let lines: Vec<String> = (0..RELEASE_EVERY + 3).map(|i| i.to_string()).collect();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        {
            let mut state = worker.shared.state.lock();
            state.queue.push_run(LineRun::new(Source::Stderr, text));
            state.queue.push(Message::new(Source::Stdout, "after"));
            state.queue.closed = true;
        }
        let shared = Arc::clone(&worker.shared);
        worker.run().unwrap();
        let got = keep.0.lock();
        let mut want: Vec<(Source, String)> =
            lines.into_iter().map(|l| (Source::Stderr, l)).collect();
        want.push((Source::Stdout, "after".into()));
        let got: Vec<(Source, String)> = got
            .iter()
            .map(|m| (m.source, String::from_utf8(m.line.to_vec()).unwrap()))
            .collect();
        assert_eq!(got, want);
        let state = shared.state.lock();
        assert_eq!(state.queue.counts.delivered, RELEASE_EVERY as u64 + 4);
        assert_eq!(state.queue.bytes(), 0);
    }

    #[test]
    fn a_sleeping_worker_is_woken_by_a_nudge() {
        let (worker, keep) = worker(100);
        let shared = Arc::clone(&worker.shared);
        let thread = std::thread::spawn(move || worker.run());
        // Wait until it sleeps, by the state it announces under the lock.
        loop {
            let state = shared.state.lock();
            if state.worker == WorkerState::Asleep {
                break;
            }
            drop(state);
            std::thread::yield_now();
        }
        {
            let mut state = shared.state.lock();
            state.queue.push(Message::new(Source::Stdout, "wake"));
            shared.nudge(&mut state);
            assert_eq!(state.worker, WorkerState::Busy);
            state.queue.closed = true;
        }
        thread.join().unwrap().unwrap();
        assert_eq!(keep.0.lock().len(), 1);
    }

    #[test]
    fn an_abandoned_worker_counts_what_is_left_as_dropped() {
        let (worker, keep) = worker(1000);
        worker.shared.abandon.store(true, Ordering::Relaxed);
        let mut batch: Batch = (0..3)
            .map(|i| Message::new(Source::Stdout, i.to_string()))
            .collect();
        let mut taken = VecDeque::new();
        {
            let mut state = worker.shared.state.lock();
            state.queue.push_batch(&mut batch);
            state.queue.take(usize::MAX, &mut taken);
        }
        let Some(Entry::Messages(batch)) = taken.pop_front() else {
            panic!("a batch goes in as a batch");
        };
        worker.deliver(batch);
        assert!(keep.0.lock().is_empty());
        let counts = worker.shared.state.lock().queue.counts;
        assert_eq!((counts.dropped, counts.delivered), (3, 0));
    }
}
