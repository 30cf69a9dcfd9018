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
        out.extend_from_slice(&self.time);
        out.push(b' ');
        out.extend_from_slice(msg.source.as_str().as_bytes());
        out.extend_from_slice(if msg.ends_line() { b" F " } else { b" P " });
        out.extend_from_slice(&msg.line);
        out.push(b'\n');
        Ok(())
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
}
