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
mod config;
mod link;
mod msgpack;
mod queue;
mod record;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

pub use address::{Address, AddressError, DEFAULT_HOST, DEFAULT_PORT};
use config::Config;
use link::Link;
use queue::Queue;

use crate::drivers::util::{conn, Counters};
use crate::error::{Error, Result};
use crate::info::Info;
use crate::logger::{Logger, LoggerStats};
use crate::message::Message;

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
    /// Lines sent (acked, with acks) and dropped, and frames sent again
    /// after their ack did not come.
    counts: Counters,
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
            counts: Counters::default(),
        });
        let worker = if asynchronous {
            let shared = Arc::clone(&shared);
            let worker = std::thread::Builder::new()
                .name("logdriver-fluentd".into())
                .spawn(move || queue::worker(&shared))
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
        crate::info::check_attribute_options(NAME, opts)?;
        Ok(())
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
            && (!link.backoff.remaining().is_zero() || !link.connect(shared, deadline));
        let why = if shared.closed.load(Ordering::Acquire) {
            Some(Err(Error::closed(NAME)))
        } else if down {
            Some(Ok("the fluentd server is unreachable"))
        } else {
            let through = link.send(shared, &entries, shared.config.forward_mode, Some(deadline));
            let bytes = sizes[..through].iter().sum();
            shared.counts.sent(through as u64, bytes);
            entries.drain(..through);
            if entries.is_empty() {
                None
            } else {
                if link.stream.is_none() {
                    shared.down.store(true, Ordering::Release);
                }
                Some(Ok(
                    "fluentd-write-timeout passed before the line could be sent",
                ))
            }
        };
        drop(link);
        match why {
            None => {}
            Some(Err(_)) => entries.iter().for_each(|_| failed(Error::closed(NAME))),
            Some(Ok(why)) => {
                shared.counts.dropped(entries.len() as u64);
                entries
                    .iter()
                    .for_each(|_| failed(Error::dropped(NAME, why)));
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
    /// [`Error::Dropped`] when the line is dropped: the async queue is full,
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
        let mut stats = self.shared.counts.stats();
        stats.queued_bytes = self.shared.queue.lock().bytes() as u64;
        stats
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
        let before = shared.counts.dropped_so_far();
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
        let unflushed = shared.counts.dropped_so_far() - before;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
