//! [`Tee`]: one container's lines to several drivers, each isolated from
//! the others.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::logger::{Logger, LoggerStats};
use crate::message::Message;
use crate::read::LogReader;

/// The name the `tee` driver is known by.
pub(crate) const NAME: &str = "tee";

/// Every line to each of several drivers (its *branches*), in order.
///
/// A branch's error or panic is its own: the other branches get the line
/// all the same, and the Copier goes on. What isolates a slow branch is
/// its own mode: a branch in [`NonBlocking`](crate::NonBlocking) mode
/// (`LABEL.mode=non-blocking` through the registry) never makes `log`
/// wait, whatever its peer does, while a blocking one slows the tee as it
/// would slow the container alone.
///
/// - [`stats`](Logger::stats) is the sum of the branches';
///   [`branch_stats`](Tee::branch_stats) gives each.
/// - [`reader`](Logger::reader) is the first branch that can read back, so
///   `docker logs` works through the plugin for a tee with a file branch.
/// - [`close`](Logger::close) closes every branch, and returns the first
///   error.
///
/// # The `tee` driver
///
/// Every [`Registry`](crate::Registry) has the driver `tee`, whose
/// branches it makes itself, each as [`Registry::create`](crate::Registry::create)
/// makes a driver, with its own options, validation and mode:
///
/// - `tee-drivers` (required; [`options::TEE_DRIVERS`](crate::options::TEE_DRIVERS))
///   names the branches in order, comma separated, each `driver` or
///   `label:driver`; the label (by default the driver's name) has no dot,
///   and two branches need two labels: `tee-drivers=json-file,remote:fluentd`.
/// - `LABEL.KEY=VALUE` is the option `KEY` of the branch `LABEL`:
///   `json-file.max-size=10m`, `remote.fluentd-address=tcp://logs:24224`,
///   `remote.mode=non-blocking`. Each branch is validated as its driver
///   is, and errors name that driver.
/// - `mode`, the non-blocking options and the `rate-limit-*` options apply
///   to the tee as a whole, as to any driver (and, prefixed, to one
///   branch: `remote.rate-limit-lines=100`); the tee takes no other option of its own, and an
///   unknown one is [`Error::UnknownOption`] naming `tee`.
/// - The container's log path goes to the first branch whose driver
///   reads back; every other branch gets the path with `.LABEL` after it,
///   so no two branches write one file.
///
/// ```
/// use logdriver::{registry, Info, Logger, Message, Source};
///
/// let path = std::env::temp_dir().join(format!("tee-opts-doc-{}.log", std::process::id()));
/// let info = Info::new("web")
///     .with_log_path(&path)
///     .with_option("tee-drivers", "json-file,remote:fluentd")
///     .with_option("json-file.max-size", "10m")
///     .with_option("remote.fluentd-address", "tcp://127.0.0.1:1") // nothing listens
///     .with_option("remote.mode", "non-blocking")
///     .with_option("remote.non-blocking-close-timeout", "200ms");
/// let tee = registry().create("tee", &info)?;
/// tee.log(Message::new(Source::Stdout, "kept, whatever the remote does"))?;
/// tee.close().ok(); // the remote branch reports what it could not send
/// assert!(tee.reader().is_some());
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), logdriver::Error>(())
/// ```
///
/// # Examples
///
/// A tee of drivers made by hand:
///
/// ```
/// use logdriver::{registry, Info, Logger, Message, Source, Tee};
///
/// let path = std::env::temp_dir().join(format!("tee-doc-{}.log", std::process::id()));
/// let local = registry().create("json-file", &Info::new("web").with_log_path(&path))?;
/// let nowhere = registry().create("none", &Info::new("web"))?;
/// let tee = Tee::new([("local", local), ("nowhere", nowhere)]);
/// tee.log(Message::new(Source::Stdout, "hello"))?;
/// tee.close()?;
/// assert_eq!(tee.stats().lines, 1);
/// assert_eq!(tee.branch_stats()[0], ("local", tee.stats()));
/// assert!(tee.reader().is_some()); // json-file reads back
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), logdriver::Error>(())
/// ```
pub struct Tee {
    branches: Vec<(String, Arc<dyn Logger>)>,
}

impl Tee {
    /// A tee over `branches`, each a label and a driver, in the order
    /// they get each line.
    pub fn new<S: Into<String>>(branches: impl IntoIterator<Item = (S, Arc<dyn Logger>)>) -> Tee {
        Tee {
            branches: branches
                .into_iter()
                .map(|(label, logger)| (label.into(), logger))
                .collect(),
        }
    }

    /// Each branch's label and counts, in order.
    pub fn branch_stats(&self) -> Vec<(&str, LoggerStats)> {
        self.branches
            .iter()
            .map(|(label, logger)| (label.as_str(), logger.stats()))
            .collect()
    }

    /// The branches, in order.
    pub fn branches(&self) -> impl Iterator<Item = (&str, &Arc<dyn Logger>)> {
        self.branches
            .iter()
            .map(|(label, logger)| (label.as_str(), logger))
    }

    /// Calls `call` on each branch, a panic in one caught and made its
    /// error; returns the first error.
    fn each(&self, mut call: impl FnMut(&str, &dyn Logger) -> Result<()>) -> Result<()> {
        let mut first = Ok(());
        for (label, logger) in &self.branches {
            let outcome = catch_unwind(AssertUnwindSafe(|| call(label, logger.as_ref())))
                .unwrap_or_else(|_| Err(Error::driver(NAME, format!("branch {label} panicked"))));
            if first.is_ok() {
                first = outcome;
            }
        }
        first
    }
}

impl fmt::Debug for Tee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.branches.iter().map(|(label, l)| (label, l.name())))
            .finish()
    }
}

impl Logger for Tee {
    /// Hands `msg` to every branch (a clone each: the line's bytes are
    /// shared, never copied).
    ///
    /// # Errors
    ///
    /// The first branch's error, once every branch has had the line.
    fn log(&self, msg: Message) -> Result<()> {
        self.each(|_, logger| logger.log(msg.clone()))
    }

    /// Hands the batch to every branch; each branch's failures go to
    /// `failed`.
    fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
        let Some(((_, last), rest)) = self.branches.split_last() else {
            batch.clear();
            return;
        };
        for (label, logger) in rest {
            let mut copy = batch.clone();
            let done = catch_unwind(AssertUnwindSafe(|| logger.log_batch(&mut copy, failed)));
            if done.is_err() {
                failed(Error::driver(NAME, format!("branch {label} panicked")));
            }
        }
        if catch_unwind(AssertUnwindSafe(|| last.log_batch(batch, failed))).is_err() {
            batch.clear();
            failed(Error::driver(NAME, "the last branch panicked"));
        }
    }

    fn prefers_batches(&self) -> bool {
        self.branches.iter().any(|(_, l)| l.prefers_batches())
    }

    fn name(&self) -> &str {
        NAME
    }

    /// Closes every branch.
    ///
    /// # Errors
    ///
    /// The first branch's error.
    fn close(&self) -> Result<()> {
        self.each(|_, logger| logger.close())
    }

    /// The sum of the branches' counts.
    fn stats(&self) -> LoggerStats {
        let mut sum = LoggerStats::default();
        for (_, logger) in &self.branches {
            sum += logger.stats();
        }
        sum
    }

    /// The first branch that reads back.
    fn reader(&self) -> Option<&dyn LogReader> {
        self.branches.iter().find_map(|(_, l)| l.reader())
    }

    /// Each branch's label, driver name and counts.
    fn branch_stats(&self) -> Vec<(String, String, LoggerStats)> {
        self.branches
            .iter()
            .map(|(label, logger)| (label.clone(), logger.name().to_owned(), logger.stats()))
            .collect()
    }

    /// Reopens every branch that has a file to reopen; `None` when none
    /// has, else the first error or `Ok`.
    fn reopen_log(&self) -> Option<Result<()>> {
        let mut outcome = None;
        for (_, logger) in &self.branches {
            if let Some(reopened) = logger.reopen_log() {
                outcome = match outcome {
                    Some(Err(first)) => Some(Err(first)),
                    _ => Some(reopened),
                };
            }
        }
        outcome
    }
}
