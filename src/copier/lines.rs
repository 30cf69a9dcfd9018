//! [`LineCutter`]: a stream's bytes into lines and chunks, without threads
//! or drivers, and without copying a line.

use std::collections::VecDeque;
use std::mem;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use crate::line_run::LineRun;
use crate::message::{Message, PartialMeta, Source};

/// The most bytes one `read` asks for. A pipe holds 64 KiB: draining it in
/// one call is what makes copying fast (Docker asks for 2 KiB).
pub(super) const READ_SIZE: usize = 64 * 1024;

/// How many spent buffers wait for the driver to let go of them, to be
/// reused: enough to cover a driver some milliseconds behind.
const MAX_RETIRED: usize = 64;

/// The least read space worth a `read`; below it, a new buffer is started.
const MIN_READ_SPACE: usize = READ_SIZE / 4;

/// The partial group that the line in progress belongs to.
struct Group {
    id: String,
    /// The ordinal of the last chunk sent.
    ordinal: u32,
    /// The first chunk's time, which every chunk of the line carries.
    timestamp: SystemTime,
}

/// Cuts one stream's bytes into [`Message`]s: whole lines, and chunks of
/// exactly `chunk` bytes for lines of at least that size.
///
/// Reads go into [`space`](LineCutter::space); [`filled`](LineCutter::filled)
/// takes them, and [`cut`](LineCutter::cut) hands their messages to a sink.
/// Each message's `line` is a slice of the buffer the bytes were read into.
pub(super) struct LineCutter {
    source: Source,
    /// Lines of at least this many bytes go out as chunks of this many.
    chunk: usize,
    /// The allocation size of every buffer: a chunk plus a read.
    size: usize,
    /// The buffer being read into. Its first `held` bytes are the start of
    /// a line that was read but not sent: no `'\n'` in them, and fewer
    /// than `chunk`. The rest is initialized space for the next read.
    buf: BytesMut,
    held: usize,
    /// The bytes of the last read, frozen, with the held bytes before them
    /// (and, when buffers come back whole, the unused space after them);
    /// empty once the buffer is readied for the next read.
    data: Bytes,
    /// Where the bytes read end in `data`.
    end: usize,
    /// How far into `data` messages have been cut. It moves past a message
    /// before the message is handed out, so that a sink that panics loses
    /// only that message, and the next `cut` goes on after it.
    next: usize,
    /// When the last read came back: the time of its lines.
    now: SystemTime,
    /// Whether the driver let go of every line of the last buffer frozen
    /// whole before the next read: the buffer was taken back at once, with
    /// no allocation and no zeroing. False while a driver keeps lines (a
    /// queue, a batch).
    whole: bool,
    /// Whether `data` is the whole buffer, to be taken back whole, rather
    /// than a part split off it.
    data_whole: bool,
    /// A cut is done and `buf` not readied yet: that waits for the next
    /// read, so that a driver given the cut's lines as a batch has let go
    /// of them by then, and the buffer comes back whole.
    pending: bool,
    /// Buffers frozen whole that the driver may still hold lines of,
    /// oldest first. Once the driver lets go of the oldest, it is the next
    /// read's buffer, still initialized: neither allocated nor zeroed. Kept
    /// only while reads come in full.
    retired: VecDeque<Bytes>,
    /// How many lines the last [`cut_run`](LineCutter::cut_run) took.
    run_len: usize,
    /// Buffers allocated (and zeroed), for the tests of reuse.
    #[cfg(test)]
    fresh: usize,
    group: Option<Group>,
}

impl LineCutter {
    /// A cutter for `source`'s stream, with chunks of `chunk` bytes (1 or more).
    pub(super) fn new(source: Source, chunk: usize) -> LineCutter {
        let size = chunk + READ_SIZE;
        LineCutter {
            source,
            chunk,
            size,
            // Allocated at the first read: a cutter that has not read yet,
            // or has let go of its buffer, holds none.
            buf: BytesMut::new(),
            held: 0,
            data: Bytes::new(),
            end: 0,
            next: 0,
            now: SystemTime::UNIX_EPOCH,
            whole: true,
            data_whole: false,
            pending: false,
            retired: VecDeque::new(),
            run_len: 0,
            #[cfg(test)]
            fresh: 0,
            group: None,
        }
    }

    /// Where the next read goes: never empty.
    pub(super) fn space(&mut self) -> &mut [u8] {
        self.settle();
        if self.buf.len() <= self.held {
            let old = mem::take(&mut self.buf);
            self.start_buffer(&old[..self.held]);
        }
        &mut self.buf[self.held..]
    }

    /// Lets go of the buffer, if it holds no bytes of a line: an idle
    /// source then holds no memory (the next read allocates one again).
    #[cfg_attr(not(feature = "pump"), allow(dead_code))]
    pub(super) fn release(&mut self) {
        self.settle();
        if self.held == 0 {
            self.buf = BytesMut::new();
            self.retired.clear();
        }
    }

    /// Takes the `n` bytes just read into [`space`](LineCutter::space), at
    /// `now`; [`cut`](LineCutter::cut) hands out their messages.
    pub(super) fn filled(&mut self, n: usize, now: SystemTime) {
        if n < MIN_READ_SPACE {
            // The stream is not in a hurry: let go of the spent buffers, so
            // that a quiet container holds no more than its one buffer.
            self.retired.clear();
        }
        let end = self.held + n;
        // A buffer frozen whole comes back whole, initialized, for a later
        // read: at once if the driver lets go of its lines, else from
        // `retired`. A small read for a driver that keeps lines is split
        // off instead, so that it does not hold a whole buffer: only a
        // read that fills half the buffer or more is frozen whole then.
        self.data_whole = self.buf.len() == self.size && (self.whole || 2 * end >= self.size);
        self.data = if self.data_whole {
            mem::take(&mut self.buf).freeze()
        } else {
            self.buf.split_to(end).freeze()
        };
        self.end = end;
        self.next = 0;
        self.now = now;
    }

    /// Hands every message of the bytes taken by `filled` to `sink`, in
    /// order. The buffer is readied for the next read by the next `space`
    /// (or `push`, `finish`), once the driver had the chance to let go of
    /// the lines.
    ///
    /// If `sink` panics, the message it was given is gone; calling `cut`
    /// again goes on with the next one.
    pub(super) fn cut(&mut self, sink: &mut impl FnMut(Message)) {
        let end = self.end;
        // The held bytes have no newline: search after them.
        let from = self.next.max(self.held);
        // A handle of our own, so that the sink can borrow `self`; dropped
        // before `next_buffer` needs `data` to be unique again.
        let data = self.data.clone();
        for nl in memchr::memchr_iter(b'\n', &data[from..end]) {
            let nl = from + nl;
            let line = data.slice(mem::replace(&mut self.next, nl + 1)..nl);
            self.line(line, sink);
        }
        drop(data);
        // What follows the last newline is held back, but never a whole
        // chunk's worth: that goes out now.
        while end - self.next >= self.chunk {
            let chunk = self.data.slice(self.next..self.next + self.chunk);
            self.next += self.chunk;
            self.send_chunk(chunk, false, sink);
        }
        self.held = end - self.next;
        self.pending = true;
    }

    /// Takes the short whole lines at the front of the bytes taken by
    /// `filled`, as one [`LineRun`] (`None` if there are none): the lines
    /// [`cut`](LineCutter::cut) would hand out first, up to a line of a
    /// chunk or more, or the end of a line in progress, which `cut` then
    /// hands out with the rest.
    pub(super) fn cut_run(&mut self) -> Option<LineRun> {
        if self.group.is_some() {
            return None;
        }
        let (start, end) = (self.next, self.end);
        let from = start.max(self.held);
        // As many as last time, and some: one allocation, most reads.
        let mut ends = Vec::with_capacity(self.run_len + self.run_len / 8 + 8);
        let mut line_start = start;
        for nl in memchr::memchr_iter(b'\n', &self.data[from..end]) {
            let nl = from + nl;
            if nl - line_start >= self.chunk {
                break;
            }
            // Buffers are a chunk and a read, far below 4 GiB.
            ends.push(nl as u32);
            line_start = nl + 1;
        }
        self.run_len = ends.len();
        if ends.is_empty() {
            return None;
        }
        self.next = line_start;
        let data = self.data.clone();
        Some(LineRun::from_parts(
            data,
            start,
            ends,
            self.source,
            self.now,
        ))
    }

    /// Hands out the messages of `data`, bytes the caller already holds,
    /// at `now`, without copying them: each line is a slice of `data`.
    /// Only the carry is copied: the start of a line that an earlier push
    /// left without its newline is completed from the front of `data`, up
    /// to the line's end or a chunk, and what `data` leaves without a
    /// newline (less than a chunk) is kept for the next push.
    ///
    /// `sink` must not panic: unlike [`cut`](LineCutter::cut), this cannot
    /// be called again to go on.
    pub(super) fn push(&mut self, data: &Bytes, now: SystemTime, sink: &mut impl FnMut(Message)) {
        let mut at = 0;
        while self.held > 0 && at < data.len() {
            let rest = &data[at..];
            let window = &rest[..rest.len().min(self.chunk - self.held)];
            let n = memchr::memchr(b'\n', window).map_or(window.len(), |i| i + 1);
            let space = self.space();
            let n = n.min(space.len());
            space[..n].copy_from_slice(&window[..n]);
            at += n;
            self.filled(n, now);
            self.cut(sink);
        }
        if at == data.len() {
            return;
        }
        // The carry's last cut (if any) left the buffer to be readied.
        self.settle();
        // Nothing carried: the rest is cut where it lies.
        self.now = now;
        let mut next = at;
        for nl in memchr::memchr_iter(b'\n', &data[at..]) {
            let nl = at + nl;
            let line = data.slice(mem::replace(&mut next, nl + 1)..nl);
            self.line(line, sink);
        }
        while data.len() - next >= self.chunk {
            let chunk = data.slice(next..next + self.chunk);
            next += self.chunk;
            self.send_chunk(chunk, false, sink);
        }
        // The carry: room for it and for what completes it, a chunk.
        let tail = &data[next..];
        if !tail.is_empty() && self.buf.len() < self.chunk {
            self.buf = BytesMut::zeroed(self.chunk);
        }
        self.buf[..tail.len()].copy_from_slice(tail);
        self.held = tail.len();
    }

    /// At the end of input: hands out the held bytes, which have no
    /// newline, as a chunk that does not end its line, as Docker does, so
    /// that joining the messages gives back the stream byte for byte.
    pub(super) fn finish(&mut self, sink: &mut impl FnMut(Message)) {
        self.settle();
        if self.held > 0 {
            let rest = self.buf.split_to(mem::take(&mut self.held)).freeze();
            self.now = SystemTime::now();
            self.send_chunk(rest, false, sink);
        }
    }

    /// Hands out a line that ended with a newline: whole, or as the chunks
    /// of a long line.
    fn line(&mut self, line: Bytes, sink: &mut impl FnMut(Message)) {
        if line.len() < self.chunk && self.group.is_none() {
            sink(Message {
                line,
                source: self.source,
                timestamp: self.now,
                partial: None,
            });
        } else {
            self.long_line(line, sink);
        }
    }

    /// Hands out a line that is a chunk or more long, or ends a group.
    fn long_line(&mut self, mut line: Bytes, sink: &mut impl FnMut(Message)) {
        while line.len() >= self.chunk {
            let head = line.split_to(self.chunk);
            self.send_chunk(head, false, sink);
        }
        if self.group.is_some() {
            self.send_chunk(line, true, sink);
        } else {
            sink(Message {
                line,
                source: self.source,
                timestamp: self.now,
                partial: None,
            });
        }
    }

    /// Hands out one chunk of the line in progress, starting its group if
    /// needed; `last` ends it.
    fn send_chunk(&mut self, line: Bytes, last: bool, sink: &mut impl FnMut(Message)) {
        let now = self.now;
        let group = self.group.get_or_insert_with(|| Group {
            id: PartialMeta::new_id(),
            ordinal: 0,
            timestamp: now,
        });
        group.ordinal += 1;
        let (ordinal, timestamp) = (group.ordinal, group.timestamp);
        // The last chunk takes the group's id; the others get a copy.
        let id = if last {
            self.group.take().expect("the group started above").id
        } else {
            group.id.clone()
        };
        sink(Message {
            line,
            source: self.source,
            timestamp,
            partial: Some(PartialMeta { id, ordinal, last }),
        });
    }

    /// Readies `buf` for the next read, if the last cut left that undone.
    fn settle(&mut self) {
        if mem::take(&mut self.pending) {
            self.next_buffer();
        }
    }

    /// Readies `buf` for the next read, with the held bytes of `data` at
    /// its front.
    fn next_buffer(&mut self) {
        let data = mem::take(&mut self.data);
        let held = self.next..self.end;
        let len = held.len();
        if self.data_whole {
            match data.try_into_mut() {
                Ok(mut reused) => {
                    reused.copy_within(held, 0);
                    self.buf = reused;
                    self.whole = true;
                }
                // The driver keeps lines: the buffer waits in `retired`.
                Err(data) => {
                    self.whole = false;
                    self.start_buffer(&data[held]);
                    self.retired.push_back(data);
                    if self.retired.len() > MAX_RETIRED {
                        self.retired.pop_front();
                    }
                }
            }
        } else if self.buf.len() >= len + MIN_READ_SPACE {
            self.buf[..len].copy_from_slice(&data[held]);
        } else {
            // Spent: the next read goes into a whole buffer again.
            self.start_buffer(&data[held]);
        }
    }

    /// Makes a whole buffer, with `held` at its front, the one to read into.
    fn start_buffer(&mut self, held: &[u8]) {
        let mut buf = self.recycled();
        buf[..held.len()].copy_from_slice(held);
        self.buf = buf;
    }

    /// A whole buffer for the next read: the oldest retired one if the
    /// driver has let go of it, else a new one.
    fn recycled(&mut self) -> BytesMut {
        if let Some(oldest) = self.retired.pop_front() {
            match oldest.try_into_mut() {
                Ok(buf) => return buf,
                Err(oldest) => self.retired.push_front(oldest),
            }
        }
        #[cfg(test)]
        {
            self.fresh += 1;
        }
        let mut fresh = BytesMut::zeroed(self.size);
        // Shared from the start: its reference count is made once, for
        // the buffer's life, not once per read it is frozen for.
        drop(fresh.split_to(0));
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message as `(line, Some((ordinal, last)))`, or `(line, None)`.
    type Cut = (Vec<u8>, Option<(u32, bool)>);

    /// Feeds `reads` one by one to a cutter with chunks of `chunk` bytes,
    /// then ends the input. `keep` holds on to every line, as a queue does.
    fn cut(chunk: usize, reads: &[&[u8]], keep: bool) -> Vec<Cut> {
        let mut cutter = LineCutter::new(Source::Stdout, chunk);
        let mut out = Vec::new();
        let mut kept = Vec::new();
        let mut sink = |m: Message| {
            out.push((m.line.to_vec(), m.partial.map(|p| (p.ordinal, p.last))));
            if keep {
                kept.push(m.line);
            }
        };
        for read in reads {
            // As a reader does: at most the space there is, per call.
            let mut rest = *read;
            while !rest.is_empty() {
                let space = cutter.space();
                let n = space.len().min(rest.len());
                space[..n].copy_from_slice(&rest[..n]);
                rest = &rest[n..];
                cutter.filled(n, SystemTime::now());
                cutter.cut(&mut sink);
            }
        }
        cutter.finish(&mut sink);
        out
    }

    fn w(s: &[u8]) -> Cut {
        (s.to_vec(), None)
    }

    fn p(s: &[u8], ordinal: u32, last: bool) -> Cut {
        (s.to_vec(), Some((ordinal, last)))
    }

    #[test]
    fn a_newline_at_a_reads_edge() {
        assert_eq!(cut(16, &[b"ab", b"\ncd\n"], false), [w(b"ab"), w(b"cd")]);
        assert_eq!(cut(16, &[b"ab\n", b"cd\n"], false), [w(b"ab"), w(b"cd")]);
        assert_eq!(cut(16, &[b"ab", b"\n"], false), [w(b"ab")]);
    }

    #[test]
    fn a_line_exactly_the_chunk_size_ends_with_an_empty_last_chunk() {
        assert_eq!(
            cut(4, &[b"abcd\n"], false),
            [p(b"abcd", 1, false), p(b"", 2, true)]
        );
        assert_eq!(cut(4, &[b"abc\n"], false), [w(b"abc")]);
    }

    #[test]
    fn a_long_line_across_reads_keeps_its_group() {
        assert_eq!(
            cut(4, &[b"abc", b"defgh", b"ij\nk\n"], false),
            [
                p(b"abcd", 1, false),
                p(b"efgh", 2, false),
                p(b"ij", 3, true),
                w(b"k")
            ]
        );
    }

    #[test]
    fn the_end_of_input_with_bytes_held_back() {
        assert_eq!(cut(16, &[b"ab\ncd"], false), [w(b"ab"), p(b"cd", 1, false)]);
        assert_eq!(
            cut(4, &[b"abcdef"], false),
            [p(b"abcd", 1, false), p(b"ef", 2, false)]
        );
        assert_eq!(cut(4, &[b"abcd"], false), [p(b"abcd", 1, false)]);
        assert_eq!(cut(4, &[], false), []);
    }

    #[test]
    fn buffers_are_reused_while_the_driver_keeps_lines() {
        // Many full reads whose lines are all kept: the split buffers are
        // spent and replaced, and every line stays intact.
        let line: Vec<u8> = (0..99)
            .map(|i| b'a' + (i % 26) as u8)
            .chain([b'\n'])
            .collect();
        let read: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(READ_SIZE / 100 * 100)
            .collect();
        let reads: Vec<&[u8]> = std::iter::repeat_n(&read[..], 40).collect();
        let out = cut(1 << 14, &reads, true);
        let total = 40 * read.len();
        assert_eq!(out.len(), total / 100);
        // Rejoined, every line is whole.
        let mut joined = Vec::new();
        for (l, partial) in &out {
            joined.extend_from_slice(l);
            if partial.is_none_or(|(_, last)| last) {
                joined.push(b'\n');
            }
        }
        assert_eq!(joined.len(), total);
        assert!(joined.chunks(100).all(|c| c == &line[..]));
    }

    /// Feeds `reads` reads of `read` to a cutter with 16 KiB chunks, whose
    /// sink keeps the lines of the last `keep` reads (as a queue a few
    /// reads behind does); returns how many buffers it allocated.
    fn buffers_allocated(read: &[u8], reads: usize, keep: usize) -> usize {
        let mut cutter = LineCutter::new(Source::Stdout, 1 << 14);
        let mut kept: VecDeque<Vec<Bytes>> = VecDeque::new();
        for _ in 0..reads {
            let space = cutter.space();
            space[..read.len()].copy_from_slice(read);
            cutter.filled(read.len(), SystemTime::now());
            let mut lines = Vec::new();
            cutter.cut(&mut |m: Message| lines.push(m.line));
            assert!(lines.iter().all(|l| l[..] == read[..99]));
            kept.push_back(lines);
            if kept.len() > keep {
                kept.pop_front();
            }
        }
        cutter.fresh
    }

    #[test]
    fn full_reads_reuse_the_buffers_a_driver_let_go_of() {
        let line: Vec<u8> = [b'x'; 99].into_iter().chain([b'\n']).collect();
        let read = line.repeat(READ_SIZE / 100);
        // Lines let go of after each cut (as a batch is, once the driver
        // has it), before the next read: one buffer, always.
        assert_eq!(buffers_allocated(&read, 40, 0), 1);
        // Lines kept for 3 reads: the buffers of those reads, and the
        // one being read into.
        assert_eq!(buffers_allocated(&read, 40, 3), 4);
    }

    #[test]
    fn small_reads_of_kept_lines_share_a_buffer() {
        // 100 reads of one line each, all kept: the first is frozen whole
        // (the cutter cannot know yet that the lines are kept), the rest
        // split off one buffer, not a buffer each.
        let line: Vec<u8> = [b'x'; 99].into_iter().chain([b'\n']).collect();
        assert_eq!(buffers_allocated(&line, 100, 100), 2);
    }

    #[test]
    fn a_panicking_sink_loses_only_its_message() {
        let mut cutter = LineCutter::new(Source::Stdout, 16);
        cutter.space()[..9].copy_from_slice(b"a\nboom\nc\n");
        cutter.filled(9, SystemTime::now());
        let mut got = Vec::new();
        loop {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                cutter.cut(&mut |m: Message| {
                    assert_ne!(&m.line[..], b"boom", "the sink panics");
                    got.push(m.line);
                })
            }));
            if run.is_ok() {
                break;
            }
        }
        assert_eq!(got, ["a", "c"]);
    }
}
