//! Reading json-file logs back: Docker's `ReadLogs`, as an iterator.

use std::path::Path;

use serde::Deserialize;

use crate::drivers::file::read::Decode;
use crate::error::{Error, Result};
use crate::message::{Message, PartialGroups, Source};
use crate::time::parse_time;

/// One entry of a json-file log, as Docker writes it.
#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    log: String,
    #[serde(default)]
    stream: String,
    time: String,
}

/// json-file entries to messages, tracking partial groups per stream.
#[derive(Debug, Default)]
pub struct JsonDecoder {
    groups: PartialGroups,
}

impl Decode for JsonDecoder {
    fn decode(&mut self, path: &Path, line: u64, raw: &[u8]) -> Result<Message> {
        let corrupt = |reason: String| Error::CorruptEntry {
            path: path.to_owned(),
            line,
            reason,
        };
        let entry: Entry = serde_json::from_slice(raw).map_err(|e| corrupt(e.to_string()))?;
        let source: Source = entry.stream.parse().map_err(|e| corrupt(format!("{e}")))?;
        let timestamp =
            parse_time(&entry.time).ok_or_else(|| corrupt(format!("bad time {:?}", entry.time)))?;
        let mut log = entry.log.into_bytes();
        let ends_line = log.last() == Some(&b'\n');
        if ends_line {
            log.pop();
        }
        // json-file keeps no partial metadata: an entry without a newline
        // is a chunk, and the entry of its stream that has one ends it.
        let partial = if ends_line {
            self.groups.end(source)
        } else {
            Some(self.groups.next(source, false))
        };
        Ok(Message {
            line: log.into(),
            source,
            timestamp,
            partial,
        })
    }
}
