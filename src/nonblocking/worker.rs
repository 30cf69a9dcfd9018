//! The worker thread: takes what the queue holds, a slice at a time, and
//! hands it to the driver; and the sleep protocol it shares with `log`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::queue::{cost, Queue};
use crate::error::{Error, Result};
use crate::logger::{self, Logger};
use crate::message::Message;

/// How many messages the worker hands over before it gives their room
/// back, and the most a driver that prefers batches gets at once.
pub(super) const RELEASE_EVERY: usize = 256;

/// What the worker is doing, as `log` needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WorkerState {
    /// Delivering: it will look at the queue again without being woken.
    Busy,
    /// Waiting on [`Shared::wake`] for the queue to fill.
    Asleep,
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

    /// Wakes the worker if it sleeps. Called with the lock held, after a
    /// message was queued or the queue was closed: a worker that is busy
    /// looks at the queue again by itself, so no wake-up is lost.
    pub(super) fn nudge(&self, state: &mut State) {
        if state.worker == WorkerState::Asleep {
            state.worker = WorkerState::Busy;
            self.wake.notify_one();
        }
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
        let batches = self.inner.prefers_batches();
        let mut taken = VecDeque::new();
        loop {
            {
                let mut state = self.shared.state.lock();
                while state.queue.is_empty() {
                    // `closed` is set under this lock: once the queue is
                    // closed and empty, nothing more can arrive.
                    if state.queue.closed {
                        drop(state);
                        return Error::guard(self.inner.name(), || self.inner.close());
                    }
                    state.worker = WorkerState::Asleep;
                    self.shared.wake.wait(&mut state);
                }
                state.worker = WorkerState::Busy;
                state.queue.take(self.budget, &mut taken);
            }
            if batches {
                self.deliver_batches(&mut taken);
            } else {
                self.deliver_each(&mut taken);
            }
        }
    }

    fn abandoned(&self) -> bool {
        self.shared.abandon.load(Ordering::Relaxed)
    }

    /// Hands `taken` to a driver that prefers batches, [`RELEASE_EVERY`]
    /// messages at a time, giving their room back after each.
    fn deliver_batches(&self, taken: &mut VecDeque<Message>) {
        let mut part = VecDeque::with_capacity(RELEASE_EVERY.min(taken.len()));
        while !taken.is_empty() {
            let n = taken.len().min(RELEASE_EVERY);
            part.extend(taken.drain(..n));
            let bytes: usize = part.iter().map(cost).sum();
            if self.abandoned() {
                part.clear();
                self.report(bytes, 0, 0, n as u64);
                continue;
            }
            let mut errors = 0u64;
            logger::deliver(&*self.inner, &mut part, &mut |_| errors += 1);
            self.report(bytes, n as u64 - errors, errors, 0);
        }
    }

    /// Hands `taken` to the driver message by message, stopping at once
    /// when `close` gives up.
    fn deliver_each(&self, taken: &mut VecDeque<Message>) {
        let (mut bytes, mut delivered, mut errors, mut abandoned) = (0, 0, 0, 0);
        while let Some(msg) = taken.pop_front() {
            bytes += cost(&msg);
            if self.abandoned() {
                abandoned += 1;
            } else if Error::guard(self.inner.name(), || self.inner.log(msg)).is_ok() {
                delivered += 1;
            } else {
                errors += 1;
            }
            if delivered + errors + abandoned == RELEASE_EVERY as u64 {
                self.report(bytes, delivered, errors, abandoned);
                (bytes, delivered, errors, abandoned) = (0, 0, 0, 0);
            }
        }
        self.report(bytes, delivered, errors, abandoned);
    }

    /// Gives the room of handed-over messages back, and counts them.
    fn report(&self, bytes: usize, delivered: u64, errors: u64, abandoned: u64) {
        if bytes == 0 {
            return;
        }
        let mut state = self.shared.state.lock();
        state.queue.delivered(bytes, delivered, errors, abandoned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Source;
    use crate::nonblocking::Overflow;

    /// Keeps what it gets.
    #[derive(Default)]
    struct Keep(Mutex<Vec<Message>>);

    impl Logger for Keep {
        fn log(&self, msg: Message) -> Result<()> {
            self.0.lock().push(msg);
            Ok(())
        }
        fn name(&self) -> &str {
            "keep"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
    }

    fn worker(max: usize) -> (Worker, Arc<Keep>) {
        let keep = Arc::new(Keep::default());
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
        let mut taken: VecDeque<Message> = (0..3)
            .map(|i| Message::new(Source::Stdout, i.to_string()))
            .collect();
        {
            let mut state = worker.shared.state.lock();
            for msg in taken.drain(..) {
                state.queue.push(msg);
            }
            state.queue.take(usize::MAX, &mut taken);
        }
        worker.deliver_each(&mut taken);
        assert!(keep.0.lock().is_empty());
        let counts = worker.shared.state.lock().queue.counts;
        assert_eq!((counts.dropped, counts.delivered), (3, 0));
    }
}
