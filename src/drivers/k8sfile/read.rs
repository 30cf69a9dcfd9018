//! Reading CRI logs back, as leniently as the kubelet does.

use std::path::Path;

use crate::drivers::file::read::Decode;
use crate::error::{Error, Result};
use crate::message::{Message, PartialGroups, Source};
use crate::time::parse_time;

/// CRI records to messages, tracking `P` groups per stream.
#[derive(Debug, Default)]
pub struct CriDecoder {
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
