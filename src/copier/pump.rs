//! [`Pump`]: many sources on one poller thread and a few delivery threads
//! (feature `pump`), for a process that serves thousands of containers.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use parking_lot::{Condvar, Mutex};

use super::lines::{LineCutter, READ_SIZE};
use super::sink::Delivery;
use super::{chunk_size, CopyStats};
use crate::error::{Error, Result};
use crate::logger::Logger;
use crate::message::Source;

/// The threads that call the drivers. A source whose driver is stuck holds
/// one of them; the others go on serving every other source.
const WORKERS: usize = 4;

/// Reads of one source per turn, before the others get theirs.
const READS_PER_TURN: usize = 4;

/// Read buffers kept for reuse; past it, a buffer a driver gave back is
/// freed.
const POOL: usize = 4 * WORKERS;

/// The poller's token that wakes it to stop.
const STOP: Token = Token(usize::MAX);

/// Reads many pipes at once and hands each one's lines to its own driver,
/// with the Copier's line law, counts and survival of a driver's errors
/// and panics.
///
/// One thread waits on every source with epoll (through `mio`) and four
/// threads call the drivers: a process that serves
/// thousands of containers pays five threads, not two per container.
///
/// - **Isolation.** While a source's lines are with its driver, the pump
///   does not read that source: its pipe fills and only its container
///   waits, as in blocking mode. The other sources go on, on the other
///   delivery threads (so up to three stuck drivers at once slow no one
///   else; put a driver that may hang in `mode=non-blocking`).
/// - **No memory for idle sources.** Reads go into 64 KiB buffers from a
///   bounded pool, which go back to it once the driver has let go of the
///   lines; a source holds a buffer only while a line of it waits for its
///   newline (then 16 KiB, or its chunk size).
///
/// The Copier stays the simpler choice for a handful of streams (the Docker
/// plugin and the containerd logger use it); `Pump` is for a process that
/// serves many.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::sync::Arc;
/// use logdriver::{drivers::none::NoneLogger, Pump, Source};
///
/// let pump = Pump::new()?;
/// let (reader, mut writer) = std::io::pipe()?;
/// let source = pump.add(Source::Stdout, reader.into(), Arc::new(NoneLogger))?;
/// writer.write_all(b"one\ntwo\n")?;
/// drop(writer); // the end of the stream
/// let stats = source.wait();
/// assert_eq!(stats.lines, 2);
/// pump.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pump {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Pump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pump")
            .field("sources", &self.shared.sources.lock().len())
            .finish()
    }
}

/// What the poller, the delivery threads and the handles share.
struct Shared {
    registry: Registry,
    waker: Waker,
    sources: Mutex<HashMap<usize, Arc<Entry>>>,
    next_key: AtomicUsize,
    pool: Mutex<Vec<BytesMut>>,
    jobs: Sender<usize>,
    stopping: AtomicBool,
}

/// One source.
struct Entry {
    key: usize,
    state: Mutex<State>,
    /// The counts, as of the last turn.
    stats: Mutex<CopyStats>,
    ended: Mutex<bool>,
    ended_changed: Condvar,
    closed: AtomicBool,
    /// A turn is queued or running: readiness that comes meanwhile only
    /// sets `again`. Readiness is edge-triggered, so the turn that ends
    /// checks `again` before the source rests.
    busy: AtomicBool,
    again: AtomicBool,
}

/// A source's reading and delivering state, used by one delivery thread
/// at a time.
struct State {
    /// `None` once the source ended.
    file: Option<File>,
    cutter: LineCutter,
    to: Delivery,
}

/// One source of a [`Pump`]: its counts, and a way to end it.
pub struct PumpSource {
    entry: Arc<Entry>,
    shared: Arc<Shared>,
}

impl fmt::Debug for PumpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PumpSource")
            .field("stats", &self.stats())
            .field("ended", &*self.entry.ended.lock())
            .finish()
    }
}

impl Pump {
    /// A pump with no sources, and its threads started.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the poller cannot be made, [`Error::Spawn`] when a
    /// thread cannot start.
    pub fn new() -> Result<Pump> {
        let epoll = |source| Error::Io {
            path: "epoll".into(),
            source,
        };
        let poll = Poll::new().map_err(epoll)?;
        let registry = poll.registry().try_clone().map_err(epoll)?;
        let waker = Waker::new(poll.registry(), STOP).map_err(epoll)?;
        let (jobs, work) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            registry,
            waker,
            sources: Mutex::new(HashMap::new()),
            next_key: AtomicUsize::new(0),
            pool: Mutex::new(Vec::new()),
            jobs,
            stopping: AtomicBool::new(false),
        });
        let mut pump = Pump {
            shared,
            threads: Vec::new(),
        };
        let poller = {
            let shared = Arc::clone(&pump.shared);
            spawn("logdriver-pump-poll", move || shared.poll(poll))?
        };
        pump.threads.push(poller);
        for i in 0..WORKERS {
            let (shared, work): (_, Receiver<usize>) = (Arc::clone(&pump.shared), work.clone());
            let worker = spawn(&format!("logdriver-pump-{i}"), move || {
                for key in work.iter().take_while(|&key| key != STOP.0) {
                    shared.turn(key);
                }
            });
            match worker {
                Ok(thread) => pump.threads.push(thread),
                Err(e) => {
                    pump.stop();
                    return Err(e);
                }
            }
        }
        Ok(pump)
    }

    /// Starts reading `fd` (a pipe's read end, say) as `source`'s stream
    /// into `logger`. The pump owns `fd` from now on, sets it
    /// non-blocking, and closes it when the source ends: at its end of
    /// stream, or at [`PumpSource::close`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `fd` cannot be made non-blocking or watched.
    pub fn add(&self, source: Source, fd: OwnedFd, logger: Arc<dyn Logger>) -> Result<PumpSource> {
        let raw = fd.as_raw_fd();
        let io = |source| Error::Io {
            path: format!("fd {raw}").into(),
            source,
        };
        let flags = nix::fcntl::fcntl(&fd, nix::fcntl::F_GETFL).map_err(|e| io(e.into()))?;
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&fd, nix::fcntl::F_SETFL(flags)).map_err(|e| io(e.into()))?;
        let key = self.shared.next_key.fetch_add(1, Ordering::Relaxed);
        let chunk = chunk_size(None, &*logger);
        let file = File::from(fd);
        let entry = Arc::new(Entry {
            key,
            state: Mutex::new(State {
                file: None,
                cutter: LineCutter::new(source, chunk),
                to: Delivery::new(source, logger, None),
            }),
            stats: Mutex::new(CopyStats::default()),
            ended: Mutex::new(false),
            ended_changed: Condvar::new(),
            closed: AtomicBool::new(false),
            // Busy until registered: data already in the pipe is read by
            // the first turn, queued below.
            busy: AtomicBool::new(true),
            again: AtomicBool::new(false),
        });
        self.shared
            .registry
            .register(
                &mut SourceFd(&file.as_raw_fd()),
                Token(key),
                Interest::READABLE,
            )
            .map_err(io)?;
        entry.state.lock().file = Some(file);
        self.shared.sources.lock().insert(key, Arc::clone(&entry));
        let _ = self.shared.jobs.send(key);
        Ok(PumpSource {
            entry,
            shared: Arc::clone(&self.shared),
        })
    }

    /// Closes every source (their held bytes are delivered, as at the end
    /// of a stream), waits for them to end, and stops the threads.
    pub fn shutdown(mut self) {
        let entries: Vec<Arc<Entry>> = self.shared.sources.lock().values().cloned().collect();
        for entry in &entries {
            entry.closed.store(true, Ordering::SeqCst);
            self.shared.schedule(entry);
        }
        for entry in &entries {
            entry.wait();
        }
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = self.shared.waker.wake();
        // Each worker ends at the first stop it takes.
        for _ in 0..WORKERS {
            let _ = self.shared.jobs.send(STOP.0);
        }
        for thread in self.threads.drain(..) {
            if thread.thread().id() == thread::current().id() {
                continue;
            }
            let _ = thread.join();
        }
    }
}

impl Drop for Pump {
    /// Stops the threads; sources still open are left unread.
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shared.stopping.store(true, Ordering::SeqCst);
            let _ = self.shared.waker.wake();
            for _ in 0..WORKERS {
                let _ = self.shared.jobs.send(STOP.0);
            }
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|source| Error::Spawn {
            thread: name.to_owned(),
            source,
        })
}

impl Shared {
    /// The poller thread: hands each ready source to a delivery thread,
    /// unless a turn of it is queued or running already, so that one
    /// source is never on two threads at once.
    fn poll(self: Arc<Self>, mut poll: Poll) {
        let mut events = Events::with_capacity(1024);
        while !self.stopping.load(Ordering::SeqCst) {
            if poll.poll(&mut events, None).is_err() {
                continue;
            }
            for event in events.iter() {
                let key = event.token().0;
                if event.token() == STOP {
                    continue;
                }
                let entry = self.sources.lock().get(&key).cloned();
                if let Some(entry) = entry {
                    self.schedule(&entry);
                }
            }
        }
    }

    /// Queues a turn of `entry`, or, if one is queued or running, asks it
    /// to look again before it rests.
    fn schedule(&self, entry: &Entry) {
        if entry.busy.swap(true, Ordering::AcqRel) {
            entry.again.store(true, Ordering::Release);
        } else {
            let _ = self.jobs.send(entry.key);
        }
    }

    /// One source's turn, on a delivery thread: read what is there (a few
    /// reads at most), cut, deliver, then watch the source again, or end it.
    fn turn(&self, key: usize) {
        let Some(entry) = self.sources.lock().get(&key).cloned() else {
            return;
        };
        let mut state = entry.state.lock();
        let State { file, cutter, to } = &mut *state;
        let Some(reading) = file.as_mut() else {
            return; // ended already
        };
        let mut end = entry.closed.load(Ordering::SeqCst);
        let mut drained = false;
        entry.again.store(false, Ordering::Release);
        let mut spent: Vec<Bytes> = Vec::new();
        for _ in 0..READS_PER_TURN {
            if end {
                break;
            }
            let mut buf = self.buffer();
            match reading.read(&mut buf) {
                Ok(0) => {
                    self.give_back(buf);
                    end = true;
                }
                Ok(n) => {
                    to.stats.bytes += n as u64;
                    let data = buf.freeze();
                    cutter.push(&data.slice(..n), SystemTime::now(), &mut |msg| {
                        to.send_guarded(msg)
                    });
                    spent.push(data);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.give_back(buf);
                    drained = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.give_back(buf),
                Err(_) => {
                    self.give_back(buf);
                    to.stats.read_errors += 1;
                    end = true;
                }
            }
        }
        if end {
            cutter.finish(&mut |msg| to.send_guarded(msg));
        }
        to.deliver();
        *entry.stats.lock() = to.stats;
        // Buffers whose lines the driver let go of go back to the pool.
        for data in spent {
            if let Ok(buf) = data.try_into_mut() {
                self.give_back(buf);
            }
        }
        if end {
            if let Some(file) = file.take() {
                let _ = self.registry.deregister(&mut SourceFd(&file.as_raw_fd()));
            }
            drop(state);
            self.sources.lock().remove(&key);
            *entry.ended.lock() = true;
            entry.ended_changed.notify_all();
            return;
        }
        cutter.release();
        drop(state);
        // Not drained (its reads for this turn are used up): another turn,
        // after the others. Drained: it rests until readiness comes, which
        // may have come during this turn.
        if !drained {
            let _ = self.jobs.send(key);
            return;
        }
        entry.busy.store(false, Ordering::Release);
        if entry.again.swap(false, Ordering::AcqRel) || entry.closed.load(Ordering::SeqCst) {
            self.schedule(&entry);
        }
    }

    /// A read buffer of [`READ_SIZE`] bytes, from the pool if it has one.
    fn buffer(&self) -> BytesMut {
        self.pool
            .lock()
            .pop()
            .unwrap_or_else(|| BytesMut::zeroed(READ_SIZE))
    }

    /// Keeps `buf` for the next read, if the pool has room; a whole buffer
    /// comes back whole, so it is not zeroed again.
    fn give_back(&self, buf: BytesMut) {
        let mut pool = self.pool.lock();
        if pool.len() < POOL && buf.len() == READ_SIZE {
            pool.push(buf);
        }
    }
}

impl Entry {
    fn wait(&self) -> CopyStats {
        let mut ended = self.ended.lock();
        while !*ended {
            self.ended_changed.wait(&mut ended);
        }
        drop(ended);
        *self.stats.lock()
    }
}

impl PumpSource {
    /// The counts so far: up to the last delivery.
    pub fn stats(&self) -> CopyStats {
        *self.entry.stats.lock()
    }

    /// Ends the source after its current turn: what was read is
    /// delivered, bytes held back for a newline too (as a `last: false`
    /// chunk, as at the end of a stream), and the fd is closed. Returns at
    /// once; [`wait`](PumpSource::wait) waits for the end.
    pub fn close(&self) {
        self.entry.closed.store(true, Ordering::SeqCst);
        self.shared.schedule(&self.entry);
    }

    /// Whether the source has ended (its end of stream, or `close`).
    pub fn is_ended(&self) -> bool {
        *self.entry.ended.lock()
    }

    /// Waits until the source has ended, and returns its counts.
    pub fn wait(&self) -> CopyStats {
        self.entry.wait()
    }
}
