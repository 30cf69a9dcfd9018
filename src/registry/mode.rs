//! `mode=non-blocking` and its options, which the registry handles for
//! every driver: Docker's `mode` and `max-buffer-size`, and this crate's
//! `non-blocking-drop` and `non-blocking-close-timeout`.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::nonblocking::{Overflow, DEFAULT_CLOSE_TIMEOUT, DEFAULT_MAX_BUFFER_SIZE};
use crate::units::{parse_duration, parse_size_at_most, MAX_DURATION};

/// The option that picks blocking or non-blocking delivery.
pub const MODE_OPT: &str = "mode";
/// The option that sizes the non-blocking buffer, in Docker's binary units.
pub const MAX_BUFFER_SIZE_OPT: &str = "max-buffer-size";
/// The option that picks what a full non-blocking buffer drops: `newest`
/// (the default, as in Docker) or `oldest`. Not a Docker option.
pub const NON_BLOCKING_DROP_OPT: &str = "non-blocking-drop";
/// The option that bounds how long `close` waits for a non-blocking
/// buffer to drain: a Go duration such as `500ms`, `1.5s` or `1m30s`, at
/// most `1h`; by default [`NonBlocking::DEFAULT_CLOSE_TIMEOUT`](crate::NonBlocking::DEFAULT_CLOSE_TIMEOUT).
/// Not a Docker option.
pub const NON_BLOCKING_CLOSE_TIMEOUT_OPT: &str = "non-blocking-close-timeout";
/// The options that need `mode=non-blocking`.
pub(super) const NON_BLOCKING_OPTS: [&str; 3] = [
    MAX_BUFFER_SIZE_OPT,
    NON_BLOCKING_DROP_OPT,
    NON_BLOCKING_CLOSE_TIMEOUT_OPT,
];
/// The options the registry handles itself; drivers' validators never see them.
pub(crate) const BUILTIN_OPTS: [&str; 7] = [
    MODE_OPT,
    MAX_BUFFER_SIZE_OPT,
    NON_BLOCKING_DROP_OPT,
    NON_BLOCKING_CLOSE_TIMEOUT_OPT,
    super::limit::RATE_LIMIT_LINES_OPT,
    super::limit::RATE_LIMIT_BYTES_OPT,
    super::limit::RATE_LIMIT_BURST_OPT,
];
/// The largest `max-buffer-size`: 1 GiB.
pub const MAX_BUFFER_SIZE_LIMIT: usize = 1 << 30;

/// How a driver built by [`Registry::create`](crate::Registry::create) receives lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every line reaches the driver; a slow driver slows the container. The default.
    #[default]
    Blocking,
    /// Lines go through a [`NonBlocking`](crate::NonBlocking) buffer; a slow driver loses lines, counted.
    NonBlocking,
}

impl Mode {
    /// Reads the `mode` option out of a driver's options.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when `mode` is neither `blocking` nor `non-blocking`.
    pub fn from_opts(driver: &str, opts: &HashMap<String, String>) -> Result<Mode> {
        match opts.get(MODE_OPT).map(String::as_str) {
            None | Some("" | "blocking") => Ok(Mode::Blocking),
            Some("non-blocking") => Ok(Mode::NonBlocking),
            Some(other) => Err(Error::invalid_option(
                driver,
                MODE_OPT,
                other,
                "must be \"blocking\" or \"non-blocking\"",
            )),
        }
    }
}

/// The `max-buffer-size` option in bytes, or its default.
pub(super) fn max_buffer_size(driver: &str, opts: &HashMap<String, String>) -> Result<usize> {
    let Some(value) = opts.get(MAX_BUFFER_SIZE_OPT) else {
        return Ok(DEFAULT_MAX_BUFFER_SIZE);
    };
    parse_size_at_most(value, 1024, MAX_BUFFER_SIZE_LIMIT as u64)
        .map(|n| n as usize)
        .map_err(|reason| Error::invalid_option(driver, MAX_BUFFER_SIZE_OPT, value, reason))
}

/// The `non-blocking-close-timeout` option, or its default.
pub(super) fn close_timeout(driver: &str, opts: &HashMap<String, String>) -> Result<Duration> {
    let Some(value) = opts.get(NON_BLOCKING_CLOSE_TIMEOUT_OPT) else {
        return Ok(DEFAULT_CLOSE_TIMEOUT);
    };
    parse_duration(value, MAX_DURATION).map_err(|reason| {
        Error::invalid_option(driver, NON_BLOCKING_CLOSE_TIMEOUT_OPT, value, reason)
    })
}

/// The `non-blocking-drop` option as an [`Overflow`], or its default.
pub(super) fn overflow(driver: &str, opts: &HashMap<String, String>) -> Result<Overflow> {
    match opts.get(NON_BLOCKING_DROP_OPT).map(String::as_str) {
        None | Some("newest") => Ok(Overflow::DropNewest),
        Some("oldest") => Ok(Overflow::DropOldest),
        Some(other) => Err(Error::invalid_option(
            driver,
            NON_BLOCKING_DROP_OPT,
            other,
            "must be \"newest\" or \"oldest\"",
        )),
    }
}
