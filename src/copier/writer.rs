//! [`LineWriter`]: the Copier's line law for a caller that owns its read
//! loop and pushes the bytes itself.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::lines::LineCutter;
use super::sink::Delivery;
use super::{chunk_size, cut_read, CopyStats};
use crate::logger::Logger;
use crate::message::Source;

/// Cuts bytes that the caller pushes into lines, and hands them to a
/// driver, exactly as a [`Copier`](crate::Copier) would have read them.
///
/// For a runtime that owns its read loop (conmon-rs reads each pipe in a
/// loop of its own, and shares the bytes with attach): no thread, no
/// reader. The same law holds as for the Copier, whatever the pushes: any
/// bytes, cut into any pushes, reach the driver as the same messages
/// (lines, chunks of the buffer size with [`PartialMeta`](crate::PartialMeta),
/// bytes left without a newline at [`finish`](LineWriter::finish) as a
/// `last: false` chunk), and joining them gives the bytes back.
///
/// - [`push`](LineWriter::push) takes [`Bytes`] and copies none of them
///   into a line: each line is a slice of what was pushed. Only the start
///   of a line that a push leaves without its newline is kept, and copied.
/// - `impl Write` takes `&[u8]`, copied into the writer's own buffer, as a
///   read would be.
/// - A driver's errors and panics are counted in [`CopyStats::log_errors`]
///   and never stop the stream; a driver that prefers batches gets the
///   lines of each push at once.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::sync::Arc;
/// use logdriver::{drivers::none::NoneLogger, LineWriter, Source};
///
/// let mut writer = LineWriter::new(Arc::new(NoneLogger), Source::Stdout);
/// writer.push("hello\nwor".into());
/// writer.write_all(b"ld\n")?;
/// let stats = writer.finish();
/// assert_eq!((stats.lines, stats.bytes), (2, 12));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct LineWriter {
    cutter: LineCutter,
    to: Delivery,
}

impl fmt::Debug for LineWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineWriter")
            .field("source", &self.to.source)
            .field("dst", &self.to.dst.name())
            .field("stats", &self.to.stats)
            .finish()
    }
}

impl LineWriter {
    /// A writer of `source`'s lines into `logger`, cutting long lines at
    /// the driver's [`Logger::buf_size`] or 16 KiB, as the Copier does.
    pub fn new(logger: Arc<dyn Logger>, source: Source) -> LineWriter {
        LineWriter::with_buffer_size(logger, source, 0)
    }

    /// A writer that cuts long lines at `bytes` instead, as
    /// [`Copier::buffer_size`](crate::Copier::buffer_size) does (`0` keeps
    /// the default; at most 1 MiB).
    pub fn with_buffer_size(logger: Arc<dyn Logger>, source: Source, bytes: usize) -> LineWriter {
        let chunk = chunk_size((bytes > 0).then_some(bytes), &*logger);
        LineWriter {
            cutter: LineCutter::new(source, chunk),
            to: Delivery::new(source, logger, None),
        }
    }

    /// Hands the lines of `bytes` to the driver, as slices of `bytes`;
    /// what follows their last newline waits for the next push.
    pub fn push(&mut self, bytes: Bytes) {
        self.to.stats.bytes += bytes.len() as u64;
        let to = &mut self.to;
        self.cutter
            .push(&bytes, SystemTime::now(), &mut |msg| to.send_guarded(msg));
        self.to.deliver();
    }

    /// What was pushed and delivered so far.
    pub fn stats(&self) -> CopyStats {
        self.to.stats
    }

    /// Ends the stream: bytes left without a newline go out as a chunk
    /// that does not end its line, as at the end of a Copier's input.
    /// Returns the counts.
    pub fn finish(mut self) -> CopyStats {
        let to = &mut self.to;
        self.cutter.finish(&mut |msg| to.send_guarded(msg));
        self.to.deliver();
        self.to.stats
    }
}

/// Copies `buf` into the writer's own buffer, as a read would, and cuts
/// it. Never fails.
impl io::Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            let space = self.cutter.space();
            let n = space.len().min(rest.len());
            space[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            self.to.stats.bytes += n as u64;
            self.cutter.filled(n, SystemTime::now());
            cut_read(&mut self.cutter, &mut self.to);
        }
        Ok(buf.len())
    }

    /// Nothing to flush: every whole line is with the driver already.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
