//! journald's export format, as `journalctl -o export` writes it: entries
//! separated by an empty line, each field `NAME=value\n`, or `NAME\n`, a
//! little-endian u64 length, the value and `\n` for a value that is not
//! printable text. Only the fields a [`Message`] needs are kept.

use std::io::{self, BufRead};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::message::{Message, PartialGroups, PartialMeta, Source};

/// The fields of one entry that make its message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// `__REALTIME_TIMESTAMP`: when journald received it, in µs.
    pub(crate) realtime_us: u64,
    pub(crate) message: Vec<u8>,
    pub(crate) priority: Vec<u8>,
    pub(crate) partial_id: Option<String>,
    pub(crate) partial_ordinal: u32,
    pub(crate) partial_last: bool,
    /// `CONTAINER_PARTIAL_MESSAGE=true`: a chunk that does not end its line.
    pub(crate) partial_message: bool,
}

impl Record {
    /// The entry as the message it was written from: priority 3 is
    /// stderr, any other stdout, as Docker reads it.
    ///
    /// A chunk written with Docker's partial fields keeps them. conmon
    /// (podman) marks a chunk with `CONTAINER_PARTIAL_MESSAGE=true` alone:
    /// `groups` then makes its group, which the stream's next whole entry
    /// ends, as the json-file reader does. conmon also keeps a line's
    /// newline in `MESSAGE`; it is dropped here, as the end of the line.
    pub(crate) fn into_message(self, groups: &mut PartialGroups) -> Message {
        let source = if self.priority == b"3" {
            Source::Stderr
        } else {
            Source::Stdout
        };
        let timestamp = self.timestamp();
        let mut line = self.message;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let partial = match self.partial_id {
            Some(id) => Some(PartialMeta {
                id,
                ordinal: self.partial_ordinal,
                last: self.partial_last,
            }),
            None if self.partial_message => Some(groups.next(source, false)),
            None => groups.end(source),
        };
        Message {
            line: Bytes::from(line),
            source,
            timestamp,
            partial,
        }
    }

    pub(crate) fn timestamp(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.realtime_us)
    }

    fn set(&mut self, name: &[u8], value: Vec<u8>) {
        let text = || String::from_utf8_lossy(&value).into_owned();
        match name {
            b"__REALTIME_TIMESTAMP" => self.realtime_us = text().parse().unwrap_or(0),
            b"MESSAGE" => self.message = value,
            b"PRIORITY" => self.priority = value,
            b"CONTAINER_PARTIAL_ID" => self.partial_id = Some(text()),
            b"CONTAINER_PARTIAL_ORDINAL" => self.partial_ordinal = text().parse().unwrap_or(0),
            b"CONTAINER_PARTIAL_LAST" => self.partial_last = value == b"true",
            b"CONTAINER_PARTIAL_MESSAGE" => self.partial_message = value == b"true",
            _ => {}
        }
    }
}

/// Reads entries in the export format from `R`.
#[derive(Debug)]
pub(crate) struct ExportReader<R> {
    inner: R,
    line: Vec<u8>,
}

impl<R: BufRead> ExportReader<R> {
    pub(crate) fn new(inner: R) -> ExportReader<R> {
        ExportReader {
            inner,
            line: Vec::new(),
        }
    }

    /// The next entry, or `None` at the end of the input.
    ///
    /// # Errors
    ///
    /// The read's error, or `InvalidData` for input cut short inside a
    /// field.
    pub(crate) fn next_record(&mut self) -> io::Result<Option<Record>> {
        let mut record = Record::default();
        let mut fields = 0;
        loop {
            self.line.clear();
            if self.inner.read_until(b'\n', &mut self.line)? == 0 {
                return if fields == 0 {
                    Ok(None)
                } else {
                    // The last entry of a stream that ended without its
                    // blank line (journalctl was stopped): keep it.
                    Ok(Some(record))
                };
            }
            let Some(b'\n') = self.line.pop() else {
                return Err(cut("a field without its newline"));
            };
            if self.line.is_empty() {
                if fields == 0 {
                    continue;
                }
                return Ok(Some(record));
            }
            fields += 1;
            if let Some(eq) = memchr::memchr(b'=', &self.line) {
                record.set(&self.line[..eq], self.line[eq + 1..].to_vec());
            } else {
                let mut len = [0; 8];
                self.inner
                    .read_exact(&mut len)
                    .map_err(|_| cut("a binary field without its length"))?;
                let len = u64::from_le_bytes(len) as usize;
                let mut value = vec![0; len + 1];
                self.inner
                    .read_exact(&mut value)
                    .map_err(|_| cut("a binary field cut short"))?;
                if value.pop() != Some(b'\n') {
                    return Err(cut("a binary field without its newline"));
                }
                record.set(&self.line, value);
            }
        }
    }
}

fn cut(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("journal export: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(name: &str, value: &[u8]) -> Vec<u8> {
        let mut out = format!("{name}\n").into_bytes();
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
        out
    }

    #[test]
    fn reads_text_and_binary_fields_into_messages() {
        let mut input =
            b"__CURSOR=s=1\n__REALTIME_TIMESTAMP=1796320941258577\nPRIORITY=3\n".to_vec();
        input.extend(binary("MESSAGE", b"a\nb\x00\xff"));
        input.extend_from_slice(b"_PID=7\n\n");
        input.extend_from_slice(b"__REALTIME_TIMESTAMP=2\nPRIORITY=6\nMESSAGE=chunk\n");
        input.extend_from_slice(
            b"CONTAINER_PARTIAL_ID=abc\nCONTAINER_PARTIAL_ORDINAL=3\nCONTAINER_PARTIAL_LAST=false\n\n",
        );
        let mut reader = ExportReader::new(&input[..]);
        let groups = &mut PartialGroups::default();

        let first = reader.next_record().unwrap().unwrap().into_message(groups);
        assert_eq!(&first.line[..], b"a\nb\x00\xff");
        assert_eq!(first.source, Source::Stderr);
        assert_eq!(
            first.timestamp,
            UNIX_EPOCH + Duration::from_micros(1_796_320_941_258_577)
        );
        assert_eq!(first.partial, None);

        let second = reader.next_record().unwrap().unwrap().into_message(groups);
        assert_eq!(&second.line[..], b"chunk");
        assert_eq!(second.source, Source::Stdout);
        assert_eq!(
            second.partial,
            Some(PartialMeta {
                id: "abc".into(),
                ordinal: 3,
                last: false
            })
        );
        assert_eq!(reader.next_record().unwrap(), None);
    }

    #[test]
    fn conmons_entries_keep_their_newline_and_mark_chunks_alone() {
        let input = b"PRIORITY=6\nMESSAGE\n\x0c\0\0\0\0\0\0\0from podman\n\n\n\
                      PRIORITY=6\nMESSAGE=no newli\nCONTAINER_PARTIAL_MESSAGE=true\n\n\
                      PRIORITY=6\nMESSAGE=ne\n\n";
        let mut reader = ExportReader::new(&input[..]);
        let groups = &mut PartialGroups::default();
        let mut next = || reader.next_record().unwrap().unwrap().into_message(groups);
        let (whole, chunk, end) = (next(), next(), next());
        assert_eq!(
            (&whole.line[..], whole.partial),
            (&b"from podman"[..], None)
        );
        let chunk_meta = chunk.partial.clone().unwrap();
        assert_eq!(
            (&chunk.line[..], chunk_meta.ordinal, chunk_meta.last),
            (&b"no newli"[..], 1, false)
        );
        let end_meta = end.partial.clone().unwrap();
        assert_eq!(
            (&end.line[..], end_meta.id, end_meta.ordinal, end_meta.last),
            (&b"ne"[..], chunk_meta.id, 2, true)
        );
    }

    #[test]
    fn an_entry_cut_short_is_an_error_and_one_without_its_blank_line_is_kept() {
        let mut input = binary("MESSAGE", b"whole");
        input.truncate(input.len() - 3);
        let err = ExportReader::new(&input[..]).next_record().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        let record = ExportReader::new(&b"MESSAGE=last\n"[..])
            .next_record()
            .unwrap()
            .unwrap();
        assert_eq!(record.message, b"last");
    }
}
