//! [`copy_async`]: the Copier's line law over a tokio `AsyncRead`, as a
//! future on the caller's runtime (feature `tokio`).

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use tokio::io::{AsyncRead, ReadBuf};

use super::lines::{LineCutter, READ_SIZE};
use super::sink::Delivery;
use super::{chunk_size, cut_read, CopyStats};
use crate::logger::Logger;
use crate::message::Source;

/// Reads `reader` to its end and hands its lines to `logger`, exactly as a
/// [`Copier`](crate::Copier) source would: the same messages, the same
/// counts, the same survival of a driver's errors and panics.
///
/// The future runs on the caller's runtime; [`Logger`] stays synchronous.
/// The future waits until `reader` has bytes, then hands the stream to a
/// task on tokio's blocking pool
/// ([`spawn_blocking`](tokio::task::spawn_blocking)), which cuts the bytes
/// into lines, calls the driver, and goes on reading for as long as reads
/// come back at once; when the reader has nothing more yet, the task ends
/// and the future waits again. So a slow driver never stalls the runtime,
/// a busy stream is read, cut and delivered on one thread with its caches
/// warm, as a Copier's is, and an idle one holds no thread. While the
/// driver has a line the stream is not read: in blocking mode a slow
/// driver slows the stream (the pipe fills and the container waits),
/// exactly as with a Copier.
///
/// Why this shape, measured by `benches/copy_async.rs`: a thread per
/// stream is what a tokio program does not want to pay; one
/// `spawn_blocking` per read ran at half the Copier's speed for 100-byte
/// lines, paying two thread wake-ups per 64 KiB; and reading on the
/// runtime while another thread cut and delivered made every read cross
/// between the cores' caches: 0.4× the Copier for 16 KB lines from memory.
/// This shape runs at the Copier's speed, from memory and from a pipe.
///
/// Dropping the future stops the reading; what it has read is still
/// delivered, except a last line that has no newline yet.
///
/// `reader` is `Send + 'static` because it travels to the blocking pool,
/// as it must anyway for the future to be [`spawn`](tokio::spawn)ed.
/// Needs a tokio runtime with its blocking pool (any runtime has one).
/// A panic in `reader` comes out of the future, as it would from a read
/// on the runtime.
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
pub async fn copy_async<R>(reader: R, source: Source, logger: Arc<dyn Logger>) -> CopyStats
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let chunk = chunk_size(None, &*logger);
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let mut copy = Stream {
        reader,
        cutter: LineCutter::new(source, chunk),
        to: Delivery::new(source, logger, None),
        stop: Arc::clone(&stop.0),
        ended: false,
    };
    loop {
        // Here, on the runtime: wait for bytes.
        if !poll_fn(|cx| copy.poll_read(cx)).await {
            break;
        }
        // There, in the blocking pool: deliver them, go on reading while
        // reads come back at once, and finish if the stream ended.
        let back = run_blocking(move || {
            cut_read(&mut copy.cutter, &mut copy.to);
            copy.read_while_ready();
            if copy.ended {
                copy.finish();
            }
            copy
        });
        match back.await {
            Some(back) if back.ended => return back.to.stats,
            Some(back) => copy = back,
            None => return CopyStats::default(),
        }
    }
    run_blocking(move || {
        copy.finish();
        copy.to.stats
    })
    .await
    .unwrap_or_default()
}

/// One stream's reader, cutter and delivery, which travel together
/// between the runtime and the blocking pool.
struct Stream<R> {
    reader: R,
    cutter: LineCutter,
    to: Delivery,
    /// Set when the future is dropped: read no more.
    stop: Arc<AtomicBool>,
    /// At end of input, or after a read error.
    ended: bool,
}

impl<R: AsyncRead + Unpin> Stream<R> {
    /// Reads once into the cutter's space. Ready with `true` when bytes
    /// came, `false` when the stream has ended.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        loop {
            // At most a pipe's 64 KiB: tokio takes a read shorter than its
            // buffer to mean the pipe is empty, and would send the next one
            // the long way, through the runtime's epoll, even when a full
            // pipe is waiting.
            let space = self.cutter.space();
            let n = space.len().min(READ_SIZE);
            let mut buf = ReadBuf::new(&mut space[..n]);
            let result = std::task::ready!(Pin::new(&mut self.reader).poll_read(cx, &mut buf));
            let n = buf.filled().len();
            match result {
                Ok(()) if n > 0 => {
                    self.to.stats.bytes += n as u64;
                    self.cutter.filled(n, SystemTime::now());
                    return Poll::Ready(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => self.to.stats.read_errors += 1,
                Ok(()) => {}
            }
            self.ended = true;
            return Poll::Ready(false);
        }
    }

    /// At end of input: what is held back has no newline.
    fn finish(&mut self) {
        let Stream { cutter, to, .. } = self;
        cutter.finish(&mut |msg| to.send_guarded(msg));
        to.deliver();
    }

    /// The Copier's loop, for as long as `reader` has bytes at once. A
    /// read that would wait leaves the waiting to the runtime. (Its waker
    /// is a no-op: the future's own read, which follows, registers the
    /// real one.)
    fn read_while_ready(&mut self) {
        let mut cx = Context::from_waker(Waker::noop());
        while !self.stop.load(Ordering::Relaxed) {
            match self.poll_read(&mut cx) {
                Poll::Ready(true) => cut_read(&mut self.cutter, &mut self.to),
                Poll::Ready(false) | Poll::Pending => return,
            }
        }
    }
}

/// Runs `f` on the blocking pool. A panic in it (the reader's: the
/// driver's are caught) comes out here; `None` if the runtime is shutting
/// down and the task never ran.
async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(done) => Some(done),
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(_) => None,
    }
}

/// Tells the delivering task that the future is gone.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
