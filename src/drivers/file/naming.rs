//! How rotated files are named, Docker's way (`<path>.1`, `.2.gz`…) or
//! the kubelet's (`<path>.<YYYYMMDD-HHMMSS>`), and finding them again.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How rotated files are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Naming {
    /// Docker's: `<path>.1` is the newest, `.2` the one before, and so on;
    /// `.N.gz` once compressed, its gzip header holding the time of its
    /// last entry.
    Numbered,
    /// The kubelet's: `<path>.<YYYYMMDD-HHMMSS>` in UTC, when it was
    /// rotated, then `_1`, `_2`… for more rotations within that second;
    /// `.gz` once compressed, which is every one but the newest.
    Stamped,
}

/// `<path><suffix>`.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// `<path>.<index>`, or `<path>.<index>.gz` when `gz`.
pub(crate) fn rotated_path(path: &Path, index: usize, gz: bool) -> PathBuf {
    with_suffix(path, &format!(".{index}{}", if gz { ".gz" } else { "" }))
}

/// A rotated file named the kubelet's way.
pub(crate) struct StampedFile {
    /// Its name without `.gz`.
    pub(crate) plain: PathBuf,
    pub(crate) gz: bool,
    /// `(date, time, n)` of `<date>-<time>_<n>`: how the files sort.
    key: (u64, u64, u64),
}

impl StampedFile {
    /// Its name as it is on disk.
    pub(crate) fn name(&self) -> PathBuf {
        if self.gz {
            with_suffix(&self.plain, ".gz")
        } else {
            self.plain.clone()
        }
    }
}

/// The rotated files of `path` named the kubelet's way, oldest first.
pub(crate) fn stamped_files(path: &Path) -> io::Result<Vec<StampedFile>> {
    let (Some(dir), Some(base)) = (path.parent(), path.file_name()) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let base = base.to_string_lossy();
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&*base)) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('.') else {
            continue;
        };
        let (stamp, gz) = match rest.strip_suffix(".gz") {
            Some(stamp) => (stamp, true),
            None => (rest, false),
        };
        if let Some(key) = stamp_key(stamp) {
            let plain = with_suffix(path, &format!(".{stamp}"));
            found.push(StampedFile { plain, gz, key });
        }
    }
    found.sort_by_key(|f| f.key);
    // A file caught between its compression's rename and the removal of
    // the plain one is listed once, compressed.
    found.dedup_by(|later, earlier| {
        let same = later.key == earlier.key;
        earlier.gz |= same && later.gz;
        same
    });
    Ok(found)
}

/// `YYYYMMDD-HHMMSS` or `YYYYMMDD-HHMMSS_N`, as a sort key.
fn stamp_key(stamp: &str) -> Option<(u64, u64, u64)> {
    let (time, n) = match stamp.split_once('_') {
        Some((time, n)) if n.bytes().all(|b| b.is_ascii_digit()) => (time, n.parse().ok()?),
        Some(_) => return None,
        None => (stamp, 0),
    };
    let (date, clock) = time.split_once('-')?;
    let digits = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u64>().ok())?
    };
    Some((digits(date, 8)?, digits(clock, 6)?, n))
}

/// The name for the live file rotated at `now`, given the rotated files
/// there are: `<path>.<stamp>`, or `<path>.<stamp>_<n>` after `n` other
/// rotations within that second, so that it sorts after each of them,
/// removed ones aside.
pub(crate) fn next_stamped(path: &Path, rotated: &[StampedFile], now: SystemTime) -> PathBuf {
    let now = stamp(now);
    let second = stamp_key(&now).map(|(date, clock, _)| (date, clock));
    let n = rotated
        .iter()
        .filter(|f| Some((f.key.0, f.key.1)) == second)
        .map(|f| f.key.2 + 1)
        .max()
        .unwrap_or(0);
    match n {
        0 => with_suffix(path, &format!(".{now}")),
        n => with_suffix(path, &format!(".{now}_{n}")),
    }
}

/// `YYYYMMDD-HHMMSS` for `t`, in UTC.
fn stamp(t: SystemTime) -> String {
    let (secs, _) = crate::time::unix_parts(t);
    let (year, month, day) = crate::time::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}
