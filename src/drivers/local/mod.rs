//! `local`: Docker's compact, rotated-by-default log files, byte for byte.
//!
//! Docker recommends this driver, and it keeps the logs `docker logs`
//! reads for drivers that cannot read back (dual logging). Each message is
//! one record:
//!
//! ```text
//! [u32 big-endian length][LogEntry protobuf][the same length]
//! ```
//!
//! - The `LogEntry` is Docker's (`source`, `time_nano`, `line`, `partial`,
//!   `partial_log_metadata`, `attrs`), written as gogoproto writes it:
//!   fields in tag order, zero values left out. The line is kept without
//!   its newline; partial metadata is kept as the Copier made it.
//! - `attrs` hold what the `labels`, `labels-regex`, `env` and `env-regex`
//!   options select, sorted by key, then value, as Docker writes them
//!   since 2026. Older dockerds skip the field when they read.
//! - Docker reads no record over 1 MB. A longer line (a Copier's chunk can
//!   be 1 MiB, a direct `log` any size) is written as several chunks of
//!   one partial group, the rest of its group renumbered, so that every
//!   record reads back in Docker and nothing is refused.
//! - The trailing length lets a reader walk back from the end of a file:
//!   `tail` reads only the records it returns.
//! - Each record reaches the file in one `write` before `log` returns; the
//!   lines of one read from a Copier go out in one `write` together. Under
//!   Docker the file is `<container dir>/local-logs/container.log`; here it
//!   is [`Info::log_path`], created with mode `0640`.
//!
//! # Options
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `max-size` | 20 MiB | rotate when the file has reached this size; a value given is decimal (`10m` = 10,000,000 bytes), as in Docker; at most 1 TiB |
//! | `max-file` | `5` | files to keep, the live one included, from 1 to 100 |
//! | `compress` | `true` | gzip rotated files; so `max-file=1` needs `compress=false` |
//! | `labels`, `labels-regex`, `env`, `env-regex` | none | what goes into `attrs`; see [`Info::extra_attributes`] |
//!
//! Unlike Docker, every value is checked by [`LocalLogger::validate`], so
//! a bad one is refused before the container starts.
//!
//! # Rotation
//!
//! json-file's, with the same names (`container.log.1`, `.2.gz`…, the time
//! of a compressed file's last record in its gzip header) and the same
//! guarantees: compression runs off the write path, rotation never falls
//! between the chunks of one line, and a rotation that cannot create the
//! new file leaves every file as it was.
//!
//! # Reading
//!
//! [`LocalLogger::read_logs`] and [`read_logs`] return a [`LocalReader`]
//! with Docker's `tail`, `since`, `until` and `follow`, across rotated and
//! compressed files. A record whose two lengths disagree is corrupt: it is
//! reported, skipped, and reading goes on after it. A length over 1 MB
//! (Docker's limit) is corrupt too, and since nothing after it in that
//! file can be found, reading goes on with the next file. A record cut
//! short at the end of a file (a writer that died) ends the file, as in
//! Docker. The chunks of a long line come back as partial messages with
//! their metadata, and the last chunk ends its line: Docker 20.10's
//! `docker logs` prints no newline after such a chunk, newer ones do.
//!
//! # Examples
//!
//! ```
//! use logdriver::drivers::local::{self, ReadConfig};
//! use logdriver::{registry, Info, Message, Source};
//!
//! let path = std::env::temp_dir().join(format!("local-doc-{}.log", std::process::id()));
//! let logger = registry().create("local", &Info::new("web").with_log_path(&path))?;
//! logger.log(Message::new(Source::Stdout, "hello"))?;
//! logger.close()?;
//!
//! let bytes = std::fs::read(&path).unwrap();
//! let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
//! assert_eq!(bytes.len(), len + 8);
//! assert_eq!(bytes[len + 4..], bytes[..4]);
//!
//! let tail = ReadConfig { tail: Some(1), ..ReadConfig::default() };
//! let last = local::read_logs(&path, &tail)?.next().unwrap()?;
//! assert_eq!(&last.line[..], b"hello");
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), logdriver::Error>(())
//! ```

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;

use crate::drivers::file::logger::sealed;
use crate::drivers::file::read::Decode;
use crate::drivers::file::segment::{Framing, MAX_RECORD_BYTES};
use crate::drivers::file::{self, options, Encode, Naming, Rotation};
use crate::drivers::file::{FileLogReader, FileLogger, Format};
use crate::drivers::util::Options;
use crate::error::{Error, Result};
use crate::info::Info;
use crate::log_entry;
use crate::message::{Message, PartialGroups, PartialMeta};
/// What to read; the crate's [`ReadConfig`](crate::ReadConfig), here too.
pub use crate::read::ReadConfig;
use crate::time::YearOutOfRange;

/// The name this driver is registered under.
pub const NAME: &str = "local";
/// `max-size` when none is given: Docker's 20 MiB (binary).
pub const DEFAULT_MAX_SIZE: u64 = 20 * 1024 * 1024;
/// `max-file` when none is given.
pub const DEFAULT_MAX_FILE: usize = 5;

const OPTIONS: [&str; 7] = [
    "max-size",
    "max-file",
    "compress",
    crate::info::LABELS_OPT,
    crate::info::LABELS_REGEX_OPT,
    crate::info::ENV_OPT,
    crate::info::ENV_REGEX_OPT,
];

/// The driver's options, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Config {
    max_size: u64,
    max_file: usize,
    compress: bool,
}

impl Config {
    fn parse(opts: &HashMap<String, String>) -> Result<Config> {
        let o = Options::new(NAME, opts, &OPTIONS)?;
        let max_size = options::max_size(&o)?.unwrap_or(DEFAULT_MAX_SIZE);
        let max_file = options::max_file(&o)?.unwrap_or(DEFAULT_MAX_FILE);
        let compress = options::compress(&o)?.unwrap_or(true);
        if compress && max_file == 1 {
            // Name what the user wrote: compress if they asked for it,
            // else the max-file that clashes with the default (max-file
            // is given: its default is 5).
            return Err(match o.get("compress") {
                Some(_) => o.invalid(
                    "compress",
                    "compression cannot be enabled when max file count is 1",
                ),
                None => o.invalid(
                    "max-file",
                    "must be more than 1 while compress is on, as it is by default; \
                     set compress=false to keep one file",
                ),
            });
        }
        // Regexes are checked now, not at container start.
        Info {
            config: opts.clone(),
            ..Info::default()
        }
        .extra_attributes(NAME)?;
        Ok(Config {
            max_size,
            max_file,
            compress,
        })
    }
}

/// Records with the container's attrs, sorted once.
///
/// Docker reads no record over 1 MB, and a Copier's chunk can be 1 MiB (or
/// a direct `log` any size), so a longer line is written as several
/// chunks of one partial group, renumbering the rest of its group.
struct LocalEncoder {
    attrs: Vec<(String, String)>,
    /// The most line bytes one record holds, given the attrs.
    budget: usize,
    /// Per stream, the group whose chunks were split, and by how much
    /// its later ordinals move.
    shifts: [Option<(String, u32)>; 2],
}

impl LocalEncoder {
    fn new(attrs: Vec<(String, String)>) -> LocalEncoder {
        let attrs_size: usize = attrs.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
        // Room for the other fields: source, time, flags, a 64-byte id.
        let budget = MAX_RECORD_BYTES.saturating_sub(attrs_size + 256).max(1);
        LocalEncoder {
            attrs,
            budget,
            shifts: [None, None],
        }
    }

    fn record(&self, out: &mut Vec<u8>, msg: &Message) -> std::result::Result<(), YearOutOfRange> {
        let len = log_entry::put_framed(out, msg, &self.attrs)?;
        out.extend_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

impl Encode for LocalEncoder {
    fn encode(
        &mut self,
        out: &mut Vec<u8>,
        msg: &Message,
    ) -> std::result::Result<(), YearOutOfRange> {
        let slot = &mut self.shifts[msg.source as usize];
        let shift = match (&msg.partial, slot.as_ref()) {
            (Some(p), Some((id, shift))) if *id == p.id => *shift,
            _ => {
                *slot = None;
                0
            }
        };
        let chunks = msg.line.len().div_ceil(self.budget).max(1) as u32;
        if shift == 0 && chunks == 1 {
            return self.record(out, msg);
        }
        let (id, first, last) = match &msg.partial {
            Some(p) => (p.id.clone(), p.ordinal + shift, p.last),
            None => (PartialMeta::new_id(), 1, true),
        };
        for i in 0..chunks as usize {
            let end = ((i + 1) * self.budget).min(msg.line.len());
            let chunk = Message {
                line: msg.line.slice(i * self.budget..end),
                partial: Some(PartialMeta {
                    id: id.clone(),
                    ordinal: first + i as u32,
                    last: last && i + 1 == chunks as usize,
                }),
                ..msg.clone()
            };
            self.record(out, &chunk)?;
        }
        self.shifts[msg.source as usize] =
            (msg.partial.is_some() && !last).then(|| (id, shift + chunks - 1));
        Ok(())
    }
}

/// Records to messages; a partial record without metadata gets an id of
/// its own, as json-file's chunks do.
#[derive(Debug, Default)]
pub struct LocalDecoder {
    groups: PartialGroups,
}

impl Decode for LocalDecoder {
    const FRAMING: Framing = Framing::Lengths;

    fn decode(&mut self, path: &Path, line: u64, raw: &[u8]) -> Result<Message> {
        let raw = Bytes::copy_from_slice(raw);
        let decoded = log_entry::decode_entry(&raw).map_err(|reason| Error::CorruptEntry {
            path: path.to_owned(),
            line,
            reason,
        })?;
        let mut msg = decoded.msg;
        // Metadata counts only with the flag; the flag alone starts or
        // continues a group.
        if !decoded.partial {
            msg.partial = None;
        } else if msg.partial.is_none() {
            msg.partial = Some(self.groups.next(msg.source, false));
        }
        Ok(msg)
    }
}

/// The `local` driver: Docker's length-framed protobuf records, rotated
/// and compressed by default.
///
/// The local [`FileLogger`]: see the [module docs](self) for the format,
/// the options and reading.
pub type LocalLogger = FileLogger<Local>;

/// An iterator over the records of a `local` log, oldest first.
///
/// Each item is a [`Message`] or the error of one record, which is
/// reported once and skipped. With [`ReadConfig::follow`], `next` blocks
/// until a new record is written or the logger is closed.
pub type LocalReader = FileLogReader<Local>;

/// The local format, Docker's: `[u32 length][LogEntry protobuf][u32
/// length]` records, rotated files named `<path>.1` (the newest), `.2`…
#[derive(Debug, Clone, Copy)]
pub struct Local;

impl Format for Local {}

#[allow(private_interfaces)] // see `file::logger::sealed`
impl sealed::Format for Local {
    const NAME: &'static str = NAME;
    const NAMING: Naming = Naming::Numbered;
    type Decoder = LocalDecoder;

    fn open(info: &Info) -> Result<(Rotation, Box<dyn Encode>)> {
        let config = Config::parse(&info.config)?;
        let mut attrs: Vec<(String, String)> = info.extra_attributes(NAME)?.into_iter().collect();
        attrs.sort();
        let rotation = Rotation {
            max_size: Some(config.max_size),
            max_file: config.max_file,
            compress: config.compress,
            naming: Naming::Numbered,
        };
        Ok((rotation, Box::new(LocalEncoder::new(attrs))))
    }

    fn validate(opts: &HashMap<String, String>) -> Result<()> {
        Config::parse(opts).map(drop)
    }
}

/// Reads the `local` log at `path` and its rotated files.
///
/// If a [`LocalLogger`] of this process is writing `path`, this is its
/// [`read_logs`](FileLogger::read_logs), [`ReadConfig::follow`]
/// included. Otherwise it reads the files as they are (written by this
/// crate or by Docker), and `follow` is ignored.
///
/// # Errors
///
/// [`Error::Io`] when a file cannot be opened, or (with `tail`) read.
pub fn read_logs(path: impl AsRef<Path>, config: &ReadConfig) -> Result<LocalReader> {
    file::read_logs(path.as_ref(), config)
}
