//! [`Copier`]: reads a container's streams line by line into a driver.
//!
//! Each source's thread does read → cut → deliver: [`lines`] cuts bytes
//! into messages, and `logger::deliver` hands batches to the driver.

#[cfg(feature = "tokio")]
mod async_copy;
mod lines;
#[cfg(feature = "pump")]
mod pump;
mod sink;
mod writer;

use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::logger::Logger;
use crate::message::Source;
#[cfg(feature = "tokio")]
pub use async_copy::copy_async;
use lines::LineCutter;
#[cfg(feature = "pump")]
pub use pump::{Pump, PumpSource};
use sink::Delivery;
pub use writer::LineWriter;

/// See [`Copier::DEFAULT_CHUNK_SIZE`].
pub(crate) const DEFAULT_BUFFER_SIZE: usize = 16 * 1024;
/// See [`Copier::MAX_CHUNK_SIZE`].
pub(crate) const MAX_BUFFER_SIZE: usize = 1 << 20;
/// See [`Copier::MAX_BATCH`].
pub(crate) const MAX_BATCH: usize = 1024;

/// A read of fewer bytes (a quarter of a pipe) is followed by a yield:
/// see [`Copier`]'s "Reading".
const SHORT_READ: usize = 16 * 1024;

type ErrorHook = dyn Fn(Source, &Error) + Send + Sync;

/// Reads a container's streams line by line and hands every line to a driver.
///
/// This is Docker's `logger.Copier`. Each source gets its own named thread
/// (`logdriver-copier-stdout`, …) that reads the stream to its end, cuts it
/// into [`Message`](crate::Message)s and calls [`Logger::log`] for each, in order. A driver
/// whose [`Logger::prefers_batches`] is `true` gets the messages of each
/// read at once (at most [`Copier::MAX_BATCH`]), in order, through [`Logger::log_batch`].
///
/// # Lines
///
/// - A stream is split on `'\n'` only. The `'\n'` is dropped; a `'\r'`
///   before it is kept. Bytes need not be UTF-8.
/// - Lines are zero-copy: each [`Message::line`](crate::Message::line) is a slice of the buffer
///   the bytes were read into.
/// - A line of at least the buffer size (16 KiB by default; see
///   [`buffer_size`](Copier::buffer_size)) goes out as chunks of exactly
///   the buffer size, marked with [`PartialMeta`](crate::PartialMeta); the chunk that ends with
///   the newline has `last: true` and may be empty.
/// - Bytes left at the end of input without a newline go out as a partial
///   chunk with `last: false`, as Docker does. So, for every input and
///   however the reader splits it, concatenating each message's `line`,
///   plus `"\n"` after each one where [`Message::ends_line`](crate::Message::ends_line) holds, gives
///   back the input byte for byte.
/// - The clock is read once per `read` call: every line that arrived in one
///   read gets the same timestamp. The chunks of one long line share the
///   first chunk's timestamp.
///
/// # Reading
///
/// A read asks for a whole pipe or more, up to 64 KiB plus the buffer
/// size (Docker asks for 2 KiB). After a read of less than 16 KiB, a
/// quarter of a pipe, which leaves the pipe empty, the thread yields its
/// core once ([`std::thread::yield_now`]) before it reads again. A program
/// whose stdout is unbuffered (Go) or line-buffered (Rust's `println!`)
/// makes a `write` per line, and a reader that sleeps on an empty pipe is
/// woken by each of them; yielding lets a writer that waits for the same
/// core add more lines first, so both sides pay fewer wake-ups. On a
/// 2-core machine that makes 1.5 to 2 times the lines per second of such
/// a container (the `copier_line_writes` benchmark). When no other thread
/// waits for the core, the yield returns at once: a quiet container's
/// lines are not delayed.
///
/// # Errors and panics in the driver
///
/// A driver that returns an error, or panics, does not stop the Copier: the
/// failure is counted in [`CopyStats::log_errors`], passed to the
/// [`on_error`](Copier::on_error) hook if there is one, and copying goes on
/// with the next line. The pipe keeps being drained, so the container never
/// blocks on a full pipe because its driver broke.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use logdriver::{Copier, Logger, Message, Result, Source};
///
/// #[derive(Default)]
/// struct Collect(Mutex<Vec<String>>);
///
/// impl Logger for Collect {
///     fn log(&self, msg: Message) -> Result<()> {
///         let line = String::from_utf8_lossy(&msg.line);
///         self.0.lock().unwrap().push(format!("{}: {line}", msg.source));
///         Ok(())
///     }
///     fn name(&self) -> &str { "collect" }
///     fn close(&self) -> Result<()> { Ok(()) }
/// }
///
/// let logger = Arc::new(Collect::default());
/// let stats = Copier::new(logger.clone())
///     .source(Source::Stdout, &b"hello\nworld\n"[..])
///     .run()?
///     .wait();
///
/// assert_eq!(stats.lines, 2);
/// assert_eq!(*logger.0.lock().unwrap(), ["stdout: hello", "stdout: world"]);
/// # Ok::<(), logdriver::Error>(())
/// ```
#[must_use = "a Copier does nothing until `run` is called"]
pub struct Copier {
    dst: Arc<dyn Logger>,
    sources: Vec<(Source, Box<dyn Read + Send>)>,
    buffer_size: Option<usize>,
    on_error: Option<Arc<ErrorHook>>,
}

impl fmt::Debug for Copier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sources: Vec<Source> = self.sources.iter().map(|(s, _)| *s).collect();
        f.debug_struct("Copier")
            .field("dst", &self.dst.name())
            .field("sources", &sources)
            .field("buffer_size", &self.buffer_size)
            .finish()
    }
}

impl Copier {
    /// The chunk size used when neither [`Copier::buffer_size`] nor the
    /// driver's [`Logger::buf_size`] sets one: 16 KiB, as in Docker. A line
    /// this long or longer goes out in chunks of this size.
    pub const DEFAULT_CHUNK_SIZE: usize = DEFAULT_BUFFER_SIZE;

    /// The largest chunk a Copier cuts: 1 MiB. A larger size, from
    /// [`Copier::buffer_size`] or a driver's [`Logger::buf_size`], is
    /// clamped to it, so that a driver cannot make the Copier allocate
    /// without bound.
    pub const MAX_CHUNK_SIZE: usize = MAX_BUFFER_SIZE;

    /// The most messages a Copier hands to [`Logger::log_batch`] at once:
    /// a read of tiny lines must not build a batch of tens of thousands.
    pub const MAX_BATCH: usize = MAX_BATCH;

    /// A Copier into the driver `dst`, with no sources yet.
    pub fn new(dst: Arc<dyn Logger>) -> Copier {
        Copier {
            dst,
            sources: Vec::new(),
            buffer_size: None,
            on_error: None,
        }
    }

    /// Adds a stream to copy, such as a child's `stdout`.
    ///
    /// By default, a Copier has no sources. Each source gets its own thread.
    pub fn source<R: Read + Send + 'static>(mut self, source: Source, reader: R) -> Copier {
        self.sources.push((source, Box::new(reader)));
        self
    }

    /// Sets the line buffer size: lines of at least this many bytes are cut
    /// into chunks of exactly this many.
    ///
    /// By default, the driver's [`Logger::buf_size`] if it has one, else
    /// [`Copier::DEFAULT_CHUNK_SIZE`] (16 KiB). An explicit size wins over both.
    /// `0` means "no explicit size", as `<= 0` does in Docker. Whichever
    /// size wins is clamped to [`Copier::MAX_CHUNK_SIZE`] (1 MiB).
    pub fn buffer_size(mut self, bytes: usize) -> Copier {
        self.buffer_size = (bytes > 0).then_some(bytes);
        self
    }

    /// Calls `hook` with every error the driver returns, and with an
    /// [`Error::Panicked`] for every panic, from the source's thread.
    ///
    /// By default, errors are only counted in [`CopyStats::log_errors`]. The
    /// hook runs on the copying thread, so it should be quick: rate-limit
    /// anything that writes, as Docker does.
    pub fn on_error<F>(mut self, hook: F) -> Copier
    where
        F: Fn(Source, &Error) + Send + Sync + 'static,
    {
        self.on_error = Some(Arc::new(hook));
        self
    }

    /// Starts one thread per source and returns a handle to them.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] when a thread cannot be started. The threads that
    /// did start are asked to [close](CopierHandle::close) and left to end
    /// on their own.
    pub fn run(self) -> Result<CopierHandle> {
        let chunk = chunk_size(self.buffer_size, &*self.dst);
        let mut handle = CopierHandle {
            threads: Vec::with_capacity(self.sources.len()),
            closed: Arc::new(AtomicBool::new(false)),
        };
        for (source, reader) in self.sources {
            let name = format!("logdriver-copier-{source}");
            let mut copy = SourceCopy {
                to: Delivery::new(source, Arc::clone(&self.dst), self.on_error.clone()),
                closed: Arc::clone(&handle.closed),
            };
            let spawned = thread::Builder::new().name(name.clone()).spawn(move || {
                copy.run(reader, chunk);
                copy.to.stats
            });
            match spawned {
                Ok(thread) => handle.threads.push(thread),
                Err(source) => {
                    handle.close();
                    return Err(Error::Spawn {
                        thread: name,
                        source,
                    });
                }
            }
        }
        Ok(handle)
    }
}

/// The running threads of a [`Copier`].
///
/// Dropping the handle detaches the threads: they go on to the end of their
/// streams.
#[derive(Debug)]
#[must_use = "dropping the handle detaches the copying threads; call `wait` to join them"]
pub struct CopierHandle {
    threads: Vec<JoinHandle<CopyStats>>,
    closed: Arc<AtomicBool>,
}

impl CopierHandle {
    /// Waits for every source to reach its end, and adds up their counts.
    pub fn wait(self) -> CopyStats {
        let mut total = CopyStats::default();
        for thread in self.threads {
            // Driver panics are caught per line, so a thread only fails if
            // the reader itself panicked; its counts are lost with it.
            if let Ok(stats) = thread.join() {
                total += stats;
            }
        }
        total
    }

    /// Asks every source's thread to stop after its current read.
    ///
    /// The lines of that read are still delivered, and so are bytes held
    /// back waiting for a newline (as a `last: false` partial, as at the end
    /// of input), so nothing that was read is lost. A thread blocked in
    /// `read` stays blocked until the read returns: to stop at once, close
    /// the streams' other ends (or end the child process), as Docker does.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

/// What a [`Copier`] did, added up over its sources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyStats {
    /// Messages handed to the driver: whole lines plus partial chunks, so a
    /// long line counts once per chunk. For lines as a reader of the
    /// stream counts them, see [`complete_lines`](CopyStats::complete_lines).
    pub lines: u64,
    /// Lines that ended with a newline: each whole line, and each long
    /// line once (its last chunk). Bytes left without a newline at the end
    /// of input are not among them.
    pub complete_lines: u64,
    /// Bytes read from the sources, newlines included.
    pub bytes: u64,
    /// Messages among `lines` that were partial chunks of a long line.
    pub partials: u64,
    /// Messages whose `log` returned an error or panicked.
    pub log_errors: u64,
    /// Reads that failed. A source stops at its first failed read.
    pub read_errors: u64,
}

impl std::ops::AddAssign for CopyStats {
    fn add_assign(&mut self, other: CopyStats) {
        self.lines += other.lines;
        self.complete_lines += other.complete_lines;
        self.bytes += other.bytes;
        self.partials += other.partials;
        self.log_errors += other.log_errors;
        self.read_errors += other.read_errors;
    }
}

/// The chunk size for `dst`: an explicit size, else the driver's
/// [`Logger::buf_size`], else [`Copier::DEFAULT_CHUNK_SIZE`]; at most
/// [`Copier::MAX_CHUNK_SIZE`].
fn chunk_size(explicit: Option<usize>, dst: &dyn Logger) -> usize {
    explicit
        .or(dst.buf_size().filter(|&n| n > 0))
        .unwrap_or(DEFAULT_BUFFER_SIZE)
        .min(MAX_BUFFER_SIZE)
}

/// One source's copying state, owned by its thread.
struct SourceCopy {
    to: Delivery,
    closed: Arc<AtomicBool>,
}

impl SourceCopy {
    /// Copies `reader` to its end: read, cut, deliver.
    fn run(&mut self, mut reader: Box<dyn Read + Send>, chunk: usize) {
        let mut cutter = LineCutter::new(self.to.source, chunk);
        while !self.closed.load(Ordering::Relaxed) {
            let n = match reader.read(cutter.space()) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.to.stats.read_errors += 1;
                    break;
                }
            };
            self.to.stats.bytes += n as u64;
            cutter.filled(n, SystemTime::now());
            cut_read(&mut cutter, &mut self.to);
            if n < SHORT_READ {
                // The writer is slower than this thread: the next read
                // would sleep on an empty pipe until the next write wakes
                // it, a wake-up per line for a container that writes line
                // by line. A writer that waits for this core gets to add
                // more lines first.
                thread::yield_now();
            }
        }
        // End of input (or close): what is held back has no newline.
        cutter.finish(&mut |msg| self.to.send_guarded(msg));
        self.to.deliver();
    }
}

/// Hands the messages of the read `cutter` just took to `to`, then the
/// batch; for a driver that prefers runs, the short whole lines in front
/// go first, as one [`LineRun`](crate::LineRun). One unwind guard per
/// read, not per line: a panic in `log` costs its own line, and the
/// cutter goes on after it.
fn cut_read(cutter: &mut LineCutter, to: &mut Delivery) {
    if to.runs {
        if let Some(run) = cutter.cut_run() {
            to.send_run(run);
        }
    }
    let dst = Arc::clone(&to.dst);
    while let Err(err) = Error::guard(dst.name(), || {
        cutter.cut(&mut |msg| to.send(msg));
        Ok(())
    }) {
        to.failed(err);
    }
    to.deliver();
}

#[cfg(test)]
mod tests;
