//! `syslog`: Docker's syslog driver, strict to RFC 5424 and 3164, over
//! every transport Docker takes, without the traps users have reported in
//! Docker's.
//!
//! # Wire format
//!
//! Each message (each line, or each 16 KiB chunk of a long line) is one
//! syslog message, byte for byte as Docker's driver writes it except
//! where Docker's breaks the RFC:
//!
//! | `syslog-format` | message |
//! |---|---|
//! | (none) | `<PRI>Mmm dd hh:mm:ss TAG[PID]: LINE` |
//! | `rfc3164` | `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: LINE` |
//! | `rfc5424` | `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD LINE`, the time in seconds |
//! | `rfc5424micro` | the same, the time in microseconds |
//!
//! - PRI is the facility with severity 6 (info) for stdout, 3 (err) for
//!   stderr. The tag (the `tag` option, by default `{{.ID}}`) is APP-NAME
//!   and MSGID, as in Docker; HOSTNAME is the host's name and PROCID this
//!   process's id (dockerd's, in Docker).
//! - **Strict RFC 5424** (moby#38889): APP-NAME is cut to 48 characters,
//!   MSGID to 32, HOSTNAME to 255, PROCID to 128, each printable US-ASCII
//!   (any other character becomes `_`), `-` when empty. Never refused.
//! - Times are the line's, in UTC; RFC 3164's carry no zone.
//! - Every message ends with a newline, as Docker's do. On a stream it
//!   is the frame with `lf` framing; with `octet-counted` framing (RFC
//!   6587) the message is `<length> <message>`, the newline counted.
//!   Docker frames with octet counting only for `tcp+tls` with an RFC 5424
//!   format; that is the default here too, and `syslog-framing` chooses
//!   either on any stream (telegraf#4482).
//!
//! ## Structured data
//!
//! With `syslog-structured-data=true` and an RFC 5424 format, every
//! message carries one SD-ELEMENT with SD-ID `container@32473`:
//! `[container@32473 name="web" id="<full id>" …]`, then one parameter
//! for each label and environment variable the `labels`, `labels-regex`,
//! `env` and `env-regex` options select. Names are made valid (at most 32
//! printable characters, no `=`, space, `]` or `"`); values are escaped
//! as the RFC says. 32473 is the private enterprise number that RFC 5612
//! sets aside for documentation: no one else's SD-ID can be it, and a
//! receiver can match on it. Docker's driver takes these options and
//! writes none of them.
//!
//! # Options
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `syslog-address` | the local daemon | `udp://host[:port]`, `tcp://…`, `tcp+tls://…` (feature `tls`), `unix:///path`, `unixgram:///path`; port 514. Without it, the first of `/dev/log`, `/var/run/syslog`, `/var/run/log` that takes a datagram, then a stream, as in Docker |
//! | `syslog-facility` | `daemon` | a name (`kern` … `local7`) or a number up to 23 |
//! | `syslog-format` | none (Docker's) | `rfc3164`, `rfc5424` or `rfc5424micro` |
//! | `syslog-tls-ca-cert` | | a PEM file of CAs to trust, beside the system's |
//! | `syslog-tls-cert`, `syslog-tls-key` | | PEM files of the client's certificate and key, both or neither |
//! | `syslog-tls-skip-verify` | `false` | trust any server certificate; `""` or `true` (Docker skips even for `"false"`) |
//! | `syslog-framing` | as Docker | this driver's: `octet-counted` or `lf`, on a stream transport |
//! | `syslog-buffer-limit` | `1m` | this driver's: the queue's size in bytes of framed messages, 1 KiB to 1 GiB |
//! | `syslog-write-timeout` | `5s` | this driver's: the longest `log` waits for room in the queue, each write waits for the server, and `close` waits for what is queued |
//! | `syslog-structured-data` | `false` | this driver's: the container as RFC 5424 structured data (above) |
//! | `tag`, `labels`, `labels-regex`, `env`, `env-regex` | | as for every driver; see [`Info::tag`] and [`Info::extra_attributes`] |
//!
//! # Better than Docker's
//!
//! - **A server that is down never fails the container's start**
//!   (moby#21966, moby#52402): the driver connects from its own thread,
//!   and a `unix://` path need not exist yet.
//! - **It reconnects** (moby#30979), waiting 100 ms after a failure, each
//!   next wait half as long again, at most 10 s.
//! - **Idle connections survive** (moby#21136): TCP keepalive probes an
//!   idle connection after a minute, and before each write the driver
//!   checks, without waiting, whether the server (or a load balancer) has
//!   closed it; then it reconnects first rather than write into it.
//! - **`log` waits at most `syslog-write-timeout`**: lines go into a
//!   queue of `syslog-buffer-limit` bytes, which one thread writes out, up
//!   to 64 KiB per write (a datagram goes out from `log` itself while the
//!   queue is empty, as in Docker: one `send` costs less than a hand-off).
//!   A line that finds the queue full waits for room while the server
//!   takes lines, at most the timeout; while the server takes nothing
//!   (unreachable, or a write made no progress in a whole timeout), it is
//!   dropped at once, so a container is slowed, never wedged. Each drop is
//!   counted in [`Logger::stats`] and returned as [`Error::Dropped`].
//! - **`close` waits at most `syslog-write-timeout`** for what is queued,
//!   and counts the rest as dropped.
//! - **Over UDP, a message too big for one datagram is cut** to what the
//!   socket takes (65,507 bytes, less on a smaller path) and counted in
//!   [`LoggerStats::truncated`], never split into pieces a server would
//!   take for messages of their own.
//!
//! Syslog has no acks: a message the kernel took before a connection
//! broke is lost, as with every syslog sender. A message the break cut in
//! the middle counts as sent and is not sent again, since the server may
//! have kept its start.
//!
//! # Examples
//!
//! ```
//! use logdriver::{registry, Info, Logger, Message, Source};
//!
//! let server = std::net::UdpSocket::bind("127.0.0.1:0")?;
//! let info = Info::new("0123456789abcdef")
//!     .with_option("syslog-address", &format!("udp://{}", server.local_addr()?))
//!     .with_option("syslog-format", "rfc5424")
//!     .with_option("tag", "web");
//! let logger = registry().create("syslog", &info)?;
//! logger.log(Message::new(Source::Stderr, "failed"))?;
//! logger.close()?;
//!
//! let mut datagram = [0; 512];
//! let n = server.recv(&mut datagram)?;
//! let message = std::str::from_utf8(&datagram[..n]).unwrap();
//! assert!(message.starts_with("<27>1 "), "{message}"); // daemon.err
//! assert!(message.ends_with(" web - failed\n"), "{message}"); // MSGID, no SD, the line
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod address;
mod config;
mod datagram;
mod format;
mod link;
mod queue;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use config::Config;
use format::Header;
use queue::Queue;

use crate::drivers::util::{conn, hostname, Counters};
use crate::error::{Error, Result};
use crate::info::Info;
use crate::logger::{Logger, LoggerStats};
use crate::message::Message;

/// The name this driver is registered under.
pub const NAME: &str = "syslog";

/// The SD-ID of the container's structured data.
pub const SD_ID: &str = "container@32473";

/// What `log`, `close` and the worker share.
struct Shared {
    config: Config,
    header: Header,
    tls: Option<conn::Tls>,
    queue: Mutex<Queue>,
    /// The connection: the worker's, and `log`'s for a datagram while the
    /// queue is empty. The worker locks it before `queue`; `log` only
    /// tries it while holding `queue`, so neither waits for the other.
    conn: Mutex<Option<link::Conn>>,
    /// Signalled when a message is queued, or the driver closes.
    work: Condvar,
    /// Signalled when messages leave the queue, or the server goes down.
    room: Condvar,
    /// Set while the server takes nothing: `log` does not wait for room.
    down: AtomicBool,
    counts: Counters,
}

/// The `syslog` driver.
///
/// See the [module docs](self) for the wire format, the options and what
/// is guaranteed.
pub struct SyslogLogger {
    shared: Arc<Shared>,
    /// The worker; `None` once closed.
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for SyslogLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyslogLogger")
            .field("address", &self.shared.config.address)
            .field("format", &self.shared.config.format)
            .finish()
    }
}

impl SyslogLogger {
    /// Creates the driver for `info`, and its worker, which connects
    /// when the first line comes: a server that is down is no error here.
    ///
    /// # Errors
    ///
    /// Whatever [`validate`](SyslogLogger::validate) finds; an
    /// [`Error::InvalidOption`] for TLS files that cannot be used;
    /// [`Error::Spawn`] when the worker cannot start.
    pub fn new(info: &Info) -> Result<SyslogLogger> {
        let config = Config::parse(&info.config)?;
        let tls = config.tls()?;
        let tag = info.tag(NAME)?;
        let structured_data = if config.structured_data {
            let attrs = info.extra_attributes(NAME)?;
            let params = [("name", info.name()), ("id", info.full_id())]
                .into_iter()
                .chain(attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            Some(format::sd_element(SD_ID, params))
        } else {
            None
        };
        let header = Header::new(
            config.format,
            config.facility,
            &hostname(),
            &tag,
            std::process::id(),
            structured_data,
        );
        let shared = Arc::new(Shared {
            config,
            header,
            tls,
            queue: Mutex::new(Queue::default()),
            conn: Mutex::new(None),
            work: Condvar::new(),
            room: Condvar::new(),
            down: AtomicBool::new(false),
            counts: Counters::default(),
        });
        let worker = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("logdriver-syslog".into())
                .spawn(move || link::worker(&shared))
                .map_err(|source| Error::Spawn {
                    thread: "logdriver-syslog".into(),
                    source,
                })?
        };
        Ok(SyslogLogger {
            shared,
            worker: Mutex::new(Some(worker)),
        })
    }

    /// Checks the driver's options as Docker does, with Docker's error
    /// texts, and this driver's own.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownOption`] for a key the driver does not know, and
    /// [`Error::InvalidOption`] for a value it cannot use.
    pub fn validate(opts: &HashMap<String, String>) -> Result<()> {
        let config = Config::parse(opts)?;
        config.tls()?;
        crate::info::check_attribute_options(NAME, opts)?;
        Ok(())
    }

    /// `msg` as it goes on the wire.
    fn frame(&self, msg: &Message) -> (Vec<u8>, u64) {
        let shared = &self.shared;
        let mut out = Vec::with_capacity(msg.line.len() + 96);
        shared
            .header
            .write(&mut out, msg.source, msg.timestamp, &msg.line);
        out.push(b'\n');
        if shared.config.address.is_stream() {
            out = shared.config.framing.frame(out);
        }
        (out, msg.line.len() as u64)
    }

    fn deliver(&self, msgs: &mut dyn Iterator<Item = Message>, failed: &mut dyn FnMut(Error)) {
        let shared = &self.shared;
        let deadline = Instant::now() + shared.config.write_timeout;
        if shared.config.address.is_stream() {
            // The worker writes them, many to a write.
            shared.push(msgs.map(|msg| self.frame(&msg)), deadline, failed);
            return;
        }
        for msg in msgs {
            let (message, line) = self.frame(&msg);
            if !shared.send_now(&message, line) {
                shared.push([(message, line)], deadline, failed);
            }
        }
    }
}

impl Logger for SyslogLogger {
    /// Queues the line for the worker, waiting at most
    /// `syslog-write-timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Dropped`] when the line does not fit in the queue in
    /// time (or at once, while the server takes nothing), and
    /// [`Error::Closed`] after `close`.
    fn log(&self, msg: Message) -> Result<()> {
        let mut result = Ok(());
        self.deliver(&mut std::iter::once(msg), &mut |e| result = Err(e));
        result
    }

    /// Queues the lines of one read under one lock, and wakes the
    /// worker once.
    fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
        self.deliver(&mut batch.drain(..), failed);
    }

    fn prefers_batches(&self) -> bool {
        true
    }

    /// Lines written, their bytes, lines dropped, and UDP messages cut
    /// to fit a datagram (`truncated`).
    fn stats(&self) -> LoggerStats {
        let mut stats = self.shared.counts.stats();
        stats.queued_bytes = self.shared.queue.lock().bytes() as u64;
        stats
    }

    fn name(&self) -> &str {
        NAME
    }

    /// Writes what is queued, for at most `syslog-write-timeout`; what is
    /// left then is dropped and counted. A second call returns `Ok(())`.
    ///
    /// # Errors
    ///
    /// [`Error::FlushTimeout`] when lines were left.
    fn close(&self) -> Result<()> {
        let Some(worker) = self.worker.lock().take() else {
            return Ok(());
        };
        let before = self.shared.counts.dropped_so_far();
        {
            let mut queue = self.shared.queue.lock();
            queue.closing = Some(Instant::now() + self.shared.config.write_timeout);
        }
        self.shared.work.notify_all();
        self.shared.room.notify_all();
        let _ = worker.join();
        let unflushed = self.shared.counts.dropped_so_far() - before;
        if unflushed > 0 {
            return Err(Error::FlushTimeout {
                driver: NAME.into(),
                unflushed,
                timeout: self.shared.config.write_timeout,
            });
        }
        Ok(())
    }
}

impl Drop for SyslogLogger {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
