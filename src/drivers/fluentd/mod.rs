//! `fluentd`: Docker's fluentd driver on the wire, over the forward
//! protocol that Fluentd, Fluent Bit, Vector and the OpenTelemetry
//! Collector accept, without the traps users have reported in Docker's.
//!
//! # Wire format
//!
//! Each line is one event in Message mode, `[tag, time, record, option]`,
//! MessagePack as Docker's client (`fluent-logger-golang`) writes it:
//!
//! - `tag` is the `tag` option's template, by default `{{.ID}}` (the
//!   container's 12-character id).
//! - `time` is whole seconds, or with `fluentd-sub-second-precision` an
//!   EventTime (ext type 0: u32 seconds, u32 nanoseconds). Go casts the
//!   seconds to `int32` and wraps in 2038; this does not (it holds to 2106).
//! - `record` is a map of strings: `container_id` (the full id),
//!   `container_name` (with Docker's leading `/`), `source` (`stdout` or
//!   `stderr`), `log` (the line, without its newline, bytes as they came);
//!   for a chunk of a long line also `partial_message` (`"true"`),
//!   `partial_id`, `partial_ordinal` and `partial_last` (`"true"` or
//!   `"false"`); then what the `labels`, `labels-regex`, `env` and
//!   `env-regex` options select, which can override the fields before
//!   them, as in Docker. Keys go in that order (Go's are in map order).
//! - `option` is `{}`, or `{"chunk": "<base64 id>"}` with
//!   `fluentd-request-ack`, and the server answers `{"ack": "<id>"}`.
//! - Lines that come together (the lines of one read from a Copier in
//!   blocking mode, up to 256 queued lines in async mode) go out in one
//!   `write` of back-to-back frames, their acks read after it. With
//!   `fluentd-forward-mode=true` (off by default, since not every server
//!   takes it) they are one Forward-mode frame instead,
//!   `[tag, [[time, record], …], {"size": n}]`: one ack for many lines.
//!
//! # Options
//!
//! Every Docker `fluentd-*` option is taken; where Docker's meaning is a
//! trap, this driver's is written down.
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `fluentd-address` | `tcp://127.0.0.1:24224` | `host:port`, `tcp://…`, `tls://…` (feature `fluentd-tls`) or `unix:///path`, parsed as Docker parses it, with its errors |
//! | `fluentd-async` | `false` | queue lines and send them from a thread; `log` never waits |
//! | `fluentd-async-connect` | `false` | removed from Docker in 2023; taken here as `fluentd-async` |
//! | `fluentd-buffer-limit` | `1m` | the async queue's size in **bytes** of encoded events (binary units: `1m` = 1 MiB), at most 1 GiB. Docker counts events here, whatever its docs say |
//! | `fluentd-write-timeout` | `5s` | the longest `log` waits in blocking mode, and the longest `close` waits for queued lines; `0` means the default, since waiting for ever is what this driver never does |
//! | `fluentd-read-timeout` | the write timeout | the longest wait for an ack |
//! | `fluentd-retry-wait` | `1s` | the first wait before reconnecting; each next one is 1.5 times longer, at most 60 s |
//! | `fluentd-max-retries` | 2147483647 | attempts (a connect and a write) to send one event before it is dropped; a backoff wait is no attempt. `0` means 13, as in Docker's client (fluent-logger-golang) |
//! | `fluentd-async-reconnect-interval` | `0` (never) | with `fluentd-async`, reconnect this often (100ms to 10s), to follow DNS changes |
//! | `fluentd-sub-second-precision` | `false` | send an EventTime, with nanoseconds |
//! | `fluentd-request-ack` | `false` | ask for an ack of each frame, and send again whatever was not acked |
//! | `fluentd-forward-mode` | `false` | this driver's: send the lines that come together as one Forward-mode frame |
//! | `fluentd-tls-ca` | none | this driver's: a PEM file of CAs to trust for `tls://`, beside the system's |
//! | `tag`, `labels`, `labels-regex`, `env`, `env-regex` | | as for every driver; see [`Info::tag`] and [`Info::extra_attributes`] |
//!
//! # Better than Docker's
//!
//! - **A server that is down never fails the container's start**
//!   (moby #15757): the driver connects when the first line comes, and
//!   reconnects with the capped backoff above.
//! - **Blocking mode waits at most `fluentd-write-timeout`** (5 s) for a
//!   line, then drops it, counts it in [`Logger::stats`] and returns an
//!   error. While the server stays unreachable after that, later lines
//!   are dropped at once rather than 5 s each, so a container is slowed,
//!   never wedged; they are sent again once a reconnection succeeds.
//! - **Async mode is a queue bounded in bytes**, with a drop counter.
//! - **`close` returns within the write timeout** (moby #40063), counting
//!   what it could not send as dropped.
//! - **With `fluentd-request-ack`, nothing is lost to a reconnection**
//!   (moby #34804, #43690): a frame whose ack did not come is sent again,
//!   with the same chunk id, on the next connection, so a server restart
//!   loses no line (a server that crashed after taking a frame and before
//!   acking it may get it twice: at least once). Without acks, a frame the
//!   kernel took before the server died is lost, as in Docker.
//!
//! # Examples
//!
//! ```
//! use logdriver::{registry, Info, Logger};
//!
//! // No server is needed to start: the driver connects on the first line.
//! let info = Info::new("0123456789abcdef")
//!     .with_option("fluentd-address", "tcp://127.0.0.1:1")
//!     .with_option("fluentd-async", "true");
//! let logger = registry().create("fluentd", &info)?;
//! logger.close()?;
//!
//! let bad = Info::new("x").with_option("fluentd-address", "udp://127.0.0.1:1");
//! assert_eq!(
//!     registry().create("fluentd", &bad).unwrap_err().to_string(),
//!     r#"invalid value "udp://127.0.0.1:1" for option "fluentd-address" of log driver "fluentd": unsupported scheme: 'udp'"#
//! );
//! # Ok::<(), logdriver::Error>(())
//! ```

mod address;
mod conn;
mod msgpack;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

pub use address::{Address, DEFAULT_HOST, DEFAULT_PORT};
use conn::Stream;

use crate::error::{Error, Result};
use crate::info::Info;
use crate::logger::{Logger, LoggerStats};
use crate::message::Message;
use crate::units::{parse_duration, parse_size_at_most, MAX_DURATION};

/// The name this driver is registered under.
pub const NAME: &str = "fluentd";
/// `fluentd-write-timeout` when none (or `0`) is given.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// `fluentd-buffer-limit` when none is given: 1 MiB of encoded events.
pub const DEFAULT_BUFFER_LIMIT: u64 = 1 << 20;
/// The largest `fluentd-buffer-limit`: 1 GiB.
pub const MAX_BUFFER_LIMIT: u64 = 1 << 30;
/// The longest wait between reconnections: the Go client's 60 s.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// The most events the async worker sends in one write (or one
/// Forward-mode frame).
const MAX_BATCH_EVENTS: usize = 256;

const OPTIONS: [&str; 18] = [
    "fluentd-address",
    "fluentd-async",
    "fluentd-async-connect",
    "fluentd-async-reconnect-interval",
    "fluentd-buffer-limit",
    "fluentd-retry-wait",
    "fluentd-max-retries",
    "fluentd-sub-second-precision",
    "fluentd-request-ack",
    "fluentd-write-timeout",
    "fluentd-read-timeout",
    "fluentd-forward-mode",
    "fluentd-tls-ca",
    crate::info::TAG_OPT,
    crate::info::LABELS_OPT,
    crate::info::LABELS_REGEX_OPT,
    crate::info::ENV_OPT,
    crate::info::ENV_REGEX_OPT,
];

/// The driver's options, checked.
#[derive(Debug, Clone)]
struct Config {
    address: Address,
    asynchronous: bool,
    reconnect_interval: Option<Duration>,
    buffer_limit: usize,
    retry_wait: Duration,
    max_retries: u64,
    sub_second: bool,
    request_ack: bool,
    write_timeout: Duration,
    read_timeout: Duration,
    forward_mode: bool,
    tls_ca: Option<PathBuf>,
}

fn parse_bool(key: &str, value: Option<&String>) -> Result<bool> {
    match value.map(String::as_str) {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(v) => Err(Error::invalid_option(NAME, key, v, "must be true or false")),
    }
}

impl Config {
    fn parse(opts: &HashMap<String, String>) -> Result<Config> {
        crate::info::reject_unknown_options(NAME, opts, &OPTIONS)?;
        let invalid =
            |key: &str, reason: &str| Error::invalid_option(NAME, key, &opts[key], reason);
        let duration = |key: &str, default: Duration| -> Result<Duration> {
            match opts.get(key) {
                None => Ok(default),
                Some(v) => parse_duration(v, MAX_DURATION).map_err(|reason| invalid(key, &reason)),
            }
        };
        let address = Address::parse(opts.get("fluentd-address").map_or("", String::as_str))
            .map_err(|reason| invalid("fluentd-address", &reason))?;
        let asynchronous = parse_bool("fluentd-async", opts.get("fluentd-async"))?
            | parse_bool("fluentd-async-connect", opts.get("fluentd-async-connect"))?;
        let reconnect = duration("fluentd-async-reconnect-interval", Duration::ZERO)?;
        if !reconnect.is_zero()
            && !(Duration::from_millis(100)..=Duration::from_secs(10)).contains(&reconnect)
        {
            return Err(invalid(
                "fluentd-async-reconnect-interval",
                "must be 0 or from 100ms to 10s",
            ));
        }
        let buffer_limit = match opts.get("fluentd-buffer-limit") {
            None => DEFAULT_BUFFER_LIMIT,
            Some(v) => match parse_size_at_most(v, 1024, MAX_BUFFER_LIMIT) {
                Ok(n) if n > 0 => n,
                Ok(_) => return Err(invalid("fluentd-buffer-limit", "must be a positive size")),
                Err(reason) => return Err(invalid("fluentd-buffer-limit", &reason)),
            },
        };
        let max_retries = match opts.get("fluentd-max-retries") {
            None => i32::MAX as u64,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|&n| n <= i32::MAX as u64)
                .map(|n| if n == 0 { ZERO_MAX_RETRIES } else { n })
                .ok_or_else(|| {
                    invalid(
                        "fluentd-max-retries",
                        "value out of range: a whole number up to 2147483647",
                    )
                })?,
        };
        let write_timeout = Some(duration("fluentd-write-timeout", DEFAULT_WRITE_TIMEOUT)?)
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_WRITE_TIMEOUT);
        let read_timeout = Some(duration("fluentd-read-timeout", write_timeout)?)
            .filter(|d| !d.is_zero())
            .unwrap_or(write_timeout);
        let tls_ca = opts.get("fluentd-tls-ca").map(PathBuf::from);
        let config = Config {
            address,
            asynchronous,
            reconnect_interval: (!reconnect.is_zero()).then_some(reconnect),
            buffer_limit: buffer_limit as usize,
            retry_wait: duration("fluentd-retry-wait", Duration::from_secs(1))?,
            max_retries,
            sub_second: parse_bool(
                "fluentd-sub-second-precision",
                opts.get("fluentd-sub-second-precision"),
            )?,
            request_ack: parse_bool("fluentd-request-ack", opts.get("fluentd-request-ack"))?,
            write_timeout,
            read_timeout,
            forward_mode: parse_bool("fluentd-forward-mode", opts.get("fluentd-forward-mode"))?,
            tls_ca,
        };
        if config.tls_ca.is_some() && !matches!(config.address, Address::Tls { .. }) {
            return Err(invalid("fluentd-tls-ca", "needs a tls:// fluentd-address"));
        }
        Ok(config)
    }

    fn tls(&self) -> Result<Option<conn::Tls>> {
        if !matches!(self.address, Address::Tls { .. }) {
            return Ok(None);
        }
        conn::tls_config(self.tls_ca.as_deref())
            .map(Some)
            .map_err(|reason| {
                let (key, value) = match &self.tls_ca {
                    Some(ca) => ("fluentd-tls-ca", ca.display().to_string()),
                    None => ("fluentd-address", self.address.to_string()),
                };
                Error::invalid_option(NAME, key, &value, reason)
            })
    }
}

/// One encoded event, queued in async mode: `time ‖ record`.
struct Event {
    entry: Vec<u8>,
    line_bytes: u64,
}

/// The async queue between `log` and the worker.
#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    bytes: usize,
    closing: Option<Instant>,
}

/// What `log`, `close` and the worker share.
struct Shared {
    config: Config,
    tls: Option<conn::Tls>,
    tag: Vec<u8>,
    /// The connection. Blocking `log` sends through it itself, as
    /// Docker's driver does; in async mode only the worker does.
    link: Mutex<Link>,
    queue: Mutex<Queue>,
    /// Signalled when an event is queued, or the driver closes.
    work: Condvar,
    /// Set when a blocking `log` ran out of time with no connection:
    /// lines drop at once until the next attempt to connect succeeds.
    down: AtomicBool,
    closed: AtomicBool,
    lines: AtomicU64,
    bytes: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
    /// Frames sent again after their ack did not come (see `resent`).
    resent: AtomicU64,
}

impl Shared {
    fn sent(&self, lines: u64, bytes: u64) {
        self.lines.fetch_add(lines, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// The `fluentd` driver.
///
/// See the [module docs](self) for the wire format, the options and what
/// is guaranteed.
pub struct FluentdLogger {
    shared: Arc<Shared>,
    /// Container fields and attrs, in the record's order.
    fields: Vec<(String, String)>,
    /// The async worker; `None` in blocking mode, and once closed.
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for FluentdLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FluentdLogger")
            .field("address", &self.shared.config.address)
            .field("tag", &String::from_utf8_lossy(&self.shared.tag))
            .finish()
    }
}

impl FluentdLogger {
    /// Creates the driver for `info`; it connects when the first line
    /// comes, never here.
    ///
    /// # Errors
    ///
    /// Whatever [`validate`](FluentdLogger::validate) finds; an
    /// [`Error::InvalidOption`] for a `fluentd-tls-ca` that holds no
    /// certificate; [`Error::Spawn`] when the async worker cannot start.
    pub fn new(info: &Info) -> Result<FluentdLogger> {
        let config = Config::parse(&info.config)?;
        let tls = config.tls()?;
        let tag = info.tag(NAME)?.into_bytes();
        let mut fields = vec![
            ("container_id".to_owned(), info.full_id().to_owned()),
            ("container_name".to_owned(), info.container_name.clone()),
        ];
        fields.extend(info.extra_attributes(NAME)?);
        let asynchronous = config.asynchronous;
        let shared = Arc::new(Shared {
            link: Mutex::new(Link::new(config.retry_wait)),
            config,
            tls,
            tag,
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            down: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            lines: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            resent: AtomicU64::new(0),
        });
        let worker = if asynchronous {
            let shared = Arc::clone(&shared);
            let worker = std::thread::Builder::new()
                .name("logdriver-fluentd".into())
                .spawn(move || worker(&shared))
                .map_err(|source| Error::Spawn {
                    thread: "logdriver-fluentd".into(),
                    source,
                })?;
            Some(worker)
        } else {
            None
        };
        Ok(FluentdLogger {
            shared,
            fields,
            worker: Mutex::new(worker),
        })
    }

    /// Checks the driver's options as Docker does, and the bounds it
    /// leaves out.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownOption`] for a key the driver does not know, and
    /// [`Error::InvalidOption`] for a value it cannot use, with Docker's
    /// reason for a bad address.
    pub fn validate(opts: &HashMap<String, String>) -> Result<()> {
        Config::parse(opts)?;
        let probe = Info {
            config: opts.clone(),
            ..Info::default()
        };
        probe.tag(NAME)?;
        probe.extra_attributes(NAME)?;
        Ok(())
    }

    /// `time ‖ record` for `msg`.
    fn entry(&self, msg: &Message) -> Vec<u8> {
        let source = msg.source.as_str();
        let mut fields: Vec<(&str, &[u8])> = vec![
            (self.fields[0].0.as_str(), self.fields[0].1.as_bytes()),
            (self.fields[1].0.as_str(), self.fields[1].1.as_bytes()),
            ("source", source.as_bytes()),
            ("log", &msg.line),
        ];
        let ordinal;
        if let Some(p) = &msg.partial {
            ordinal = p.ordinal.to_string();
            fields.push(("partial_message", b"true"));
            fields.push(("partial_id", p.id.as_bytes()));
            fields.push(("partial_ordinal", ordinal.as_bytes()));
            fields.push(("partial_last", if p.last { b"true" } else { b"false" }));
        }
        // Attrs come after, and override, as Docker's do.
        for (key, value) in &self.fields[2..] {
            match fields.iter_mut().find(|(k, _)| k == key) {
                Some(field) => field.1 = value.as_bytes(),
                None => fields.push((key, value.as_bytes())),
            }
        }
        let mut out = Vec::with_capacity(msg.line.len() + 200);
        msgpack::time(&mut out, msg.timestamp, self.shared.config.sub_second);
        msgpack::map(&mut out, fields.len());
        for (key, value) in fields {
            msgpack::str(&mut out, key.as_bytes());
            msgpack::str(&mut out, value);
        }
        out
    }

    /// Sends `msgs` from the caller's thread (blocking mode), at most the
    /// write timeout; each line that does not go out is dropped, counted
    /// and handed to `failed`.
    fn send_now(&self, msgs: &mut dyn Iterator<Item = Message>, failed: &mut dyn FnMut(Error)) {
        let shared = &self.shared;
        let deadline = Instant::now() + shared.config.write_timeout;
        let (mut entries, mut sizes) = (Vec::new(), Vec::new());
        for msg in msgs {
            sizes.push(msg.line.len() as u64);
            entries.push(self.entry(&msg));
        }
        if entries.is_empty() {
            return;
        }
        let mut link = shared.link.lock();
        // Down: one attempt to connect when the backoff allows, no waiting.
        let down = shared.down.load(Ordering::Acquire)
            && (Instant::now() < link.next_attempt || !link.connect(shared, deadline));
        let why = if shared.closed.load(Ordering::Acquire) {
            Some(Err(Error::closed(NAME)))
        } else if down {
            Some(Ok("the fluentd server is unreachable; line dropped"))
        } else {
            let through = link.send(shared, &entries, shared.config.forward_mode, Some(deadline));
            let bytes = sizes[..through].iter().sum();
            shared.sent(through as u64, bytes);
            entries.drain(..through);
            if entries.is_empty() {
                None
            } else {
                if link.stream.is_none() {
                    shared.down.store(true, Ordering::Release);
                }
                Some(Ok(
                    "fluentd-write-timeout passed before the line could be sent; dropped",
                ))
            }
        };
        drop(link);
        match why {
            None => {}
            Some(Err(_)) => entries.iter().for_each(|_| failed(Error::closed(NAME))),
            Some(Ok(why)) => {
                shared
                    .dropped
                    .fetch_add(entries.len() as u64, Ordering::Relaxed);
                entries
                    .iter()
                    .for_each(|_| failed(Error::driver(NAME, why)));
            }
        }
    }

    /// Queues `msgs` (async mode); a line that does not fit in
    /// `fluentd-buffer-limit` is dropped, counted and handed to `failed`.
    fn queue(&self, msgs: &mut dyn Iterator<Item = Message>, failed: &mut dyn FnMut(Error)) {
        let shared = &self.shared;
        let limit = shared.config.buffer_limit;
        let mut full = 0;
        {
            let mut queue = shared.queue.lock();
            for msg in msgs {
                if queue.closing.is_some() {
                    failed(Error::closed(NAME));
                    continue;
                }
                let entry = self.entry(&msg);
                if queue.bytes + entry.len() > limit {
                    full += 1;
                    continue;
                }
                queue.bytes += entry.len();
                queue.events.push_back(Event {
                    entry,
                    line_bytes: msg.line.len() as u64,
                });
            }
        }
        shared.work.notify_one();
        if full > 0 {
            shared.dropped.fetch_add(full, Ordering::Relaxed);
            for _ in 0..full {
                failed(Error::driver(
                    NAME,
                    "the fluentd-buffer-limit queue is full; line dropped",
                ));
            }
        }
    }

    fn deliver(&self, msgs: &mut dyn Iterator<Item = Message>, failed: &mut dyn FnMut(Error)) {
        if self.shared.config.asynchronous {
            self.queue(msgs, failed)
        } else {
            self.send_now(msgs, failed)
        }
    }
}

impl Logger for FluentdLogger {
    /// In blocking mode, sends the line (and waits for its ack, with
    /// `fluentd-request-ack`), at most `fluentd-write-timeout`; in async
    /// mode, queues it.
    ///
    /// # Errors
    ///
    /// [`Error::Driver`] when the line is dropped: the async queue is full,
    /// the write timeout passed, or the server is still unreachable after
    /// one did; [`Error::Closed`] after `close`.
    fn log(&self, msg: Message) -> Result<()> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::closed(NAME));
        }
        let mut result = Ok(());
        self.deliver(&mut std::iter::once(msg), &mut |e| result = Err(e));
        result
    }

    /// The lines of one read in one `write` of back-to-back frames (and
    /// their acks read after), in either mode.
    fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
        if self.shared.closed.load(Ordering::Acquire) {
            batch.drain(..).for_each(|_| failed(Error::closed(NAME)));
            return;
        }
        self.deliver(&mut batch.drain(..), failed);
    }

    fn prefers_batches(&self) -> bool {
        true
    }

    /// Lines sent (acked, with acks), their bytes, lines dropped, and
    /// lines that failed otherwise.
    fn stats(&self) -> LoggerStats {
        let s = &self.shared;
        LoggerStats {
            lines: s.lines.load(Ordering::Relaxed),
            bytes: s.bytes.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            resent: s.resent.load(Ordering::Relaxed),
            ..LoggerStats::default()
        }
    }

    fn name(&self) -> &str {
        NAME
    }

    /// Sends what is queued, for at most `fluentd-write-timeout`; what is
    /// left then is dropped and counted. A second call returns `Ok(())`.
    ///
    /// # Errors
    ///
    /// [`Error::FlushTimeout`] when lines were left.
    fn close(&self) -> Result<()> {
        let shared = &self.shared;
        if shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let before = shared.dropped.load(Ordering::Relaxed);
        let deadline = Instant::now() + shared.config.write_timeout;
        shared.queue.lock().closing = Some(deadline);
        shared.work.notify_all();
        if let Some(worker) = self.worker.lock().take() {
            let _ = worker.join();
        }
        // Blocking mode: no `log` holds the link once it is closed.
        let stream = shared.link.lock().stream.take();
        if let Some((stream, _)) = stream {
            let left = deadline.saturating_duration_since(Instant::now());
            stream.shutdown(left.min(Duration::from_secs(1)));
        }
        let unflushed = shared.dropped.load(Ordering::Relaxed) - before;
        if unflushed > 0 {
            return Err(Error::FlushTimeout {
                driver: NAME.into(),
                unflushed,
                timeout: shared.config.write_timeout,
            });
        }
        Ok(())
    }
}

impl Drop for FluentdLogger {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The async worker: sends what is queued until the driver closes, then
/// what is left within the write timeout, and drops the rest.
fn worker(shared: &Shared) {
    let forward = shared.config.forward_mode;
    loop {
        let (batch, closing) = {
            let mut queue = shared.queue.lock();
            loop {
                if !queue.events.is_empty() {
                    break;
                }
                match queue.closing {
                    Some(_) => return,
                    None => shared.work.wait(&mut queue),
                }
            }
            // Back-to-back frames (or one Forward frame) in one write.
            let take = queue.events.len().min(MAX_BATCH_EVENTS);
            let batch: Vec<Event> = queue.events.drain(..take).collect();
            queue.bytes -= batch.iter().map(|e| e.entry.len()).sum::<usize>();
            (batch, queue.closing)
        };
        let entries: Vec<Vec<u8>> = batch.iter().map(|e| e.entry.clone()).collect();
        // Once closing, nothing is sent past the close deadline.
        let mut link = shared.link.lock();
        let through = link.send(shared, &entries, forward, closing);
        drop(link);
        let bytes = batch[..through].iter().map(|e| e.line_bytes).sum();
        shared.sent(through as u64, bytes);
        if through == batch.len() {
            continue;
        }
        // Out of time or attempts: the rest of this batch, and at close
        // all the rest.
        let mut lost = batch.len() - through;
        let mut queue = shared.queue.lock();
        if queue.closing.is_some_and(|d| Instant::now() >= d) {
            lost += queue.events.len();
            queue.events.clear();
            queue.bytes = 0;
        }
        drop(queue);
        shared.dropped.fetch_add(lost as u64, Ordering::Relaxed);
    }
}

/// What `fluentd-max-retries=0` means: Docker's client's default.
const ZERO_MAX_RETRIES: u64 = 13;

/// How long a periodic reconnect waits for the server to end the old
/// connection.
const RECONNECT_GRACE: Duration = Duration::from_millis(100);

/// The connection, and when to try again after it failed.
struct Link {
    stream: Option<(Stream, Instant)>,
    /// The wait before the next connection attempt.
    backoff: Duration,
    next_attempt: Instant,
    buf: Vec<u8>,
    /// Where each frame in `buf` ends.
    ends: Vec<usize>,
}

/// How far a failed write of frames got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    /// Frames through: acked, or without acks written whole.
    through: usize,
    /// Frames after those that were written whole, or whose ack did not
    /// come: sent again, they may reach the server twice.
    unsure: usize,
}

/// A chunk id: base64 of the time in seconds and 8 random bytes, both
/// little-endian, as the Go client makes it.
fn chunk_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&secs.to_le_bytes());
    raw[8..].copy_from_slice(&hasher.finish().to_le_bytes());
    base64(&raw)
}

/// Standard base64, with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Link {
    fn new(retry_wait: Duration) -> Link {
        Link {
            stream: None,
            backoff: retry_wait,
            next_attempt: Instant::now(),
            buf: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Connects if not connected; `false` when that failed, with the next
    /// attempt put off by the backoff.
    fn connect(&mut self, shared: &Shared, deadline: Instant) -> bool {
        let config = &shared.config;
        if let (Some((_, since)), Some(every)) = (&self.stream, config.reconnect_interval) {
            if since.elapsed() >= every {
                // In order: TLS's close_notify, our end, and what the
                // server still says, briefly; a connection dropped with
                // unread input is reset instead.
                if let Some((old, _)) = self.stream.take() {
                    old.shutdown(RECONNECT_GRACE);
                }
            }
        }
        if self.stream.is_some() {
            return true;
        }
        match Stream::connect(&config.address, shared.tls.as_ref(), deadline) {
            Ok(stream) => {
                self.stream = Some((stream, Instant::now()));
                self.backoff = config.retry_wait;
                shared.down.store(false, Ordering::Release);
                true
            }
            Err(_) => {
                self.failed();
                false
            }
        }
    }

    /// Drops the connection and puts the next attempt off.
    fn failed(&mut self) {
        self.stream = None;
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = self.backoff.mul_f64(1.5).min(MAX_RETRY_WAIT);
    }

    /// Sends `entries` (one frame each, or one Forward-mode frame) until
    /// they are through (and acked), or `deadline` passes, or
    /// `fluentd-max-retries` attempts were made. Each attempt has one
    /// deadline for its connect, its write and its acks, whatever the peer
    /// does within it. Frames acked before a failure are not sent again,
    /// nor, without acks, frames written whole; the others are, with their
    /// chunk ids, and a frame written whole but not acked counts as
    /// resent.
    ///
    /// Returns how many of `entries` went through: all, or those before
    /// the first that did not.
    fn send(
        &mut self,
        shared: &Shared,
        entries: &[Vec<u8>],
        forward: bool,
        deadline: Option<Instant>,
    ) -> usize {
        let config = &shared.config;
        let frames = if forward { 1 } else { entries.len() };
        let chunks: Vec<String> = if config.request_ack {
            (0..frames).map(|_| chunk_id()).collect()
        } else {
            Vec::new()
        };
        let mut done = 0; // frames through
        let mut attempts = 0u64;
        while done < frames {
            // A close that starts meanwhile brings the deadline closer.
            let closing = shared.queue.lock().closing;
            let deadline = deadline.into_iter().chain(closing).min();
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) || attempts >= config.max_retries {
                // A Forward-mode frame goes whole or not at all.
                return if forward { 0 } else { done };
            }
            let timeout = left.map_or(config.write_timeout, |l| l.min(config.write_timeout));
            let by = Instant::now() + timeout;
            let wait = self.next_attempt.saturating_duration_since(Instant::now());
            if self.stream.is_none() && !wait.is_zero() {
                // Wait out the backoff; `close` cuts it short.
                let mut queue = shared.queue.lock();
                if queue.closing == closing {
                    shared.work.wait_for(&mut queue, wait.min(timeout));
                }
                continue;
            }
            attempts += 1;
            if !self.connect(shared, by) {
                continue;
            }
            match self.write_frames(shared, &entries[done..], forward, chunks.get(done..), by) {
                Ok(()) => done = frames,
                Err(Cut { through, unsure }) => {
                    done += through;
                    shared.resent.fetch_add(unsure as u64, Ordering::Relaxed);
                    self.failed();
                }
            }
        }
        entries.len()
    }

    /// Writes the frames for `entries` in one `write`, then reads their
    /// acks when `chunks` are given, all by `deadline`. On failure, how
    /// far it got.
    fn write_frames(
        &mut self,
        shared: &Shared,
        entries: &[Vec<u8>],
        forward: bool,
        chunks: Option<&[String]>,
        deadline: Instant,
    ) -> std::result::Result<(), Cut> {
        let chunks = chunks.filter(|c| !c.is_empty());
        let buf = &mut self.buf;
        buf.clear();
        // Where each frame ends in `buf`.
        let ends = &mut self.ends;
        ends.clear();
        if forward {
            msgpack::array(buf, 3);
            msgpack::str(buf, &shared.tag);
            msgpack::array(buf, entries.len());
            for entry in entries {
                msgpack::array(buf, 2);
                buf.extend_from_slice(entry);
            }
            let chunk = chunks.map(|c| &c[0]);
            msgpack::map(buf, 1 + usize::from(chunk.is_some()));
            msgpack::str(buf, b"size");
            msgpack::int(buf, entries.len() as i64);
            if let Some(chunk) = chunk {
                msgpack::str(buf, b"chunk");
                msgpack::str(buf, chunk.as_bytes());
            }
            ends.push(buf.len());
        } else {
            for (i, entry) in entries.iter().enumerate() {
                msgpack::array(buf, 4);
                msgpack::str(buf, &shared.tag);
                buf.extend_from_slice(entry);
                let chunk = chunks.map(|c| &c[i]);
                msgpack::map(buf, usize::from(chunk.is_some()));
                if let Some(chunk) = chunk {
                    msgpack::str(buf, b"chunk");
                    msgpack::str(buf, chunk.as_bytes());
                }
                ends.push(buf.len());
            }
        }
        let (stream, _) = self.stream.as_mut().expect("connected");
        if let Err(written) = stream.write_all_by(buf, deadline) {
            let whole = ends.iter().take_while(|&&end| end <= written).count();
            // Without acks, a frame written whole went out: it is not sent
            // again. With them, only an ack says so.
            return Err(match chunks {
                None => Cut {
                    through: whole,
                    unsure: 0,
                },
                Some(_) => Cut {
                    through: 0,
                    unsure: whole,
                },
            });
        }
        let Some(chunks) = chunks else {
            return Ok(());
        };
        let by = deadline.min(Instant::now() + shared.config.read_timeout);
        let cut = |acked: usize| Cut {
            through: acked,
            unsure: chunks.len() - acked,
        };
        let mut answer = Vec::new();
        let mut part = [0u8; 4096];
        let mut acked = 0;
        while acked < chunks.len() {
            match msgpack::value_len(&answer) {
                Ok(Some(len)) => {
                    if msgpack::ack(&answer[..len]) != Some(chunks[acked].as_bytes()) {
                        return Err(cut(acked));
                    }
                    answer.drain(..len);
                    acked += 1;
                    continue;
                }
                Err(_) => return Err(cut(acked)),
                Ok(None) => {}
            }
            match stream.read_by(&mut part, by) {
                Ok(n) if n > 0 && answer.len() < 1 << 16 => answer.extend_from_slice(&part[..n]),
                _ => return Err(cut(acked)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_retries_zero_means_dockers_thirteen() {
        let opts = |v: &str| HashMap::from([("fluentd-max-retries".to_owned(), v.to_owned())]);
        assert_eq!(Config::parse(&opts("0")).unwrap().max_retries, 13);
        assert_eq!(Config::parse(&opts("1")).unwrap().max_retries, 1);
        assert_eq!(
            Config::parse(&HashMap::new()).unwrap().max_retries,
            2147483647
        );
    }

    #[test]
    fn one_attempt_is_one_connect_however_long_the_backoff() {
        // Nothing listens: each attempt is a refused connect. With one
        // attempt allowed, the backoff after it is never waited out.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("tcp://127.0.0.1:{port}");
        let info = Info::new("0123456789ab")
            .with_option("fluentd-address", &address)
            .with_option("fluentd-max-retries", "1")
            .with_option("fluentd-retry-wait", "10s");
        let logger = FluentdLogger::new(&info).unwrap();
        let start = Instant::now();
        assert!(logger
            .log(Message::new(crate::Source::Stdout, "x"))
            .is_err());
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn chunk_ids_are_base64_of_16_bytes_and_differ() {
        let (a, b) = (chunk_id(), chunk_id());
        assert_eq!(a.len(), 24);
        assert!(a.ends_with("=="));
        assert_ne!(a, b);
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hell"), "aGVsbA==");
        assert_eq!(base64(b"hel"), "aGVs");
    }
}
