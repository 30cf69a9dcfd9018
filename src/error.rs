//! The crate's error type.

/// A boxed error from a driver's transport, as kept in [`Error::Driver`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A `Result` whose error is [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in `logdriver`.
///
/// Every variant names what went wrong and where: the driver, the option
/// key and the offending value. The `Display` messages are lowercase and
/// single-line, ready to be shown to whoever wrote the `--log-opt`.
///
/// Third-party drivers and validators build errors with the constructors
/// [`Error::unknown_option`], [`Error::missing_option`],
/// [`Error::invalid_option`] and [`Error::driver`].
///
/// # Examples
///
/// ```
/// use logdriver::Error;
///
/// let err = Error::invalid_option("zmq", "zmq-sndhwm", "lots", "not a number");
/// assert_eq!(
///     err.to_string(),
///     r#"invalid value "lots" for option "zmq-sndhwm" of log driver "zmq": not a number"#,
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No driver is registered under this name.
    #[error("no log driver named {name:?} is registered")]
    UnknownDriver {
        /// The name that was asked for.
        name: String,
    },

    /// The driver is one of the crate's own, but this build leaves out the
    /// cargo feature it needs.
    #[error("the log driver {name:?} is not in this build: enable logdriver's cargo feature {feature:?}")]
    DriverNotBuilt {
        /// The name that was asked for.
        name: String,
        /// The cargo feature that builds it.
        feature: String,
    },

    /// A driver or validator is already registered under this name.
    #[error("a log {what} named {name:?} is already registered")]
    AlreadyRegistered {
        /// `"driver"` or `"validator"`.
        what: &'static str,
        /// The name that was registered twice.
        name: String,
    },

    /// The driver does not know this option.
    #[error("unknown option {key:?} for log driver {driver:?}")]
    UnknownOption {
        /// The driver the option was given to.
        driver: String,
        /// The option key.
        key: String,
    },

    /// The driver needs this option and it was not given.
    #[error("missing required option {key:?} for log driver {driver:?}")]
    MissingOption {
        /// The driver that needs the option.
        driver: String,
        /// The option key.
        key: String,
    },

    /// The option was given a value the driver cannot use.
    #[error("invalid value {value:?} for option {key:?} of log driver {driver:?}: {reason}")]
    InvalidOption {
        /// The driver the option was given to.
        driver: String,
        /// The option key.
        key: String,
        /// The offending value, as given.
        value: String,
        /// Why the value was rejected.
        reason: String,
    },

    /// The driver's transport failed.
    #[error("log driver {driver:?} failed: {source}")]
    Driver {
        /// The driver that failed.
        driver: String,
        /// What went wrong underneath.
        #[source]
        source: BoxError,
    },

    /// The driver dropped the line and counted it in
    /// [`LoggerStats::dropped`](crate::LoggerStats::dropped): its buffer
    /// was full, or its peer did not take the line in time. Unlike
    /// [`Error::Driver`], this is an outcome the driver promises to count,
    /// not a fault: the next line may well go through.
    #[error("log driver {driver:?} dropped a line: {reason}")]
    Dropped {
        /// The driver that dropped it.
        driver: String,
        /// Why, in the driver's words.
        reason: String,
    },

    /// The driver was called after [`Logger::close`](crate::Logger::close).
    #[error("log driver {driver:?} is closed")]
    Closed {
        /// The closed driver.
        driver: String,
    },

    /// The driver panicked; the panic was caught so that the caller could go on.
    #[error("log driver {driver:?} panicked: {message}")]
    Panicked {
        /// The driver that panicked.
        driver: String,
        /// The panic payload, if it was a string.
        message: String,
    },

    /// `close` gave up waiting for buffered lines to reach the driver.
    #[error("log driver {driver:?} did not take {unflushed} buffered lines within {timeout:?}")]
    FlushTimeout {
        /// The driver that did not keep up.
        driver: String,
        /// How many lines were still waiting.
        unflushed: u64,
        /// How long `close` waited.
        timeout: std::time::Duration,
    },

    /// A file-based driver was created without [`Info::log_path`](crate::Info::log_path).
    #[error("log driver {driver:?} needs a log path (Info::log_path)")]
    MissingLogPath {
        /// The driver that needs it.
        driver: String,
    },

    /// Reading or writing a log file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },

    /// A follower fell behind the writer by more rotations than the driver
    /// keeps files (`max-file`): these rotated files were removed before it
    /// could read them, and their entries are lost. Their entries cannot be
    /// counted, since the files are gone. The follow goes on after the gap,
    /// with the oldest file still there.
    #[error("{}: {files} rotated files were removed before they could be followed; their entries are lost", path.display())]
    FollowLost {
        /// The log being followed.
        path: std::path::PathBuf,
        /// How many rotated files were removed unread.
        files: u64,
    },

    /// An entry of a log file could not be decoded; readers skip it and go on.
    #[error("{}:{line}: corrupt log entry: {reason}", path.display())]
    CorruptEntry {
        /// The file.
        path: std::path::PathBuf,
        /// The entry's line number in the file, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// A worker thread could not be started.
    #[error("could not spawn thread {thread:?}: {source}")]
    Spawn {
        /// The name of the thread.
        thread: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The driver does not know the option `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = logdriver::Error::unknown_option("my-driver", "colour");
    /// assert_eq!(err.to_string(), r#"unknown option "colour" for log driver "my-driver""#);
    /// ```
    pub fn unknown_option(driver: &str, key: &str) -> Error {
        Error::UnknownOption {
            driver: driver.to_owned(),
            key: key.to_owned(),
        }
    }

    /// The driver needs the option `key`, and it was not given.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = logdriver::Error::missing_option("zmq", "zmq-address");
    /// assert_eq!(err.to_string(), r#"missing required option "zmq-address" for log driver "zmq""#);
    /// ```
    pub fn missing_option(driver: &str, key: &str) -> Error {
        Error::MissingOption {
            driver: driver.to_owned(),
            key: key.to_owned(),
        }
    }

    /// The option `key` has a `value` the driver cannot use, for `reason`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = logdriver::Error::invalid_option("json-file", "max-file", "0", "must be at least 1");
    /// assert!(matches!(err, logdriver::Error::InvalidOption { .. }));
    /// ```
    pub fn invalid_option(
        driver: &str,
        key: &str,
        value: &str,
        reason: impl Into<String>,
    ) -> Error {
        Error::InvalidOption {
            driver: driver.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    /// The driver's transport failed with `err`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    ///
    /// let err = logdriver::Error::driver("my-driver", io::Error::other("hub went away"));
    /// assert_eq!(err.to_string(), r#"log driver "my-driver" failed: hub went away"#);
    /// ```
    pub fn driver(driver: &str, err: impl Into<BoxError>) -> Error {
        Error::Driver {
            driver: driver.to_owned(),
            source: err.into(),
        }
    }

    /// The driver dropped a line, and counted it, for `reason`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = logdriver::Error::dropped("my-driver", "the hub took nothing for 5s");
    /// assert_eq!(err.to_string(), r#"log driver "my-driver" dropped a line: the hub took nothing for 5s"#);
    /// ```
    pub fn dropped(driver: &str, reason: impl Into<String>) -> Error {
        Error::Dropped {
            driver: driver.to_owned(),
            reason: reason.into(),
        }
    }

    /// The driver `driver` was called after it was closed.
    pub fn closed(driver: &str) -> Error {
        Error::Closed {
            driver: driver.to_owned(),
        }
    }

    /// Runs `call`, a call into the driver `driver`, with a panic turned
    /// into [`Error::Panicked`]. With `logger::deliver`, which hands a
    /// driver a batch, it is the only place that catches a driver's panic.
    pub(crate) fn guard<T>(driver: &str, call: impl FnOnce() -> Result<T>) -> Result<T> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
            .unwrap_or_else(|payload| Err(Error::panicked(driver, &*payload)))
    }

    /// Builds [`Error::Panicked`] from a payload caught by `catch_unwind`.
    pub(crate) fn panicked(driver: &str, payload: &(dyn std::any::Any + Send)) -> Error {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        Error::Panicked {
            driver: driver.to_owned(),
            message,
        }
    }
}
