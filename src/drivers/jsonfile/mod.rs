//! `json-file`: Docker's default driver, byte for byte.
//!
//! Each line becomes one JSON object on a line of its own, with the fields
//! in this order:
//!
//! ```text
//! {"log":"hello\n","stream":"stdout","attrs":{"tag":"web"},"time":"2026-11-27T01:02:03.456789Z"}
//! ```
//!
//! - `log` is the line plus `\n`, except for a chunk of a long line that
//!   does not end it; it is left out when empty. `stream` is `stdout` or
//!   `stderr`. `attrs` holds the container labels and environment variables
//!   that the `labels`, `labels-regex`, `env` and `env-regex` options
//!   select, plus `tag` when that option is set, sorted by key; it is left
//!   out when empty. `time` is RFC 3339 in UTC with nanoseconds, trailing
//!   zeros trimmed.
//! - Strings are escaped as Docker escapes them: `<`, `>`, `&` and control
//!   bytes as `\u00XX` (but `\n`, `\r` as themselves), U+2028 and U+2029
//!   escaped, each byte of invalid UTF-8 as `\ufffd`.
//! - Each entry reaches the file in one `write` before `log` returns, so a
//!   crash of the process loses nothing that was logged. From a
//!   [`Copier`](crate::Copier), the lines of each read come as one batch
//!   and go out in one `write` (one per file, across a rotation), with the
//!   same bytes and rotations as one by one. The file is
//!   [`Info::log_path`], created with mode `0640`.
//!
//! This is what the kubelet, Fluentd's and Fluent Bit's docker parsers,
//! Promtail and Filebeat read.
//!
//! # Options
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `max-size` | unlimited | rotate when the file has reached this size; decimal units (`10m` = 10,000,000 bytes); at most [`MAX_SIZE_LIMIT`] |
//! | `max-file` | `1` | files to keep, the current one included; at most [`MAX_FILE_LIMIT`] |
//! | `compress` | `false` | gzip rotated files; needs `max-size` and `max-file` of 2 or more |
//! | `labels`, `labels-regex`, `env`, `env-regex` | none | what goes into `attrs`; see [`Info::extra_attributes`] |
//! | `tag` | none | a template for an `attrs.tag`; see [`Info::tag`] |
//!
//! Unlike Docker, a bad value is rejected by [`JsonFileLogger::validate`],
//! so a runtime can refuse it before the container starts.
//!
//! # Rotation
//!
//! As in Docker: before each write, a file that has reached `max-size` is
//! renamed (never truncated, so readers keep their place) to `.1`, `.1`
//! to `.2`, and so on; the oldest beyond `max-file` is removed. With
//! `max-file=1` the full file is removed instead. With `compress`, a
//! rotated file becomes `.N.gz`, whose gzip header holds
//! `{"lastTime":"<time of its last entry>"}` in its extra field.
//!
//! Unlike Docker, rotation never falls between the chunks of one line, so
//! no file begins in the middle of a line (json-file keeps no partial
//! metadata, so a reader could not tell). A file that has reached
//! `max-size` rotates once every stream's line in progress has ended. Two
//! cases rotate anyway: a line that has put `max-size` bytes in the file
//! by itself, and a file that has reached twice `max-size` (a stream that
//! stopped in the middle of a line must not hold rotation off for ever).
//! So a file grows past `max-size` by at most `max-size` plus one entry.
//!
//! A rotation creates the new file before it renames or removes anything:
//! if it cannot (no file descriptors, no space), every file is left as it
//! was, the entry being written gets the error, and the next write tries
//! again.
//!
//! Unlike Docker, compression runs on a thread of its own and never holds
//! up the writer (Docker holds its write lock while gzip runs). `close`
//! waits for it, so the files are final when `close` returns.
//!
//! # Reading
//!
//! [`JsonFileLogger::read_logs`] and [`read_logs`] return a [`JsonFileReader`],
//! an iterator of [`Message`](crate::Message)s with Docker's `tail`,
//! `since`, `until` and `follow` semantics; see [`ReadConfig`].

mod encode;
mod read;

use std::collections::HashMap;
use std::path::Path;

use crate::drivers::file::logger::sealed;
pub use crate::drivers::file::segment::MAX_ENTRY_BYTES;
use crate::drivers::file::{self, options, Encode, Naming, Rotation};
use crate::drivers::file::{FileLogReader, FileLogger, Format};
use crate::drivers::util::Options;
use crate::error::Result;
use crate::info::Info;
/// What to read; the crate's [`ReadConfig`](crate::ReadConfig), here too.
pub use crate::read::ReadConfig;

/// The name this driver is registered under.
pub const NAME: &str = "json-file";
/// The option that sets the size at which the file is rotated.
pub const MAX_SIZE_OPT: &str = "max-size";
/// The option that sets how many files are kept.
pub const MAX_FILE_OPT: &str = "max-file";

/// The largest `max-size`: 1 TiB (2^40 bytes).
pub const MAX_SIZE_LIMIT: u64 = options::MAX_SIZE_LIMIT;

/// The most files `max-file` may keep: 100. Each rotation renames every
/// kept file under the write lock, so the count is bounded.
pub const MAX_FILE_LIMIT: usize = options::MAX_FILE_LIMIT;
/// The option that turns on gzip for rotated files.
pub const COMPRESS_OPT: &str = "compress";

const OPTIONS: [&str; 8] = [
    MAX_SIZE_OPT,
    MAX_FILE_OPT,
    COMPRESS_OPT,
    crate::info::LABELS_OPT,
    crate::info::LABELS_REGEX_OPT,
    crate::info::ENV_OPT,
    crate::info::ENV_REGEX_OPT,
    crate::info::TAG_OPT,
];

/// The driver's options, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Config {
    max_size: Option<u64>,
    max_file: usize,
    compress: bool,
}

impl Config {
    fn parse(opts: &HashMap<String, String>) -> Result<Config> {
        let o = Options::new(NAME, opts, &OPTIONS)?;
        let max_size = options::max_size(&o)?;
        let max_file = options::max_file(&o)?.unwrap_or(1);
        let compress = options::compress(&o)?.unwrap_or(false);
        if compress && (max_file < 2 || max_size.is_none()) {
            return Err(o.invalid(COMPRESS_OPT, "needs max-file of 2 or more and max-size"));
        }
        // Templates and regexes are checked now, not at container start.
        crate::info::check_attribute_options(NAME, opts)?;
        Ok(Config {
            max_size,
            max_file,
            compress,
        })
    }
}

/// The `json-file` driver: Docker's JSON lines, with rotation.
///
/// The json-file [`FileLogger`]: see the [module docs](self) for the
/// format, the options and reading.
///
/// # Examples
///
/// ```
/// use logdriver::drivers::jsonfile::{JsonFileLogger, ReadConfig};
/// use logdriver::{Info, Logger, Message, Source};
///
/// let dir = std::env::temp_dir().join(format!("logdriver-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let info = Info {
///     log_path: Some(dir.join("container.log")),
///     config: [("max-size".into(), "10m".into()), ("max-file".into(), "3".into())].into(),
///     ..Default::default()
/// };
/// let logger = JsonFileLogger::new(&info)?;
/// logger.log(Message::new(Source::Stdout, "hello"))?;
/// logger.log(Message::new(Source::Stderr, "oops"))?;
///
/// let lines: Vec<_> = logger.read_logs(&ReadConfig::default())?.collect::<Result<_, _>>()?;
/// assert_eq!(&lines[0].line[..], b"hello");
/// assert_eq!(lines[1].source, Source::Stderr);
/// logger.close()?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), logdriver::Error>(())
/// ```
pub type JsonFileLogger = FileLogger<JsonFile>;

/// An iterator over the entries of a json-file log, oldest first.
///
/// Each item is a [`Message`](crate::Message) (without the `attrs`, which
/// a `Message` does not carry) or the error of one entry: a corrupt entry
/// is reported once and skipped, and reading goes on with the next. The
/// `line` of a message has no trailing newline; an entry that Docker wrote
/// without one (a chunk of a long line) comes back as a partial message,
/// and the chunks of one line share a fresh id, as from the
/// [`Copier`](crate::Copier).
///
/// With [`ReadConfig::follow`], `next` blocks until a new entry is written
/// or the logger is closed.
pub type JsonFileReader = FileLogReader<JsonFile>;

/// The json-file format: Docker's JSON lines, one entry per line, rotated
/// files named `<path>.1` (the newest), `.2`…
#[derive(Debug, Clone, Copy)]
pub struct JsonFile;

impl Format for JsonFile {}

#[allow(private_interfaces)] // see `file::logger::sealed`
impl sealed::Format for JsonFile {
    const NAME: &'static str = NAME;
    const NAMING: Naming = Naming::Numbered;
    type Decoder = read::JsonDecoder;

    fn open(info: &Info) -> Result<(Rotation, Box<dyn Encode>)> {
        let config = Config::parse(&info.config)?;
        let mut attrs = info.extra_attributes(NAME)?;
        if info.config.contains_key(crate::info::TAG_OPT) {
            attrs.insert(crate::info::TAG_OPT.to_owned(), info.tag(NAME)?);
        }
        let attrs = (!attrs.is_empty()).then(|| encode::encode_attrs(&attrs));
        let rotation = Rotation {
            max_size: config.max_size,
            max_file: config.max_file,
            compress: config.compress,
            naming: Naming::Numbered,
        };
        Ok((rotation, Box::new(encode::JsonEncoder::new(attrs))))
    }

    fn validate(opts: &HashMap<String, String>) -> Result<()> {
        Config::parse(opts).map(drop)
    }
}

/// Reads the json-file log at `path` and its rotated files.
///
/// If a [`JsonFileLogger`] of this process is writing `path`, this is its
/// [`read_logs`](FileLogger::read_logs), [`ReadConfig::follow`]
/// included. Otherwise it reads the files as a stopped container left them,
/// and `follow` is ignored: the reader ends at the end of the current file.
///
/// # Errors
///
/// [`Error::Io`](crate::Error::Io) when a file cannot be opened, or (with `tail`) read.
pub fn read_logs(path: impl AsRef<Path>, config: &ReadConfig) -> Result<JsonFileReader> {
    file::read_logs(path.as_ref(), config)
}
