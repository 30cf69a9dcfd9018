//! `nats`: every line into a NATS JetStream stream, acknowledged,
//! deduplicated by message id: the path beyond one hub (feature `nats`).
//!
//! # Wire format
//!
//! Each line is one message:
//!
//! - **Subject** `<prefix>.<tenant>.<service>`: the tenant and service are
//!   the container's `TENANT_ID` and `SERVICE_ID` (`default` when unset or
//!   empty), as for the `zmq` driver. A value that is not a single subject
//!   token (blank, or holding `.`, `*`, `>` or whitespace) is refused when
//!   the driver is created, never escaped: a subscriber to `logs.t1.>`
//!   sees tenant `t1` and nothing else (ZeroMQ's prefix match would also
//!   deliver `t10`).
//! - **Payload** `<12-char container id>: <line>`, exactly the `zmq`
//!   driver's third frame, so one consumer reads either.
//! - **Headers**: `Nats-Msg-Id` `<full container id>-<driver start in unix
//!   ns>-<seq>`, which JetStream deduplicates on; `Log-Source` (`stdout` or
//!   `stderr`); `Log-Time` (RFC 3339, nanoseconds, UTC); `Log-Seq` (the
//!   driver's sequence, from 1); for a chunk of a long line
//!   `Log-Partial-Id`, `Log-Partial-Ordinal` and `Log-Partial-Last`.
//!
//! # Options
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `nats-url` | required | servers, comma-separated (`nats://host:4222`, `tls://…`): the seeds of a cluster |
//! | `nats-subject-prefix` | `logs` | lines go to `<prefix>.<tenant>.<service>`; dot-separated tokens |
//! | `nats-stream` | `LOGS` | the stream that captures those subjects |
//! | `nats-create-stream` | `true` | create the stream (file storage, subjects `<prefix>.>`) if it does not exist; with `false` a missing stream is an error at creation |
//! | `nats-max-pending` | `4096` | publishes in flight without an ack, 1 to 1,000,000; at the limit `log` waits |
//! | `nats-send-timeout` | `5s` | the longest `log` waits for room or a server, up to 1 hour; then the line is dropped, counted, and `log` fails. If no server answered, lines then drop at once until one does. A cluster's stream leader election takes a few seconds (about 5 s here with 3 nodes): set it above that to lose nothing to one |
//! | `nats-linger` | `5s` | the longest `close` waits for outstanding acks, up to 1 hour |
//! | `nats-token`, `nats-user` + `nats-password`, `nats-creds` | none | authentication; a creds file is a path |
//! | `nats-tls-ca` | none | a CA file to trust for `tls://` servers |
//!
//! # Delivery
//!
//! - **At least once into the stream, duplicates removed inside the
//!   stream's duplicate window.** A publish whose ack does not come (a
//!   server died, the connection or the leader changed) is published
//!   again with the same `Nats-Msg-Id`, until it is acked or `close` gives
//!   up at the end of its linger.
//! - **Per-container order is kept, except across a failure**: a line sent
//!   again may land after lines sent after it; `Log-Seq` puts them back.
//! - **A stream that refuses a line** (full under `discard: new`, say)
//!   gets it dropped and counted in [`Logger::stats`], and the next `log`
//!   returns that error; so does a send timeout. No line is lost silently.
//! - **The stream is made sure of on every connection**: with
//!   `nats-create-stream=true` it is created on the first connection (a
//!   server that comes up after the driver, as in a compose stack or a
//!   booting host, gets it then) and after every reconnect, and a publish
//!   that finds no stream creates it and is sent again.
//! - **`close` returns once every line is acked, or at the end of the
//!   linger**, which starts when `close` is called and bounds everything
//!   after it: lines still queued or unacked then are counted as dropped
//!   and reported in [`Error::FlushTimeout`]. It never hangs without a
//!   server.
//! - **The driver owns one small runtime thread** (tokio, current-thread).
//!   `log` may be called from any thread, a tokio runtime's included
//!   (current-thread or multi-thread): it never enters a runtime itself.
//!   `log` may wait up to `nats-send-timeout` and `close` up to
//!   `nats-linger`, as blocking calls: from async code, call `close` in
//!   `spawn_blocking`.
//!
//! # Trust
//!
//! The subject is built from the container's environment, so a container
//! chooses its tenant: give each tenant its own credentials (`nats-creds`)
//! whose permissions allow publishing to `logs.<tenant>.>` only, and the
//! server enforces what the subject claims.
//!
//! # Examples
//!
//! ```no_run
//! use logdriver::{registry, Info, Logger, Message, Source};
//!
//! let info = Info::new("0123456789abcdef")
//!     .with_option("nats-url", "nats://127.0.0.1:4222")
//!     .with_env("TENANT_ID", "acme");
//! let logger = registry().create("nats", &info)?;
//! logger.log(Message::new(Source::Stdout, "hello"))?; // to logs.acme.default
//! logger.close()?; // every line acked, or counted as dropped
//! # Ok::<(), logdriver::Error>(())
//! ```

mod config;
mod link;
mod permits;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use async_nats::jetstream::message::PublishMessage;
use async_nats::HeaderMap;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use config::{is_token, Config};
use link::{connect, linger, publish_all, Link};
use permits::{Permit, Permits};

use crate::drivers::util::Counters;
use crate::error::{Error, Result};
use crate::info::Info;
use crate::logger::{Logger, LoggerStats};
use crate::message::Message;

/// The name this driver is registered under.
pub const NAME: &str = "nats";
/// The most publishes `nats-max-pending` lets be in flight.
pub const MAX_PENDING_LIMIT: usize = 1_000_000;

/// One line, ready to publish.
struct Job {
    subject: String,
    publish: PublishMessage,
    line_bytes: u64,
    _permit: Permit,
}

/// What `log`, `close` and the runtime share.
struct Shared {
    max_pending: usize,
    /// Set after a send timeout while no server answers; cleared when the
    /// client connects.
    down: AtomicBool,
    closed: AtomicBool,
    /// The stream is known to be there on this connection; cleared at
    /// every (re)connect and when a publish finds no stream.
    stream_ready: AtomicBool,
    /// A refusal not yet reported: the next `log` returns it.
    refused: Mutex<Option<String>>,
    counts: Counters,
}

/// The `nats` driver. See the [module docs](self).
pub struct NatsLogger {
    shared: Arc<Shared>,
    config: Config,
    subject: String,
    /// `<12-char id>: `, the payload's start.
    payload_prefix: Vec<u8>,
    /// `<full id>-<start ns>-`, the message id's start.
    id_prefix: String,
    seq: AtomicU64,
    permits: Arc<Permits>,
    /// To tell "no server" (drop at once after a timeout) from "a server,
    /// but no room yet" (every line waits its send timeout).
    client: async_nats::Client,
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    /// `close` sends the end of its linger here.
    closing: watch::Sender<Option<std::time::Instant>>,
    /// The runtime's thread; it ends once `close` drops the job sender
    /// and the in-flight publishes are settled or given up.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for NatsLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsLogger")
            .field("subject", &self.subject)
            .field("stream", &self.config.stream)
            .finish()
    }
}

/// A token of the subject from the container's environment.
fn token_from_env(info: &Info, var: &str) -> Result<String> {
    match info.env(var) {
        None | Some("") => Ok("default".into()),
        Some(v) if is_token(v) => Ok(v.to_owned()),
        Some(v) => Err(Error::driver(
            NAME,
            format!("{var}={v:?} is not a single NATS subject token (no ., *, > or whitespace)"),
        )),
    }
}

impl NatsLogger {
    /// Connects (within `nats-send-timeout`), makes sure the stream is
    /// there, and starts the driver's runtime thread.
    ///
    /// A server that cannot be reached is not an error here: lines wait
    /// for it (see `nats-send-timeout`). A server that refuses the
    /// credentials is, and so is a missing stream with
    /// `nats-create-stream=false`.
    ///
    /// # Errors
    ///
    /// What [`validate`](NatsLogger::validate) finds; [`Error::Driver`] for
    /// a `TENANT_ID` or `SERVICE_ID` that is not a subject token, refused
    /// credentials, an unreadable creds or CA file, or a missing stream;
    /// [`Error::Spawn`] when the runtime thread cannot start.
    pub fn new(info: &Info) -> Result<NatsLogger> {
        let config = Config::parse(&info.config)?;
        let tenant = token_from_env(info, "TENANT_ID")?;
        let service = token_from_env(info, "SERVICE_ID")?;
        let subject = format!("{}.{tenant}.{service}", config.prefix);
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let shared = Arc::new(Shared {
            max_pending: config.max_pending,
            down: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            stream_ready: AtomicBool::new(false),
            refused: Mutex::new(None),
            counts: Counters::default(),
        });

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::driver(NAME, format!("cannot start its runtime: {e}")))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
        let (closing, closing_rx) = watch::channel(None);
        let thread = {
            let (config, shared) = (config.clone(), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("logdriver-nats".into())
                .spawn(move || {
                    runtime.block_on(async move {
                        match connect(&config, &shared).await {
                            Ok(context) => {
                                let _ = ready_tx.send(Ok(context.client()));
                                let link = Link {
                                    context,
                                    config,
                                    shared,
                                    given_up: linger(closing_rx),
                                    ensuring: tokio::sync::Mutex::new(()),
                                };
                                publish_all(Arc::new(link), jobs_rx).await;
                            }
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                            }
                        }
                    })
                })
                .map_err(|source| Error::Spawn {
                    thread: "logdriver-nats".into(),
                    source,
                })?
        };
        let client = match ready_rx.recv() {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => return Err(Error::driver(NAME, "its runtime thread ended at start")),
        };
        Ok(NatsLogger {
            client,
            permits: Permits::new(config.max_pending),
            payload_prefix: format!("{}: ", info.id()).into_bytes(),
            id_prefix: format!("{}-{start}-", info.full_id()),
            seq: AtomicU64::new(0),
            jobs: Mutex::new(Some(jobs_tx)),
            closing,
            thread: Mutex::new(Some(thread)),
            shared,
            config,
            subject,
        })
    }

    /// Checks the driver's options: known keys, server URLs, subject and
    /// stream names, numbers and durations with their bounds.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownOption`], [`Error::MissingOption`] (`nats-url`, or
    /// half of a user and password), or [`Error::InvalidOption`].
    pub fn validate(opts: &HashMap<String, String>) -> Result<()> {
        Config::parse(opts).map(drop)
    }

    /// The message for `msg`, with the next sequence number.
    fn publish(&self, msg: &Message) -> PublishMessage {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut payload = Vec::with_capacity(self.payload_prefix.len() + msg.line.len());
        payload.extend_from_slice(&self.payload_prefix);
        payload.extend_from_slice(&msg.line);
        let mut time = Vec::with_capacity(30);
        let _ = crate::time::write_time_nanos(&mut time, msg.timestamp);
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{}{seq}", self.id_prefix).as_str());
        headers.insert("Log-Source", msg.source.as_str());
        headers.insert("Log-Time", String::from_utf8_lossy(&time).as_ref());
        headers.insert("Log-Seq", seq.to_string().as_str());
        if let Some(p) = &msg.partial {
            headers.insert("Log-Partial-Id", p.id.as_str());
            headers.insert("Log-Partial-Ordinal", p.ordinal.to_string().as_str());
            headers.insert("Log-Partial-Last", if p.last { "true" } else { "false" });
        }
        PublishMessage::build()
            .payload(Bytes::from(payload))
            .headers(headers)
    }

    fn dropped(&self, why: String) -> Error {
        self.shared.counts.dropped(1);
        Error::dropped(NAME, why)
    }
}

impl Logger for NatsLogger {
    /// Publishes the line; waits for room (`nats-max-pending`) or a
    /// server at most `nats-send-timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Dropped`] when the line is dropped (a send timeout, or the
    /// server still unreachable after one), or to report a line the stream
    /// refused earlier (this line still goes); [`Error::Closed`] after
    /// `close`.
    fn log(&self, msg: Message) -> Result<()> {
        let shared = &self.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(Error::closed(NAME));
        }
        // Taken first: the lock must not be held while `send` waits.
        let refused = shared.refused.lock().take();
        if let Some(refused) = refused {
            // Reported once; this line still goes.
            let _ = self.send(msg);
            return Err(Error::dropped(NAME, refused));
        }
        self.send(msg)
    }

    fn stats(&self) -> LoggerStats {
        self.shared.counts.stats()
    }

    fn name(&self) -> &str {
        NAME
    }

    /// Waits for the outstanding acks, at most `nats-linger`; what is not
    /// acked then is counted as dropped. A second call returns `Ok(())`.
    ///
    /// # Errors
    ///
    /// [`Error::FlushTimeout`] when lines were left unacked.
    fn close(&self) -> Result<()> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let before = self.shared.counts.dropped_so_far();
        // The linger starts now, and bounds everything after it.
        let _ = self
            .closing
            .send(Some(std::time::Instant::now() + self.config.linger));
        drop(self.jobs.lock().take());
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
        let unflushed = self.shared.counts.dropped_so_far() - before;
        if unflushed > 0 {
            return Err(Error::FlushTimeout {
                driver: NAME.into(),
                unflushed,
                timeout: self.config.linger,
            });
        }
        Ok(())
    }
}

impl NatsLogger {
    fn send(&self, msg: Message) -> Result<()> {
        let shared = &self.shared;
        if shared.down.load(Ordering::Acquire) {
            return Err(self.dropped("no NATS server answers".into()));
        }
        let timeout = self.config.send_timeout;
        let Some(permit) = self.permits.acquire(timeout) else {
            let connected =
                self.client.connection_state() == async_nats::connection::State::Connected;
            shared.down.store(!connected, Ordering::Release);
            return Err(self.dropped(format!(
                "nats-send-timeout ({timeout:?}) passed with {} publishes unacked",
                shared.max_pending
            )));
        };
        let job = Job {
            subject: self.subject.clone(),
            publish: self.publish(&msg),
            line_bytes: msg.line.len() as u64,
            _permit: permit,
        };
        let sent = self
            .jobs
            .lock()
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        if sent {
            Ok(())
        } else {
            Err(Error::closed(NAME))
        }
    }
}

impl Drop for NatsLogger {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
