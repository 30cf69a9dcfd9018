//! [`copy_async`]: the Copier's line law over a tokio `AsyncRead`, as a
//! future on the caller's runtime (feature `tokio`).

use std::sync::Arc;
use std::time::SystemTime;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::lines::LineCutter;
use super::sink::Delivery;
use super::{chunk_size, CopyStats};
use crate::logger::Logger;
use crate::message::{Message, Source};

/// Reads `reader` to its end and hands its lines to `logger`, exactly as a
/// [`Copier`](crate::Copier) source would: the same messages, the same
/// counts, the same survival of a driver's errors and panics.
///
/// The future runs on the caller's runtime; [`Logger`] stays synchronous.
/// The driver is called on tokio's blocking pool
/// ([`spawn_blocking`](tokio::task::spawn_blocking)), one read's lines at a
/// time, while the next read goes on: a slow driver never stalls the
/// runtime, and the reads and the driver overlap. In blocking mode a slow
/// driver still slows the stream (the next read's lines wait for the
/// previous ones to be delivered, so the pipe fills and the container
/// waits), exactly as with a Copier. Why this shape: a delivery thread per
/// stream is what a tokio program does not want to pay, and
/// `spawn_blocking` per read costs a few microseconds against a read of up
/// to 64 KiB, while overlapping the read with the delivery wins them back
/// (see `benches/copy_async.rs`).
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
    let mut cutter = LineCutter::new(source, chunk_size(None, &*logger));
    let mut idle = Some(Delivery::new(source, logger, None));
    let mut busy: Option<tokio::task::JoinHandle<(Delivery, Vec<Message>)>> = None;
    let mut spare = Vec::new();
    let mut stats = CopyStats::default();
    loop {
        let n = match reader.read(cutter.space()).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {
                stats.read_errors += 1;
                break;
            }
        };
        stats.bytes += n as u64;
        cutter.filled(n, SystemTime::now());
        let mut msgs = std::mem::take(&mut spare);
        cutter.cut(&mut |msg| msgs.push(msg));
        hand_over(&mut idle, &mut busy, &mut spare, &mut stats, msgs).await;
    }
    let mut msgs = std::mem::take(&mut spare);
    cutter.finish(&mut |msg| msgs.push(msg));
    hand_over(&mut idle, &mut busy, &mut spare, &mut stats, msgs).await;
    settle(&mut idle, &mut busy, &mut spare).await;
    if let Some(done) = idle {
        stats += done.stats;
    }
    stats
}

/// Waits for the delivery in flight, if any, then starts delivering
/// `msgs` on the blocking pool.
async fn hand_over(
    idle: &mut Option<Delivery>,
    busy: &mut Option<tokio::task::JoinHandle<(Delivery, Vec<Message>)>>,
    spare: &mut Vec<Message>,
    stats: &mut CopyStats,
    mut msgs: Vec<Message>,
) {
    if msgs.is_empty() {
        *spare = msgs;
        return;
    }
    settle(idle, busy, spare).await;
    let Some(mut to) = idle.take() else {
        // The runtime is going away and took the delivery with it.
        stats.lines += msgs.len() as u64;
        stats.log_errors += msgs.len() as u64;
        return;
    };
    *busy = Some(tokio::task::spawn_blocking(move || {
        to.send_all(&mut msgs);
        (to, msgs)
    }));
}

/// Waits for the delivery in flight, if any: its `Delivery` comes back
/// idle, its emptied batch as the spare.
async fn settle(
    idle: &mut Option<Delivery>,
    busy: &mut Option<tokio::task::JoinHandle<(Delivery, Vec<Message>)>>,
    spare: &mut Vec<Message>,
) {
    let Some(job) = busy.take() else { return };
    // Cancelled by a runtime shutting down (delivery never panics): its
    // counts are lost with it, and later lines count as failed.
    if let Ok((to, emptied)) = job.await {
        *idle = Some(to);
        *spare = emptied;
    }
}
