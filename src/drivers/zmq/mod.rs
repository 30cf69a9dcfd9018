//! `zmq`: publishes every line to ZeroMQ log hubs.
//!
//! Each line is one multipart message of three frames:
//!
//! ```text
//! [tenant_id, service_id, "<container id>: <line>"]
//! ```
//!
//! `tenant_id` and `service_id` are the container's `TENANT_ID` and
//! `SERVICE_ID` environment variables, each `default` when unset or empty;
//! the container id is [`Info::id`], its first 12 characters. Hubs bind a
//! SUB socket and subscribe by tenant: this layout is the original Go
//! driver's, and never changes.
//!
//! # Long lines, and a last line without a newline
//!
//! A line of at least the Copier's buffer size (16 KiB by default) reaches
//! the driver as chunks, and each chunk is a message of its own, with the
//! same three frames: a 40,000-byte line is three messages, each with the
//! `"<container id>: "` prefix, and nothing in the default frames says
//! they belong together. Bytes left without a newline at the end of the
//! output are one more message like any other. Hubs that rejoin long lines
//! turn on `zmq-partial-frame=true`: every message then has a fourth
//! frame, empty for a whole line, and `<partial id>:<ordinal>:<more|last>`
//! for a chunk (`more` on the last bytes of an output that ended without a
//! newline). The default layout never changes.
//!
//! # Tenants: prefix subscriptions, and whom to trust
//!
//! A ZeroMQ subscription matches by **prefix**: a hub subscribed to `t1`
//! also receives tenant `t10`'s lines, and `acme` receives `acme-evil`'s.
//! A hub that serves one tenant must therefore compare the whole first
//! frame with its tenant and drop every other message, as
//! `examples/zmq_hub.rs` does; the subscription only saves bandwidth.
//!
//! Tenant and service come from the container's own environment: whoever
//! starts the container chooses them, and the container can claim any
//! tenant. Treat them as labels, not as proof of identity; a platform that
//! needs isolation sets `TENANT_ID` itself and refuses it from users (or
//! uses a transport that authenticates each container).
//!
//! # Options
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `zmq-address` | required | the hub's endpoint (`tcp://host:port`, `ipc://path`, `inproc://name`), or several, comma-separated |
//! | `zmq-sndhwm` | `10000` | messages queued per hub before `log` waits (`0`: no limit) |
//! | `zmq-send-timeout` | `5s` | how long `log` waits for a hub to subscribe or to take a line |
//! | `zmq-linger` | `5s` | how long `close` waits for queued lines to reach the hubs |
//! | `zmq-partial-frame` | `false` | add a fourth frame that marks the chunks of long lines (see below) |
//!
//! Durations are Go's, as Docker's options take them (`250ms`, `1.5s`,
//! `1m30s`), from `0` to `1h`; `zmq-sndhwm` is from `0` to `2147483647`. A value out of range
//! is refused at validation, naming the bound.
//!
//! # Nothing lost while a hub listens
//!
//! The original driver used a PUB socket, which silently drops messages
//! when its queue is full and every message sent before a hub's
//! subscription arrives. This driver publishes from an XPUB socket with
//! `ZMQ_XPUB_NODROP`, which hubs cannot tell from a PUB:
//!
//! - When a hub's queue is full, `log` waits (back-pressure reaches the
//!   container, as blocking mode means) instead of dropping.
//! - The XPUB sees subscriptions arrive, so `log` waits, up to the send
//!   timeout, until a hub subscribed to this container's tenant is there.
//!   (A hub's subscription goes out while its socket is in use, for
//!   instance blocked in `recv`, as every hub's is.)
//! - When none comes, or a hub stops taking lines for the whole send
//!   timeout, the line is dropped, counted in [`ZmqLogger::dropped`] (and
//!   in [`Logger::stats`]), and `log` returns an error. After a wait for a
//!   hub has timed out, lines are dropped at once (still counted, still an
//!   error, whose text says no wait happened) until a hub subscribes
//!   again, so that a container never crawls at one line per timeout.
//! - A hub that goes away is reconnected to by ZeroMQ. Lines sent between
//!   its departure and the driver noticing it (it checks every 256 lines)
//!   are lost with the connection.
//!
//! # Closing
//!
//! [`close`](Logger::close) returns once every line handed to `log` has
//! reached a connected hub, or once the linger has run out; it never hangs
//! when no hub listens. It holds even if the process exits right after:
//! the driver owns a ZeroMQ context of its own and terminates it, which is
//! what makes libzmq finish sending (the cost: each such driver has
//! libzmq's I/O thread of its own). Drivers with an `inproc://` endpoint
//! share the process-wide [`context`] instead, since inproc peers must
//! share one; so do drivers built with [`ZmqLogger::with_context`]. Their
//! `inproc` lines are in the hub's queue when `log` returns; lines queued
//! for other endpoints are sent in the background.

mod config;
mod nodrop;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use config::Config;
use nodrop::set_xpub_nodrop;

use crate::drivers::util::Counters;
use crate::error::{Error, Result};
use crate::info::Info;
use crate::logger::Logger;
use crate::logger::LoggerStats;
use crate::message::Message;

/// The name this driver is registered under.
pub const NAME: &str = "zmq";
/// The option that names the hubs' endpoints.
pub const ADDRESS_OPT: &str = "zmq-address";
/// The option that sets the send high-water mark.
pub const SNDHWM_OPT: &str = "zmq-sndhwm";
/// The option that bounds how long `log` waits.
pub const SEND_TIMEOUT_OPT: &str = "zmq-send-timeout";
/// The option that bounds how long `close` waits.
pub const LINGER_OPT: &str = "zmq-linger";
/// The option that adds a fourth frame marking the chunks of long lines.
pub const PARTIAL_FRAME_OPT: &str = "zmq-partial-frame";

/// The send high-water mark used when `zmq-sndhwm` is not given.
pub const DEFAULT_SNDHWM: i32 = 10_000;
/// The send timeout used when `zmq-send-timeout` is not given.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// The linger used when `zmq-linger` is not given.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);

/// The tenant or service used when the container's variable is unset or empty.
pub const DEFAULT_ID: &str = "default";

/// How many lines go out between two looks at the hubs' subscriptions.
const CHECK_EVERY: u32 = 256;

/// The process-wide ZeroMQ context, for `inproc://` hubs in this process.
///
/// Bind your in-process hub's socket in this context, and a driver with an
/// `inproc://` address reaches it.
///
/// # Examples
///
/// ```
/// let hub = logdriver::drivers::zmq::context().socket(zmq::SUB)?;
/// hub.bind("inproc://logs-doc")?;
/// hub.set_subscribe(b"")?;
/// assert_eq!(hub.recv_bytes(zmq::DONTWAIT), Err(zmq::Error::EAGAIN));
/// # Ok::<(), zmq::Error>(())
/// ```
pub fn context() -> &'static zmq::Context {
    static CONTEXT: OnceLock<zmq::Context> = OnceLock::new();
    CONTEXT.get_or_init(zmq::Context::new)
}

/// Milliseconds for a ZeroMQ option, saturated to its `i32`.
fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// The socket and what the driver knows about the hubs behind it.
struct Connection {
    socket: zmq::Socket,
    /// A context owned by this driver alone, terminated on `close` to flush.
    own_context: Option<zmq::Context>,
    /// Subscribed topics that match this driver's tenant.
    topics: HashSet<Vec<u8>>,
    /// Lines sent since the last look at the subscriptions.
    since_check: u32,
    /// A wait for a hub timed out, and none has subscribed since.
    gave_up: bool,
}

impl Connection {
    /// Reads the subscriptions that arrived, without waiting.
    fn read_subscriptions(&mut self, tenant: &[u8]) {
        while let Ok(sub) = self.socket.recv_bytes(zmq::DONTWAIT) {
            let Some((&kind, topic)) = sub.split_first() else {
                continue;
            };
            if !tenant.starts_with(topic) {
                continue;
            }
            match kind {
                1 => {
                    self.topics.insert(topic.to_vec());
                }
                0 => {
                    self.topics.remove(topic);
                }
                _ => {}
            }
        }
        self.since_check = 0;
    }

    /// Waits until a hub subscribed to `tenant` is there, up to `timeout`.
    fn wait_for_hub(&mut self, tenant: &[u8], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.read_subscriptions(tenant);
            if !self.topics.is_empty() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            // Wakes when a subscription arrives; errors just end the wait early.
            let _ = self.socket.poll(zmq::POLLIN, millis(left).max(1).into());
        }
    }
}

/// The `zmq` driver: publishes each line to ZeroMQ hubs.
///
/// See the [module docs](self) for the wire format, the options and the
/// delivery guarantees.
///
/// # Examples
///
/// ```
/// use logdriver::{drivers::zmq::ZmqLogger, Info, Logger, Message, Source};
///
/// // An in-process hub, subscribed to tenant "acme". Like any hub, it
/// // must be receiving for its subscription to reach the driver.
/// let hub = logdriver::drivers::zmq::context().socket(zmq::SUB)?;
/// hub.bind("inproc://hub-doc")?;
/// hub.set_subscribe(b"acme")?;
/// let hub = std::thread::spawn(move || hub.recv_multipart(0));
///
/// let info = Info {
///     config: [("zmq-address".into(), "inproc://hub-doc".into())].into(),
///     container_id: "0123456789abcdef".into(),
///     container_env: vec!["TENANT_ID=acme".into()],
///     ..Default::default()
/// };
/// let logger = ZmqLogger::new(&info)?;
/// logger.log(Message::new(Source::Stdout, "hello"))?;
/// logger.close()?;
///
/// let frames = hub.join().unwrap()?;
/// assert_eq!(frames, [&b"acme"[..], b"default", b"0123456789ab: hello"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ZmqLogger {
    tenant: Vec<u8>,
    service: Vec<u8>,
    /// `"<container id>: "`, the start of every payload frame.
    prefix: Vec<u8>,
    send_timeout: Duration,
    /// Send the fourth frame that marks chunks (`zmq-partial-frame`).
    partial_frame: bool,
    conn: Mutex<Option<Connection>>,
    /// Lines sent and their bytes, and lines dropped.
    counts: Counters,
}

impl fmt::Debug for ZmqLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZmqLogger")
            .field("tenant", &String::from_utf8_lossy(&self.tenant))
            .field("service", &String::from_utf8_lossy(&self.service))
            .field("sent", &self.sent())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl ZmqLogger {
    /// Connects a driver for the container `info` to the hubs in its
    /// `zmq-address` option.
    ///
    /// # Errors
    ///
    /// Whatever [`validate`](ZmqLogger::validate) finds in `info.config`;
    /// [`Error::Driver`] when ZeroMQ cannot create or connect the socket.
    pub fn new(info: &Info) -> Result<ZmqLogger> {
        let config = Config::parse(&info.config)?;
        let inproc = config.endpoints.iter().any(|e| e.starts_with("inproc://"));
        let (context, own) = if inproc {
            (context().clone(), false)
        } else {
            (zmq::Context::new(), true)
        };
        ZmqLogger::connect(info, config, context, own)
    }

    /// Like [`new`](ZmqLogger::new), with sockets made in `context`.
    ///
    /// `close` then cannot terminate the context to flush: lines queued for
    /// `tcp` and `ipc` hubs are sent in the background, and lost if the
    /// process exits first.
    ///
    /// # Errors
    ///
    /// As for [`new`](ZmqLogger::new).
    pub fn with_context(info: &Info, context: zmq::Context) -> Result<ZmqLogger> {
        ZmqLogger::connect(info, Config::parse(&info.config)?, context, false)
    }

    fn connect(info: &Info, config: Config, context: zmq::Context, own: bool) -> Result<ZmqLogger> {
        let err = |e: zmq::Error| Error::driver(NAME, e);
        let mut socket = context.socket(zmq::XPUB).map_err(err)?;
        set_xpub_nodrop(&mut socket).map_err(err)?;
        socket.set_sndhwm(config.sndhwm).map_err(err)?;
        socket
            .set_sndtimeo(millis(config.send_timeout))
            .map_err(err)?;
        socket.set_linger(millis(config.linger)).map_err(err)?;
        for endpoint in &config.endpoints {
            socket.connect(endpoint).map_err(|e| {
                Error::invalid_option(NAME, ADDRESS_OPT, endpoint, format!("cannot connect: {e}"))
            })?;
        }
        let id = |key: &str| {
            info.env(key)
                .filter(|v| !v.is_empty())
                .unwrap_or(DEFAULT_ID)
        };
        Ok(ZmqLogger {
            tenant: id("TENANT_ID").as_bytes().to_vec(),
            service: id("SERVICE_ID").as_bytes().to_vec(),
            prefix: format!("{}: ", info.id()).into_bytes(),
            send_timeout: config.send_timeout,
            partial_frame: config.partial_frame,
            conn: Mutex::new(Some(Connection {
                socket,
                own_context: own.then_some(context),
                topics: HashSet::new(),
                since_check: 0,
                gave_up: false,
            })),
            counts: Counters::default(),
        })
    }

    /// Checks the driver's options: known keys only, a `zmq-address` of
    /// ZeroMQ endpoints, and valid numbers and durations.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use logdriver::{drivers::zmq::ZmqLogger, Error};
    ///
    /// let opts = HashMap::from([("zmq-address".to_string(), "http://hub:80".to_string())]);
    /// let err = ZmqLogger::validate(&opts).unwrap_err();
    /// assert!(matches!(err, Error::InvalidOption { ref key, .. } if key == "zmq-address"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnknownOption`] for a key the driver does not know,
    /// [`Error::MissingOption`] without `zmq-address`, and
    /// [`Error::InvalidOption`] for a value it cannot use.
    pub fn validate(opts: &HashMap<String, String>) -> Result<()> {
        Config::parse(opts).map(drop)
    }

    /// Lines handed to a hub so far: [`stats`](Logger::stats)`().lines`,
    /// without the rest.
    pub fn sent(&self) -> u64 {
        self.counts.stats().lines
    }

    /// Lines dropped so far because no hub subscribed or took them in
    /// time: [`stats`](Logger::stats)`().dropped`, without the rest.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped_so_far()
    }

    fn drop_line(&self, why: String) -> Error {
        self.counts.dropped(1);
        Error::dropped(NAME, why)
    }
}

impl Logger for ZmqLogger {
    /// Publishes `msg` as `[tenant, service, "<id>: <line>"]`.
    ///
    /// # Errors
    ///
    /// [`Error::Dropped`] when no hub subscribed to this tenant, or none took
    /// the line, within the send timeout; the line is then dropped and
    /// counted. [`Error::Closed`] after `close`.
    fn log(&self, msg: Message) -> Result<()> {
        let mut guard = self.conn.lock();
        let conn = guard.as_mut().ok_or_else(|| Error::closed(NAME))?;

        if conn.since_check >= CHECK_EVERY {
            conn.read_subscriptions(&self.tenant);
        }
        conn.since_check += 1;
        if conn.topics.is_empty() {
            let wait = if conn.gave_up {
                Duration::ZERO
            } else {
                self.send_timeout
            };
            if !conn.wait_for_hub(&self.tenant, wait) {
                conn.gave_up = true;
                let tenant = String::from_utf8_lossy(&self.tenant);
                let why = if wait.is_zero() {
                    // No wait happened: an earlier one timed out, and no
                    // hub has come since.
                    format!("still no hub subscribed to tenant {tenant:?}, so dropped at once")
                } else {
                    format!("no hub subscribed to tenant {tenant:?} within {wait:?}")
                };
                return Err(self.drop_line(why));
            }
            conn.gave_up = false;
        }

        let mut payload = zmq::Message::with_size(self.prefix.len() + msg.line.len());
        payload[..self.prefix.len()].copy_from_slice(&self.prefix);
        payload[self.prefix.len()..].copy_from_slice(&msg.line);
        // NODROP checks the high-water mark on the first frame only: once it
        // is queued, the other two are too.
        match conn.socket.send(&self.tenant[..], zmq::SNDMORE) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => {
                return Err(
                    self.drop_line(format!("the hub took no line for {:?}", self.send_timeout))
                );
            }
            Err(e) => return Err(self.drop_line(format!("send failed: {e}"))),
        }
        let last = if self.partial_frame { zmq::SNDMORE } else { 0 };
        conn.socket
            .send(&self.service[..], zmq::SNDMORE)
            .and_then(|()| conn.socket.send(payload, last))
            .and_then(|()| match (self.partial_frame, &msg.partial) {
                (false, _) => Ok(()),
                (true, None) => conn.socket.send(&b""[..], 0),
                (true, Some(p)) => {
                    let end = if p.last { "last" } else { "more" };
                    conn.socket
                        .send(format!("{}:{}:{end}", p.id, p.ordinal).as_bytes(), 0)
                }
            })
            .map_err(|e| self.drop_line(format!("send failed mid-message: {e}")))?;
        self.counts.sent(1, msg.line.len() as u64);
        Ok(())
    }

    /// Lines sent and their bytes, and lines dropped.
    fn stats(&self) -> LoggerStats {
        self.counts.stats()
    }

    fn name(&self) -> &str {
        NAME
    }

    /// Flushes queued lines to the hubs, bounded by `zmq-linger`, and
    /// closes the socket. A second call returns `Ok(())`.
    fn close(&self) -> Result<()> {
        let conn = self.conn.lock().take();
        if let Some(Connection {
            socket,
            own_context,
            ..
        }) = conn
        {
            drop(socket);
            // Dropping the last handle terminates the context, which waits
            // until queued messages are sent or the linger has run out.
            drop(own_context);
        }
        Ok(())
    }
}
