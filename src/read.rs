//! Reading logs back: a capability a driver may offer, as moby's
//! `LogReader` is.
//!
//! A driver that can read back what it wrote (json-file can; zmq cannot)
//! implements [`LogReader`] and returns itself from
//! [`Logger::reader`](crate::Logger::reader). Whoever holds the driver,
//! the Docker plugin's `ReadLogs` included, reads through that alone,
//! never naming the driver.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::Result;
use crate::message::Message;

/// What to read: Docker's `ReadConfig`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use logdriver::ReadConfig;
///
/// // The last 100 lines of the past hour, then new lines as they come.
/// let config = ReadConfig {
///     tail: Some(100),
///     since: Some(SystemTime::now() - Duration::from_secs(3600)),
///     follow: true,
///     ..ReadConfig::default()
/// };
/// assert_eq!(config.until, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadConfig {
    /// Only the last this many entries (`Some(0)`: none). By default, all.
    pub tail: Option<usize>,
    /// Skip entries until the first one at or after this time; after it,
    /// every entry is kept, as Docker does, since clocks can go backwards.
    /// By default, no limit.
    pub since: Option<SystemTime>,
    /// Stop at the first entry after this time; a follower also stops once
    /// this time has passed. By default, no limit.
    pub until: Option<SystemTime>,
    /// Keep reading new entries as they are written, until the driver is
    /// closed (or `until` passes, or the stream is stopped). By default, off.
    pub follow: bool,
}

/// A driver that can read back the logs it wrote.
///
/// # Implementer notes
///
/// - Entries come oldest first; a corrupt entry is an `Err` item, and the
///   stream goes on after it.
/// - With [`ReadConfig::follow`], the stream waits for new entries. It must
///   end when the driver is closed, when `until` has passed, and soon after
///   its consumer [stops](LogStream::stopper) it: give it a stop function
///   with [`LogStream::on_stop`] that wakes the waiting reader.
///
/// # Examples
///
/// A driver that keeps lines in memory and reads them back (no follow):
///
/// ```
/// use std::sync::Mutex;
/// use logdriver::{LogReader, LogStream, Logger, Message, ReadConfig, Result, Source};
///
/// #[derive(Default)]
/// struct Memory(Mutex<Vec<Message>>);
///
/// impl Logger for Memory {
///     fn log(&self, msg: Message) -> Result<()> {
///         self.0.lock().unwrap().push(msg);
///         Ok(())
///     }
///     fn name(&self) -> &str { "memory" }
///     fn close(&self) -> Result<()> { Ok(()) }
///     fn reader(&self) -> Option<&dyn LogReader> { Some(self) }
/// }
///
/// impl LogReader for Memory {
///     fn read_logs(&self, config: &ReadConfig) -> Result<LogStream> {
///         let lines = self.0.lock().unwrap().clone();
///         let skip = lines.len().saturating_sub(config.tail.unwrap_or(usize::MAX));
///         Ok(LogStream::new(lines.into_iter().skip(skip).map(Ok)))
///     }
/// }
///
/// let memory = Memory::default();
/// for line in ["a", "b", "c"] {
///     memory.log(Message::new(Source::Stdout, line))?;
/// }
/// let tail = ReadConfig { tail: Some(2), ..ReadConfig::default() };
/// let lines: Vec<_> = memory.reader().unwrap().read_logs(&tail)?
///     .map(|m| m.map(|m| m.line))
///     .collect::<Result<_>>()?;
/// assert_eq!(lines, ["b", "c"]);
/// # Ok::<(), logdriver::Error>(())
/// ```
pub trait LogReader: Send + Sync {
    /// Reads the logs as `config` says.
    ///
    /// # Errors
    ///
    /// When the logs cannot be opened at all; errors of single entries come
    /// as items of the stream.
    fn read_logs(&self, config: &ReadConfig) -> Result<LogStream>;
}

/// The entries a [`LogReader`] reads, oldest first, and a way to stop a
/// follower that waits for more.
pub struct LogStream {
    entries: Box<dyn Iterator<Item = Result<Message>> + Send>,
    stop: Stopper,
}

impl fmt::Debug for LogStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogStream")
            .field("stoppable", &self.stop.0.is_some())
            .finish()
    }
}

impl LogStream {
    /// A stream of `entries`.
    pub fn new<I>(entries: I) -> LogStream
    where
        I: Iterator<Item = Result<Message>> + Send + 'static,
    {
        LogStream {
            entries: Box::new(entries),
            stop: Stopper(None),
        }
    }

    /// Sets what [`Stopper::stop`] does: it must make a waiting follower
    /// end soon, even while no entry is written.
    #[must_use]
    pub fn on_stop<F>(mut self, stop: F) -> LogStream
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.stop = Stopper(Some(Arc::new(stop)));
        self
    }

    /// A handle that stops the stream from another thread, for a consumer
    /// that goes away (a `docker logs -f` client that disconnects).
    pub fn stopper(&self) -> Stopper {
        self.stop.clone()
    }
}

impl Iterator for LogStream {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Result<Message>> {
        self.entries.next()
    }
}

/// Stops a [`LogStream`]; see [`LogStream::stopper`].
#[derive(Clone)]
pub struct Stopper(Option<Arc<dyn Fn() + Send + Sync>>);

impl fmt::Debug for Stopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Stopper").field(&self.0.is_some()).finish()
    }
}

impl Stopper {
    /// Asks the stream to end: a follower stops waiting for new entries.
    /// A stream without a stop function is not affected.
    pub fn stop(&self) {
        if let Some(stop) = &self.0 {
            stop();
        }
    }
}
