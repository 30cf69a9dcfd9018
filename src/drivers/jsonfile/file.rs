//! The log file: appends, rotation as Docker does it, and compression that
//! never stalls the writer.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::SystemTime;

use crossbeam_channel::Sender;
use flate2::{Compression, GzBuilder};
use parking_lot::{Condvar, Mutex};

use super::encode::{write_entry, TimeCache};
use crate::Message;

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
#[derive(Debug)]
pub(super) enum AppendError {
    Closed,
    /// The time is outside years 0 to 9999.
    Time,
    Io(io::Error),
}

impl From<io::Error> for AppendError {
    fn from(e: io::Error) -> AppendError {
        AppendError::Io(e)
    }
}

/// The writer's side, behind one lock.
pub(super) struct State {
    pub(super) file: File,
    /// Bytes of complete entries in the current file.
    pub(super) size: u64,
    /// How many times the current file was rotated away.
    pub(super) rotations: u64,
    /// The time of the last entry in the current file.
    last_time: Option<SystemTime>,
    pub(super) closed: bool,
    /// The encode buffer and time cache, reused for every entry.
    buf: Vec<u8>,
    times: TimeCache,
}

/// A rotated file being compressed, found by its id wherever rotations
/// have moved it since.
struct Job {
    id: u64,
    index: usize,
    cancelled: bool,
}

/// The rotated files' names, and the compressions running on them.
#[derive(Default)]
pub(super) struct Names {
    jobs: Vec<Job>,
    next_id: u64,
}

/// A compression job: the job's id and the time of the file's last entry.
type CompressJob = (u64, Option<SystemTime>);

/// The compressor thread and the queue that feeds it.
type Compressor = (Sender<CompressJob>, JoinHandle<()>);

/// A log file with Docker's rotation, shared by the logger and its readers.
pub(super) struct LogFile {
    pub(super) path: PathBuf,
    max_size: Option<u64>,
    pub(super) max_file: usize,
    compress: bool,
    /// Lock order: `state`, then `names`.
    pub(super) state: Mutex<State>,
    pub(super) names: Mutex<Names>,
    /// Signalled after every write, rotation and close, for followers.
    pub(super) changed: Condvar,
    compressor: Mutex<Option<Compressor>>,
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
                file,
                size,
                rotations: 0,
                last_time: None,
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
    /// before an entry that finds the file full, as Docker does (so a file
    /// can exceed `max-size` by one entry). Each message that is not
    /// written is passed to `failed`.
    ///
    /// One message at a time or many, the files come out the same.
    pub(super) fn append(
        self: &Arc<Self>,
        mut msgs: impl Iterator<Item = Message>,
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
        let full = |size: u64| self.max_size.is_some_and(|max| size >= max);
        let mut buf = mem::take(&mut state.buf);
        buf.clear();
        // Entries encoded but not yet written, and the last one's time.
        let mut entries = 0;
        let mut last_time = None;
        while let Some(msg) = msgs.next() {
            let start = buf.len();
            if write_entry(&mut buf, &msg, attrs, &mut state.times).is_err() {
                buf.truncate(start);
                failed(AppendError::Time);
                continue;
            }
            // The file is full before this entry: write what precedes it,
            // and rotate.
            if full(state.size + start as u64) {
                let written = self.write_entries(state, &buf[..start], entries, last_time, failed);
                buf.drain(..start);
                entries = 0;
                if written {
                    if let Err(e) = self.rotate(state) {
                        // The file stays full: this entry and the rest fail
                        // as they would one by one.
                        let io = || AppendError::Io(io::Error::new(e.kind(), e.to_string()));
                        failed(io());
                        for _ in msgs.by_ref() {
                            failed(io());
                        }
                        buf.clear();
                        break;
                    }
                }
            }
            entries += 1;
            last_time = Some(msg.timestamp);
        }
        self.write_entries(state, &buf, entries, last_time, failed);
        state.buf = buf;
        drop(guard);
        self.changed.notify_all();
    }

    /// Writes `entries` encoded entries to the current file; on failure,
    /// each one goes to `failed`. Returns whether they were written.
    fn write_entries(
        &self,
        state: &mut State,
        encoded: &[u8],
        entries: usize,
        last_time: Option<SystemTime>,
        failed: &mut dyn FnMut(AppendError),
    ) -> bool {
        if entries == 0 {
            return true;
        }
        match state.file.write_all(encoded) {
            Ok(()) => {
                state.size += encoded.len() as u64;
                state.last_time = last_time;
                true
            }
            Err(e) => {
                for _ in 0..entries {
                    failed(AppendError::Io(io::Error::new(e.kind(), e.to_string())));
                }
                false
            }
        }
    }

    fn rotate(self: &Arc<Self>, state: &mut State) -> io::Result<()> {
        if self.max_file < 2 {
            // Nowhere to keep it: Docker drops the file's contents.
            remove(&self.path)?;
        } else {
            let mut names = self.names.lock();
            let last = self.max_file - 1;
            remove(&rotated_path(&self.path, last, false))?;
            remove(&rotated_path(&self.path, last, true))?;
            for job in names.jobs.iter_mut().filter(|j| j.index == last) {
                job.cancelled = true;
            }
            for index in (1..last).rev() {
                for gz in [false, true] {
                    rename(
                        &rotated_path(&self.path, index, gz),
                        &rotated_path(&self.path, index + 1, gz),
                    )?;
                }
            }
            for job in names.jobs.iter_mut().filter(|j| !j.cancelled) {
                job.index += 1;
            }
            rename(&self.path, &rotated_path(&self.path, 1, false))?;
            if self.compress {
                let id = names.next_id;
                names.next_id += 1;
                names.jobs.push(Job {
                    id,
                    index: 1,
                    cancelled: false,
                });
                drop(names);
                self.compress_later(id, state.last_time)?;
            }
        }
        state.file = open_new(&self.path)?;
        state.size = 0;
        state.rotations += 1;
        state.last_time = None;
        Ok(())
    }

    /// Hands a rotated file to the compressor thread, starting it if needed.
    fn compress_later(self: &Arc<Self>, id: u64, last_time: Option<SystemTime>) -> io::Result<()> {
        let mut compressor = self.compressor.lock();
        if compressor.is_none() {
            let (tx, rx) = crossbeam_channel::unbounded::<CompressJob>();
            // The thread holds a weak handle: it must not keep the file open.
            let file = Arc::downgrade(self);
            let thread = thread::Builder::new()
                .name("logdriver-json-file-gzip".into())
                .spawn(move || {
                    for (id, last_time) in rx {
                        if let Some(file) = file.upgrade() {
                            // A failed compression leaves the plain file in place.
                            let _ = file.compress(id, last_time);
                        }
                    }
                })?;
            *compressor = Some((tx, thread));
        }
        let (tx, _) = compressor.as_ref().expect("started above");
        let _ = tx.send((id, last_time));
        Ok(())
    }

    /// Compresses the rotated file of job `id` into `.N.gz`, then removes
    /// the plain file. Only the final renames hold the names lock.
    fn compress(&self, id: u64, last_time: Option<SystemTime>) -> io::Result<()> {
        let source = {
            let names = self.names.lock();
            let Some(job) = names.jobs.iter().find(|j| j.id == id && !j.cancelled) else {
                return Ok(());
            };
            File::open(rotated_path(&self.path, job.index, false))?
        };
        let mut tmp_name = OsString::from(self.path.as_os_str());
        tmp_name.push(format!(".compressing-{id}"));
        let tmp = PathBuf::from(tmp_name);
        let written = (|| {
            let mut extra = b"{\"lastTime\":\"".to_vec();
            if let Some(t) = last_time {
                super::encode::write_time(&mut extra, t)
                    .map_err(|_| io::Error::other("time out of range"))?;
            }
            extra.extend_from_slice(b"\"}");
            let mut gz = GzBuilder::new()
                .extra(extra)
                .write(open_new(&tmp)?, Compression::default());
            io::copy(&mut io::BufReader::new(source), &mut gz)?;
            gz.finish()?.sync_all()
        })();
        let mut names = self.names.lock();
        let job = names
            .jobs
            .iter()
            .position(|j| j.id == id)
            .map(|i| names.jobs.remove(i));
        match (written, job) {
            (Ok(()), Some(job)) if !job.cancelled => {
                fs::rename(&tmp, rotated_path(&self.path, job.index, true))?;
                remove(&rotated_path(&self.path, job.index, false))
            }
            (written, _) => {
                remove(&tmp)?;
                written
            }
        }
    }

    /// Stops the writer, wakes followers, and waits for compressions.
    pub(super) fn close(&self) {
        let mut state = self.state.lock();
        if std::mem::replace(&mut state.closed, true) {
            return;
        }
        drop(state);
        self.changed.notify_all();
        let compressor = self.compressor.lock().take();
        if let Some((tx, thread)) = compressor {
            drop(tx);
            let _ = thread.join();
        }
    }
}
