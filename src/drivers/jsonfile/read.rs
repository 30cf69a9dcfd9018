//! Reading json-file logs back: Docker's `ReadLogs`, as an iterator.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flate2::read::MultiGzDecoder;
use serde::Deserialize;

use super::file::{rotated_path, LogFile};
use crate::error::{Error, Result};
use crate::message::{Message, PartialGroups, Source};
use crate::read::ReadConfig;
use crate::time::parse_time;

/// One entry of a json-file log, as Docker writes it.
#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    log: String,
    #[serde(default)]
    stream: String,
    time: String,
}

/// A source of entries: a rotated file, or the current one up to a size.
struct Segment {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line: u64,
}

/// Where a follower is in the live file.
struct Follow {
    log: Arc<LogFile>,
    file: File,
    pos: u64,
    rotations: u64,
    path: PathBuf,
    pending: VecDeque<u8>,
    line: u64,
    /// Files rotated away before the follower got to them, oldest first.
    missed: VecDeque<Segment>,
    /// Set by the consumer when it is gone: the follower ends at its next
    /// wake-up, within [`CANCEL_CHECK`].
    cancel: Option<Arc<AtomicBool>>,
    /// How long to wait before trying again after an error: zero while
    /// all is well, then doubling up to a second, so that an error that
    /// repeats (no file descriptors, say) is not retried in a busy loop.
    backoff: Duration,
}

/// The longest entry a reader accepts: 8 MiB. A longer one is corrupt: it
/// is reported and skipped, never held in memory. (The Copier's largest
/// chunk is 1 MiB, and JSON escaping can make it six times longer.)
pub const MAX_ENTRY_BYTES: usize = 8 << 20;

/// The most bytes a follower reads from the live file at once.
const FOLLOW_READ: u64 = 1 << 20;

/// How often a follower with a cancel flag looks at it while it waits.
const CANCEL_CHECK: Duration = Duration::from_millis(100);

/// The longest a follower waits before it tries again after an error.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// An iterator over the entries of a json-file log, oldest first.
///
/// Each item is a [`Message`] (without the `attrs`, which a `Message` does
/// not carry) or the error of one entry: a corrupt entry is reported once
/// and skipped, and reading goes on with the next. The `line` of a message
/// has no trailing newline; an entry that Docker wrote without one (a
/// chunk of a long line) comes back as a partial message, and the chunks of
/// one line share a fresh id, as from the [`Copier`](crate::Copier).
///
/// With [`ReadConfig::follow`], `next` blocks until a new entry is written
/// or the logger is closed.
pub struct JsonFileReader {
    segments: VecDeque<Segment>,
    /// Entries picked by `tail`, decoded lazily.
    tailed: Option<VecDeque<RawEntry>>,
    follow: Option<Follow>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    done: bool,
    /// The partial group in progress, per stream.
    groups: PartialGroups,
}

impl std::fmt::Debug for JsonFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonFileReader")
            .field("files_left", &self.segments.len())
            .field("following", &self.follow.is_some())
            .finish()
    }
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Opens rotated file `index`, compressed or not; `None` if there is none.
fn open_rotated(path: &Path, index: usize) -> Result<Option<Segment>> {
    for gz in [true, false] {
        let name = rotated_path(path, index, gz);
        match File::open(&name) {
            Ok(file) => {
                let reader: Box<dyn BufRead + Send> = if gz {
                    Box::new(BufReader::new(MultiGzDecoder::new(BufReader::new(file))))
                } else {
                    Box::new(BufReader::new(file))
                };
                return Ok(Some(Segment {
                    path: name,
                    reader,
                    line: 0,
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&name, e)),
        }
    }
    Ok(None)
}

impl JsonFileReader {
    /// A reader of the live `log`: its rotated files and the current one
    /// up to its last complete entry, then (when following) what comes.
    pub(super) fn live(log: &Arc<LogFile>, config: &ReadConfig) -> Result<JsonFileReader> {
        // Hold the writer still while the files are listed and opened, so
        // that the names and the current size agree.
        let state = log.state.lock();
        let _names = log.names.lock();
        let mut segments = VecDeque::new();
        for index in (1..log.max_file).rev() {
            segments.extend(open_rotated(&log.path, index)?);
        }
        let current = File::open(&log.path).map_err(|e| io_error(&log.path, e))?;
        let size = state.size;
        let rotations = state.rotations;
        drop(_names);
        drop(state);
        let reader = current.try_clone().map_err(|e| io_error(&log.path, e))?;
        segments.push_back(Segment {
            path: log.path.clone(),
            reader: Box::new(BufReader::new(reader.take(size))),
            line: 0,
        });
        let follow = config.follow.then(|| Follow {
            log: Arc::clone(log),
            file: current,
            pos: size,
            rotations,
            path: log.path.clone(),
            pending: VecDeque::new(),
            line: 0,
            missed: VecDeque::new(),
            cancel: None,
            backoff: Duration::ZERO,
        });
        JsonFileReader::new(segments, follow, config)
    }

    /// A reader of the files at `path` alone, as a stopped container left them.
    pub(super) fn stopped(path: &Path, config: &ReadConfig) -> Result<JsonFileReader> {
        let mut rotated = Vec::new();
        let mut index = 1;
        while let Some(segment) = open_rotated(path, index)? {
            rotated.push(segment);
            index += 1;
        }
        let mut segments: VecDeque<Segment> = rotated.into_iter().rev().collect();
        let current = File::open(path).map_err(|e| io_error(path, e))?;
        segments.push_back(Segment {
            path: path.to_owned(),
            reader: Box::new(BufReader::new(current)),
            line: 0,
        });
        JsonFileReader::new(segments, None, config)
    }

    /// Ends a following reader soon after `cancel` is set (within 100 ms),
    /// even while no entry is written: for a consumer that can go away,
    /// such as a `docker logs -f` client. A reader that does not follow
    /// ignores it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{atomic::AtomicBool, Arc};
    /// use logdriver::drivers::jsonfile::{JsonFileLogger, ReadConfig};
    /// use logdriver::Info;
    ///
    /// # let path = std::env::temp_dir().join(format!("cancel-doc-{}.log", std::process::id()));
    /// let logger = JsonFileLogger::new(&Info { log_path: Some(path.clone()), ..Info::default() })?;
    /// let gone = Arc::new(AtomicBool::new(true));
    /// let follow = ReadConfig { follow: true, ..ReadConfig::default() };
    /// let mut reader = logger.read_logs(&follow)?.cancel_on(gone);
    /// assert!(reader.next().is_none()); // the consumer is gone: no waiting
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    #[must_use]
    pub fn cancel_on(mut self, cancel: Arc<AtomicBool>) -> JsonFileReader {
        if let Some(follow) = &mut self.follow {
            follow.cancel = Some(cancel);
        }
        self
    }

    fn new(
        segments: VecDeque<Segment>,
        follow: Option<Follow>,
        config: &ReadConfig,
    ) -> Result<JsonFileReader> {
        let mut reader = JsonFileReader {
            segments,
            tailed: None,
            follow,
            since: config.since,
            until: config.until,
            done: false,
            groups: PartialGroups::default(),
        };
        if let Some(n) = config.tail {
            // Keep the last `n` raw entries; decode only those.
            let mut last = VecDeque::with_capacity(n.min(4096));
            while let Some(raw) = reader.next_raw() {
                let raw = raw?;
                if n > 0 {
                    if last.len() == n {
                        last.pop_front();
                    }
                    last.push_back(raw);
                }
            }
            reader.tailed = Some(last);
        }
        Ok(reader)
    }

    /// The next raw entry of the files, with where it came from.
    fn next_raw(&mut self) -> Option<Result<RawEntry>> {
        next_in(&mut self.segments)
    }

    /// The next entry written by a live logger, waiting for it if needed,
    /// and no later than `until`.
    fn next_followed(&mut self) -> Option<Result<RawEntry>> {
        let until = self.until;
        let follow = self.follow.as_mut()?;
        if !follow.backoff.is_zero() {
            let mut state = follow.log.state.lock();
            if !state.closed {
                follow.log.changed.wait_for(&mut state, follow.backoff);
            }
        }
        let next = follow.next(until);
        match &next {
            None => self.follow = None,
            Some(Ok(_)) => follow.backoff = Duration::ZERO,
            Some(Err(_)) => {
                follow.backoff = (follow.backoff * 2).clamp(Duration::from_millis(10), MAX_BACKOFF);
            }
        }
        next
    }

    /// Turns a raw entry into a message, tracking partial groups per stream.
    fn decode(&mut self, path: &Path, line: u64, raw: &[u8]) -> Result<Message> {
        let corrupt = |reason: String| Error::CorruptEntry {
            path: path.to_owned(),
            line,
            reason,
        };
        let entry: Entry = serde_json::from_slice(raw).map_err(|e| corrupt(e.to_string()))?;
        let source: Source = entry.stream.parse().map_err(|e| corrupt(format!("{e}")))?;
        let timestamp =
            parse_time(&entry.time).ok_or_else(|| corrupt(format!("bad time {:?}", entry.time)))?;
        let mut log = entry.log.into_bytes();
        let ends_line = log.last() == Some(&b'\n');
        if ends_line {
            log.pop();
        }
        // json-file keeps no partial metadata: an entry without a newline
        // is a chunk, and the entry of its stream that has one ends it.
        let partial = if ends_line {
            self.groups.end(source)
        } else {
            Some(self.groups.next(source, false))
        };
        Ok(Message {
            line: log.into(),
            source,
            timestamp,
            partial,
        })
    }
}

impl Follow {
    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
    }

    /// The next entry of the live file, waiting for it while the logger is
    /// open and `until` has not passed; `None` at the end.
    fn next(&mut self, until: Option<SystemTime>) -> Option<Result<RawEntry>> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.pending.drain(..=end).collect();
                self.line += 1;
                return Some(Ok((self.path.clone(), self.line, raw)));
            }
            if let Some(raw) = next_in(&mut self.missed) {
                return Some(raw);
            }
            let log = Arc::clone(&self.log);
            let mut state = log.state.lock();
            if state.rotations == self.rotations && self.pos == state.size {
                if state.closed || self.cancelled() {
                    return None;
                }
                let left = match until.map(|until| until.duration_since(SystemTime::now())) {
                    None => None,
                    Some(Ok(left)) => Some(left),
                    // `docker logs -f --until` ends once `until` has passed.
                    Some(Err(_)) => return None,
                };
                let check = self.cancel.as_ref().map(|_| CANCEL_CHECK);
                match left.into_iter().chain(check).min() {
                    None => log.changed.wait(&mut state),
                    Some(wait) => {
                        log.changed.wait_for(&mut state, wait);
                    }
                }
                continue;
            }
            if state.rotations == self.rotations {
                // New complete entries in the file we have open, a slice at
                // a time.
                let end = state.size.min(self.pos + FOLLOW_READ);
                drop(state);
                if let Err(e) = read_range(&self.file, self.pos, end, &mut self.pending) {
                    return Some(Err(io_error(&self.path, e)));
                }
                self.pos = end;
                continue;
            }
            // Our file was rotated away: it is final, so finish it. Files
            // rotated after it are read next, from their new names, then
            // the new current file from its start.
            let rotations = state.rotations - self.rotations;
            let mut lost = 0;
            {
                let _names = log.names.lock();
                for index in (1..rotations as usize).rev() {
                    match open_rotated(&log.path, index) {
                        Ok(Some(segment)) => self.missed.push_back(segment),
                        Ok(None) => lost += 1,
                        Err(e) => return Some(Err(e)),
                    }
                }
            }
            let new = match File::open(&log.path) {
                Ok(file) => file,
                Err(e) => return Some(Err(io_error(&log.path, e))),
            };
            self.rotations = state.rotations;
            drop(state);
            let old = std::mem::replace(&mut self.file, new);
            if let Err(e) = read_range(&old, self.pos, u64::MAX, &mut self.pending) {
                return Some(Err(io_error(&self.path, e)));
            }
            self.pos = 0;
            if lost > 0 {
                return Some(Err(Error::Io {
                    path: log.path.clone(),
                    source: io::Error::other(format!(
                        "{lost} rotated files were removed before they could be followed; their entries are lost"
                    )),
                }));
            }
        }
    }
}

/// An entry's bytes, with the file and line it came from.
type RawEntry = (PathBuf, u64, Vec<u8>);

/// The next raw entry of `segments`, dropping those that are read out.
fn next_in(segments: &mut VecDeque<Segment>) -> Option<Result<RawEntry>> {
    while let Some(segment) = segments.front_mut() {
        let mut raw = Vec::new();
        match read_entry(&mut segment.reader, &mut raw) {
            Ok(0) => {
                segments.pop_front();
            }
            Ok(_) if raw.len() > MAX_ENTRY_BYTES => {
                segment.line += 1;
                return Some(Err(Error::CorruptEntry {
                    path: segment.path.clone(),
                    line: segment.line,
                    reason: format!("longer than {MAX_ENTRY_BYTES} bytes"),
                }));
            }
            Ok(_) => {
                segment.line += 1;
                return Some(Ok((segment.path.clone(), segment.line, raw)));
            }
            Err(e) => {
                let segment = segments.pop_front().expect("front exists");
                return Some(Err(io_error(&segment.path, e)));
            }
        }
    }
    None
}

/// Reads one entry, its newline included, into `raw`; returns the bytes
/// the entry took. An entry longer than [`MAX_ENTRY_BYTES`] is read to
/// its end but not kept: `raw` then holds one byte more than the limit.
fn read_entry(reader: &mut dyn BufRead, raw: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let (done, used) = {
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(total);
            }
            let (done, used) = match memchr::memchr(b'\n', buf) {
                Some(i) => (true, i + 1),
                None => (false, buf.len()),
            };
            let room = (MAX_ENTRY_BYTES + 1).saturating_sub(raw.len());
            raw.extend_from_slice(&buf[..used.min(room)]);
            (done, used)
        };
        reader.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

/// Appends the bytes of `file` from `from` to `to` (or its end) to `out`.
fn read_range(file: &File, from: u64, to: u64, out: &mut VecDeque<u8>) -> io::Result<()> {
    let mut reader = io::BufReader::new(file);
    io::Seek::seek(&mut reader, io::SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    reader
        .take(to.saturating_sub(from))
        .read_to_end(&mut bytes)?;
    out.extend(bytes);
    Ok(())
}

impl Iterator for JsonFileReader {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Result<Message>> {
        loop {
            if self.done {
                return None;
            }
            let raw = match &mut self.tailed {
                Some(tailed) => tailed.pop_front().map(Ok).or_else(|| {
                    self.tailed = None;
                    self.segments.clear();
                    self.next_followed()
                }),
                None => self.next_raw().or_else(|| self.next_followed()),
            };
            let (path, line, raw) = match raw? {
                Ok(raw) => raw,
                Err(e) => return Some(Err(e)),
            };
            let msg = match self.decode(&path, line, &raw) {
                Ok(msg) => msg,
                Err(e) => return Some(Err(e)),
            };
            if let Some(since) = self.since {
                if msg.timestamp < since {
                    continue;
                }
                self.since = None;
            }
            if self.until.is_some_and(|until| msg.timestamp > until) {
                self.done = true;
                return None;
            }
            return Some(Ok(msg));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_follower_backs_off_on_an_error_that_repeats() {
        let dir = std::env::temp_dir().join(format!("logdriver-backoff-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c-json.log");
        let log = LogFile::open(path.clone(), None, 1, false).unwrap();
        let follow = ReadConfig {
            follow: true,
            ..ReadConfig::default()
        };
        let mut reader = JsonFileReader::live(&log, &follow).unwrap();
        // The file is rotated away and no new one can be opened: every
        // attempt fails the same way.
        std::fs::remove_file(&path).unwrap();
        log.state.lock().rotations += 1;
        let start = Instant::now();
        for _ in 0..5 {
            assert!(matches!(reader.next(), Some(Err(Error::Io { .. }))));
        }
        // 10 + 20 + 40 + 80 ms of back-off before the 2nd to 5th attempts.
        assert!(start.elapsed() >= Duration::from_millis(150));
        log.close();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
