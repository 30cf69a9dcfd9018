//! [`NonBlocking`]: a byte-bounded buffer and a worker thread in front of a driver.

use std::collections::VecDeque;
use std::fmt;
use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::{Error, Logger, Message, Result, Source};

/// How long [`NonBlocking`]'s `close` waits for the buffer to drain into the
/// driver, by default: 5 seconds.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many messages the worker delivers before it gives their room back.
const RELEASE_EVERY: usize = 256;

/// How often a worker that was busy a moment ago looks for new messages.
/// Polling instead of being woken for each batch saves a wake-up per batch
/// when lines stream in; a buffer half full wakes it at once.
const POLL: Duration = Duration::from_millis(1);

/// How many empty polls before the worker sleeps until woken.
const IDLE_POLLS: u32 = 10;

/// Which message a full [`NonBlocking`] buffer gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Drop the message being logged; keep what is buffered. Docker's behaviour,
    /// and the default.
    #[default]
    DropNewest,
    /// Drop the oldest buffered messages until the new one fits. Keeps the
    /// most recent output, which is usually what explains a crash.
    DropOldest,
}

/// What a message costs in the buffer: its line's bytes, and at least one,
/// so that a flood of empty lines cannot grow the buffer without bound.
fn cost(msg: &Message) -> usize {
    msg.line.len().max(1)
}

/// One stream's part of the buffer.
///
/// The buffer is split by [`Source`], so that the stdout and stderr threads
/// of a Copier never wait for each other's lock: each shares its lock only
/// with the worker, which takes it once per batch.
#[derive(Default)]
#[repr(align(128))] // no false sharing between the two streams' threads
struct Shard {
    state: Mutex<ShardState>,
    /// `state.bytes`, published for the other stream's admission checks.
    /// Updated when it moves by more than a grain, or reaches zero. It has
    /// a cache line of its own: the other stream reads it on every line.
    published: Padded<AtomicUsize>,
}

/// Keeps a value on cache lines of its own.
#[derive(Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// Messages that came in together, oldest first.
type Batch = VecDeque<Message>;

/// How many emptied batches a shard keeps for reuse while lines flow
/// (the worker lets go of them when it goes to sleep): enough for a
/// worker that is some milliseconds behind.
const MAX_SPARES: usize = 32;

#[derive(Default)]
struct ShardState {
    /// Messages waiting for the worker, oldest first, in the batches they
    /// came in (a `log` call joins the newest). No batch in it is empty.
    queue: VecDeque<Batch>,
    /// Batches the worker has emptied, to be filled again.
    spares: Vec<Batch>,
    /// The cost of `queue` plus the messages of this stream the worker
    /// holds but has not yet delivered: what the byte limit bounds.
    bytes: usize,
    /// `close` was called: no more messages are accepted.
    closed: bool,
    accepted: u64,
    rejected: u64,
    evicted: u64,
    delivered: u64,
    errors: u64,
    abandoned: u64,
}

impl ShardState {
    /// Queues `msg` after the newest batch's messages.
    fn push(&mut self, msg: Message) {
        match self.queue.back_mut() {
            Some(newest) => newest.push_back(msg),
            None => {
                let mut batch = self.spares.pop().unwrap_or_default();
                batch.push_back(msg);
                self.queue.push_back(batch);
            }
        }
    }

    /// Takes the oldest queued message out.
    fn pop_oldest(&mut self) -> Option<Message> {
        let oldest = self.queue.front_mut()?;
        let msg = oldest.pop_front();
        if oldest.is_empty() {
            let empty = self.queue.pop_front().unwrap_or_default();
            self.recycle(empty);
        }
        msg
    }

    /// Keeps an emptied batch for reuse, if there is room.
    fn recycle(&mut self, batch: Batch) {
        if self.spares.len() < MAX_SPARES {
            self.spares.push(batch);
        }
    }

    fn dropped(&self) -> u64 {
        self.rejected + self.evicted + self.abandoned
    }

    /// Accepted messages not yet delivered, failed, evicted or abandoned.
    fn unflushed(&self) -> u64 {
        self.accepted - self.evicted - self.delivered - self.errors - self.abandoned
    }
}

/// The worker is busy.
const AWAKE: u8 = 0;
/// The worker polls: wake it only when the buffer is half full.
const POLLING: u8 = 1;
/// The worker sleeps until woken.
const ASLEEP: u8 = 2;

struct Shared {
    shards: [Shard; 2],
    /// `AWAKE`, `POLLING` or `ASLEEP`; changed under `sleep`.
    worker: AtomicU8,
    sleep: Mutex<()>,
    wake: Condvar,
    /// `close` was called: the worker delivers what is left, then stops.
    closing: AtomicBool,
    /// `close` gave up waiting: the worker stops calling the driver.
    abandon: AtomicBool,
}

impl Shared {
    fn shard(&self, source: Source) -> &Shard {
        &self.shards[source as usize]
    }

    /// The other stream's published size, for `source`'s admission checks.
    fn other(&self, source: Source) -> usize {
        self.shards[1 - source as usize]
            .published
            .0
            .load(Ordering::Relaxed)
    }

    fn sum(&self, f: impl Fn(&ShardState) -> u64) -> u64 {
        self.shards.iter().map(|s| f(&s.state.lock())).sum()
    }

    /// Wakes the worker if it sleeps, or if it polls and `urgent`.
    fn nudge(&self, urgent: bool) {
        let worker = self.worker.load(Ordering::SeqCst);
        if worker == ASLEEP || (worker == POLLING && urgent) {
            let _sleep = self.sleep.lock();
            if self.worker.swap(AWAKE, Ordering::SeqCst) != AWAKE {
                self.wake.notify_one();
            }
        }
    }
}

/// Puts a byte-bounded buffer and a worker thread in front of a driver, so
/// that [`log`](Logger::log) never waits on it.
///
/// This is Docker's `mode=non-blocking`, without its faults:
///
/// - `log` puts the message in the buffer and returns. From a
///   [`Copier`](crate::Copier), the lines of each read come as one batch
///   ([`Logger::log_batch`]) and take the buffer's lock once. A named worker
///   thread (`logdriver-nonblocking-<driver>`) hands the messages to the
///   driver in order, taking all that are there at once; a driver whose
///   [`Logger::prefers_batches`] is `true` gets them through
///   [`Logger::log_batch`], up to 256 at a time. While lines
///   stream in, it looks for them every millisecond (or at once when the
///   buffer is half full) rather than being woken for each one; after
///   10 ms without lines it sleeps until the next.
/// - The buffer holds at most `max_buffer_bytes` bytes of line payload
///   (only [`Message::line`] counts, as in Docker; an empty line counts as
///   one byte, so that a flood of them cannot grow the buffer without
///   bound). A message counts until the driver has taken it. A message that
///   does not fit is dropped, or the oldest ones are, as [`Overflow`] says;
///   either way it is counted in [`dropped`](NonBlocking::dropped). Docker
///   counts nothing. A message is always admitted into an empty buffer,
///   even when it is larger than the limit, so memory can exceed the limit
///   by one message.
/// - The buffer is kept per stream, so that the stdout and stderr threads
///   never contend for one lock, and the limit is shared between them:
///   exact for one stream, and within `max_buffer_bytes / 64` (at most
///   4 KiB) per stream when both write at once.
/// - Errors and panics of the driver are caught and counted in
///   [`log_errors`](NonBlocking::log_errors); the worker goes on.
/// - [`close`](Logger::close) delivers what is buffered, waiting at most
///   the close timeout (by default [`DEFAULT_CLOSE_TIMEOUT`]), then closes
///   the driver. If the driver is stuck, `close` returns
///   [`Error::FlushTimeout`] with the number of lines it could not flush.
/// - [`name`](Logger::name) and [`buf_size`](Logger::buf_size) are the
///   driver's, so the [`Copier`](crate::Copier) cuts lines for the real
///   driver (Docker once got this wrong, moby #41794).
///
/// Dropping a `NonBlocking` without closing it lets the worker deliver what
/// is buffered, close the driver, and exit, in the background.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use logdriver::{drivers::none::NoneLogger, Logger, Message, NonBlocking, Source};
///
/// let logger = NonBlocking::new(Arc::new(NoneLogger), 1 << 20);
/// logger.log(Message::new(Source::Stdout, "never waits"))?;
/// logger.close()?;
/// assert_eq!(logger.dropped(), 0);
/// assert_eq!(logger.delivered(), 1);
/// # Ok::<(), logdriver::Error>(())
/// ```
pub struct NonBlocking {
    inner: Arc<dyn Logger>,
    max_bytes: usize,
    /// How far a shard's published size may lag behind its real size.
    grain: usize,
    overflow: Overflow,
    close_timeout: Duration,
    shared: Arc<Shared>,
    /// The worker's `close` result; `None` if the worker could not start.
    done: Option<Receiver<Result<()>>>,
}

impl fmt::Debug for NonBlocking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonBlocking")
            .field("inner", &self.inner.name())
            .field("max_bytes", &self.max_bytes)
            .field("overflow", &self.overflow)
            .field("close_timeout", &self.close_timeout)
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl NonBlocking {
    /// Wraps `inner` in a buffer of `max_buffer_bytes` bytes that drops
    /// the newest message when full, with the default close timeout.
    ///
    /// If the worker thread cannot be started, every `log` fails with
    /// [`Error::Driver`] and its message is counted as dropped.
    pub fn new(inner: Arc<dyn Logger>, max_buffer_bytes: usize) -> NonBlocking {
        NonBlocking::builder(inner)
            .max_buffer_bytes(max_buffer_bytes)
            .start()
            .0
    }

    /// A builder for a `NonBlocking` with other settings than the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use logdriver::{drivers::none::NoneLogger, NonBlocking, Overflow};
    ///
    /// let logger = NonBlocking::builder(Arc::new(NoneLogger))
    ///     .max_buffer_bytes(4 << 20)
    ///     .overflow(Overflow::DropOldest)
    ///     .close_timeout(Duration::from_secs(1))
    ///     .build()?;
    /// assert_eq!(logger.dropped(), 0);
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    pub fn builder(inner: Arc<dyn Logger>) -> NonBlockingBuilder {
        NonBlockingBuilder {
            inner,
            max_bytes: crate::registry::DEFAULT_MAX_BUFFER_SIZE,
            overflow: Overflow::default(),
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }

    /// Messages dropped so far: those that did not fit in the buffer, those
    /// evicted by [`Overflow::DropOldest`], and those `close` gave up on.
    pub fn dropped(&self) -> u64 {
        self.shared.sum(ShardState::dropped)
    }

    /// Messages the driver accepted so far.
    pub fn delivered(&self) -> u64 {
        self.shared.sum(|s| s.delivered)
    }

    /// Messages for which the driver returned an error or panicked.
    pub fn log_errors(&self) -> u64 {
        self.shared.sum(|s| s.errors)
    }

    /// After messages were queued in `shard`: publishes its size if it
    /// moved by more than a grain (under its lock, which `state` holds),
    /// unlocks it, and nudges the worker, urgently if the buffer is half
    /// full. `other` is the other stream's published size.
    fn queued(&self, shard: &Shard, state: MutexGuard<'_, ShardState>, other: usize) {
        let bytes = state.bytes;
        let published = shard.published.0.load(Ordering::Relaxed);
        if bytes == 0 || bytes.abs_diff(published) > self.grain {
            shard.published.0.store(bytes, Ordering::Relaxed);
        }
        drop(state);
        self.shared.nudge(bytes + other >= self.max_bytes / 2);
    }
}

impl Logger for NonBlocking {
    /// Buffers `msg` for the worker and returns at once.
    ///
    /// A full buffer is not an error: the message is dropped (or makes room,
    /// with [`Overflow::DropOldest`]) and counted.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after `close`; [`Error::Driver`] if the worker
    /// thread could not be started.
    fn log(&self, msg: Message) -> Result<()> {
        let cost = cost(&msg);
        let shard = self.shared.shard(msg.source);
        let other = self.shared.other(msg.source);
        let mut state = shard.state.lock();
        if state.closed {
            return Err(Error::closed(self.inner.name()));
        }
        if self.done.is_none() {
            state.rejected += 1;
            return Err(Error::driver(
                self.inner.name(),
                "non-blocking worker thread is not running",
            ));
        }
        let held = state.bytes + other;
        if held > 0 && held + cost > self.max_bytes {
            if self.overflow == Overflow::DropOldest {
                // Only this stream's queued lines can go; those the worker
                // holds stay counted until delivered.
                while state.bytes + other + cost > self.max_bytes {
                    let Some(old) = state.pop_oldest() else {
                        break;
                    };
                    state.bytes -= self::cost(&old);
                    state.evicted += 1;
                }
            }
            let held = state.bytes + other;
            if held > 0 && held + cost > self.max_bytes {
                state.rejected += 1;
                return Ok(());
            }
        }
        state.bytes += cost;
        state.accepted += 1;
        state.push(msg);
        self.queued(shard, state, other);
        Ok(())
    }

    /// Buffers a batch of one stream that fits whole with one lock and no
    /// copy; any other batch message by message, as [`log`](Logger::log).
    fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
        let Some(source) = batch.front().map(|m| m.source) else {
            return;
        };
        // The batch's cost, in one pass; `None` if it mixes streams.
        let total = batch
            .iter()
            .try_fold(0, |sum, m| (m.source == source).then(|| sum + cost(m)));
        if let Some(cost) = total {
            let shard = self.shared.shard(source);
            let other = self.shared.other(source);
            let mut state = shard.state.lock();
            let open = !state.closed && self.done.is_some();
            if open && state.bytes + other + cost <= self.max_bytes {
                state.bytes += cost;
                state.accepted += batch.len() as u64;
                let spare = state.spares.pop();
                let spare = spare.unwrap_or_else(|| VecDeque::with_capacity(batch.len()));
                state.queue.push_back(mem::replace(batch, spare));
                self.queued(shard, state, other);
                return;
            }
        }
        while let Some(msg) = batch.pop_front() {
            if let Err(err) = self.log(msg) {
                failed(err);
            }
        }
    }

    /// `true`: a batch costs one lock, where each `log` costs one.
    fn prefers_batches(&self) -> bool {
        true
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    /// Delivers what is buffered, then closes the driver.
    ///
    /// # Errors
    ///
    /// [`Error::FlushTimeout`] when the driver did not take the buffered
    /// messages within the close timeout; the worker then stops calling the
    /// driver and closes it once its current call returns. Otherwise,
    /// whatever the driver's `close` returns. A second `close` returns
    /// `Ok(())`.
    fn close(&self) -> Result<()> {
        if self.shared.closing.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        for shard in &self.shared.shards {
            shard.state.lock().closed = true;
        }
        let Some(done) = &self.done else {
            return self.inner.close();
        };
        self.shared.nudge(true);
        match done.recv_timeout(self.close_timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                self.shared.abandon.store(true, Ordering::Relaxed);
                Err(Error::FlushTimeout {
                    driver: self.inner.name().to_owned(),
                    unflushed: self.shared.sum(ShardState::unflushed),
                    timeout: self.close_timeout,
                })
            }
        }
    }

    fn buf_size(&self) -> Option<usize> {
        self.inner.buf_size()
    }
}

impl Drop for NonBlocking {
    /// Lets the worker finish in the background: see the type's docs.
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        for shard in &self.shared.shards {
            shard.state.lock().closed = true;
        }
        self.shared.nudge(true);
    }
}

/// Settings for a [`NonBlocking`]; see [`NonBlocking::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct NonBlockingBuilder {
    inner: Arc<dyn Logger>,
    max_bytes: usize,
    overflow: Overflow,
    close_timeout: Duration,
}

impl NonBlockingBuilder {
    /// The most bytes of line payload the buffer holds.
    ///
    /// By default, 1,000,000 bytes, as in Docker.
    pub fn max_buffer_bytes(mut self, bytes: usize) -> NonBlockingBuilder {
        self.max_bytes = bytes;
        self
    }

    /// What to drop when the buffer is full.
    ///
    /// By default, [`Overflow::DropNewest`], as in Docker.
    pub fn overflow(mut self, overflow: Overflow) -> NonBlockingBuilder {
        self.overflow = overflow;
        self
    }

    /// How long `close` waits for the buffer to drain into the driver.
    ///
    /// By default, [`DEFAULT_CLOSE_TIMEOUT`] (5 seconds).
    pub fn close_timeout(mut self, timeout: Duration) -> NonBlockingBuilder {
        self.close_timeout = timeout;
        self
    }

    /// Starts the worker thread and returns the `NonBlocking`.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] when the worker thread cannot be started.
    pub fn build(self) -> Result<NonBlocking> {
        match self.start() {
            (_, Some(err)) => Err(err),
            (logger, None) => Ok(logger),
        }
    }

    /// Starts the worker; a worker that cannot start makes every `log` fail.
    fn start(self) -> (NonBlocking, Option<Error>) {
        let shared = Arc::new(Shared {
            shards: Default::default(),
            worker: AtomicU8::new(AWAKE),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            closing: AtomicBool::new(false),
            abandon: AtomicBool::new(false),
        });
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let worker = Worker {
            inner: Arc::clone(&self.inner),
            batches: self.inner.prefers_batches(),
            shared: Arc::clone(&shared),
        };
        let thread = format!("logdriver-nonblocking-{}", self.inner.name());
        let spawned = thread::Builder::new().name(thread.clone()).spawn(move || {
            let _ = done_tx.send(worker.run());
        });
        let (done, err) = match spawned {
            Ok(_) => (Some(done_rx), None),
            Err(source) => (None, Some(Error::Spawn { thread, source })),
        };
        let logger = NonBlocking {
            inner: self.inner,
            max_bytes: self.max_bytes,
            grain: (self.max_bytes / 64).min(4096),
            overflow: self.overflow,
            close_timeout: self.close_timeout,
            shared,
            done,
        };
        (logger, err)
    }
}

struct Worker {
    inner: Arc<dyn Logger>,
    /// The driver prefers batches: hand it up to `RELEASE_EVERY` at once.
    batches: bool,
    shared: Arc<Shared>,
}

/// What the worker did since it last reported to a shard.
#[derive(Default)]
struct Tally {
    /// Batches emptied, to go back to the shard for reuse.
    emptied: Vec<Batch>,
    bytes: usize,
    delivered: u64,
    errors: u64,
    abandoned: u64,
}

impl Worker {
    /// Delivers batches until `close`, then closes the driver.
    fn run(self) -> Result<()> {
        let mut taken = VecDeque::new();
        let mut idle_polls = 0;
        loop {
            let mut took = false;
            for shard in &self.shared.shards {
                // Take everything at once: the loggers never wait for us.
                mem::swap(&mut shard.state.lock().queue, &mut taken);
                took |= !taken.is_empty();
                self.deliver(shard, &mut taken);
            }
            if took {
                idle_polls = 0;
            } else if !self.sleep(&mut idle_polls) {
                break;
            }
        }
        Error::guard(self.inner.name(), || self.inner.close())
    }

    /// Waits for lines: polls for a while, then sleeps until woken.
    /// Returns `false` when the buffer is closed and empty.
    fn sleep(&self, idle_polls: &mut u32) -> bool {
        let shared = &*self.shared;
        let mut guard = shared.sleep.lock();
        let mode = if *idle_polls < IDLE_POLLS {
            POLLING
        } else {
            ASLEEP
        };
        shared.worker.store(mode, Ordering::SeqCst);
        // Look again after announcing the nap: a logger that pushed before
        // it could see the announcement is caught here.
        let (mut empty, mut closed) = (true, true);
        for shard in &shared.shards {
            let mut state = shard.state.lock();
            empty &= state.queue.is_empty();
            closed &= state.closed;
            if mode == ASLEEP {
                // Quiet for a while: give the spare batches' memory back.
                state.spares = Vec::new();
            }
        }
        // `closed` is set under the lock that `log` takes: once every shard
        // is closed and empty, no message can still arrive.
        if empty && closed {
            return false;
        }
        if !empty || shared.closing.load(Ordering::SeqCst) {
            shared.worker.store(AWAKE, Ordering::SeqCst);
            return true;
        }
        if mode == POLLING {
            *idle_polls += 1;
            shared.wake.wait_for(&mut guard, POLL);
        } else {
            shared.wake.wait(&mut guard);
        }
        shared.worker.store(AWAKE, Ordering::SeqCst);
        true
    }

    /// Hands the batches taken from `shard` to the driver, in order.
    fn deliver(&self, shard: &Shard, taken: &mut VecDeque<Batch>) {
        let mut tally = Tally::default();
        let mut part = Batch::new();
        while let Some(mut batch) = taken.pop_front() {
            if self.batches {
                self.deliver_parts(shard, &mut batch, &mut part, &mut tally);
            }
            // One unwind guard per batch, not per message: the message that
            // panicked is already out of `batch`, so the rest go on.
            while !batch.is_empty() {
                let run = AssertUnwindSafe(|| self.deliver_guarded(shard, &mut batch, &mut tally));
                if catch_unwind(run).is_err() {
                    tally.errors += 1;
                }
            }
            tally.emptied.push(batch);
        }
        self.report(shard, mem::take(&mut tally));
    }

    fn deliver_guarded(&self, shard: &Shard, batch: &mut Batch, tally: &mut Tally) {
        while let Some(msg) = batch.pop_front() {
            if tally.delivered + tally.errors + tally.abandoned >= RELEASE_EVERY as u64 {
                self.report(shard, mem::take(tally));
            }
            tally.bytes += cost(&msg);
            if self.shared.abandon.load(Ordering::Relaxed) {
                tally.abandoned += 1;
            } else if self.inner.log(msg).is_ok() {
                tally.delivered += 1;
            } else {
                tally.errors += 1;
            }
        }
    }

    /// Hands `batch` to a driver that prefers batches, `RELEASE_EVERY`
    /// messages at a time through `part`, giving their room back after
    /// each. Stops early, leaving the rest in `batch`, once `close` has
    /// given up.
    fn deliver_parts(&self, shard: &Shard, batch: &mut Batch, part: &mut Batch, tally: &mut Tally) {
        while !batch.is_empty() && !self.shared.abandon.load(Ordering::Relaxed) {
            let n = batch.len().min(RELEASE_EVERY);
            part.extend(batch.drain(..n));
            let bytes: usize = part.iter().map(cost).sum();
            let mut errors = 0;
            let sent = catch_unwind(AssertUnwindSafe(|| {
                self.inner.log_batch(part, &mut |_| errors += 1)
            }));
            if sent.is_err() {
                errors += 1;
            }
            // What the driver left behind goes one by one, as from a Copier.
            while let Some(msg) = part.pop_front() {
                if Error::guard(self.inner.name(), || self.inner.log(msg)).is_err() {
                    errors += 1;
                }
            }
            // A driver may report a message failed and then panic on it:
            // whatever it reported, delivered + errors must stay `n`.
            let errors = errors.min(n as u64);
            tally.bytes += bytes;
            tally.errors += errors;
            tally.delivered += n as u64 - errors;
            self.report(shard, mem::take(tally));
        }
    }

    /// Gives the delivered messages' room back and publishes the counts.
    fn report(&self, shard: &Shard, tally: Tally) {
        let mut state = shard.state.lock();
        state.bytes -= tally.bytes;
        state.delivered += tally.delivered;
        state.errors += tally.errors;
        state.abandoned += tally.abandoned;
        for batch in tally.emptied {
            state.recycle(batch);
        }
        // Published under the lock, so that a logger's store and ours
        // cannot land in the wrong order.
        let published = shard.published.0.load(Ordering::Relaxed);
        if state.bytes == 0 || published > state.bytes {
            shard.published.0.store(state.bytes, Ordering::Relaxed);
        }
    }
}
