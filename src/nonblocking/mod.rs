//! [`NonBlocking`]: a byte-bounded buffer and a worker thread in front of a driver.
//!
//! The handle and its builder live here; the buffer's rules in `queue.rs`,
//! the worker and its sleep protocol in `worker.rs`.

mod queue;
mod worker;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::error::{Error, Result};
use crate::line_run::LineRun;
use crate::logger::{Logger, LoggerStats};
use crate::message::Message;
use crate::read::LogReader;
use queue::{Counts, Queue};
use worker::{Shared, Worker, WorkerState};

/// See [`NonBlocking::DEFAULT_CLOSE_TIMEOUT`].
pub(crate) const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// See [`NonBlocking::DEFAULT_MAX_BUFFER_BYTES`].
pub(crate) const DEFAULT_MAX_BUFFER_SIZE: usize = 1_000_000;

/// Which message a full [`NonBlocking`] buffer gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Drop the message being logged; keep what is buffered. Docker's behaviour,
    /// and the default.
    #[default]
    DropNewest,
    /// Drop the oldest buffered lines until the new one fits. Keeps the
    /// most recent output, which is usually what explains a crash.
    DropOldest,
}

/// Puts a byte-bounded buffer and a worker thread in front of a driver, so
/// that [`log`](Logger::log) never waits on it.
///
/// This is Docker's `mode=non-blocking`, without its faults:
///
/// - `log` puts the message in the buffer and returns. From a
///   [`Copier`](crate::Copier), the short whole lines of each read come as
///   one [`LineRun`] ([`Logger::log_run`]): one entry in the buffer, under
///   one lock, whose messages the worker makes on its own thread as it
///   hands them over, so that the Copier's thread makes no message for
///   them. The rest of a read (chunks of long lines, and what follows
///   them) comes as one batch ([`Logger::log_batch`]). A named worker
///   thread (`logdriver-nonblocking-<driver>`) hands the messages to the
///   driver in the order they arrived, across both streams, as Docker's
///   ring buffer does. It takes at most a quarter of the buffer at once,
///   so that the rest can always make room for new lines; a driver whose
///   [`Logger::prefers_batches`] is `true` gets them through
///   [`Logger::log_batch`], a slice at a time, giving each slice's room
///   back as it goes. It sleeps while the buffer is empty and is woken by
///   the next line.
/// - The buffer holds at most `max_buffer_bytes` bytes of line payload
///   (only [`Message::line`] counts, as in Docker; an empty line counts as
///   one byte, so that a flood of them cannot grow the buffer without
///   bound), shared by both streams. A message counts until the driver has
///   taken it. A message that does not fit is dropped, or the oldest ones
///   are, as [`Overflow`] says; either way it is counted. Docker counts
///   nothing. A single message is always admitted into an empty buffer,
///   even when it is larger than the limit, so memory can exceed the limit
///   by one message (a [`log_batch`](Logger::log_batch) too: a batch that
///   does not fit goes in message by message), and by one byte per stream
///   for the closing chunk of a line cut short (below).
///   [`Overflow::DropOldest`] evicts the oldest lines only when that makes
///   room, and never the chunks of the line being logged.
/// - **Long lines stay whole or end cleanly.** The chunks of one line (see
///   [`PartialMeta`](crate::PartialMeta)) are dropped together: once one
///   chunk is dropped, so are the rest of its line, and if earlier chunks
///   went to the driver, an empty chunk with `last: true` ends the line, so
///   that it is never glued to the next one. That closing chunk is the
///   chunk where the cut fell, emptied: it counts as delivered, and the
///   line as [`truncated`](NonBlocking::truncated_lines) (in
///   [`LoggerStats::truncated`] too), since a reader cannot tell it from a
///   line that really ended there. The chunk carries no mark of its own:
///   Docker's formats (json-file, `local`, fluentd's partial fields) have
///   no place for one, and a mark in the line would change the
///   container's bytes. Drops are counted three ways:
///   [`dropped`](NonBlocking::dropped) (messages),
///   [`dropped_lines`](NonBlocking::dropped_lines) (lines lost in whole or
///   in part) and [`dropped_chunks`](NonBlocking::dropped_chunks) (partial
///   chunks among the messages).
/// - **Every message is accounted for once:** delivered, failed
///   ([`log_errors`](NonBlocking::log_errors)) or dropped, and
///   [`stats`](Logger::stats) says so for any driver, one of your own
///   included (see there).
/// - Errors and panics of the driver are caught and counted in
///   [`log_errors`](NonBlocking::log_errors); the worker goes on.
/// - [`close`](Logger::close) delivers what is buffered, waiting at most
///   the close timeout (by default [`NonBlocking::DEFAULT_CLOSE_TIMEOUT`]; the registry's
///   option `non-blocking-close-timeout`), then closes the driver. If the
///   driver is stuck, `close` returns [`Error::FlushTimeout`] with the
///   number of messages it could not flush, the one the driver is on
///   included; they are counted as dropped, and every count is final when
///   `close` returns. Once everything reached the driver, `close` waits
///   for the driver's own close (which has its own bound, a linger say)
///   up to one more close timeout, so that the driver's counts are final
///   too.
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
    /// How long `close` waits for the buffer to drain into the driver, by
    /// default: 5 seconds.
    pub const DEFAULT_CLOSE_TIMEOUT: Duration = DEFAULT_CLOSE_TIMEOUT;

    /// The buffer's size when none is given (the builder's, and the
    /// registry's `mode=non-blocking` without `max-buffer-size`): 1,000,000
    /// bytes, as in Docker.
    pub const DEFAULT_MAX_BUFFER_BYTES: usize = DEFAULT_MAX_BUFFER_SIZE;

    /// Wraps `inner` in a buffer of `max_buffer_bytes` bytes that drops
    /// the newest message when full, with the default close timeout.
    ///
    /// If the worker thread cannot be started, every `log` fails with
    /// [`Error::Dropped`] and its message is counted as dropped.
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
            max_bytes: DEFAULT_MAX_BUFFER_SIZE,
            overflow: Overflow::default(),
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }

    fn counts(&self) -> Counts {
        self.shared.state.lock().queue.counts
    }

    // The detailed view: `stats()` sums these with the driver's own
    // counts; these are the buffer's alone, each read on its own.

    /// Messages dropped so far: those that did not fit in the buffer, those
    /// evicted by [`Overflow::DropOldest`], the rest of a long line one of
    /// whose chunks was dropped, and those `close` gave up on.
    pub fn dropped(&self) -> u64 {
        self.counts().dropped
    }

    /// Lines lost so far, in whole or in part: each line counts once,
    /// however many of its chunks were dropped.
    pub fn dropped_lines(&self) -> u64 {
        self.counts().lines_dropped
    }

    /// Partial chunks among the [`dropped`](NonBlocking::dropped) messages.
    pub fn dropped_chunks(&self) -> u64 {
        self.counts().chunks_dropped
    }

    /// Lines cut short so far: some of their chunks went to the driver,
    /// the rest were dropped, and an empty chunk with `last: true` ended
    /// the line where the cut fell. That chunk counts as delivered, not as
    /// dropped; the line counts in [`dropped_lines`](NonBlocking::dropped_lines) too.
    pub fn truncated_lines(&self) -> u64 {
        self.counts().truncated
    }

    /// Messages the driver accepted so far.
    pub fn delivered(&self) -> u64 {
        self.counts().delivered
    }

    /// Messages for which the driver returned an error or panicked.
    pub fn log_errors(&self) -> u64 {
        self.counts().errors
    }

    /// Why `log` cannot take messages, if it cannot: after close, or
    /// when the worker never started (then `count` counts them as
    /// dropped).
    fn refusal(&self, queue: &mut Queue, count: impl FnOnce(&mut Queue)) -> Option<Refusal> {
        if queue.closed {
            Some(Refusal::Closed)
        } else if self.done.is_none() {
            count(queue);
            Some(Refusal::NotRunning)
        } else {
            None
        }
    }
}

/// Why `log` cannot take messages.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Closed,
    /// The worker never started; the messages count as dropped.
    NotRunning,
}

impl Refusal {
    fn error(self, driver: &str) -> Error {
        match self {
            Refusal::Closed => Error::closed(driver),
            Refusal::NotRunning => {
                Error::dropped(driver, "the non-blocking worker thread is not running")
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
    /// [`Error::Closed`] after `close`; [`Error::Dropped`] if the worker
    /// thread could not be started.
    fn log(&self, msg: Message) -> Result<()> {
        let mut state = self.shared.state.lock();
        if let Some(refusal) = self.refusal(&mut state.queue, |q| q.count_refused(&msg)) {
            return Err(refusal.error(self.inner.name()));
        }
        state.queue.push(msg);
        self.shared.nudge(&mut state);
        Ok(())
    }

    /// Buffers a batch under one lock, message by message as
    /// [`log`](Logger::log) would.
    fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
        let mut state = self.shared.state.lock();
        let count = |q: &mut Queue| batch.iter().for_each(|msg| q.count_refused(msg));
        if let Some(refusal) = self.refusal(&mut state.queue, count) {
            drop(state);
            for _ in batch.drain(..) {
                failed(refusal.error(self.inner.name()));
            }
            return;
        }
        state.queue.push_batch(batch);
        self.shared.nudge(&mut state);
    }

    /// `true`: a batch costs one lock, where each `log` costs one.
    fn prefers_batches(&self) -> bool {
        true
    }

    /// Buffers the run under one lock, as one entry when it fits whole
    /// (else line by line, as [`log`](Logger::log) would): its messages
    /// are made on the worker's thread, as it hands them to the driver.
    fn log_run(&self, run: LineRun, failed: &mut dyn FnMut(Error)) {
        let mut state = self.shared.state.lock();
        let count = |q: &mut Queue| run.messages().for_each(|msg| q.count_refused(&msg));
        if let Some(refusal) = self.refusal(&mut state.queue, count) {
            drop(state);
            for _ in 0..run.len() {
                failed(refusal.error(self.inner.name()));
            }
            return;
        }
        state.queue.push_run(run);
        self.shared.nudge(&mut state);
    }

    /// `true`: the short whole lines of a read cost one entry in the
    /// buffer, and no message is made on the Copier's thread.
    fn prefers_runs(&self) -> bool {
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
    /// driver, counts what is left as dropped, and closes the driver once
    /// its current call returns. Otherwise, whatever the driver's `close`
    /// returns. A second `close` returns `Ok(())`.
    fn close(&self) -> Result<()> {
        if self.shut() {
            return Ok(());
        }
        let Some(done) = &self.done else {
            return self.inner.close();
        };
        match done.recv_timeout(self.close_timeout) {
            Ok(result) => result,
            Err(_) => {
                // Under the lock, so that every count is final when this
                // returns, whatever the worker does afterwards.
                let mut state = self.shared.state.lock();
                if state.worker == WorkerState::ClosingDriver {
                    // Everything reached the driver, whose own close is
                    // bounded (its linger): its counts are final once it
                    // returns. A driver that overruns gets one more timeout.
                    drop(state);
                    return done.recv_timeout(self.close_timeout).unwrap_or_else(|_| {
                        Err(Error::FlushTimeout {
                            driver: self.inner.name().to_owned(),
                            unflushed: 0,
                            timeout: self.close_timeout,
                        })
                    });
                }
                self.shared.abandon.store(true, Ordering::Relaxed);
                let unflushed = state.queue.settle();
                drop(state);
                Err(Error::FlushTimeout {
                    driver: self.inner.name().to_owned(),
                    unflushed,
                    timeout: self.close_timeout,
                })
            }
        }
    }

    fn buf_size(&self) -> Option<usize> {
        self.inner.buf_size()
    }

    /// The driver's reader: lines still in the buffer are not in it yet.
    fn reader(&self) -> Option<&dyn LogReader> {
        self.inner.reader()
    }

    fn branch_stats(&self) -> Vec<(String, String, LoggerStats)> {
        self.inner.branch_stats()
    }

    /// The driver's: the lines in the buffer go to whichever file is open
    /// when the worker gets to them.
    fn reopen_log(&self) -> Option<Result<()>> {
        self.inner.reopen_log()
    }

    /// What the driver reports, with what only this buffer sees: the
    /// messages it dropped, the lines it cut short, and the driver's
    /// panics.
    ///
    /// A driver that reports nothing (all zeros, [`Logger::stats`]'s
    /// default, as most drivers of one's own do) gets the worker's counts
    /// instead: `lines` delivered, their `bytes`, and `errors` for each
    /// `log` that failed or panicked. So `lines + errors + dropped` is
    /// every message logged, once `close` has returned.
    fn stats(&self) -> LoggerStats {
        let (own, queued) = {
            let state = self.shared.state.lock();
            (state.queue.counts, state.queue.bytes())
        };
        let mut stats = self.inner.stats();
        stats.queued_bytes += queued as u64;
        if stats == LoggerStats::default() {
            stats.lines = own.delivered;
            stats.bytes = own.delivered_bytes;
            stats.errors = own.errors;
        } else {
            stats.errors += own.panics;
        }
        stats.dropped += own.dropped;
        stats.dropped_full += own.dropped - own.abandoned;
        stats.truncated += own.truncated;
        stats
    }
}

impl NonBlocking {
    /// Closes the queue and wakes the worker to drain it; returns whether
    /// it was closed already.
    fn shut(&self) -> bool {
        let mut state = self.shared.state.lock();
        if !state.queue.closed {
            state.queue.close_pending_lines();
        }
        let was = std::mem::replace(&mut state.queue.closed, true);
        self.shared.nudge(&mut state);
        was
    }
}

impl Drop for NonBlocking {
    /// Lets the worker finish in the background: see the type's docs.
    fn drop(&mut self) {
        self.shut();
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
    /// By default, [`NonBlocking::DEFAULT_MAX_BUFFER_BYTES`] (1,000,000 bytes, as in Docker).
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
    /// By default, [`NonBlocking::DEFAULT_CLOSE_TIMEOUT`] (5 seconds).
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
        let shared = Arc::new(Shared::new(Queue::new(self.max_bytes, self.overflow)));
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let worker = Worker {
            inner: Arc::clone(&self.inner),
            shared: Arc::clone(&shared),
            budget: (self.max_bytes / 4).max(1),
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
            overflow: self.overflow,
            close_timeout: self.close_timeout,
            shared,
            done,
        };
        (logger, err)
    }
}
