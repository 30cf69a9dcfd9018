//! The file engine: one [`FileLogger`] over a [`Format`] (json-file,
//! k8s-file or local). It appends in one `write`, rotates with Docker's or
//! the kubelet's names, compresses without stalling the writer, and reads
//! back with tail, since, until and follow.
//!
//! Use the formats' own names, [`JsonFileLogger`], [`K8sFileLogger`] and
//! [`LocalLogger`]; this module is where their shared methods are
//! documented.
//!
//! [`JsonFileLogger`]: crate::drivers::jsonfile::JsonFileLogger
//! [`K8sFileLogger`]: crate::drivers::k8sfile::K8sFileLogger
//! [`LocalLogger`]: crate::drivers::local::LocalLogger

mod compress;
pub(crate) mod driver;
pub(crate) mod follow;
pub(crate) mod logger;
mod moves;
mod naming;
pub(crate) mod options;
pub(crate) mod read;
mod rotate;
pub(crate) mod segment;

pub use logger::{read_logs, FileLogReader, FileLogger, Format};

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

use crate::message::Message;
use crate::time::YearOutOfRange;
pub(crate) use naming::{rotated_path, stamped_files, with_suffix, Naming};
use rotate::Names;

/// How a driver turns a message into the bytes of its entry.
pub(crate) trait Encode: Send {
    /// Appends the entry for `msg` to `out`. On error, the caller drops
    /// whatever was appended.
    fn encode(&mut self, out: &mut Vec<u8>, msg: &Message) -> Result<(), YearOutOfRange>;
}

/// Removes `path`; one that is already gone is fine.
fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn open_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
    options.open(path)
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
    options.open(path)
}

/// Why an entry was not written.
#[derive(Debug, Clone)]
pub(crate) enum AppendError {
    Closed,
    /// The time is outside years 0 to 9999.
    Time,
    /// The write or the rotation before it failed; shared by every entry
    /// it cost.
    Io(Arc<io::Error>),
}

/// The writer's side, behind one lock.
struct State {
    /// The live file; `None` once closed, so that a closed logger holds no
    /// file descriptor.
    file: Option<File>,
    /// Bytes of complete entries in the current file.
    size: u64,
    /// How many times the current file was rotated away.
    rotations: u64,
    /// The time of the last entry in the current file.
    last_time: Option<SystemTime>,
    /// Per stream, the bytes that its line in progress (a chunk without
    /// `last` was written) has put in the current file; `None` when the
    /// stream's last entry ended its line. Rotation waits for these.
    open_lines: [Option<u64>; 2],
    closed: bool,
    /// The encode buffer, reused for every entry.
    buf: Vec<u8>,
    encoder: Box<dyn Encode>,
}

/// A compression job: the job's id and the time of the file's last entry.
type CompressJob = (u64, Option<SystemTime>);

/// Entries encoded for one `write`, not yet written.
struct Pending {
    entries: usize,
    last_time: Option<SystemTime>,
    /// The streams' lines in progress once these entries are written; see
    /// `State::open_lines`.
    open_lines: [Option<u64>; 2],
}

impl Pending {
    /// Nothing yet, after what the file holds.
    fn after(state: &State) -> Pending {
        Pending {
            entries: 0,
            last_time: None,
            open_lines: state.open_lines,
        }
    }

    fn add(&mut self, msg: &Message, size: u64) {
        self.entries += 1;
        self.last_time = Some(msg.timestamp);
        let line = &mut self.open_lines[msg.source as usize];
        *line = match &msg.partial {
            Some(p) if !p.last => {
                let before = if p.ordinal > 1 { line.unwrap_or(0) } else { 0 };
                Some(before + size)
            }
            _ => None,
        };
    }
}

/// When and how a [`LogFile`] rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rotation {
    /// Rotate once the file has reached this size; `None`: never.
    pub(crate) max_size: Option<u64>,
    /// Files kept, the live one included.
    pub(crate) max_file: usize,
    /// Gzip rotated files.
    pub(crate) compress: bool,
    pub(crate) naming: Naming,
}

/// The compressor thread and the queue that feeds it.
type Compressor = (Sender<CompressJob>, JoinHandle<()>);

/// A log file with rotation, shared by the logger and its readers.
///
/// Its locks are private. The lock order, everywhere: `state`, then
/// `names`, then `compressor`. Readers see the file through
/// [`snapshot`](LogFile::snapshot), [`hold_still`](LogFile::hold_still)
/// and [`wait_change`](LogFile::wait_change).
pub(crate) struct LogFile {
    pub(crate) path: PathBuf,
    max_size: Option<u64>,
    pub(crate) max_file: usize,
    compress: bool,
    pub(crate) naming: Naming,
    /// The writer's side: the open file, its size, its rotations.
    state: Mutex<State>,
    /// The rotated files' compressions, by where rotations moved them.
    names: Mutex<Names>,
    /// Signalled after every write, rotation and close, for followers.
    changed: Condvar,
    compressor: Mutex<Option<Compressor>>,
    /// For tests: the rename of the next rotation that fails.
    #[cfg(test)]
    fail_rename_at: Mutex<Option<usize>>,
    /// For tests: the compressor thread cannot start.
    #[cfg(test)]
    fail_spawn: std::sync::atomic::AtomicBool,
}

/// Where the live file stands, as a reader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// Bytes of complete entries in the live file.
    pub(crate) size: u64,
    /// How many times the live file was rotated away.
    pub(crate) rotations: u64,
    /// The logger was closed: nothing more will be written.
    pub(crate) closed: bool,
}

impl State {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            size: self.size,
            rotations: self.rotations,
            closed: self.closed,
        }
    }
}

impl LogFile {
    pub(crate) fn open(
        path: PathBuf,
        rotation: Rotation,
        encoder: Box<dyn Encode>,
    ) -> io::Result<Arc<LogFile>> {
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        let Rotation {
            max_size,
            max_file,
            compress,
            naming,
        } = rotation;
        Ok(Arc::new(LogFile {
            path,
            max_size,
            max_file,
            compress,
            naming,
            state: Mutex::new(State {
                file: Some(file),
                size,
                rotations: 0,
                last_time: None,
                open_lines: [None; 2],
                closed: false,
                buf: Vec::with_capacity(256),
                encoder,
            }),
            names: Mutex::new(Names::default()),
            changed: Condvar::new(),
            compressor: Mutex::new(None),
            #[cfg(test)]
            fail_rename_at: Mutex::new(None),
            #[cfg(test)]
            fail_spawn: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Encodes `msgs` and appends them, in one `write` per file, rotating
    /// before an entry that finds the file full (see [`State::rotation_due`]).
    /// Each message that is not written is passed to `failed`.
    ///
    /// One message at a time or many, the files come out the same.
    pub(crate) fn append(
        self: &Arc<Self>,
        msgs: impl Iterator<Item = Message>,
        failed: &mut dyn FnMut(AppendError),
    ) {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if state.closed {
            for _ in msgs {
                failed(AppendError::Closed);
            }
            return;
        }
        let mut buf = mem::take(&mut state.buf);
        buf.clear();
        // Entries encoded but not yet written: their count, the last one's
        // time, and the line-progress they make per stream.
        let mut pending = Pending::after(state);
        for msg in msgs {
            let start = buf.len();
            if state.encoder.encode(&mut buf, &msg).is_err() {
                buf.truncate(start);
                failed(AppendError::Time);
                continue;
            }
            let size = (buf.len() - start) as u64;
            // The file is full before this entry: write what precedes it,
            // and rotate. A failed rotation leaves every file as it was;
            // this entry fails, and the next one tries again.
            if self.rotation_due(state, &pending, start as u64) {
                let written = self.write_entries(state, &buf[..start], &pending, failed);
                buf.drain(..start);
                if written {
                    if let Err(e) = self.rotate(state) {
                        buf.clear();
                        pending = Pending::after(state);
                        failed(AppendError::Io(Arc::new(e)));
                        continue;
                    }
                }
                pending = Pending::after(state);
            }
            pending.add(&msg, size);
        }
        self.write_entries(state, &buf, &pending, failed);
        state.buf = buf;
        drop(guard);
        self.changed.notify_all();
    }

    /// Whether the file must rotate before an entry that follows `pending`
    /// (`unwritten` bytes of them).
    ///
    /// The file must have reached `max-size`. Rotation then waits for
    /// every stream's line in progress to end, so that no file begins in
    /// the middle of a line, unless that line has put `max-size` bytes in
    /// the file already, or the file has reached twice `max-size` (a
    /// stream that stopped in the middle of a line cannot hold rotation
    /// off for ever). So a file grows past `max-size` by at most
    /// `max-size` plus one entry.
    fn rotation_due(&self, state: &State, pending: &Pending, unwritten: u64) -> bool {
        let Some(max) = self.max_size else {
            return false;
        };
        let size = state.size.saturating_add(unwritten);
        if size < max {
            return false;
        }
        let lines = pending.open_lines;
        size >= max.saturating_mul(2) || lines.iter().flatten().all(|&bytes| bytes >= max)
    }

    /// Writes the encoded `pending` entries to the current file; on
    /// failure, each one goes to `failed`. Returns whether they were written.
    fn write_entries(
        &self,
        state: &mut State,
        encoded: &[u8],
        pending: &Pending,
        failed: &mut dyn FnMut(AppendError),
    ) -> bool {
        if pending.entries == 0 {
            return true;
        }
        let written = match state.file.as_mut() {
            Some(file) => file.write_all(encoded),
            None => Err(io::Error::other("the log file is closed")),
        };
        match written {
            Ok(()) => {
                state.size += encoded.len() as u64;
                state.last_time = pending.last_time;
                state.open_lines = pending.open_lines;
                true
            }
            Err(e) => {
                let e = AppendError::Io(Arc::new(e));
                for _ in 0..pending.entries {
                    failed(e.clone());
                }
                false
            }
        }
    }

    /// Opens the path again, for a runtime whose kubelet renamed the file
    /// (CRI `ReopenContainerLog`): entries written so far are in the
    /// renamed file, the next ones go to a new file at the path. Followers
    /// finish the old file, then follow the new one. A path that still
    /// names the open file (the same device and inode: nothing renamed
    /// it) is no rotation, and changes nothing.
    pub(crate) fn reopen(&self) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let mut state = self.state.lock();
        if state.closed {
            return Err(io::Error::other("the log file is closed"));
        }
        let file = open_append(&self.path)?;
        let meta = file.metadata()?;
        let same = |open: &File| {
            open.metadata()
                .is_ok_and(|m| (m.dev(), m.ino()) == (meta.dev(), meta.ino()))
        };
        if state.file.as_ref().is_some_and(same) {
            return Ok(());
        }
        state.size = meta.len();
        state.file = Some(file);
        state.rotations += 1;
        state.last_time = None;
        for bytes in state.open_lines.iter_mut().flatten() {
            *bytes = 0;
        }
        drop(state);
        self.changed.notify_all();
        Ok(())
    }

    /// Compression jobs not yet finished: at most one per rotated file.
    #[cfg(test)]
    fn jobs(&self) -> usize {
        self.names.lock().jobs.len()
    }

    /// Where the live file stands now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.state.lock().snapshot()
    }

    /// Runs `f` with the writer and the rotated files held still, so that
    /// the files `f` opens agree with the snapshot it is given.
    pub(crate) fn hold_still<T>(&self, f: impl FnOnce(Snapshot) -> T) -> T {
        let state = self.state.lock();
        let _names = self.names.lock();
        f(state.snapshot())
    }

    /// Waits until the file is no longer as `seen` (a write, a rotation or
    /// a close), or until `timeout` has passed.
    pub(crate) fn wait_change(&self, seen: Snapshot, timeout: Option<Duration>) {
        let mut state = self.state.lock();
        if state.snapshot() != seen {
            return;
        }
        match timeout {
            None => self.changed.wait(&mut state),
            Some(timeout) => {
                self.changed.wait_for(&mut state, timeout);
            }
        }
    }

    /// Counts a rotation that did not happen, for readers' tests.
    #[cfg(test)]
    pub(crate) fn pretend_rotated(&self) {
        self.state.lock().rotations += 1;
    }

    /// Stops the writer, wakes followers, and waits for compressions.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        if std::mem::replace(&mut state.closed, true) {
            return;
        }
        state.file = None;
        drop(state);
        self.changed.notify_all();
        let compressor = self.compressor.lock().take();
        if let Some((tx, thread)) = compressor {
            drop(tx);
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests;
