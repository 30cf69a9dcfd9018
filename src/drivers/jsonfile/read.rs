//! Reading json-file logs back: Docker's `ReadLogs`, as an iterator.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::Deserialize;

use crate::drivers::file::read::{Decode, FileReader};
use crate::drivers::file::{LogFile, Naming};
use crate::error::{Error, Result};
use crate::message::{Message, PartialGroups, Source};
use crate::read::ReadConfig;
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
#[derive(Default)]
pub(super) struct JsonDecoder {
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

/// An iterator over the entries of a json-file log, oldest first.
///
/// Each item is a [`Message`] (without the `attrs`, which a `Message` does
/// not carry) or the error of one entry: a corrupt entry is reported once
/// and skipped, and reading goes on with the next. The `line` of a message
/// has no trailing newline; an entry that Docker wrote without one (a
/// chunk of a long line) comes back as a partial message, and the chunks of
/// one line share a fresh id, as from the [`Copier`](crate::Copier).
///
/// With [`ReadConfig::follow`], `next` blocks until a new entry is written
/// or the logger is closed.
#[derive(Debug)]
pub struct JsonFileReader(FileReader<JsonDecoder>);

impl JsonFileReader {
    pub(super) fn live(log: &Arc<LogFile>, config: &ReadConfig) -> Result<JsonFileReader> {
        FileReader::live(log, config, JsonDecoder::default()).map(JsonFileReader)
    }

    pub(super) fn stopped(path: &Path, config: &ReadConfig) -> Result<JsonFileReader> {
        FileReader::stopped(path, Naming::Numbered, config, JsonDecoder::default())
            .map(JsonFileReader)
    }

    /// Ends a following reader soon after `cancel` is set (within 100 ms),
    /// even while no entry is written: for a consumer that can go away,
    /// such as a `docker logs -f` client. A reader that does not follow
    /// ignores it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{atomic::AtomicBool, Arc};
    /// use logdriver::drivers::jsonfile::{JsonFileLogger, ReadConfig};
    /// use logdriver::Info;
    ///
    /// # let path = std::env::temp_dir().join(format!("cancel-doc-{}.log", std::process::id()));
    /// let logger = JsonFileLogger::new(&Info { log_path: Some(path.clone()), ..Info::default() })?;
    /// let gone = Arc::new(AtomicBool::new(true));
    /// let follow = ReadConfig { follow: true, ..ReadConfig::default() };
    /// let mut reader = logger.read_logs(&follow)?.cancel_on(gone);
    /// assert!(reader.next().is_none()); // the consumer is gone: no waiting
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    #[must_use]
    pub fn cancel_on(mut self, cancel: Arc<AtomicBool>) -> JsonFileReader {
        self.0.cancel_on(cancel);
        self
    }
}

impl Iterator for JsonFileReader {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Result<Message>> {
        self.0.next()
    }
}
