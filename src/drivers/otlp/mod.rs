//! `otlp`: every line as an OpenTelemetry log record, over OTLP/HTTP with
//! protobuf bodies, to any collector: the OpenTelemetry Collector, rotel,
//! Grafana Loki 3, Elastic, OpenObserve, and the vendors that take OTLP.
//! Feature `otlp`; `https://` needs the feature `tls` too.
//!
//! # Records
//!
//! One request per batch: one `ResourceLogs` (the container) with one
//! `ScopeLogs` (scope `logdriver`, the crate's version), then the records.
//!
//! | resource attribute | value |
//! |---|---|
//! | `service.name` | `otlp-service-name`, else the label `com.docker.compose.service`, else the container's name, else `unknown_service` |
//! | `container.id`, `container.name` | the full id; the name without Docker's `/` |
//! | `container.image.name`, `container.image.id` | when known |
//! | `host.name` | the host's name |
//! | each label and variable that `labels`, `labels-regex`, `env` and `env-regex` select | its value, under its own name, as Docker's drivers take them |
//!
//! Each record has:
//! - `time_unix_nano`, when the line was read, and
//!   `observed_time_unix_nano`, when the driver took it;
//! - the severity by stream, as Docker's journald and gcplogs drivers
//!   give it: stdout `INFO` (9), stderr `ERROR` (17), with that text;
//! - the attribute `log.iostream`: `stdout` or `stderr`;
//! - the line, without its newline, as the body's `string_value` when it
//!   is UTF-8, and as its `bytes_value`, byte for byte, when it is not.
//!
//! **A long line is one record.** The chunks of a partial group (a line
//! the Copier or dockerd cut into 16 KiB messages) are joined, byte for
//! byte, into one body of up to `otlp-max-record` bytes (1 MiB). A longer
//! line goes out in parts, each as many whole chunks as fit in the bound
//! (a chunk bigger than the bound is a part of its own), with the attributes
//! `logdriver.partial.id` (the group's id), `logdriver.partial.ordinal`
//! (from 1) and `logdriver.partial.last`; so does a group cut short (by
//! the end of its stream, or by `close`), whose last part says
//! `last = false`. Concatenating the parts of one id in ordinal order gives
//! the line back. A group's chunks wait in the driver until its last one
//! comes.
//!
//! # Delivery
//!
//! - `log` encodes the record into a queue of `otlp-buffer-limit` bytes
//!   (8 MiB), and one thread posts it, in batches of at most
//!   `otlp-batch-records` records and `otlp-batch-bytes` bytes, after at
//!   most `otlp-batch-delay`. Bodies are gzipped (at level 1: a log batch
//!   compresses well even so) unless `otlp-compression=none`.
//! - **`log` waits at most `otlp-send-timeout`** (5 s) for room, and not at
//!   all while the collector takes nothing: then a record that finds the
//!   queue full is dropped at once, counted, and returned as
//!   [`Error::Dropped`]. A container is slowed, never wedged.
//! - **Retries:** on 429, 502, 503 and 504, on a connection that fails and
//!   on an answer that does not come within `otlp-timeout`, the batch is
//!   posted again, in order, after 100 ms, each next wait half as long
//!   again, at most 5 s; a `Retry-After` (seconds or a date, at most 30 s)
//!   is honoured. A batch posted again after one that may have reached the
//!   collector counts in [`LoggerStats::resent`]: the collector may keep
//!   both.
//! - **Rejections:** any other status drops the batch; a
//!   `partial_success` with `rejected_log_records` drops that many, exactly.
//!   Both count in [`LoggerStats::dropped`], and by reason in
//!   [`OtlpLogger::drops`]; [`OtlpLogger::last_rejection`] gives the
//!   collector's words.
//! - **A collector that is down at start never fails the container's
//!   start:** the driver connects from its own thread, when a batch is due.
//! - **`close` waits at most `otlp-linger`** (5 s) for what is queued (a
//!   group cut short is sent first), then drops the rest and returns
//!   [`Error::FlushTimeout`] with its count.
//!
//! So every line `log` took arrives, unless it is counted as dropped; none
//! is lost unseen.
//!
//! # Options
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `otlp-endpoint` | `http://localhost:4318` | `http://` or `https://` (feature `tls`); port 4318; without a path, `/v1/logs` is added |
//! | `otlp-headers` | | `name=value,…`, values percent-decoded, as `OTEL_EXPORTER_OTLP_HEADERS` (for tokens and tenants) |
//! | `otlp-compression` | `gzip` | or `none` |
//! | `otlp-timeout` | `10s` | the longest one request takes: connect, send, answer |
//! | `otlp-send-timeout` | `5s` | the longest `log` waits for room in the queue |
//! | `otlp-linger` | `5s` | the longest `close` waits for what is queued |
//! | `otlp-buffer-limit` | `8m` | the queue's size, in bytes of encoded records, 1 KiB to 1 GiB |
//! | `otlp-batch-records` | `512` | the most records in one request, 1 to 1,000,000 |
//! | `otlp-batch-bytes` | `1m` | the most bytes of records in one request (one record always goes), 1 KiB to 64 MiB |
//! | `otlp-batch-delay` | `200ms` | the longest a record waits for its batch to fill |
//! | `otlp-max-record` | `1m` | the longest body of one record; a longer line goes in parts, 1 KiB to 64 MiB |
//! | `otlp-service-name` | see above | `service.name` |
//! | `otlp-tls-ca-cert` | | a PEM file of CAs to trust, beside the system's, for `https://` |
//! | `otlp-tls-cert`, `otlp-tls-key` | | PEM files of the client's certificate and key, both or neither |
//! | `labels`, `labels-regex`, `env`, `env-regex` | | resource attributes, as for every driver; see [`Info::extra_attributes`] |
//!
//! # Examples
//!
//! With Docker, through the plugin (`src/bin/logdriver-plugin.rs`):
//!
//! ```text
//! docker run --log-driver logdriver --log-opt driver=otlp \
//!     --log-opt otlp-endpoint=http://collector:4318 \
//!     --log-opt otlp-headers=Authorization=Bearer%20t0ken alpine echo hello
//! ```
//!
//! With containerd, through the binary logger (`examples/containerd_logger.rs`):
//!
//! ```text
//! ctr run --log-uri 'binary:///usr/local/bin/containerd-logger?driver=otlp&otlp-endpoint=http://collector:4318' \
//!     docker.io/library/alpine:latest hello echo hello
//! ```
//!
//! In a program, against a stand-in collector that answers one request:
//!
//! ```
//! use std::io::{Read, Write};
//! use logdriver::{registry, Info, Logger, Message, Source};
//!
//! let collector = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let info = Info::new("0123456789abcdef")
//!     .with_option("otlp-endpoint", &format!("http://{}", collector.local_addr()?))
//!     .with_option("otlp-compression", "none");
//! let logger = registry().create("otlp", &info)?;
//! logger.log(Message::new(Source::Stdout, "hello"))?;
//!
//! let (mut conn, _) = collector.accept()?;
//! let mut request = vec![0; 4096];
//! let n = conn.read(&mut request)?;
//! conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
//! let request = &request[..n];
//! assert!(request.starts_with(b"POST /v1/logs HTTP/1.1\r\n"));
//! assert!(request.windows(5).any(|w| w == b"hello"));
//! logger.close()?;
//! assert_eq!(logger.stats().lines, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod endpoint;
mod http;
mod link;
mod proto;
mod queue;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use config::{Compression, Config};
use proto::Value;
use queue::Queue;

use crate::drivers::util::{conn, hostname, Counters};
use crate::error::{Error, Result};
use crate::info::Info;
use crate::logger::{Logger, LoggerStats};
use crate::message::{Message, Source};

/// The name this driver is registered under.
pub const NAME: &str = "otlp";

/// The records an [`OtlpLogger`] dropped, by reason. Their sum is
/// [`LoggerStats::dropped`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpDrops {
    /// Found the queue full at `log`.
    pub queue_full: u64,
    /// In batches the collector refused with a status that is not retried
    /// (400, 401, 413, 500, …).
    pub rejected: u64,
    /// What collectors' `partial_success` answers said they rejected.
    pub partial: u64,
    /// Still queued when `close`'s linger passed.
    pub unflushed: u64,
}

/// The drop counts, bumped by `log` and the worker.
#[derive(Debug, Default)]
struct Drops {
    full: AtomicU64,
    rejected: AtomicU64,
    partial: AtomicU64,
    unflushed: AtomicU64,
}

/// What `log`, `close` and the worker share.
struct Shared {
    config: Config,
    /// The request line and fixed headers, without `Content-Length`.
    head: Vec<u8>,
    /// The encoded `Resource` and `InstrumentationScope`.
    resource: Vec<u8>,
    scope: Vec<u8>,
    /// The fields every record of stdout, and of stderr, carries.
    streams: [Vec<u8>; 2],
    tls: Option<conn::Tls>,
    queue: Mutex<Queue>,
    /// Signalled when a batch may be due, or the driver closes.
    work: Condvar,
    /// Signalled when records leave the queue, or the collector goes down.
    room: Condvar,
    /// Set while the collector takes nothing: `log` does not wait for room.
    down: AtomicBool,
    counts: Counters,
    drops: Drops,
    last_rejection: Mutex<Option<String>>,
}

/// The `otlp` driver.
///
/// See the [module docs](self) for the records, the options and what is
/// guaranteed.
pub struct OtlpLogger {
    shared: Arc<Shared>,
    /// The worker; `None` once closed.
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for OtlpLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpLogger")
            .field("endpoint", &self.shared.config.endpoint.to_string())
            .finish()
    }
}

impl OtlpLogger {
    /// Creates the driver for `info`, and its worker, which connects when
    /// the first batch is due: a collector that is down is no error here.
    ///
    /// # Errors
    ///
    /// Whatever [`validate`](OtlpLogger::validate) finds; an
    /// [`Error::InvalidOption`] for TLS files that cannot be used;
    /// [`Error::Spawn`] when the worker cannot start.
    pub fn new(info: &Info) -> Result<OtlpLogger> {
        let config = Config::parse(&info.config)?;
        let tls = config.tls()?;
        let extra = info.extra_attributes(NAME)?;
        let host = hostname();
        let name = info.name();
        let service = config
            .service_name
            .as_deref()
            .or_else(|| {
                info.container_labels
                    .get(COMPOSE_SERVICE)
                    .map(String::as_str)
            })
            .filter(|s| !s.is_empty())
            .unwrap_or(if name.is_empty() {
                "unknown_service"
            } else {
                name
            });
        let known = [
            ("service.name", service),
            ("container.id", info.full_id()),
            ("container.name", name),
            ("container.image.name", info.image_name()),
            ("container.image.id", info.image_full_id()),
            ("host.name", host.as_str()),
        ];
        let attributes = known
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .chain(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map(|(k, v)| (k, Value::Str(v)));
        let resource = proto::resource(attributes);
        let scope = proto::scope("logdriver", env!("CARGO_PKG_VERSION"));
        let streams = [Source::Stdout, Source::Stderr].map(|source| {
            let severity = match source {
                Source::Stdout => (9, "INFO"),
                Source::Stderr => (17, "ERROR"),
            };
            proto::stream_fields(Some(severity), source.as_str())
        });
        let head = request_head(&config);
        let shared = Arc::new(Shared {
            config,
            head,
            resource,
            scope,
            streams,
            tls,
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            room: Condvar::new(),
            down: AtomicBool::new(false),
            counts: Counters::default(),
            drops: Drops::default(),
            last_rejection: Mutex::new(None),
        });
        let worker = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("logdriver-otlp".into())
                .spawn(move || link::worker(&shared))
                .map_err(|source| Error::Spawn {
                    thread: "logdriver-otlp".into(),
                    source,
                })?
        };
        Ok(OtlpLogger {
            shared,
            worker: Mutex::new(Some(worker)),
        })
    }

    /// Checks the driver's options, with errors that name the driver, the
    /// option and the value.
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

    /// The records dropped so far, by reason.
    ///
    /// # Examples
    ///
    /// ```
    /// use logdriver::drivers::otlp::OtlpLogger;
    /// use logdriver::{Info, Logger, Message, Source};
    ///
    /// // Nothing listens on port 9: the line waits in the queue, and is
    /// // given up when the linger is over.
    /// let info = Info::new("c1")
    ///     .with_option("otlp-endpoint", "http://127.0.0.1:9")
    ///     .with_option("otlp-linger", "200ms");
    /// let logger = OtlpLogger::new(&info)?;
    /// logger.log(Message::new(Source::Stdout, "hello"))?;
    /// assert!(logger.close().is_err());
    /// assert_eq!(logger.drops().unflushed, 1);
    /// assert_eq!(logger.drops().queue_full, 0);
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    pub fn drops(&self) -> OtlpDrops {
        let d = &self.shared.drops;
        OtlpDrops {
            queue_full: d.full.load(Ordering::Relaxed),
            rejected: d.rejected.load(Ordering::Relaxed),
            partial: d.partial.load(Ordering::Relaxed),
            unflushed: d.unflushed.load(Ordering::Relaxed),
        }
    }

    /// What the collector said when it last rejected records: the status
    /// and the start of its answer, or a `partial_success`'s
    /// `error_message`.
    pub fn last_rejection(&self) -> Option<String> {
        self.shared.last_rejection.lock().clone()
    }

    fn deliver(&self, msgs: &mut dyn Iterator<Item = Message>, failed: &mut dyn FnMut(Error)) {
        let deadline = Instant::now() + self.shared.config.send_timeout;
        self.shared.push(msgs, deadline, failed);
    }
}

/// The label Docker Compose gives each container: its service.
const COMPOSE_SERVICE: &str = "com.docker.compose.service";

/// The request line and the headers every request has.
fn request_head(config: &Config) -> Vec<u8> {
    let e = &config.endpoint;
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: logdriver/{}\r\n\
         Content-Type: application/x-protobuf\r\n",
        e.path,
        e.host,
        e.port,
        env!("CARGO_PKG_VERSION")
    );
    if config.compression == Compression::Gzip {
        head.push_str("Content-Encoding: gzip\r\n");
    }
    for (name, value) in &config.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.into_bytes()
}

impl Logger for OtlpLogger {
    /// Queues the line's record, waiting at most `otlp-send-timeout` for
    /// room. A chunk of a partial group waits in the driver for the rest.
    ///
    /// # Errors
    ///
    /// [`Error::Dropped`] when the record does not fit in the queue in
    /// time (or at once, while the collector takes nothing), and
    /// [`Error::Closed`] after `close`.
    fn log(&self, msg: Message) -> Result<()> {
        let mut result = Ok(());
        self.deliver(&mut std::iter::once(msg), &mut |e| result = Err(e));
        result
    }

    /// Queues the records of one read under one lock.
    fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
        self.deliver(&mut batch.drain(..), failed);
    }

    fn prefers_batches(&self) -> bool {
        true
    }

    /// Records the collector took (`lines`: a joined line counts once) and
    /// their lines' bytes; records dropped (see [`OtlpLogger::drops`]);
    /// records posted again after a try that may have arrived (`resent`).
    fn stats(&self) -> LoggerStats {
        let mut stats = self.shared.counts.stats();
        stats.queued_bytes = self.shared.queue.lock().bytes() as u64;
        stats
    }

    fn name(&self) -> &str {
        NAME
    }

    /// Sends what is queued, for at most `otlp-linger`; what is left then
    /// is dropped and counted. A second call returns `Ok(())`.
    ///
    /// # Errors
    ///
    /// [`Error::FlushTimeout`] when records were left.
    fn close(&self) -> Result<()> {
        let Some(worker) = self.worker.lock().take() else {
            return Ok(());
        };
        let shared = &self.shared;
        let before = shared.drops.unflushed.load(Ordering::Relaxed);
        let linger = shared.config.linger;
        let mut cut = 0;
        {
            let deadline = Instant::now() + linger;
            let mut queue = shared.queue.lock();
            // Groups cut short go first, as parts.
            let observed = queue::unix_nanos(std::time::SystemTime::now());
            for source in 0..2 {
                shared.end_group(&mut queue, source, observed, deadline, &mut |_| cut += 1);
            }
            queue.closing = Some(deadline);
        }
        shared.work.notify_all();
        shared.room.notify_all();
        let _ = worker.join();
        let unflushed = shared.drops.unflushed.load(Ordering::Relaxed) - before + cut;
        if unflushed > 0 {
            return Err(Error::FlushTimeout {
                driver: NAME.into(),
                unflushed,
                timeout: linger,
            });
        }
        Ok(())
    }
}

impl Drop for OtlpLogger {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
