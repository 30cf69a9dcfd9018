//! [`copy_async`]: the Copier's line law over a tokio `AsyncRead`, as a
//! future on the caller's runtime (feature `tokio`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Notify;

use super::lines::{LineCutter, READ_SIZE};
use super::sink::Delivery;
use super::{chunk_size, CopyStats};
use crate::logger::Logger;
use crate::message::Source;

/// Reads `reader` to its end and hands its lines to `logger`, exactly as a
/// [`Copier`](crate::Copier) source would: the same messages, the same
/// counts, the same survival of a driver's errors and panics.
///
/// The future runs on the caller's runtime; [`Logger`] stays synchronous.
/// The future only reads: it queues each read, and a task on tokio's
/// blocking pool ([`spawn_blocking`](tokio::task::spawn_blocking)) cuts
/// the queued reads into lines and calls the driver, for as long as reads
/// keep coming; it ends when the queue is empty, and the next read starts
/// another. A slow driver never stalls the runtime, and the reading and
/// the driver overlap. The queue holds at most 1 MiB: past that the future
/// waits for the driver, so in blocking mode a slow driver still slows the
/// stream (the pipe fills and the container waits), exactly as with a
/// Copier.
///
/// Why this shape, measured by `benches/copy_async.rs`: a thread per
/// stream is what a tokio program does not want to pay; one
/// `spawn_blocking` per read ran at half the Copier's speed for 100-byte
/// lines and an eighth for 16 KB ones, paying two thread wake-ups per
/// 64 KiB; and cutting on the runtime's side made both threads touch every
/// line's reference count.
///
/// Dropping the future stops the reading; what it has read is still
/// delivered, except a last line that has no newline yet.
///
/// Needs a tokio runtime with its blocking pool (any runtime has one).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use logdriver::{copy_async, drivers::none::NoneLogger, Source};
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// let stats = runtime.block_on(copy_async(
///     &b"one\ntwo\n"[..],
///     Source::Stdout,
///     Arc::new(NoneLogger),
/// ));
/// assert_eq!(stats.lines, 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn copy_async<R>(mut reader: R, source: Source, logger: Arc<dyn Logger>) -> CopyStats
where
    R: AsyncRead + Unpin,
{
    let chunk = chunk_size(None, &*logger);
    let link = Arc::new(Link {
        queue: Mutex::new(Queue {
            reads: VecDeque::new(),
            bytes: 0,
            idle: Some(Cut {
                cutter: LineCutter::new(source, chunk),
                to: Delivery::new(source, logger, None),
            }),
            free: Vec::new(),
        }),
        changed: Notify::new(),
    });
    let mut stats = CopyStats::default();
    let mut buf = BytesMut::new();
    loop {
        if buf.capacity() - buf.len() < MIN_READ {
            // A buffer the driver has let go of, whose pages are in
            // already, else a new one.
            buf = link.queue.lock().free.pop().unwrap_or_default();
            buf.reserve(READ_SIZE);
        }
        let n = match reader.read_buf(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {
                stats.read_errors += 1;
                break;
            }
        };
        stats.bytes += n as u64;
        if link.queue(buf.split().freeze()) {
            link.wait(|queue| (queue.bytes <= MAX_QUEUED / 2).then_some(()))
                .await;
        }
    }
    let mut last = link.wait(|queue| queue.idle.take()).await;
    let finish = tokio::task::spawn_blocking(move || {
        let Cut { cutter, to } = &mut last;
        cutter.finish(&mut |msg| to.send_guarded(msg));
        to.deliver();
        last.to.stats
    });
    if let Ok(delivered) = finish.await {
        stats += delivered;
    }
    stats
}

/// The most bytes queued for the driver: how far reading runs ahead.
const MAX_QUEUED: usize = 1024 * 1024;

/// The least read space worth a read; below it, another buffer is taken.
const MIN_READ: usize = READ_SIZE / 4;

/// How many read buffers wait to be reused: enough for a full queue.
const MAX_FREE: usize = MAX_QUEUED / READ_SIZE + 2;

/// The stream's cutter and delivery, which travel together to the
/// blocking pool.
struct Cut {
    cutter: LineCutter,
    to: Delivery,
}

/// What the reading future and the delivering task share.
struct Link {
    queue: Mutex<Queue>,
    /// Told when the task has taken reads off the queue, or ended.
    changed: Notify,
}

struct Queue {
    /// Reads not yet cut, each with the time it came back.
    reads: VecDeque<(Bytes, SystemTime)>,
    /// The bytes of the reads queued and of those being delivered.
    bytes: usize,
    /// The cut, while no task is delivering.
    idle: Option<Cut>,
    /// Read buffers to reuse, each emptied and whole.
    free: Vec<BytesMut>,
}

impl Link {
    /// Queues a read, and starts a task to deliver it if none is running.
    /// Returns whether the queue is full.
    fn queue(self: &Arc<Link>, read: Bytes) -> bool {
        let (idle, full) = {
            let mut queue = self.queue.lock();
            queue.bytes += read.len();
            queue.reads.push_back((read, SystemTime::now()));
            (queue.idle.take(), queue.bytes >= MAX_QUEUED)
        };
        // Started outside the lock, which the task takes first thing.
        if let Some(cut) = idle {
            let link = Arc::clone(self);
            tokio::task::spawn_blocking(move || link.deliver(cut));
        }
        full
    }

    /// Waits until `take` takes something from the queue.
    async fn wait<T>(&self, mut take: impl FnMut(&mut Queue) -> Option<T>) -> T {
        loop {
            // Made before the look, so that a change after it is not missed.
            let changed = self.changed.notified();
            if let Some(taken) = take(&mut self.queue.lock()) {
                return taken;
            }
            changed.await;
        }
    }

    /// The delivering task: cuts and delivers queued reads, one at a time,
    /// until none is left, then leaves the cut idle. Never panics: every
    /// driver call is guarded.
    fn deliver(&self, mut cut: Cut) {
        let mut done: Option<Bytes> = None;
        loop {
            let (read, at) = {
                let mut queue = self.queue.lock();
                if let Some(read) = done.take() {
                    let before = queue.bytes;
                    queue.bytes -= read.len();
                    if before > MAX_QUEUED / 2 && queue.bytes <= MAX_QUEUED / 2 {
                        self.changed.notify_one();
                    }
                    // The last read of its buffer, and no line of it kept.
                    if queue.free.len() < MAX_FREE {
                        if let Ok(mut buf) = read.try_into_mut() {
                            buf.clear();
                            queue.free.push(buf);
                        }
                    }
                }
                match queue.reads.pop_front() {
                    Some(next) => next,
                    None => {
                        queue.idle = Some(cut);
                        self.changed.notify_one();
                        return;
                    }
                }
            };
            let Cut { cutter, to } = &mut cut;
            cutter.push(&read, at, &mut |msg| to.send_guarded(msg));
            to.deliver();
            done = Some(read);
        }
    }
}
