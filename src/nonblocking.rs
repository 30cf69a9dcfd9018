//! [`NonBlocking`]: a byte-bounded buffer and a worker thread in front of a driver.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::{Error, Logger, Message, Result};

/// How long [`NonBlocking`]'s `close` waits for the buffer to drain into the
/// driver, by default: 5 seconds.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

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

enum Item {
    Msg(Message),
    /// Sent by `close`: deliver what came before, close the driver, stop.
    Close,
}

/// Counts kept by both sides of the buffer.
#[derive(Default)]
struct Counters {
    /// Bytes of line payload in the channel.
    bytes: AtomicUsize,
    accepted: AtomicU64,
    rejected: AtomicU64,
    evicted: AtomicU64,
    delivered: AtomicU64,
    errors: AtomicU64,
    abandoned: AtomicU64,
    /// Set when `close` gave up waiting: the worker stops calling the driver.
    abandon: AtomicBool,
}

impl Counters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Puts a byte-bounded buffer and a worker thread in front of a driver, so
/// that [`log`](Logger::log) never waits on it.
///
/// This is Docker's `mode=non-blocking`, without its faults:
///
/// - `log` puts the message in the buffer and returns. A named worker
///   thread (`logdriver-nonblocking-<driver>`) hands the messages to the
///   driver in order: it waits for one, then drains the rest.
/// - The buffer holds at most `max_buffer_bytes` bytes of line payload (only
///   [`Message::line`] counts, as in Docker; an empty line counts as one
///   byte, so that a flood of them cannot grow the buffer without bound). A message that does not fit is
///   dropped, or the oldest ones are, as [`Overflow`] says; either way it is
///   counted in [`dropped`](NonBlocking::dropped). Docker counts nothing.
///   A message is always admitted into an empty buffer, even when it is
///   larger than the limit, so memory can exceed the limit by one message.
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
/// is buffered in the background; the driver is then left open.
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
    overflow: Overflow,
    close_timeout: Duration,
    tx: Sender<Item>,
    /// A receiver of our own, to evict the oldest messages.
    rx: Receiver<Item>,
    counters: Arc<Counters>,
    /// The worker's `close` result; `None` if the worker could not start.
    done: Option<Receiver<Result<()>>>,
    closed: AtomicBool,
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
            .build_lenient()
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
        let c = &self.counters;
        Counters::get(&c.rejected) + Counters::get(&c.evicted) + Counters::get(&c.abandoned)
    }

    /// Messages the driver accepted so far.
    pub fn delivered(&self) -> u64 {
        Counters::get(&self.counters.delivered)
    }

    /// Messages for which the driver returned an error or panicked.
    pub fn log_errors(&self) -> u64 {
        Counters::get(&self.counters.errors)
    }

    /// Makes room for `len` more bytes, or says there is none.
    fn admit(&self, len: usize) -> bool {
        let bytes = &self.counters.bytes;
        let held = bytes.fetch_add(len, Ordering::AcqRel);
        if held == 0 || held + len <= self.max_bytes {
            return true;
        }
        match self.overflow {
            Overflow::DropNewest => {
                bytes.fetch_sub(len, Ordering::AcqRel);
                false
            }
            Overflow::DropOldest => {
                while bytes.load(Ordering::Acquire) > self.max_bytes {
                    match self.rx.try_recv() {
                        Ok(Item::Msg(old)) => {
                            bytes.fetch_sub(cost(&old), Ordering::AcqRel);
                            Counters::add(&self.counters.evicted);
                        }
                        // `close` raced us; put its marker back and stop.
                        Ok(Item::Close) => {
                            let _ = self.tx.send(Item::Close);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                true
            }
        }
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
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::closed(self.inner.name()));
        }
        if self.done.is_none() {
            Counters::add(&self.counters.rejected);
            return Err(Error::driver(
                self.inner.name(),
                "non-blocking worker thread is not running",
            ));
        }
        let len = cost(&msg);
        if !self.admit(len) {
            Counters::add(&self.counters.rejected);
            return Ok(());
        }
        Counters::add(&self.counters.accepted);
        // The worker holds the other receiver until it has seen `Close`,
        // and `rx` lives as long as `self`: the send cannot fail.
        let _ = self.tx.send(Item::Msg(msg));
        Ok(())
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
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let Some(done) = &self.done else {
            return self.inner.close();
        };
        let _ = self.tx.send(Item::Close);
        match done.recv_timeout(self.close_timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                self.counters.abandon.store(true, Ordering::Release);
                let c = &self.counters;
                let finished = Counters::get(&c.evicted)
                    + Counters::get(&c.delivered)
                    + Counters::get(&c.errors)
                    + Counters::get(&c.abandoned);
                Err(Error::FlushTimeout {
                    driver: self.inner.name().to_owned(),
                    unflushed: Counters::get(&c.accepted).saturating_sub(finished),
                    timeout: self.close_timeout,
                })
            }
        }
    }

    fn buf_size(&self) -> Option<usize> {
        self.inner.buf_size()
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
        let (logger, spawn_error) = self.start();
        match spawn_error {
            Some(err) => Err(err),
            None => Ok(logger),
        }
    }

    /// Like `build`, but a worker that cannot start makes every `log` fail.
    fn build_lenient(self) -> NonBlocking {
        self.start().0
    }

    fn start(self) -> (NonBlocking, Option<Error>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            inner: Arc::clone(&self.inner),
            rx: rx.clone(),
            counters: Arc::clone(&counters),
        };
        let thread = format!("logdriver-nonblocking-{}", self.inner.name());
        let spawned = thread::Builder::new().name(thread.clone()).spawn(move || {
            let result = worker.run();
            let _ = done_tx.send(result);
        });
        let (done, err) = match spawned {
            Ok(_) => (Some(done_rx), None),
            Err(source) => (None, Some(Error::Spawn { thread, source })),
        };
        let logger = NonBlocking {
            inner: self.inner,
            max_bytes: self.max_bytes,
            overflow: self.overflow,
            close_timeout: self.close_timeout,
            tx,
            rx,
            counters,
            done,
            closed: AtomicBool::new(false),
        };
        (logger, err)
    }
}

struct Worker {
    inner: Arc<dyn Logger>,
    rx: Receiver<Item>,
    counters: Arc<Counters>,
}

impl Worker {
    /// Delivers until `Close` (then closes the driver) or until every
    /// sender is gone (then leaves the driver open).
    fn run(self) -> Result<()> {
        // Wait for one message, then drain whatever else is there.
        while let Ok(first) = self.rx.recv() {
            let mut next = Some(first);
            while let Some(item) = next {
                match item {
                    Item::Msg(msg) => self.deliver(msg),
                    Item::Close => return self.finish(),
                }
                next = self.rx.try_recv().ok();
            }
        }
        Ok(())
    }

    /// Delivers what raced in behind `Close`, then closes the driver.
    fn finish(self) -> Result<()> {
        while let Ok(item) = self.rx.try_recv() {
            if let Item::Msg(msg) = item {
                self.deliver(msg);
            }
        }
        match catch_unwind(AssertUnwindSafe(|| self.inner.close())) {
            Ok(result) => result,
            Err(payload) => Err(Error::panicked(self.inner.name(), &*payload)),
        }
    }

    fn deliver(&self, msg: Message) {
        let c = &*self.counters;
        c.bytes.fetch_sub(cost(&msg), Ordering::AcqRel);
        if c.abandon.load(Ordering::Acquire) {
            Counters::add(&c.abandoned);
            return;
        }
        match catch_unwind(AssertUnwindSafe(|| self.inner.log(msg))) {
            Ok(Ok(())) => Counters::add(&c.delivered),
            Ok(Err(_)) | Err(_) => Counters::add(&c.errors),
        }
    }
}
