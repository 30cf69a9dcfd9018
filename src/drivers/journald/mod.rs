//! `journald`: Docker's journald driver over journald's native protocol,
//! binary-safe, bounded in time, and read back through `journalctl`
//! (feature `journald`, on by default; Linux).
//!
//! # Fields
//!
//! Each message (each line, or each 16 KiB chunk of a long line) is one
//! journal entry with the fields Docker's driver writes:
//!
//! | field | value |
//! |---|---|
//! | `MESSAGE` | the line, without its newline |
//! | `PRIORITY` | `6` (info) for stdout, `3` (err) for stderr |
//! | `CONTAINER_ID` | the short id (12 characters) |
//! | `CONTAINER_ID_FULL` | the full id |
//! | `CONTAINER_NAME` | the name, without Docker's leading `/` |
//! | `CONTAINER_TAG`, `SYSLOG_IDENTIFIER` | the `tag` template, by default `{{.ID}}` |
//! | `IMAGE_NAME` | the image's name as the container was created from it |
//! | `CONTAINER_PARTIAL_ID`, `_ORDINAL`, `_LAST` | on each chunk of a long line: the group's id, the chunk's place from 1, and `true` or `false` |
//! | `CONTAINER_PARTIAL_MESSAGE` | `true`, on every chunk of a group but its last |
//! | one per label or variable | what `labels`, `labels-regex`, `env` and `env-regex` select, named as Docker names them: upper-cased, any character but `A`-`Z` and `0`-`9` made `_`, leading `_` dropped (`com.example.rack` is `COM_EXAMPLE_RACK`). A name that is left empty is skipped; journald itself ignores a name longer than 64 or starting with a digit |
//!
//! journald adds what it knows of the sender (`_PID`, `_COMM`, `_EXE`,
//! `_CMDLINE`, `_UID`, `_GID`, `_CAP_EFFECTIVE`, `_SYSTEMD_*`,
//! `_TRANSPORT=journal`, `_HOSTNAME`, `_BOOT_ID`, `_MACHINE_ID`,
//! `_SOURCE_REALTIME_TIMESTAMP` …): the sender is the process that holds
//! the driver (the plugin, not dockerd). Entries carry journald's time of
//! receipt, as Docker's do; no field carries the line's own time.
//!
//! # Binary-safe
//!
//! `MESSAGE` always goes in the protocol's length-prefixed form, so a
//! line of any bytes (not UTF-8, control bytes, a carriage return) is
//! stored as it was, and `journalctl -o export` and this driver's reader
//! give it back byte for byte. Other values go on one line unless they
//! hold a newline.
//!
//! # Options
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `tag`, `labels`, `labels-regex`, `env`, `env-regex` | | as in Docker; see [`Info::tag`] and [`Info::extra_attributes`] |
//! | `journald-socket` | `/run/systemd/journal/socket` | this driver's: the native socket, an absolute path |
//! | `journald-write-timeout` | `5s` | this driver's: the longest one `log` waits for room in journald's queue |
//!
//! # What is guaranteed
//!
//! - **No thread and no queue of its own**: `log` sends the entry from
//!   the caller's thread as one `sendmsg`, as Docker's driver sends from
//!   its Copier's. A line up to 4 KiB is copied once into a buffer of the
//!   thread's, since the kernel takes one slice faster than five; a longer
//!   one goes from where it is, beside the fields. An entry too big
//!   for one datagram (past the socket's send buffer: the driver asks for
//!   8 MiB, the kernel grants at most `net.core.wmem_max`) is written to a
//!   memfd, sealed, and passed by descriptor, as the protocol specifies.
//! - **A journald that is not running fails the creation**, with the
//!   socket's path and the kernel's error: journald is local, and a
//!   container that starts logging nowhere is worse than one that does
//!   not start (podman#26910).
//! - **A journald that goes away later costs counted drops, never a
//!   wedge.** A refused send connects again once (journald restarted); if
//!   nothing listens, the line is dropped at once. A journald that takes
//!   nothing (stopped, or stuck) holds one `log` for at most
//!   `journald-write-timeout`; until an entry goes through again, the next
//!   lines are dropped without waiting. Each drop is counted in
//!   [`Logger::stats`] and returned as [`Error::Dropped`]; the first line
//!   journald takes again ends the drops.
//!
//! The protocol is written here, in about 150 lines over `nix` (already
//! the plugin's): the `libsystemd` crate, which conmon-rs uses, takes the
//! message as a `&str`, so a line that is not UTF-8 cannot be sent as it
//! is, and it builds one buffer per entry where this driver sends the
//! container's fields, encoded once, beside the line.
//!
//! # Rate limits
//!
//! journald limits each *unit* (the sender's systemd service) to
//! `RateLimitBurst` entries (10,000 by default) per
//! `RateLimitIntervalSec` (30 s), in `journald.conf`. Every container that
//! logs through one process shares that process's unit, so one noisy
//! container can use up the burst and silence the others until the
//! interval ends. journald drops those entries without telling the
//! sender: the socket takes them, so this driver counts them as sent
//! (journald then logs `Suppressed N messages from <unit>`). Either raise
//! or turn off journald's limit (`RateLimitBurst=0`) and put each
//! container behind its own limit (the registry's `rate-limit-lines` and
//! `rate-limit-bytes`, whose suppressed lines are counted and announced),
//! or keep the container's limits well below journald's burst.
//!
//! # Reading back
//!
//! [`LogReader`] runs `journalctl -o export` matched on
//! `CONTAINER_ID_FULL`, with the tail, `since`, `until` and follow asked
//! for, and parses its output as it comes: it reads the journals of the
//! machine journalctl is run on, so the reader and the writer must see
//! the same `/var/log/journal` and `/run/log/journal`. Each entry comes
//! back with its stream (priority 3 is stderr), journald's time and its
//! partial metadata. journalctl is journald's own reader, and knows
//! every version of its file format; see the `read` module's notes.
//!
//! # Examples
//!
//! ```
//! use std::os::unix::net::UnixDatagram;
//! use logdriver::{registry, Info, Logger, Message, Source};
//!
//! // A stand-in for journald's socket.
//! let path = std::env::temp_dir().join(format!("journal-doc-{}", std::process::id()));
//! let journal = UnixDatagram::bind(&path)?;
//! let info = Info::new("0123456789abcdef0123456789abcdef")
//!     .with_option("journald-socket", path.to_str().unwrap())
//!     .with_option("tag", "web");
//! let logger = registry().create("journald", &info)?;
//! logger.log(Message::new(Source::Stderr, "failed"))?;
//! logger.close()?;
//!
//! let mut entry = [0; 512];
//! let n = journal.recv(&mut entry)?;
//! let entry = &entry[..n];
//! assert!(entry.starts_with(b"PRIORITY=3\nMESSAGE\n\x06\0\0\0\0\0\0\0failed\n"));
//! assert!(entry.ends_with(b"CONTAINER_TAG=web\nIMAGE_NAME=\nSYSLOG_IDENTIFIER=web\n"));
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod entry;
mod export;
mod read;
mod socket;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use config::Config;
pub use config::DEFAULT_SOCKET;
use entry::{field_name, push_field, Entry};
use socket::{JournalSocket, SendError};

use crate::drivers::util::Counters;
use crate::error::{Error, Result};
use crate::info::Info;
use crate::logger::{Logger, LoggerStats};
use crate::message::Message;
use crate::read::{LogReader, LogStream, ReadConfig};

/// The name this driver is registered under.
pub const NAME: &str = "journald";

/// The `journald` driver.
///
/// See the [module docs](self) for the fields, the options and what is
/// guaranteed.
pub struct JournaldLogger {
    socket: JournalSocket,
    /// The container's fields, encoded once: the tail of every entry.
    container: Vec<u8>,
    full_id: String,
    counts: Counters,
    closed: AtomicBool,
}

impl fmt::Debug for JournaldLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournaldLogger")
            .field("socket", &self.socket.path())
            .field("container", &self.full_id)
            .finish()
    }
}

impl JournaldLogger {
    /// Creates the driver for `info`, connected to journald.
    ///
    /// # Errors
    ///
    /// Whatever [`validate`](JournaldLogger::validate) finds, and
    /// [`Error::Driver`] when journald is not running (nothing listens on
    /// its socket), naming the socket.
    pub fn new(info: &Info) -> Result<JournaldLogger> {
        let config = Config::parse(&info.config)?;
        let tag = info.tag(NAME)?;
        let mut container = Vec::with_capacity(256);
        let fields = [
            ("CONTAINER_ID", info.id()),
            ("CONTAINER_ID_FULL", info.full_id()),
            ("CONTAINER_NAME", info.name()),
            ("CONTAINER_TAG", &tag),
            ("IMAGE_NAME", info.image_name()),
            ("SYSLOG_IDENTIFIER", &tag),
        ];
        for (name, value) in fields {
            push_field(&mut container, name, value.as_bytes());
        }
        for (key, value) in info.extra_attributes(NAME)? {
            let name = field_name(&key);
            if !name.is_empty() {
                push_field(&mut container, &name, value.as_bytes());
            }
        }
        let socket = JournalSocket::connect(&config.socket, config.write_timeout).map_err(|e| {
            Error::driver(
                NAME,
                io::Error::new(
                    e.kind(),
                    format!(
                        "journald is not running: cannot reach {}: {e}",
                        config.socket.display()
                    ),
                ),
            )
        })?;
        Ok(JournaldLogger {
            socket,
            container,
            full_id: info.full_id().to_owned(),
            counts: Counters::default(),
            closed: AtomicBool::new(false),
        })
    }

    /// Checks the driver's options: Docker's, with their errors, and this
    /// driver's own. journald itself is not asked.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownOption`] for a key the driver does not know, and
    /// [`Error::InvalidOption`] for a value it cannot use.
    pub fn validate(opts: &HashMap<String, String>) -> Result<()> {
        Config::parse(opts)?;
        crate::info::check_attribute_options(NAME, opts)?;
        Ok(())
    }
}

impl Logger for JournaldLogger {
    /// Sends the line's entry, waiting at most `journald-write-timeout`
    /// for room in journald's queue (not at all while journald takes
    /// nothing).
    ///
    /// # Errors
    ///
    /// [`Error::Dropped`] when journald is not there or took nothing in
    /// time, [`Error::Driver`] for any other failure of the send, and
    /// [`Error::Closed`] after `close`.
    fn log(&self, msg: Message) -> Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::closed(NAME));
        }
        let entry = Entry::new(&msg, &self.container);
        match entry.send_with(|slices| self.socket.send(slices)) {
            Ok(()) => {
                self.counts.sent(1, msg.line.len() as u64);
                Ok(())
            }
            Err(SendError::Absent(e)) => {
                self.counts.dropped(1);
                Err(Error::dropped(
                    NAME,
                    format!(
                        "journald is not running at {}: {e}",
                        self.socket.path().display()
                    ),
                ))
            }
            Err(SendError::Full) => {
                self.counts.dropped(1);
                Err(Error::dropped(
                    NAME,
                    format!("journald took nothing for {:?}", self.socket.timeout()),
                ))
            }
            Err(SendError::Failed(e)) => {
                self.counts.failed(1);
                Err(Error::driver(NAME, e))
            }
        }
    }

    /// Entries sent, their lines' bytes, lines dropped, and sends that
    /// failed otherwise (`errors`).
    fn stats(&self) -> LoggerStats {
        self.counts.stats()
    }

    fn name(&self) -> &str {
        NAME
    }

    /// Nothing is buffered: every entry was sent by its `log`. Later
    /// calls to `log` return [`Error::Closed`].
    fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn reader(&self) -> Option<&dyn LogReader> {
        Some(self)
    }
}

/// The entries of the container `full_id` that `config` asks for, read
/// from the journal by `journalctl -o export` (see [Reading
/// back](self#reading-back)): what [`JournaldLogger`]'s [`LogReader`]
/// does, without a driver or a running journald.
///
/// # Errors
///
/// As [`LogReader::read_logs`] for [`JournaldLogger`].
///
/// # Examples
///
/// ```no_run
/// use logdriver::{drivers::journald, ReadConfig};
///
/// let config = ReadConfig { tail: Some(10), ..ReadConfig::default() };
/// for msg in journald::read_logs("0123456789abcdef0123456789abcdef", &config)? {
///     println!("{}", String::from_utf8_lossy(&msg?.line));
/// }
/// # Ok::<(), logdriver::Error>(())
/// ```
pub fn read_logs(full_id: &str, config: &ReadConfig) -> Result<LogStream> {
    read::read(full_id, config)
}

impl LogReader for JournaldLogger {
    /// The container's entries, through `journalctl -o export` matched on
    /// `CONTAINER_ID_FULL`.
    ///
    /// # Errors
    ///
    /// [`Error::Driver`] when journalctl cannot be run; a journalctl that
    /// fails ends the stream with an [`Error::Driver`] holding what it
    /// said.
    fn read_logs(&self, config: &ReadConfig) -> Result<LogStream> {
        read_logs(&self.full_id, config)
    }
}
