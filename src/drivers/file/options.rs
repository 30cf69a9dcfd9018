//! The options every file driver reads the same way: `max-size`,
//! `max-file` and `compress`, each `None` when not given, so that each
//! driver keeps its own defaults and its own rules between them.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::units::parse_size_at_most;

/// The largest `max-size`: 1 TiB (2^40 bytes).
pub(crate) const MAX_SIZE_LIMIT: u64 = 1 << 40;
/// The most files `max-file` may keep: 100. Each rotation renames or lists
/// every kept file under the write lock, so the count is bounded.
pub(crate) const MAX_FILE_LIMIT: usize = 100;

/// `max-size`: a positive size in decimal units (`10m` = 10,000,000
/// bytes), at most [`MAX_SIZE_LIMIT`].
pub(crate) fn max_size(driver: &str, opts: &HashMap<String, String>) -> Result<Option<u64>> {
    let Some(v) = opts.get("max-size") else {
        return Ok(None);
    };
    match parse_size_at_most(v, 1000, MAX_SIZE_LIMIT) {
        Ok(n) if n > 0 => Ok(Some(n)),
        Ok(_) => Err(Error::invalid_option(
            driver,
            "max-size",
            v,
            "must be a positive size such as 10m",
        )),
        Err(reason) => Err(Error::invalid_option(driver, "max-size", v, reason)),
    }
}

/// `max-file`: a whole number from 1 to [`MAX_FILE_LIMIT`].
pub(crate) fn max_file(driver: &str, opts: &HashMap<String, String>) -> Result<Option<usize>> {
    let Some(v) = opts.get("max-file") else {
        return Ok(None);
    };
    v.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_FILE_LIMIT).contains(n))
        .map(Some)
        .ok_or_else(|| {
            Error::invalid_option(
                driver,
                "max-file",
                v,
                "must be a whole number from 1 to 100",
            )
        })
}

/// `compress`: Go's booleans.
pub(crate) fn compress(driver: &str, opts: &HashMap<String, String>) -> Result<Option<bool>> {
    match opts.get("compress").map(String::as_str) {
        None => Ok(None),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
        Some(v) => Err(Error::invalid_option(
            driver,
            "compress",
            v,
            "must be true or false",
        )),
    }
}
