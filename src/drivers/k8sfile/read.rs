//! Reading CRI logs back, as leniently as the kubelet does.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::drivers::file::read::{Decode, FileReader};
use crate::drivers::file::{LogFile, Naming};
use crate::error::{Error, Result};
use crate::message::{Message, PartialGroups, Source};
use crate::read::ReadConfig;
use crate::time::parse_time;

/// CRI records to messages, tracking `P` groups per stream.
#[derive(Default)]
pub(super) struct CriDecoder {
    groups: PartialGroups,
}

impl Decode for CriDecoder {
    fn decode(&mut self, path: &Path, line: u64, raw: &[u8]) -> Result<Message> {
        let corrupt = |reason: String| Error::CorruptEntry {
            path: path.to_owned(),
            line,
            reason,
        };
        let record = raw.strip_suffix(b"\n").unwrap_or(raw);
        // The kubelet splits at the first three spaces; the content is the
        // rest, spaces and all. A tag with nothing after it is an empty
        // line here, where the kubelet gives up.
        let mut fields = record.splitn(4, |&b| b == b' ');
        let (Some(time), Some(stream), Some(tag)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(corrupt("fewer than three fields".into()));
        };
        let content = fields.next().unwrap_or_default();
        let time = std::str::from_utf8(time).ok();
        let timestamp = time.and_then(parse_time).ok_or_else(|| {
            corrupt(format!(
                "bad time {:?}",
                String::from_utf8_lossy(raw.get(..40).unwrap_or(raw))
            ))
        })?;
        let source = match stream {
            b"stdout" => Source::Stdout,
            b"stderr" => Source::Stderr,
            other => {
                return Err(corrupt(format!(
                    "bad stream {:?}",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        // Only the part before a `:` counts; anything but `P` is full.
        let partial_tag = tag.split(|&b| b == b':').next() == Some(b"P");
        let partial = if partial_tag {
            Some(self.groups.next(source, false))
        } else {
            self.groups.end(source)
        };
        Ok(Message {
            line: bytes::Bytes::copy_from_slice(content),
            source,
            timestamp,
            partial,
        })
    }
}

/// An iterator over the records of a CRI log, oldest first.
///
/// Each item is a [`Message`] or the error of one record: a corrupt record
/// is reported once and skipped, and reading goes on with the next. A `P`
/// record comes back as a partial message, and the `F` record after it as
/// the last chunk of the same group, so that the chunks of one line share
/// an id. A `P` with no `F` after it, as containerd leaves at the end of
/// input, stays a partial that does not end its line.
///
/// With [`ReadConfig::follow`], `next` blocks until a new record is
/// written or the logger is closed.
#[derive(Debug)]
pub struct K8sFileReader(FileReader<CriDecoder>);

impl K8sFileReader {
    pub(super) fn live(log: &Arc<LogFile>, config: &ReadConfig) -> Result<K8sFileReader> {
        FileReader::live(log, config, CriDecoder::default()).map(K8sFileReader)
    }

    pub(super) fn stopped(path: &Path, config: &ReadConfig) -> Result<K8sFileReader> {
        FileReader::stopped(path, Naming::Stamped, config, CriDecoder::default()).map(K8sFileReader)
    }

    /// Ends a following reader soon after `cancel` is set (within 100 ms),
    /// even while nothing is written. A reader that does not follow
    /// ignores it.
    #[must_use]
    pub fn cancel_on(mut self, cancel: Arc<AtomicBool>) -> K8sFileReader {
        self.0.cancel_on(cancel);
        self
    }
}

impl Iterator for K8sFileReader {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Result<Message>> {
        self.0.next()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn decode_all(records: &[&[u8]]) -> Vec<Result<Message>> {
        let mut decoder = CriDecoder::default();
        records
            .iter()
            .enumerate()
            .map(|(i, raw)| decoder.decode(Path::new("c.log"), i as u64 + 1, raw))
            .collect()
    }

    fn at(secs: u64, nanos: u32) -> std::time::SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn the_kubelets_leniency() {
        let got = decode_all(&[
            b"2025-11-30T11:00:01.000000000Z stdout F hello world\n",
            // containerd's trimmed fraction; any number of digits.
            b"2025-11-30T11:00:01.12Z stderr F a\n",
            b"2025-11-30T11:00:01.1234567891Z stderr F b\n",
            // conmon's local time with an offset.
            b"2025-11-30T12:00:01.000000005+01:00 stdout F c\n",
            // a tag with extras; no newline at the end of the file.
            b"2025-11-30T11:00:01Z stdout F:x:y d",
            // nothing after the tag.
            b"2025-11-30T11:00:01Z stdout F\n",
        ]);
        let got: Vec<(Source, Vec<u8>, std::time::SystemTime, bool)> = got
            .into_iter()
            .map(|m| {
                let m = m.unwrap();
                (m.source, m.line.to_vec(), m.timestamp, m.partial.is_some())
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    Source::Stdout,
                    b"hello world".to_vec(),
                    at(1_764_500_401, 0),
                    false
                ),
                (
                    Source::Stderr,
                    b"a".to_vec(),
                    at(1_764_500_401, 120_000_000),
                    false
                ),
                (
                    Source::Stderr,
                    b"b".to_vec(),
                    at(1_764_500_401, 123_456_789),
                    false
                ),
                (Source::Stdout, b"c".to_vec(), at(1_764_500_401, 5), false),
                (Source::Stdout, b"d".to_vec(), at(1_764_500_401, 0), false),
                (Source::Stdout, b"".to_vec(), at(1_764_500_401, 0), false),
            ]
        );
    }

    #[test]
    fn p_groups_join_per_stream_and_a_final_p_stays_open() {
        let got = decode_all(&[
            b"2025-11-30T11:00:01Z stdout P ab\n",
            b"2025-11-30T11:00:01Z stderr F other\n",
            b"2025-11-30T11:00:01Z stdout P cd\n",
            b"2025-11-30T11:00:01Z stdout F ef\n",
            b"2025-11-30T11:00:01Z stdout F whole\n",
            b"2025-11-30T11:00:01Z stdout P tail\n",
        ]);
        let got: Vec<Message> = got.into_iter().map(Result::unwrap).collect();
        let meta = |i: usize| got[i].partial.clone().map(|p| (p.ordinal, p.last));
        assert_eq!(
            (0..6).map(meta).collect::<Vec<_>>(),
            [
                Some((1, false)),
                None,
                Some((2, false)),
                Some((3, true)),
                None,
                Some((1, false))
            ]
        );
        let id = |i: usize| got[i].partial.as_ref().unwrap().id.clone();
        assert_eq!(id(0), id(2));
        assert_eq!(id(0), id(3));
        assert_ne!(id(0), id(5));
        // Joined as a reader prints them: each line, a newline where one was.
        let mut stdout = Vec::new();
        for m in got.iter().filter(|m| m.source == Source::Stdout) {
            stdout.extend_from_slice(&m.line);
            if m.ends_line() {
                stdout.push(b'\n');
            }
        }
        assert_eq!(stdout, b"abcdef\nwhole\ntail");
    }

    #[test]
    fn corrupt_records_name_file_line_and_reason() {
        let got = decode_all(&[
            b"garbage\n",
            b"2025-11-30T11:00:01Z stdin F x\n",
            b"yesterday stdout F x\n",
            b"\n",
        ]);
        let reasons: Vec<String> = got
            .into_iter()
            .map(|r| match r {
                Err(Error::CorruptEntry { path, line, reason }) => {
                    assert_eq!(path, Path::new("c.log"));
                    format!("{line}: {reason}")
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "1: fewer than three fields",
                "2: bad stream \"stdin\"",
                "3: bad time \"yesterday stdout F x\\n\"",
                "4: fewer than three fields",
            ]
        );
    }
}
