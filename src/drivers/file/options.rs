//! The options every file driver reads the same way: `max-size`,
//! `max-file` and `compress`, each `None` when not given, so that each
//! driver keeps its own defaults and its own rules between them.

use crate::drivers::util::Options;
use crate::error::Result;

/// The largest `max-size`: 1 TiB (2^40 bytes).
pub(crate) const MAX_SIZE_LIMIT: u64 = 1 << 40;
/// The most files `max-file` may keep: 100. Each rotation renames or lists
/// every kept file under the write lock, so the count is bounded.
pub(crate) const MAX_FILE_LIMIT: usize = 100;

/// `max-size`: a positive size in decimal units (`10m` = 10,000,000
/// bytes), at most [`MAX_SIZE_LIMIT`].
pub(crate) fn max_size(o: &Options) -> Result<Option<u64>> {
    o.size("max-size", 1000, MAX_SIZE_LIMIT)
}

/// `max-file`: a whole number from 1 to [`MAX_FILE_LIMIT`].
pub(crate) fn max_file(o: &Options) -> Result<Option<usize>> {
    o.count("max-file", 1..=MAX_FILE_LIMIT)
}

/// `compress`: Go's booleans.
pub(crate) fn compress(o: &Options) -> Result<Option<bool>> {
    o.bool("compress")
}
