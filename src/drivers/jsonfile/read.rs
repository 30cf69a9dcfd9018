//! Reading json-file logs back: Docker's `ReadLogs`, as an iterator.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

use flate2::read::MultiGzDecoder;
use serde::Deserialize;

use super::file::{rotated_path, LogFile};
use super::follow::Follow;
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
pub(super) struct Segment {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line: u64,
}

/// The longest entry a reader accepts: 8 MiB. A longer one is corrupt: it
/// is reported and skipped, never held in memory. (The Copier's largest
/// chunk is 1 MiB, and JSON escaping can make it six times longer.)
pub const MAX_ENTRY_BYTES: usize = 8 << 20;

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

pub(super) fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Opens rotated file `index`, compressed or not; `None` if there is none.
pub(super) fn open_rotated(path: &Path, index: usize) -> Result<Option<Segment>> {
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
        let (mut segments, current, now) = log.hold_still(|now| {
            let mut segments = VecDeque::new();
            for index in (1..log.max_file).rev() {
                segments.extend(open_rotated(&log.path, index)?);
            }
            let current = File::open(&log.path).map_err(|e| io_error(&log.path, e))?;
            Ok::<_, Error>((segments, current, now))
        })?;
        let (size, rotations) = (now.size, now.rotations);
        let reader = current.try_clone().map_err(|e| io_error(&log.path, e))?;
        segments.push_back(Segment {
            path: log.path.clone(),
            reader: Box::new(BufReader::new(reader.take(size))),
            line: 0,
        });
        let follow = config
            .follow
            .then(|| Follow::new(Arc::clone(log), current, size, rotations));
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
            follow.cancel_on(cancel);
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
        let next = self.follow.as_mut()?.next(self.until);
        if next.is_none() {
            self.follow = None;
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

/// An entry's bytes, with the file and line it came from.
pub(super) type RawEntry = (PathBuf, u64, Vec<u8>);

/// The next raw entry of `segments`, dropping those that are read out.
pub(super) fn next_in(segments: &mut VecDeque<Segment>) -> Option<Result<RawEntry>> {
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
