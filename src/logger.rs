//! The [`Logger`] trait: what every log driver implements.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::line_run::LineRun;
use crate::message::Message;
use crate::read::LogReader;

/// A log driver: takes a container's lines and sends them somewhere.
///
/// This is Docker's `logger.Logger`. The [`Copier`](crate::Copier) calls
/// [`log`](Logger::log) once per line (or per chunk of a long line), from
/// one thread per stream; when the container is gone, its owner calls
/// [`close`](Logger::close).
///
/// # Implementer notes
///
/// - **Thread safety.** `log` is called concurrently: stdout and stderr each
///   have a thread. Guard whatever is not thread-safe (a socket, a shared
///   encode buffer) with a lock, as the `zmq` driver does.
/// - **Blocking.** `log` may block; back-pressure then reaches the
///   container, which is what blocking mode means. A driver that must never
///   stall the container is wrapped in [`NonBlocking`](crate::NonBlocking).
///   Do not block forever: give up after a timeout and return an error.
/// - **Errors.** Return an [`Error`](crate::Error) that names the driver:
///   [`Error::dropped`](crate::Error::dropped) for a line you dropped and
///   counted (a full buffer, a peer that did not take it in time),
///   [`Error::driver`](crate::Error::driver) for a fault. The Copier
///   counts the error and goes on with the next line; it also survives a
///   panic in `log`, but an error is kinder.
/// - **Ownership.** `log` takes the [`Message`] by value. Its `line` is a
///   cheap reference-counted [`Bytes`](bytes::Bytes), so a driver may keep
///   it without copying.
/// - **Batches.** A driver with a fixed cost per call (a lock, a write)
///   can take the lines of each read at once: implement
///   [`log_batch`](Logger::log_batch) and return `true` from
///   [`prefers_batches`](Logger::prefers_batches), as json-file does.
/// - **Closing.** After `close` returns, everything accepted by `log` has
///   been handed on (or the driver's documented timeout has run out).
///   `close` may be called more than once; calls after the first return
///   `Ok(())`. **`log` after `close` must return
///   [`Error::Closed`](crate::Error::Closed)**, and send nothing: every
///   built-in driver and wrapper does, except `none`, which holds nothing
///   and discards every line, before and after.
///
/// `Logger` is implemented for `Arc<L>` and `Box<L>`, so a shared or boxed
/// driver is a driver too.
///
/// # Examples
///
/// A driver that prints every line to standard output:
///
/// ```
/// use logdriver::{Logger, Message, Result, Source};
///
/// struct Print;
///
/// impl Logger for Print {
///     fn log(&self, msg: Message) -> Result<()> {
///         println!("[{}] {}", msg.source, String::from_utf8_lossy(&msg.line));
///         Ok(())
///     }
///     fn name(&self) -> &str {
///         "print"
///     }
///     fn close(&self) -> Result<()> {
///         Ok(())
///     }
/// }
///
/// Print.log(Message::new(Source::Stdout, "hello"))?;
/// # Ok::<(), logdriver::Error>(())
/// ```
pub trait Logger: Send + Sync {
    /// Sends one message.
    ///
    /// # Errors
    ///
    /// Whatever the driver's transport reports; [`Error::Closed`](crate::Error::Closed)
    /// after `close`.
    fn log(&self, msg: Message) -> Result<()>;

    /// Sends the messages of `batch`, front to back, leaving it empty, and
    /// passes the error of each message that failed to `failed`.
    ///
    /// The [`Copier`](crate::Copier) calls this instead of `log`, with the
    /// lines of each read (up to [`Copier::MAX_BATCH`](crate::Copier::MAX_BATCH) at once), for a driver whose
    /// [`prefers_batches`](Logger::prefers_batches) is `true`: it can then
    /// pay a fixed cost (a lock, a wake-up, a write) once per batch rather
    /// than once per line, as [`NonBlocking`](crate::NonBlocking) does.
    /// The default calls [`log`](Logger::log) for each message.
    ///
    /// If an implementation panics, the messages it has not taken out of
    /// `batch` must still be there, in order: the Copier counts the panic
    /// as one failed message and hands over the rest again. A panic that
    /// took nothing out costs the front message, so that a driver that
    /// always panics still lets the copy move on. Messages left in `batch`
    /// after a normal return go through `log`, one by one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::VecDeque;
    /// use logdriver::{drivers::none::NoneLogger, Logger, Message, Source};
    ///
    /// let mut batch: VecDeque<Message> = ["one", "two"]
    ///     .into_iter()
    ///     .map(|line| Message::new(Source::Stdout, line))
    ///     .collect();
    /// let mut errors = Vec::new();
    /// NoneLogger.log_batch(&mut batch, &mut |err| errors.push(err));
    /// assert!(batch.is_empty());
    /// assert!(errors.is_empty());
    /// ```
    fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
        while let Some(msg) = batch.pop_front() {
            if let Err(err) = self.log(msg) {
                failed(err);
            }
        }
    }

    /// Whether the [`Copier`](crate::Copier) should hand this driver the
    /// lines of each read at once, through [`log_batch`](Logger::log_batch).
    ///
    /// `false` (the default) has the Copier call `log` for each line as it
    /// cuts it, which is cheapest for a driver that does all its work per
    /// line. A driver that implements `log_batch` says `true`.
    fn prefers_batches(&self) -> bool {
        false
    }

    /// Logs every line of `run`, in order, passing each failure to
    /// `failed`. The [`Copier`](crate::Copier) calls this, in place of
    /// `log` or `log_batch`, for the short whole lines of each read, when
    /// [`prefers_runs`](Logger::prefers_runs) says so.
    ///
    /// The default hands [`run.messages()`](LineRun::messages) to `log`,
    /// one by one. A driver overrides it to take the run as it is (to
    /// another thread, say) and make the messages there.
    ///
    /// If an implementation panics, the Copier cannot tell which lines it
    /// took: it counts every line of the run as failed, and goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use logdriver::{drivers::none::NoneLogger, LineRun, Logger, Source};
    ///
    /// let mut errors = Vec::new();
    /// NoneLogger.log_run(LineRun::new(Source::Stdout, "one\ntwo\n"), &mut |err| errors.push(err));
    /// assert!(errors.is_empty());
    /// ```
    fn log_run(&self, run: LineRun, failed: &mut dyn FnMut(Error)) {
        for msg in run.messages() {
            if let Err(err) = self.log(msg) {
                failed(err);
            }
        }
    }

    /// Whether the [`Copier`](crate::Copier) should hand this driver the
    /// short whole lines of each read as one [`LineRun`], through
    /// [`log_run`](Logger::log_run), rather than as a message each.
    ///
    /// `false` (the default). A driver that overrides `log_run` to move
    /// the run elsewhere whole says `true`: [`NonBlocking`](crate::NonBlocking)
    /// does, so that its queue gets one entry per read rather than a
    /// message per line.
    fn prefers_runs(&self) -> bool {
        false
    }

    /// The driver's name, as registered (`"json-file"`, `"zmq"`, …).
    fn name(&self) -> &str;

    /// Flushes what the driver holds and releases its resources.
    ///
    /// # Errors
    ///
    /// When the flush or the release fails.
    fn close(&self) -> Result<()>;

    /// What the driver has done so far: lines sent, bytes, drops, errors.
    ///
    /// This is how an embedder sees drops through the `Arc<dyn Logger>`
    /// that [`Registry::create`](crate::Registry::create) returns, whatever
    /// the driver and whether or not it is wrapped in
    /// [`NonBlocking`](crate::NonBlocking), which adds its own drops to its
    /// driver's. The default reports nothing (all zeros): a driver that
    /// counts returns its counts.
    ///
    /// # Examples
    ///
    /// ```
    /// use logdriver::{registry, Info, Logger, Message, Source};
    ///
    /// let path = std::env::temp_dir().join(format!("stats-doc-{}.log", std::process::id()));
    /// let info = Info { log_path: Some(path.clone()), ..Info::default() };
    /// let logger = registry().create("json-file", &info)?;
    /// logger.log(Message::new(Source::Stdout, "hello"))?;
    /// logger.close()?;
    /// let stats = logger.stats();
    /// assert_eq!((stats.lines, stats.bytes, stats.dropped, stats.errors), (1, 5, 0, 0));
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    fn stats(&self) -> LoggerStats {
        LoggerStats::default()
    }

    /// The driver's reader, if it can read back what it wrote; `None` (the
    /// default) if it cannot.
    ///
    /// This is how the Docker plugin serves `docker logs` for any driver:
    /// a driver of your own that implements [`LogReader`] and returns
    /// `Some(self)` here is read like json-file. See [`LogReader`] for an
    /// example.
    fn reader(&self) -> Option<&dyn LogReader> {
        None
    }

    /// Each branch of a driver that writes to several ([`Tee`](crate::Tee)):
    /// its label, its driver's name and its counts, in order; their sum is
    /// [`stats`](Logger::stats). Empty (the default) for any other driver.
    /// Every wrapper forwards it, so that the plugin's metrics see a tee's
    /// branches behind non-blocking mode or a rate limit.
    fn branch_stats(&self) -> Vec<(String, String, LoggerStats)> {
        Vec::new()
    }

    /// Opens the driver's log file again, after something else renamed it:
    /// CRI's `ReopenContainerLog`, which a kubelet calls after it rotated a
    /// container's log. `None` (the default) for a driver that has nothing
    /// to reopen; `Some` with the outcome for one that does (`k8s-file`).
    ///
    /// Every wrapper forwards it ([`NonBlocking`](crate::NonBlocking),
    /// `Box`, `Arc`), so it works on what
    /// [`Registry::create`](crate::Registry::create) returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use logdriver::{registry, Info, Logger};
    ///
    /// let dir = std::env::temp_dir().join(format!("reopen-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let info = Info::new("web")
    ///     .with_log_path(dir.join("0.log"))
    ///     .with_option("mode", "non-blocking");
    /// let logger = registry().create("k8s-file", &info)?;
    /// std::fs::rename(dir.join("0.log"), dir.join("0.log.20261202-100000")).unwrap();
    /// assert!(matches!(logger.reopen_log(), Some(Ok(()))));
    /// assert!(dir.join("0.log").exists());
    /// assert!(registry().create("none", &info)?.reopen_log().is_none());
    /// logger.close()?;
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    fn reopen_log(&self) -> Option<Result<()>> {
        None
    }

    /// The line-chunk size this driver prefers, if any.
    ///
    /// The Copier cuts lines of at least this many bytes into chunks of
    /// exactly this size. `None` (the default) or `Some(0)` leaves the
    /// Copier's default of 16 KiB; [`Copier::buffer_size`](crate::Copier::buffer_size)
    /// overrides both. This is Docker's `SizedLogger`.
    fn buf_size(&self) -> Option<usize> {
        None
    }
}

/// A snapshot of what a driver has done; see [`Logger::stats`].
///
/// A driver of your own fills one in field by field:
///
/// ```
/// let mut stats = logdriver::LoggerStats::default();
/// stats.lines = 10;
/// stats.dropped = 1;
/// assert_eq!(stats.errors, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggerStats {
    /// Messages the driver sent or wrote.
    pub lines: u64,
    /// The bytes of those messages' lines.
    pub bytes: u64,
    /// Messages dropped: refused by a full buffer, evicted, given up at
    /// close, or with nowhere to go (no hub, a timeout). Their reasons
    /// are `dropped_full`, `dropped_rejected`, and the rest: the peer was
    /// unavailable (down, too slow for a timeout, or still away at close).
    pub dropped: u64,
    /// Of `dropped`, the messages a full buffer refused or evicted:
    /// [`NonBlocking`](crate::NonBlocking)'s, and the queues of `fluentd`,
    /// `syslog` and `otlp`.
    pub dropped_full: u64,
    /// Of `dropped`, the messages the peer answered that it would not
    /// take: `otlp`'s rejected requests and `partial_success` answers.
    pub dropped_rejected: u64,
    /// Messages whose `log` failed for any other reason.
    pub errors: u64,
    /// Lines cut short: their first chunks were sent, and the line was
    /// ended early by an empty chunk with `last: true`, because the rest
    /// was dropped ([`NonBlocking`](crate::NonBlocking) does this when its
    /// buffer is full). Each such line also counts its dropped chunks in
    /// `dropped`. A driver whose transport caps a message's size counts
    /// here too each message it sent cut to that size (syslog over UDP).
    pub truncated: u64,
    /// Messages sent again because the peer's acknowledgement did not
    /// come: each may have reached the peer twice. A driver whose peer
    /// removes duplicates (NATS JetStream, by message id) does not count
    /// them; fluentd with `fluentd-request-ack` does.
    pub resent: u64,
    /// Lines a [`RateLimited`](crate::RateLimited) held back, which the
    /// driver never saw (a long line counts once).
    pub suppressed: u64,
    /// The bytes of those lines.
    pub suppressed_bytes: u64,
    /// Bytes waiting in the driver's buffers when the snapshot was taken:
    /// a level, not a count. [`NonBlocking`](crate::NonBlocking) counts
    /// the lines it holds; `fluentd`, `syslog` and `otlp` their queues, as
    /// encoded, without the batch being sent. A driver without a buffer
    /// leaves it 0.
    pub queued_bytes: u64,
    /// Messages that were chunks of a long line ([`Message::partial`]
    /// set), as they reached the Docker plugin or the containerd logger,
    /// which count them for every container: drivers leave it 0.
    pub partial_chunks: u64,
}

impl std::ops::AddAssign for LoggerStats {
    fn add_assign(&mut self, other: LoggerStats) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.dropped += other.dropped;
        self.dropped_full += other.dropped_full;
        self.dropped_rejected += other.dropped_rejected;
        self.errors += other.errors;
        self.truncated += other.truncated;
        self.resent += other.resent;
        self.suppressed += other.suppressed;
        self.suppressed_bytes += other.suppressed_bytes;
        self.queued_bytes += other.queued_bytes;
        self.partial_chunks += other.partial_chunks;
    }
}

macro_rules! forward_logger {
    ($ptr:ty) => {
        impl<L: Logger + ?Sized> Logger for $ptr {
            fn log(&self, msg: Message) -> Result<()> {
                (**self).log(msg)
            }
            fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
                (**self).log_batch(batch, failed)
            }
            fn prefers_batches(&self) -> bool {
                (**self).prefers_batches()
            }
            fn log_run(&self, run: LineRun, failed: &mut dyn FnMut(Error)) {
                (**self).log_run(run, failed)
            }
            fn prefers_runs(&self) -> bool {
                (**self).prefers_runs()
            }
            fn name(&self) -> &str {
                (**self).name()
            }
            fn close(&self) -> Result<()> {
                (**self).close()
            }
            fn buf_size(&self) -> Option<usize> {
                (**self).buf_size()
            }
            fn stats(&self) -> LoggerStats {
                (**self).stats()
            }
            fn reader(&self) -> Option<&dyn LogReader> {
                (**self).reader()
            }
            fn branch_stats(&self) -> Vec<(String, String, LoggerStats)> {
                (**self).branch_stats()
            }
            fn reopen_log(&self) -> Option<Result<()>> {
                (**self).reopen_log()
            }
        }
    };
}

/// Hands every message of `batch` to `dst`, surviving its errors and
/// panics: the one place where the rules for calling a driver with a batch
/// live, for the Copier and NonBlocking's worker alike.
///
/// - A driver that prefers batches gets `log_batch`; messages it leaves
///   behind after a normal return go through `log`, one by one, so that
///   none is lost or sent twice.
/// - A panic costs one message and is passed to `failed`: the one the
///   driver was on (already out of `batch`), or the front one if it took
///   nothing, so that a driver that always panics cannot hold the copy.
/// - `failed` hears of each lost message at most once: a call's errors
///   are capped at the messages it took, so a driver that reports a
///   message and then panics on it costs one error, not two.
///
/// `batch` is empty when this returns.
pub(crate) fn deliver(
    dst: &dyn Logger,
    batch: &mut VecDeque<Message>,
    failed: &mut dyn FnMut(Error),
) {
    let mut errors = Vec::new();
    while !batch.is_empty() {
        let before = batch.len();
        let sent = catch_unwind(AssertUnwindSafe(|| {
            dst.log_batch(batch, &mut |err| errors.push(err))
        }));
        let mut taken = before - batch.len();
        if let Err(payload) = sent {
            if taken == 0 {
                batch.pop_front();
                taken = 1;
            }
            errors.truncate(taken - 1);
            errors.push(Error::panicked(dst.name(), &*payload));
        } else {
            errors.truncate(taken);
            while let Some(msg) = batch.pop_front() {
                if let Err(err) = Error::guard(dst.name(), || dst.log(msg)) {
                    errors.push(err);
                }
            }
        }
        errors.drain(..).for_each(&mut *failed);
    }
}

forward_logger!(Arc<L>);
forward_logger!(Box<L>);

/// Shows the driver's name.
impl fmt::Debug for dyn Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Logger").field(&self.name()).finish()
    }
}
