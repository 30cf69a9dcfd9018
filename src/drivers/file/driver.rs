//! What every file driver does the same way: append through its
//! [`LogFile`], count what it wrote, and let readers in this process find
//! the live file by its path.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use super::{AppendError, Encode, LogFile, Rotation};
use crate::drivers::util::Counters;
use crate::error::{Error, Result};
use crate::info::Info;
use crate::logger::LoggerStats;
use crate::message::Message;
use crate::read::LogStream;

/// A file driver's writing side.
pub(crate) struct FileDriver {
    pub(crate) log: Arc<LogFile>,
    name: &'static str,
    /// What `stats` reports: entries written, their lines' bytes, failures.
    counts: Counters,
}

impl FileDriver {
    /// Opens (or creates) `info.log_path` for appending, and lists it as live.
    pub(crate) fn open(
        name: &'static str,
        info: &Info,
        rotation: Rotation,
        encoder: Box<dyn Encode>,
    ) -> Result<FileDriver> {
        let path = info.log_path.clone().ok_or_else(|| Error::MissingLogPath {
            driver: name.to_owned(),
        })?;
        let log = LogFile::open(path.clone(), rotation, encoder).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        live().lock().insert(path, Arc::downgrade(&log));
        Ok(FileDriver {
            log,
            name,
            counts: Counters::default(),
        })
    }

    /// Appends `msg` in one `write`.
    pub(crate) fn log(&self, msg: Message) -> Result<()> {
        let mut result = Ok(());
        let bytes = msg.line.len() as u64;
        self.log
            .append(std::iter::once(msg), &mut |e| result = Err(self.error(e)));
        self.count(1, bytes, u64::from(result.is_err()));
        result
    }

    /// Appends the batch in one `write` per file.
    pub(crate) fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
        let (lines, bytes) = (
            batch.len() as u64,
            batch.iter().map(|m| m.line.len() as u64).sum::<u64>(),
        );
        let mut errors = 0;
        self.log.append(batch.drain(..), &mut |e| {
            errors += 1;
            failed(self.error(e))
        });
        // Which entries failed is not known here: their lines are counted
        // exactly, their bytes as if written.
        self.count(lines, bytes, errors);
    }

    pub(crate) fn stats(&self) -> LoggerStats {
        self.counts.stats()
    }

    /// Counts `lines` entries of `bytes`, `errors` of which failed.
    fn count(&self, lines: u64, bytes: u64, errors: u64) {
        if errors < lines {
            self.counts.sent(lines - errors, bytes);
        }
        if errors > 0 {
            self.counts.failed(errors);
        }
    }

    fn error(&self, e: AppendError) -> Error {
        match e {
            AppendError::Closed => Error::closed(self.name),
            AppendError::Time => Error::driver(self.name, "time is outside years 0 to 9999"),
            AppendError::Io(e) => {
                Error::driver(self.name, format!("{}: {e}", self.log.path.display()))
            }
        }
    }
}

impl Drop for FileDriver {
    fn drop(&mut self) {
        self.log.close();
        let mut live = live().lock();
        if live
            .get(&self.log.path)
            .is_some_and(|w| w.ptr_eq(&Arc::downgrade(&self.log)))
        {
            live.remove(&self.log.path);
        }
    }
}

/// The files that a file driver of this process is writing, by path.
fn live() -> &'static Mutex<HashMap<PathBuf, Weak<LogFile>>> {
    static LIVE: OnceLock<Mutex<HashMap<PathBuf, Weak<LogFile>>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// The live file at `path`, if a driver of this process is writing it.
pub(crate) fn live_file(path: &Path) -> Option<Arc<LogFile>> {
    live().lock().get(path).and_then(Weak::upgrade)
}

/// A [`LogStream`] over a file driver's reader, made by `open` with the
/// flag that stopping the stream sets: a follower ends within 100 ms.
pub(crate) fn stoppable<R>(open: impl FnOnce(Arc<AtomicBool>) -> Result<R>) -> Result<LogStream>
where
    R: Iterator<Item = Result<Message>> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let reader = open(Arc::clone(&stop))?;
    Ok(LogStream::new(reader).on_stop(move || stop.store(true, Ordering::SeqCst)))
}
