//! Reading one container's entries back: `journalctl -o export`, matched
//! on `CONTAINER_ID_FULL`, as a child process whose output is parsed as
//! it comes.
//!
//! journalctl is journald's own reader: it knows every version of the
//! journal file format (compact mode, zstd, lz4 and xz compression,
//! keyed hashes), follows files as journald rotates and vacuums them, and
//! merges the system and runtime journals. A reader of our own would have
//! to keep up with all of that; one process per read costs a few
//! milliseconds (`--tail 10` of 200,000 entries: 12 ms). Nor is a
//! pure-Rust reader faster: reading one container's 200,400 entries from a
//! standalone journald (three runs, release builds), this reader took
//! 2.6-2.7 s and the `sdjournal` crate (0.1.15) 2.5-3.3 s, both byte for
//! byte, while it would bring zstd, lz4 and mmap'd file parsing along.

use std::io::{BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::export::ExportReader;
use super::NAME;
use crate::error::{Error, Result};
use crate::message::{Message, PartialGroups};
use crate::read::{LogStream, ReadConfig};

/// The fields asked of journalctl, beside the `__` ones it always writes.
const FIELDS: &str = "MESSAGE,PRIORITY,CONTAINER_PARTIAL_ID,CONTAINER_PARTIAL_ORDINAL,\
                      CONTAINER_PARTIAL_LAST,CONTAINER_PARTIAL_MESSAGE";

/// journalctl's arguments for `config`, for the container `full_id`.
pub(crate) fn journalctl_args(full_id: &str, config: &ReadConfig) -> Vec<String> {
    let mut args: Vec<String> = ["--quiet", "--no-pager", "--output=export"]
        .map(String::from)
        .into();
    args.push(format!("--output-fields={FIELDS}"));
    match config.tail {
        Some(n) => args.push(format!("--lines={n}")),
        // Following shows the last 10 unless told otherwise.
        None if config.follow => args.push("--lines=all".into()),
        None => {}
    }
    if let Some(since) = config.since {
        args.push(format!("--since={}", at(since)));
    }
    if config.follow {
        args.push("--follow".into());
    } else if let Some(until) = config.until {
        args.push(format!("--until={}", at(until)));
    }
    args.push(format!("CONTAINER_ID_FULL={full_id}"));
    args
}

/// `t` as a systemd time: `@` and seconds since the epoch, to the µs.
fn at(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("@{}.{:06}", d.as_secs(), d.subsec_micros())
}

/// The entries of `full_id` that `config` asks for.
pub(crate) fn read(full_id: &str, config: &ReadConfig) -> Result<LogStream> {
    if config.tail == Some(0) && !config.follow {
        return Ok(LogStream::new(std::iter::empty()));
    }
    let mut child = Command::new("journalctl")
        .args(journalctl_args(full_id, config))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::driver(NAME, format!("cannot run journalctl: {e}")))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let child = Arc::new(Mutex::new(child));
    let entries = Entries {
        reader: ExportReader::new(BufReader::new(stdout)),
        child: Arc::clone(&child),
        since: config.since,
        until: config.until,
        groups: PartialGroups::default(),
        done: false,
    };
    Ok(LogStream::new(entries).on_stop(move || {
        let _ = child.lock().kill();
    }))
}

/// The messages of a running journalctl.
struct Entries {
    reader: ExportReader<BufReader<ChildStdout>>,
    child: Arc<Mutex<Child>>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    /// Groups of chunks marked only by `CONTAINER_PARTIAL_MESSAGE`.
    groups: PartialGroups,
    done: bool,
}

impl Entries {
    /// How journalctl ended: an error with what it said, unless it was
    /// stopped or succeeded.
    fn finish(&mut self) -> Option<Result<Message>> {
        self.done = true;
        let mut child = self.child.lock();
        let status = child.wait().ok()?;
        if status.success() || status.code().is_none() {
            return None;
        }
        let mut said = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut said);
        }
        Some(Err(Error::driver(
            NAME,
            format!("journalctl failed ({status}): {}", said.trim()),
        )))
    }
}

impl Iterator for Entries {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Result<Message>> {
        while !self.done {
            let record = match self.reader.next_record() {
                Ok(Some(record)) => record,
                Ok(None) => return self.finish(),
                Err(e) => {
                    let _ = self.child.lock().kill();
                    self.finish();
                    return Some(Err(Error::driver(NAME, e)));
                }
            };
            let at = record.timestamp();
            if self.since.is_some_and(|since| at < since) {
                continue;
            }
            if self.until.is_some_and(|until| at > until) {
                // Entries come in time order: the rest are later still.
                let _ = self.child.lock().kill();
                self.finish();
                return None;
            }
            return Some(Ok(record.into_message(&mut self.groups)));
        }
        None
    }
}

impl Drop for Entries {
    fn drop(&mut self) {
        if !self.done {
            let mut child = self.child.lock();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn arguments_match_the_container_and_carry_each_bound() {
        let base = [
            "--quiet",
            "--no-pager",
            "--output=export",
            "--output-fields=MESSAGE,PRIORITY,CONTAINER_PARTIAL_ID,CONTAINER_PARTIAL_ORDINAL,\
             CONTAINER_PARTIAL_LAST,CONTAINER_PARTIAL_MESSAGE",
        ];
        let args = journalctl_args("abc", &ReadConfig::default());
        assert_eq!(args, [&base[..], &["CONTAINER_ID_FULL=abc"]].concat());

        let config = ReadConfig {
            tail: Some(5),
            since: Some(UNIX_EPOCH + Duration::from_micros(1_500_000_000_000_042)),
            until: Some(UNIX_EPOCH + Duration::from_secs(1_600_000_000)),
            follow: false,
        };
        assert_eq!(
            journalctl_args("abc", &config)[4..],
            [
                "--lines=5",
                "--since=@1500000000.000042",
                "--until=@1600000000.000000",
                "CONTAINER_ID_FULL=abc"
            ]
        );

        let follow = ReadConfig {
            follow: true,
            until: config.until,
            ..ReadConfig::default()
        };
        // Following, `until` is applied here: journalctl would not stop at it.
        assert_eq!(
            journalctl_args("abc", &follow)[4..],
            ["--lines=all", "--follow", "CONTAINER_ID_FULL=abc"]
        );
    }
}
