//! `k8s-file`: the Kubernetes (CRI) log format, as the kubelet, `kubectl
//! logs`, podman and the log agents read it.
//!
//! Each message becomes one record on a line of its own:
//!
//! ```text
//! 2026-11-30T11:00:01.000000000Z stdout F hello
//! 2026-11-30T11:00:01.000000000Z stderr P the first 16 KiB of a long line…
//! 2026-11-30T11:00:01.000000000Z stderr F …and the rest of it
//! ```
//!
//! - **The time** is RFC 3339 in UTC with exactly nine fraction digits and
//!   `Z`. The kubelet reads any number of digits, but podman 4.3's reader
//!   refuses containerd's trimmed ones (`.12Z`): fixed width is what all of
//!   them read.
//! - **The stream** is `stdout` or `stderr`.
//! - **The tag** is `F` for a whole line and for the last chunk of a long
//!   one, `P` for the other chunks. A long line is cut by the
//!   [`Copier`](crate::Copier) at its buffer size (16 KiB by default), and
//!   the chunks are carried across reads: one line is one `P`…`P` `F`
//!   group, however the pipe delivered it. Bytes left without a newline at
//!   the end of input are a `P` with no `F`, as containerd writes them.
//! - **The content** is the line as the container wrote it, without its
//!   newline. A `\r` before the newline is kept: containerd strips `\r\n`
//!   while Docker keeps the `\r`; keeping it gives back what was written,
//!   byte for byte. A line whose length is an exact multiple of the chunk
//!   size ends with an empty `F` record, where containerd's last record
//!   holds the last chunk; both read back as the same line.
//! - **A newline inside a message's line** (only a message of an
//!   embedder's own can hold one: the Copier cuts lines at them) ends a
//!   record, as it would have coming through the container's pipe: the
//!   text after it is a record of its own, with the message's time and
//!   stream, so it can never forge a time, stream or tag. The newline
//!   itself is not kept, as for any line. Escaping has no reader that
//!   would undo it, and refusing would lose the line.
//! - Each record reaches the file in one `write` before `log` returns, and
//!   the lines of one read from a Copier in one `write` together. The file
//!   is [`Info::log_path`], created with mode `0640`.
//!
//! Better than the peers: conmon and conmon-rs cut lines at their read
//! buffer (8 KiB) and start again at the next read, so one line of output
//! can become many `P` groups with a time each; conmon throws the old
//! content away at its size limit. Here a line is cut only where it is
//! longer than the buffer, and rotation keeps every file it promises.
//!
//! # Options
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `max-size` | none: never rotate | rotate when the file has reached this size; decimal units (`10m` = 10,000,000 bytes); at most 1 TiB |
//! | `max-file` | `5` | files to keep, the live one included, from 1 to 100 |
//! | `compress` | `false` | gzip rotated files, all but the newest; needs `max-size` |
//!
//! # Who rotates
//!
//! **Under a kubelet, the kubelet does.** Leave `max-size` unset: the
//! kubelet renames the file to `<path>.<YYYYMMDD-HHMMSS>` and asks the
//! runtime to reopen it (CRI `ReopenContainerLog`), which is
//! [`K8sFileLogger::reopen`]: records written before it are in the renamed
//! file, those after it in a new file at the path, and none is lost.
//!
//! **Otherwise, the driver does, the kubelet's way**, when `max-size` is
//! set. A file that has reached it is renamed to `<path>.<YYYYMMDD-HHMMSS>`
//! (UTC; `_1`, `_2`… added for more rotations within one second), at most
//! `max-file - 1` rotated files are kept, and with `compress` every rotated
//! file but the newest is gzipped off the write path, through `<name>.tmp`
//! then a rename to `<name>.gz`. As for json-file, rotation never falls
//! between the chunks of one line, and a rotation that cannot create the
//! new file leaves every file as it was. Unlike the kubelet's 10-second
//! check (kubernetes #110630), a file never grows far past `max-size`.
//!
//! # Reading
//!
//! [`K8sFileLogger::read_logs`] and [`read_logs`] return a
//! [`K8sFileReader`] with Docker's `tail` (in records), `since`, `until`
//! and `follow`, across rotated files in the kubelet's naming, `.gz`
//! included; `follow` carries on across a rotation and across a rename
//! plus [`reopen`](K8sFileLogger::reopen). The parser is as lenient as the
//! kubelet's: any number of fraction digits, `Z` or a numeric offset (as
//! conmon writes), a tag with `:`-separated extras, `P` groups of any
//! size. A corrupt record is an error item, counted and skipped.
//!
//! # Examples
//!
//! ```
//! use logdriver::drivers::k8sfile::{self, ReadConfig};
//! use logdriver::{registry, Info, Message, Source};
//!
//! let path = std::env::temp_dir().join(format!("k8s-doc-{}.log", std::process::id()));
//! let info = Info::new("web").with_log_path(&path);
//! let logger = registry().create("k8s-file", &info)?;
//! logger.log(Message::new(Source::Stdout, "hello"))?;
//! logger.close()?;
//!
//! let text = std::fs::read_to_string(&path).unwrap();
//! assert!(text.ends_with("Z stdout F hello\n"));
//! assert_eq!(text.find(" stdout"), Some(30)); // 9 fraction digits, always
//!
//! let lines: Vec<_> = k8sfile::read_logs(&path, &ReadConfig::default())?
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(&lines[0].line[..], b"hello");
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), logdriver::Error>(())
//! ```

mod encode;
mod read;

use std::collections::HashMap;
use std::path::Path;

use crate::drivers::file::logger::sealed;
use crate::drivers::file::{self, options, Encode, Naming, Rotation};
use crate::drivers::file::{FileLogReader, FileLogger, Format};
use crate::drivers::util::Options;
use crate::error::Result;
use crate::info::Info;
/// What to read; the crate's [`ReadConfig`](crate::ReadConfig), here too.
pub use crate::read::ReadConfig;

/// The name this driver is registered under, podman's for the same format.
pub const NAME: &str = "k8s-file";
/// The default of `max-file`, the kubelet's `containerLogMaxFiles`.
pub const DEFAULT_MAX_FILE: usize = 5;

const OPTIONS: [&str; 3] = ["max-size", "max-file", "compress"];

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
        let max_file = options::max_file(&o)?.unwrap_or(DEFAULT_MAX_FILE);
        let compress = options::compress(&o)?.unwrap_or(false);
        if compress && max_size.is_none() {
            return Err(o.invalid("compress", "needs max-size"));
        }
        Ok(Config {
            max_size,
            max_file,
            compress,
        })
    }
}

/// The `k8s-file` driver: CRI records, rotated the kubelet's way.
///
/// The CRI [`FileLogger`]: see the [module docs](self) for the format, the
/// options and reading.
///
/// # Examples
///
/// A runtime whose kubelet rotates the file:
///
/// ```
/// use logdriver::drivers::k8sfile::{K8sFileLogger, ReadConfig};
/// use logdriver::{Info, Logger, Message, Source};
///
/// let dir = std::env::temp_dir().join(format!("k8s-reopen-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("0.log");
/// let logger = K8sFileLogger::new(&Info::new("web").with_log_path(&path))?;
/// logger.log(Message::new(Source::Stdout, "before"))?;
///
/// // The kubelet renames the file, then asks for ReopenContainerLog.
/// std::fs::rename(&path, dir.join("0.log.20261130-110001")).unwrap();
/// logger.reopen()?;
/// logger.log(Message::new(Source::Stdout, "after"))?;
///
/// let lines: Vec<_> = logger.read_logs(&ReadConfig::default())?.collect::<Result<_, _>>()?;
/// assert_eq!(&lines[0].line[..], b"before");
/// assert_eq!(&lines[1].line[..], b"after");
/// logger.close()?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), logdriver::Error>(())
/// ```
pub type K8sFileLogger = FileLogger<K8sFile>;

/// An iterator over the records of a CRI log, oldest first.
///
/// Each item is a [`Message`](crate::Message) or the error of one record: a corrupt record
/// is reported once and skipped, and reading goes on with the next. A `P`
/// record comes back as a partial message, and the `F` record after it as
/// the last chunk of the same group, so that the chunks of one line share
/// an id. A `P` with no `F` after it, as containerd leaves at the end of
/// input, stays a partial that does not end its line.
///
/// With [`ReadConfig::follow`], `next` blocks until a new record is
/// written or the logger is closed.
pub type K8sFileReader = FileLogReader<K8sFile>;

/// The CRI format, as the kubelet reads it: `<RFC 3339 time> <stream>
/// <P|F> <line>`, rotated files named `<path>.<YYYYMMDD-HHMMSS>`.
#[derive(Debug, Clone, Copy)]
pub struct K8sFile;

impl Format for K8sFile {}

#[allow(private_interfaces)] // see `file::logger::sealed`
impl sealed::Format for K8sFile {
    const NAME: &'static str = NAME;
    const NAMING: Naming = Naming::Stamped;
    type Decoder = read::CriDecoder;
    const REOPENS: bool = true;

    fn open(info: &Info) -> Result<(Rotation, Box<dyn Encode>)> {
        let config = Config::parse(&info.config)?;
        let rotation = Rotation {
            max_size: config.max_size,
            max_file: config.max_file,
            compress: config.compress,
            naming: Naming::Stamped,
        };
        Ok((rotation, Box::new(encode::CriEncoder::default())))
    }

    fn validate(opts: &HashMap<String, String>) -> Result<()> {
        Config::parse(opts).map(drop)
    }
}

impl FileLogger<K8sFile> {
    /// Opens the path again, after something else (a kubelet) renamed the
    /// file: CRI's `ReopenContainerLog`.
    ///
    /// Records written before this call are in the renamed file, records
    /// after it in a new file at the path (or the end of the one found
    /// there). Followers finish the renamed file, then go on in the new one.
    ///
    /// The same as [`Logger::reopen_log`](crate::Logger::reopen_log), which reaches
    /// it through a [`NonBlocking`](crate::NonBlocking) or an
    /// `Arc<dyn Logger>`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the path cannot be opened; the driver goes on
    /// writing the renamed file. [`Error::Closed`](crate::Error::Closed) after `close`.
    pub fn reopen(&self) -> Result<()> {
        self.reopen_file()
    }
}

/// Reads the CRI log at `path` and its rotated files.
///
/// If a [`K8sFileLogger`] of this process is writing `path`, this is its
/// [`read_logs`](FileLogger::read_logs), [`ReadConfig::follow`]
/// included. Otherwise it reads the files as they are (written by this
/// crate, containerd, conmon or anything else that writes CRI), and
/// `follow` is ignored.
///
/// # Errors
///
/// [`Error::Io`](crate::Error::Io) when a file cannot be opened, or (with `tail`) read.
pub fn read_logs(path: impl AsRef<Path>, config: &ReadConfig) -> Result<K8sFileReader> {
    file::read_logs(path.as_ref(), config)
}
