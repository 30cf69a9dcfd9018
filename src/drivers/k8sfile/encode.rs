//! The CRI record: `<time> <stream> <tag> <content>\n`.

use std::time::SystemTime;

use crate::drivers::file::Encode;
use crate::message::Message;
use crate::time::{write_time_nanos, YearOutOfRange};

/// CRI records, the last time kept formatted: the Copier stamps every
/// line of one read with the same time.
#[derive(Default)]
pub(super) struct CriEncoder {
    at: Option<SystemTime>,
    time: Vec<u8>,
}

impl Encode for CriEncoder {
    fn encode(&mut self, out: &mut Vec<u8>, msg: &Message) -> Result<(), YearOutOfRange> {
        if self.at != Some(msg.timestamp) {
            self.time.clear();
            self.at = None;
            write_time_nanos(&mut self.time, msg.timestamp)?;
            self.at = Some(msg.timestamp);
        }
        // A newline inside the line (only an embedder's own message can
        // hold one: the Copier cuts lines at them) ends a record, as it
        // would have coming through the container's pipe; so the text
        // after it is a line of its own, with this time, stream and tag,
        // and can never forge them.
        let mut rest = &msg.line[..];
        while let Some(at) = memchr::memchr(b'\n', rest) {
            self.record(out, msg, b" F ", &rest[..at]);
            rest = &rest[at + 1..];
        }
        let tag = if msg.ends_line() { b" F " } else { b" P " };
        self.record(out, msg, tag, rest);
        Ok(())
    }
}

impl CriEncoder {
    /// One record of `content`, tagged `tag`, with `msg`'s time and stream.
    fn record(&self, out: &mut Vec<u8>, msg: &Message, tag: &[u8; 3], content: &[u8]) {
        out.extend_from_slice(&self.time);
        out.push(b' ');
        out.extend_from_slice(msg.source.as_str().as_bytes());
        out.extend_from_slice(tag);
        out.extend_from_slice(content);
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::message::{PartialMeta, Source};

    fn record(line: &[u8], source: Source, partial: Option<bool>, nanos: u32) -> String {
        let msg = Message {
            line: line.to_vec().into(),
            source,
            timestamp: UNIX_EPOCH + Duration::new(1_764_500_401, nanos),
            partial: partial.map(|last| PartialMeta {
                id: "0".repeat(64),
                ordinal: 1,
                last,
            }),
        };
        let mut out = Vec::new();
        CriEncoder::default().encode(&mut out, &msg).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn records_like_containerd_with_nine_fraction_digits() {
        assert_eq!(
            record(b"hello", Source::Stdout, None, 0),
            "2025-11-30T11:00:01.000000000Z stdout F hello\n"
        );
        assert_eq!(
            record(b"oops\r", Source::Stderr, None, 120_000_000),
            "2025-11-30T11:00:01.120000000Z stderr F oops\r\n"
        );
        assert_eq!(
            record(b"chunk", Source::Stdout, Some(false), 1),
            "2025-11-30T11:00:01.000000001Z stdout P chunk\n"
        );
        assert_eq!(
            record(b"end", Source::Stdout, Some(true), 1),
            "2025-11-30T11:00:01.000000001Z stdout F end\n"
        );
        assert_eq!(
            record(b"", Source::Stdout, None, 0),
            "2025-11-30T11:00:01.000000000Z stdout F \n"
        );
        assert_eq!(
            record(b"a\tb \xc3\xbc", Source::Stdout, None, 0),
            "2025-11-30T11:00:01.000000000Z stdout F a\tb \u{fc}\n"
        );
    }

    #[test]
    fn a_newline_inside_a_line_ends_a_record_and_cannot_forge_the_next() {
        let forged = b"one\n2000-01-01T00:00:00.000000000Z stderr F forged";
        assert_eq!(
            record(forged, Source::Stdout, None, 0),
            "2025-11-30T11:00:01.000000000Z stdout F one\n\
             2025-11-30T11:00:01.000000000Z stdout F 2000-01-01T00:00:00.000000000Z stderr F forged\n"
        );
        assert_eq!(
            record(b"a\n", Source::Stdout, Some(false), 0),
            "2025-11-30T11:00:01.000000000Z stdout F a\n\
             2025-11-30T11:00:01.000000000Z stdout P \n"
        );
    }
}
