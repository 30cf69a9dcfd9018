//! The log file: appends, rotation as Docker does it, and compression that
//! never stalls the writer.

mod compress;

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

use super::encode::{write_entry, TimeCache};
use crate::message::Message;

/// `<path>.<index>`, or `<path>.<index>.gz` when `gz`.
pub(super) fn rotated_path(path: &Path, index: usize, gz: bool) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{index}"));
    if gz {
        name.push(".gz");
    }
    PathBuf::from(name)
}

/// Removes `path`; one that is already gone is fine.
fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Renames `from` to `to`; a `from` that does not exist is fine.
fn rename(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
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
pub(super) enum AppendError {
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
    /// The encode buffer and time cache, reused for every entry.
    buf: Vec<u8>,
    times: TimeCache,
}

/// A rotated file waiting to be compressed, found by its id wherever
/// rotations have moved it since. A job whose file is removed before its
/// turn is dropped from the list, so the list never holds more jobs than
/// there are rotated files.
struct Job {
    id: u64,
    index: usize,
}

/// The rotated files' names, and the compressions running on them.
#[derive(Default)]
struct Names {
    jobs: Vec<Job>,
    next_id: u64,
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

/// The compressor thread and the queue that feeds it.
type Compressor = (Sender<CompressJob>, JoinHandle<()>);

/// A log file with Docker's rotation, shared by the logger and its readers.
///
/// Its locks are private. The lock order, everywhere: `state`, then
/// `names`, then `compressor`. Readers see the file through
/// [`snapshot`](LogFile::snapshot), [`hold_still`](LogFile::hold_still)
/// and [`wait_change`](LogFile::wait_change).
pub(super) struct LogFile {
    pub(super) path: PathBuf,
    max_size: Option<u64>,
    pub(super) max_file: usize,
    compress: bool,
    /// The writer's side: the open file, its size, its rotations.
    state: Mutex<State>,
    /// The rotated files' compressions, by where rotations moved them.
    names: Mutex<Names>,
    /// Signalled after every write, rotation and close, for followers.
    changed: Condvar,
    compressor: Mutex<Option<Compressor>>,
}

/// Where the live file stands, as a reader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Snapshot {
    /// Bytes of complete entries in the live file.
    pub(super) size: u64,
    /// How many times the live file was rotated away.
    pub(super) rotations: u64,
    /// The logger was closed: nothing more will be written.
    pub(super) closed: bool,
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
    pub(super) fn open(
        path: PathBuf,
        max_size: Option<u64>,
        max_file: usize,
        compress: bool,
    ) -> io::Result<Arc<LogFile>> {
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(Arc::new(LogFile {
            path,
            max_size,
            max_file,
            compress,
            state: Mutex::new(State {
                file: Some(file),
                size,
                rotations: 0,
                last_time: None,
                open_lines: [None; 2],
                closed: false,
                buf: Vec::with_capacity(256),
                times: TimeCache::default(),
            }),
            names: Mutex::new(Names::default()),
            changed: Condvar::new(),
            compressor: Mutex::new(None),
        }))
    }

    /// Encodes `msgs` and appends them, in one `write` per file, rotating
    /// before an entry that finds the file full (see [`State::rotation_due`]).
    /// Each message that is not written is passed to `failed`.
    ///
    /// One message at a time or many, the files come out the same.
    pub(super) fn append(
        self: &Arc<Self>,
        msgs: impl Iterator<Item = Message>,
        attrs: Option<&[u8]>,
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
            if write_entry(&mut buf, &msg, attrs, &mut state.times).is_err() {
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

    /// Moves the full file aside and starts a new one.
    ///
    /// The new file is created first, under a temporary name, so that a
    /// failure to create it (no file descriptors, no space) deletes and
    /// renames nothing: the history is kept and the next write tries again.
    fn rotate(self: &Arc<Self>, state: &mut State) -> io::Result<()> {
        let next = self.rotating_path();
        let file = open_new(&next)?;
        let moved = self
            .shift_rotated(state)
            .and_then(|()| fs::rename(&next, &self.path));
        if let Err(e) = moved {
            let _ = remove(&next);
            return Err(e);
        }
        state.file = Some(file);
        state.size = 0;
        state.rotations += 1;
        state.last_time = None;
        for bytes in state.open_lines.iter_mut().flatten() {
            *bytes = 0;
        }
        Ok(())
    }

    /// Where the next file is created before it takes the path's name.
    fn rotating_path(&self) -> PathBuf {
        let mut name = OsString::from(self.path.as_os_str());
        name.push(".rotating");
        PathBuf::from(name)
    }

    /// Renames `.N` to `.N+1` (dropping the oldest) and the live file to
    /// `.1`, queueing its compression; with `max-file=1`, nothing is kept.
    fn shift_rotated(self: &Arc<Self>, state: &State) -> io::Result<()> {
        if self.max_file < 2 {
            // Nowhere to keep it: Docker drops the file's contents, and the
            // new file's rename replaces it.
            return Ok(());
        }
        let mut names = self.names.lock();
        let last = self.max_file - 1;
        remove(&rotated_path(&self.path, last, false))?;
        remove(&rotated_path(&self.path, last, true))?;
        // A compression of the file just removed has nothing left to do.
        names.jobs.retain(|j| j.index != last);
        for index in (1..last).rev() {
            for gz in [false, true] {
                rename(
                    &rotated_path(&self.path, index, gz),
                    &rotated_path(&self.path, index + 1, gz),
                )?;
            }
        }
        for job in &mut names.jobs {
            job.index += 1;
        }
        rename(&self.path, &rotated_path(&self.path, 1, false))?;
        if self.compress {
            let id = names.next_id;
            names.next_id += 1;
            names.jobs.push(Job { id, index: 1 });
            drop(names);
            self.compress_later(id, state.last_time)?;
        }
        Ok(())
    }

    /// Compression jobs not yet finished: at most one per rotated file.
    #[cfg(test)]
    fn jobs(&self) -> usize {
        self.names.lock().jobs.len()
    }

    /// Where the live file stands now.
    pub(super) fn snapshot(&self) -> Snapshot {
        self.state.lock().snapshot()
    }

    /// Runs `f` with the writer and the rotated files held still, so that
    /// the files `f` opens agree with the snapshot it is given.
    pub(super) fn hold_still<T>(&self, f: impl FnOnce(Snapshot) -> T) -> T {
        let state = self.state.lock();
        let _names = self.names.lock();
        f(state.snapshot())
    }

    /// Waits until the file is no longer as `seen` (a write, a rotation or
    /// a close), or until `timeout` has passed.
    pub(super) fn wait_change(&self, seen: Snapshot, timeout: Option<Duration>) {
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
    pub(super) fn pretend_rotated(&self) {
        self.state.lock().rotations += 1;
    }

    /// Stops the writer, wakes followers, and waits for compressions.
    pub(super) fn close(&self) {
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
mod tests {
    use super::*;
    use crate::message::Source;

    #[test]
    fn a_closed_log_file_holds_no_file_descriptor() {
        let dir = std::env::temp_dir().join(format!("logdriver-closefd-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = LogFile::open(dir.join("c-json.log"), None, 1, false).unwrap();
        assert!(log.state.lock().file.is_some());
        log.close();
        assert!(log.state.lock().file.is_none());
        let mut errors = Vec::new();
        log.append(
            std::iter::once(Message::new(Source::Stdout, "late")),
            None,
            &mut |e| errors.push(e),
        );
        assert!(matches!(errors[..], [AppendError::Closed]));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compression_jobs_are_bounded_by_max_file() {
        let dir = std::env::temp_dir().join(format!("logdriver-jobs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let log = LogFile::open(dir.join("c-json.log"), Some(1), 2, true).unwrap();
        let mut most = 0;
        for _ in 0..5000 {
            let msg = Message::new(Source::Stdout, "x");
            log.append(std::iter::once(msg), None, &mut |e| panic!("{e:?}"));
            most = most.max(log.jobs());
        }
        log.close();
        assert!(most <= 1, "{most} jobs were listed at once");
        assert_eq!(log.jobs(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
