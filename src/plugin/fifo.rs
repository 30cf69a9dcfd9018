//! The FIFO pump: dockerd's frames in, messages out to the driver.
//!
//! dockerd writes each entry as a 4-byte big-endian length and a
//! `LogEntry` protobuf. Nothing here trusts those lengths: a length above
//! the frame limit is corruption, after which the reader looks for the
//! next plausible frame rather than skipping gigabytes it will never see.

use bytes::{Bytes, BytesMut};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::StreamStats;
use crate::error::Error;
use crate::log_entry::{self, Decoded};
use crate::logger::Logger;
use crate::message::{Message, PartialGroups, PartialMeta};

/// The frame length that marks the end of a FIFO's stream: the plugin
/// writes it behind dockerd's last entry at `StopLogging`.
pub(super) const END_MARKER: u32 = u32::MAX;

/// The first byte of every `LogEntry` that dockerd writes: field 1
/// (`source`), length-delimited. A resync looks for it after a length.
const SOURCE_TAG: u8 = 0x0a;

/// How many bytes the reader asks for at once.
const READ_SIZE: usize = 64 * 1024;

/// What the next frame of the stream is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Frame {
    /// A frame's payload, at most the limit long.
    Entry(Bytes),
    /// A length above the limit; the reader has moved to the next place
    /// where a frame or the end marker may start.
    Corrupt,
    /// The end marker, or the end of the stream (a truncated frame too).
    End,
}

/// Cuts a byte stream into frames.
pub(super) struct Frames<R> {
    src: R,
    /// Bytes read and not yet consumed.
    buf: BytesMut,
    /// The largest payload accepted.
    max: usize,
}

impl<R: Read> Frames<R> {
    pub(super) fn new(src: R, max: usize) -> Frames<R> {
        Frames {
            src,
            buf: BytesMut::new(),
            max,
        }
    }

    /// Reads until at least `n` bytes are buffered; `false` at the end of
    /// the stream (or on a read error).
    fn fill(&mut self, n: usize) -> bool {
        while self.buf.len() < n {
            let len = self.buf.len();
            let want = (n - len).max(READ_SIZE);
            self.buf.resize(len + want, 0);
            let read = loop {
                match self.src.read(&mut self.buf[len..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            match read {
                Ok(0) | Err(_) => {
                    self.buf.truncate(len);
                    return false;
                }
                Ok(k) => self.buf.truncate(len + k),
            }
        }
        true
    }

    fn length(&self) -> u32 {
        u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
    }

    /// The next frame. Never allocates more than the limit plus one read.
    pub(super) fn next_frame(&mut self) -> Frame {
        if !self.fill(4) {
            return Frame::End;
        }
        let len = self.length();
        if len == END_MARKER {
            let _ = self.buf.split_to(4);
            return Frame::End;
        }
        let len = len as usize;
        if len > self.max {
            self.resync();
            return Frame::Corrupt;
        }
        if !self.fill(4 + len) {
            return Frame::End;
        }
        let mut frame = self.buf.split_to(4 + len);
        Frame::Entry(frame.split_off(4).freeze())
    }

    /// Drops bytes until the buffer starts with the end marker, or with a
    /// length within the limit followed by [`SOURCE_TAG`], or the stream ends.
    fn resync(&mut self) {
        loop {
            let _ = self.buf.split_to(1);
            if !self.fill(4) {
                return;
            }
            let len = self.length();
            if len == END_MARKER {
                return;
            }
            if len as usize <= self.max {
                if !self.fill(5) {
                    return;
                }
                if self.buf[4] == SOURCE_TAG {
                    return;
                }
            }
        }
    }
}

/// A FIFO that reads as ended once `abandon` is set: a pump that waits for
/// bytes that never come is let go at `StopLogging`'s deadline.
pub(super) struct Abandonable<R> {
    pub(super) inner: R,
    pub(super) abandon: Arc<AtomicBool>,
}

impl<R: Read> Read for Abandonable<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.abandon.load(Ordering::SeqCst) {
            return Ok(0);
        }
        self.inner.read(buf)
    }
}

/// Reads frames from `src` into `logger` until the end marker or the end
/// of the stream. Never stops early: that would block the container.
pub(super) fn pump(src: impl Read, logger: &dyn Logger, max_frame: usize) -> StreamStats {
    let mut frames = Frames::new(src, max_frame);
    let mut stats = StreamStats::default();
    let mut groups = PartialGroups::default();
    loop {
        let frame = match frames.next_frame() {
            Frame::End => break,
            Frame::Corrupt => {
                stats.bad_frames += 1;
                continue;
            }
            Frame::Entry(frame) => frame,
        };
        let Some(msg) = to_message(frame, &mut groups) else {
            stats.bad_frames += 1;
            continue;
        };
        stats.entries += 1;
        let start = Instant::now();
        if Error::guard(logger.name(), || logger.log(msg)).is_err() {
            stats.log_errors += 1;
        }
        stats.slowest_log = stats.slowest_log.max(start.elapsed());
    }
    stats
}

/// Decodes one frame into a message; `None` if it is not a `LogEntry` of
/// `stdout` or `stderr`.
fn to_message(frame: Bytes, groups: &mut PartialGroups) -> Option<Message> {
    let Decoded { mut msg, partial } = log_entry::decode_entry(&frame).ok()?;
    msg.partial = match (msg.partial.take(), partial) {
        // dockerd's ordinals are int32s; one below 0 is no position.
        (Some(meta), _) => Some(PartialMeta {
            ordinal: if (meta.ordinal as i32) < 0 {
                0
            } else {
                meta.ordinal
            },
            ..meta
        }),
        // Old-style chunks carry no metadata: a partial entry continues its
        // stream's group (or starts one), and the next whole entry of that
        // stream ends it.
        (None, true) => Some(groups.next(msg.source, false)),
        (None, false) => groups.end(msg.source),
    };
    Some(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    fn all(input: &[u8], max: usize) -> Vec<Frame> {
        let mut frames = Frames::new(input, max);
        let mut out = Vec::new();
        loop {
            let f = frames.next_frame();
            let end = f == Frame::End;
            out.push(f);
            if end {
                return out;
            }
        }
    }

    #[test]
    fn a_huge_length_resyncs_at_the_next_frame() {
        let mut input = 0xFFFF_FFF0u32.to_be_bytes().to_vec();
        input.extend_from_slice(b"garbage\x00\x00");
        input.extend(frame(b"\x0a\x06stdout"));
        assert_eq!(
            all(&input, 1024),
            [
                Frame::Corrupt,
                Frame::Entry(Bytes::from_static(b"\x0a\x06stdout")),
                Frame::End
            ]
        );
    }

    #[test]
    fn a_huge_length_stops_at_the_end_marker() {
        let mut input = 0xFFFF_FFF0u32.to_be_bytes().to_vec();
        input.extend_from_slice(b"junk");
        input.extend_from_slice(&END_MARKER.to_be_bytes());
        input.extend(frame(b"\x0a\x06stdout"));
        assert_eq!(all(&input, 1024), [Frame::Corrupt, Frame::End]);
    }

    #[test]
    fn a_truncated_frame_ends_the_stream() {
        let mut input = frame(b"\x0a\x06stdout");
        input.extend_from_slice(&100u32.to_be_bytes());
        input.extend_from_slice(b"short");
        assert_eq!(all(&input, 1024).len(), 2);
    }

    /// Hands its bytes out in reads of the given sizes, in turn.
    struct Chunked {
        data: Vec<u8>,
        pos: usize,
        sizes: Vec<usize>,
        turn: usize,
    }

    impl Read for Chunked {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let size = self.sizes[self.turn % self.sizes.len()];
            self.turn += 1;
            let n = size.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// Pieces of a hostile FIFO stream.
    fn piece() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            "[a-z]{0,20}".prop_map(|l| frame(
                &[&b"\x0a\x06stdout\x1a"[..], &[l.len() as u8], l.as_bytes()].concat()
            )),
            any::<u32>().prop_map(|n| n.to_be_bytes().to_vec()),
            (0u32..4096, prop::collection::vec(any::<u8>(), 0..16))
                .prop_map(|(n, body)| { [&n.to_be_bytes()[..], &body].concat() }),
            Just(END_MARKER.to_be_bytes().to_vec()),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(
            std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
        ))]

        #[test]
        fn fuzz_any_stream_gives_frames_within_the_limit_and_ends(
            pieces in proptest::collection::vec(piece(), 0..40),
            sizes in proptest::collection::vec(1usize..5000, 1..6),
            max in 1usize..2048,
        ) {
            let data: Vec<u8> = pieces.concat();
            let len = data.len();
            let mut frames = Frames::new(Chunked { data, pos: 0, sizes, turn: 0 }, max);
            let mut seen = 0;
            loop {
                match frames.next_frame() {
                    Frame::Entry(entry) => proptest::prop_assert!(entry.len() <= max),
                    Frame::Corrupt => {}
                    Frame::End => break,
                }
                seen += 1;
                // Every frame or resync consumes at least one byte.
                proptest::prop_assert!(seen <= len);
                proptest::prop_assert!(frames.buf.capacity() <= 2 * (max + 4 + READ_SIZE));
            }
        }
    }

    #[test]
    fn an_abandoned_reader_reads_as_ended() {
        let abandon = Arc::new(AtomicBool::new(true));
        let mut reader = Abandonable {
            inner: &b"data"[..],
            abandon,
        };
        assert_eq!(reader.read(&mut [0; 4]).unwrap(), 0);
    }
}
