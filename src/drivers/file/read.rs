//! Reading a file driver's logs back, as Docker's `ReadLogs` does: the
//! rotated files oldest first, then the live file, with tail, since, until
//! and follow. A driver brings its [`Decode`].

use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

use super::follow::Follow;
use super::segment::{
    body, io_error, last_entries, next_in, rotated_segments, tail_backwards, Framing, RawEntry,
    Segment,
};
use super::{LogFile, Naming};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::read::ReadConfig;

/// How a driver turns the bytes of one entry back into a message.
pub(crate) trait Decode: Send {
    /// How entries are told apart in the driver's files.
    const FRAMING: Framing = Framing::Lines;

    /// Decodes the entry at `line` of `path`: its bytes with its newline
    /// (`Lines`), or without its lengths (`Lengths`).
    fn decode(&mut self, path: &Path, line: u64, raw: &[u8]) -> Result<Message>;
}

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
        segments.push_back(Segment::plain(log.path.clone(), reader, size)?);
        let follow = config
            .follow
            .then(|| Follow::new(Arc::clone(log), current, size, rotations, D::FRAMING));
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
        let len = current.metadata().map_err(|e| io_error(path, e))?.len();
        segments.push_back(Segment::plain(path.to_owned(), current, len)?);
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
        match (config.tail, D::FRAMING) {
            (None, _) => {}
            (Some(n), Framing::Lengths) => tail_backwards(&mut reader.segments, n, D::FRAMING)?,
            (Some(n), Framing::Lines) => {
                // Only what holds the last `n` lines is read; of it, the
                // last `n` raw entries are kept (a line too long to read
                // is skipped), and only those decoded.
                tail_backwards(&mut reader.segments, n, D::FRAMING)?;
                reader.tailed = Some(last_entries(&mut reader.segments, D::FRAMING, n)?);
            }
        }
        Ok(reader)
    }

    /// The next raw entry of the files, with where it came from.
    fn next_raw(&mut self) -> Option<Result<RawEntry>> {
        next_in(&mut self.segments, D::FRAMING)
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
            let msg = match self.decoder.decode(&path, line, body(&raw, D::FRAMING)) {
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
