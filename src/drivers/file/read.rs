//! Reading a file driver's logs back, as Docker's `ReadLogs` does: the
//! rotated files oldest first, then the live file, with tail, since, until
//! and follow. A driver brings its [`Decode`].

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

use flate2::read::MultiGzDecoder;

use super::follow::Follow;
use super::{rotated_path, stamped_files, LogFile, Naming};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::read::ReadConfig;

/// How a driver turns the bytes of one entry (its newline included) back
/// into a message.
pub(crate) trait Decode: Send {
    /// Decodes the entry at `line` of `path`.
    fn decode(&mut self, path: &Path, line: u64, raw: &[u8]) -> Result<Message>;
}

/// A source of entries: a rotated file, or the current one up to a size.
pub(crate) struct Segment {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line: u64,
}

/// The longest entry a reader accepts: 8 MiB. A longer one is corrupt: it
/// is reported and skipped, never held in memory. (The Copier's largest
/// chunk is 1 MiB, and JSON escaping can make it six times longer.)
pub const MAX_ENTRY_BYTES: usize = 8 << 20;

/// The entries of a file driver's log, oldest first, decoded by `D`.
pub(crate) struct FileReader<D> {
    segments: VecDeque<Segment>,
    /// Entries picked by `tail`, decoded lazily.
    tailed: Option<VecDeque<RawEntry>>,
    follow: Option<Follow>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    done: bool,
    decoder: D,
}

impl<D> std::fmt::Debug for FileReader<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("files_left", &self.segments.len())
            .field("following", &self.follow.is_some())
            .finish()
    }
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Opens the file `name`, gzipped or not; `None` if there is none.
fn open_segment(name: PathBuf, gz: bool) -> Result<Option<Segment>> {
    match File::open(&name) {
        Ok(file) => {
            let reader: Box<dyn BufRead + Send> = if gz {
                Box::new(BufReader::new(MultiGzDecoder::new(BufReader::new(file))))
            } else {
                Box::new(BufReader::new(file))
            };
            Ok(Some(Segment {
                path: name,
                reader,
                line: 0,
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&name, e)),
    }
}

/// Opens rotated file `index`, compressed or not; `None` if there is none.
fn open_rotated(path: &Path, index: usize) -> Result<Option<Segment>> {
    for gz in [true, false] {
        if let Some(segment) = open_segment(rotated_path(path, index, gz), gz)? {
            return Ok(Some(segment));
        }
    }
    Ok(None)
}

/// Opens the rotated files of `path`, oldest first: `Numbered` ones up to
/// the first index missing, or to `max_file - 1` when given.
fn rotated_segments(path: &Path, naming: Naming, max_file: Option<usize>) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    match naming {
        Naming::Numbered => {
            let mut index = 1;
            while max_file.is_none_or(|max| index < max) {
                match open_rotated(path, index)? {
                    Some(segment) => segments.push(segment),
                    None if max_file.is_none() => break,
                    None => {}
                }
                index += 1;
            }
            segments.reverse();
        }
        Naming::Stamped => {
            for file in stamped_files(path).map_err(|e| io_error(path, e))? {
                segments.extend(open_segment(file.name(), file.gz)?);
            }
        }
    }
    Ok(segments)
}

/// Opens the `count` newest rotated files of `path`, oldest first, and
/// counts those that are gone.
pub(crate) fn newest_rotated(
    path: &Path,
    naming: Naming,
    count: usize,
) -> Result<(Vec<Segment>, usize)> {
    let mut segments = Vec::new();
    match naming {
        Naming::Numbered => {
            for index in (1..=count).rev() {
                segments.extend(open_rotated(path, index)?);
            }
        }
        Naming::Stamped => {
            let files = stamped_files(path).map_err(|e| io_error(path, e))?;
            for file in &files[files.len().saturating_sub(count)..] {
                segments.extend(open_segment(file.name(), file.gz)?);
            }
        }
    }
    let lost = count - segments.len();
    Ok((segments, lost))
}

impl<D: Decode> FileReader<D> {
    /// A reader of the live `log`: its rotated files and the current one
    /// up to its last complete entry, then (when following) what comes.
    pub(crate) fn live(
        log: &Arc<LogFile>,
        config: &ReadConfig,
        decoder: D,
    ) -> Result<FileReader<D>> {
        // Hold the writer still while the files are listed and opened, so
        // that the names and the current size agree.
        let (mut segments, current, now) = log.hold_still(|now| {
            let bound = (log.naming == Naming::Numbered).then_some(log.max_file);
            let segments: VecDeque<Segment> =
                rotated_segments(&log.path, log.naming, bound)?.into();
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
        FileReader::new(segments, follow, config, decoder)
    }

    /// A reader of the files at `path` alone, as a stopped container left them.
    pub(crate) fn stopped(
        path: &Path,
        naming: Naming,
        config: &ReadConfig,
        decoder: D,
    ) -> Result<FileReader<D>> {
        let mut segments: VecDeque<Segment> = rotated_segments(path, naming, None)?.into();
        let current = File::open(path).map_err(|e| io_error(path, e))?;
        segments.push_back(Segment {
            path: path.to_owned(),
            reader: Box::new(BufReader::new(current)),
            line: 0,
        });
        FileReader::new(segments, None, config, decoder)
    }

    /// Ends a following reader soon after `cancel` is set (within 100 ms).
    pub(crate) fn cancel_on(&mut self, cancel: Arc<AtomicBool>) {
        if let Some(follow) = &mut self.follow {
            follow.cancel_on(cancel);
        }
    }

    fn new(
        segments: VecDeque<Segment>,
        follow: Option<Follow>,
        config: &ReadConfig,
        decoder: D,
    ) -> Result<FileReader<D>> {
        let mut reader = FileReader {
            segments,
            tailed: None,
            follow,
            since: config.since,
            until: config.until,
            done: false,
            decoder,
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
}

/// An entry's bytes, with the file and line it came from.
pub(crate) type RawEntry = (PathBuf, u64, Vec<u8>);

/// The next raw entry of `segments`, dropping those that are read out.
pub(crate) fn next_in(segments: &mut VecDeque<Segment>) -> Option<Result<RawEntry>> {
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

impl<D: Decode> Iterator for FileReader<D> {
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
            let msg = match self.decoder.decode(&path, line, &raw) {
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
