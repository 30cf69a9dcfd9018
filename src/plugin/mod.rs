//! A Docker logging plugin that serves any registered driver to a stock
//! dockerd (feature `plugin`, on by default).
//!
//! Since Docker 17.05 a log driver can be a separate process that dockerd
//! talks to over a unix socket. A [`Plugin`] is that process's server:
//! for each container, dockerd calls `/LogDriver.StartLogging` with a FIFO
//! and the container's description; the plugin creates a driver for it
//! from a [`Registry`] and pumps the FIFO's entries into it on a thread of
//! its own, until `/LogDriver.StopLogging`.
//!
//! ```text
//! logdriver-plugin --socket /run/docker/plugins/logdriver.sock --driver zmq
//! docker run --log-driver logdriver --log-opt zmq-address=tcp://hub:5555 --env TENANT_ID=acme busybox echo hi
//! ```
//!
//! The `logdriver-plugin` binary is [`cli::run`] over the process-wide
//! registry; `--help` lists its flags and their defaults.
//!
//! As a managed plugin, `packaging/docker-plugin/` holds the `config.json`
//! (interface `docker.logdriver/1.0`, socket `logdriver.sock`, host
//! network so that hubs on the host are reachable) and a script that lays
//! out the rootfs; `docker plugin create` and `enable` then install it.
//!
//! # The protocol, as dockerd implements it
//!
//! | endpoint | request | answer |
//! |---|---|---|
//! | `/Plugin.Activate` | | `{"Implements":["LogDriver"]}` |
//! | `/LogDriver.Capabilities` | | `{"Cap":{"ReadLogs":…}}`: whether the plugin's driver has a [`Logger::reader`](crate::Logger::reader) |
//! | `/LogDriver.StartLogging` | `{"File":…,"Info":{…}}` | `{"Err":""}` |
//! | `/LogDriver.StopLogging` | `{"File":…}` | `{"Err":""}`, once the FIFO is drained and the driver closed |
//! | `/LogDriver.ReadLogs` | `{"Info":{…},"Config":{"Since","Until","Tail","Follow"}}` | framed `LogEntry`s |
//!
//! An error is answered `{"Err":"…"}` with status 500. `ReadLogs` (what
//! `docker logs` uses) is served for any driver that can read back, as
//! its [`Logger::reader`](crate::Logger::reader) says (json-file can, and so can a driver of your
//! own that implements [`LogReader`](crate::LogReader)); `Capabilities`
//! says so for the plugin's driver. It reads with Docker's `Tail`, `Since`
//! and `Until`; with `Follow`, a running container's new lines stream on
//! until it stops. The plugin reads through the driver of the running (or
//! recently stopped) container; for a container it has not seen since it
//! started, through a driver created for it and closed at once. The
//! answer is streamed: each batch of entries goes out as its own HTTP
//! chunk the moment it is read, and a follower whose client has gone is
//! [stopped](crate::Stopper) within a second, even on a container that
//! writes nothing more.
//!
//! # Why not `Pump`
//!
//! dockerd's FIFOs carry framed `LogEntry` messages, not a container's
//! raw bytes: the plugin decodes them on a thread per container, as
//! Docker's own plugin helpers do, and keeps the partial metadata dockerd
//! sends. `Pump` cuts raw bytes into lines, so it is the
//! entry for an embedder that holds many containers' raw pipes, not for
//! this protocol. A plugin that serves thousands of containers pays a
//! thread each while they log.
//!
//! # Choosing the driver
//!
//! The plugin creates the driver it was started with, or the one a
//! container names with `--log-opt driver=NAME`. The other `--log-opt`s
//! are the driver's options, checked by the registry: an error reaches
//! `docker run` as the reason the container could not start. A driver that
//! writes files gets a file under the log directory, named for its format,
//! as its [`Info::log_path`](crate::Info::log_path):
//!
//! | driver | file |
//! |---|---|
//! | `json-file` | `<log dir>/<container id>-json.log`, Docker's name |
//! | `k8s-file` | `<log dir>/<container id>-k8s-file.log` (CRI text) |
//! | `local` | `<log dir>/<container id>-local.log` (Docker's protobuf) |
//! | any other `NAME` | `<log dir>/<container id>-NAME.log` |
//!
//! # Trust
//!
//! The plugin runs as root and takes paths from its socket, so it checks
//! them:
//!
//! - A `ContainerID` must be 1 to 128 characters of `[A-Za-z0-9_.-]`, and
//!   not contain `..`: every file the plugin creates lies under its log
//!   directory. dockerd's `LogPath` is ignored (dockerd sends none to
//!   plugins, and its paths are not the plugin's).
//! - `File` must be a FIFO.
//! - [`Plugin::serve`] replaces an existing path only if it is a socket.
//!   The socket is created with mode `0660` (see [`Plugin::socket_mode`])
//!   before it is moved into place, so nothing can connect to it sooner.
//! - A FIFO is served by one reader at a time: a second `StartLogging` for
//!   it is refused.
//!
//! # Nothing wedged
//!
//! dockerd opens the FIFO read-write, so a plugin that stops reading
//! blocks the container. The plugin never stops: a driver's error or panic
//! is counted and the next entry is read; a frame that does not decode is
//! counted and skipped. A length above the frame limit (by default
//! [`DEFAULT_MAX_FRAME_BYTES`]) is corruption: it is counted, and the
//! reader moves on to the next place where a frame can start, never
//! trusting the length (nor allocating more than the limit).
//!
//! `StopLogging` drains what dockerd wrote before it, then closes the
//! driver: the plugin writes an end marker (a frame length of `u32::MAX`)
//! into the FIFO behind dockerd's last entry, since a FIFO that dockerd
//! keeps open never reaches its end. dockerd closes the FIFO only after
//! `StopLogging` returns, so `StopLogging` waits at most the stop timeout
//! (by default [`DEFAULT_STOP_TIMEOUT`]) whatever the FIFO holds: then the
//! reader is let go, and ends as soon as it is woken.

pub mod cli;
mod fifo;
mod http;
mod proto;
mod read_logs;
mod requests;
mod routes;

use std::fmt;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

pub use crate::metrics::MetricsAddress;
pub use proto::{encode_frame, LogAttr, LogEntry, PartialLogEntryMetadata};

use crate::error::{Error, Result};
use crate::registry::Registry;
use routes::State;

/// The largest frame accepted by default: 1 MiB, as moby's own tests use.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1 << 20;

/// How long `StopLogging` waits for a container's FIFO to drain, by
/// default: 5 seconds.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The permissions of the plugin's socket, by default: `0660`, owner and
/// group (dockerd runs as root).
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;

/// How many stopped containers' counts [`PluginServer::stats`] keeps: the
/// most recent 1024.
pub const STATS_KEPT: usize = 1024;

/// The option with which a container picks another driver than the plugin's.
pub const DRIVER_OPT: &str = "driver";

/// What the plugin counted for one container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStats {
    /// Entries handed to the driver.
    pub entries: u64,
    /// Entries whose `log` returned an error or panicked.
    pub log_errors: u64,
    /// Frames skipped: over the size limit, or not a `LogEntry`.
    pub bad_frames: u64,
    /// The longest one `log` of the driver took: what the FIFO waited
    /// for the driver at worst.
    pub slowest_log: std::time::Duration,
}

/// A Docker logging plugin's server; see the [module docs](self).
///
/// # Examples
///
/// ```no_run
/// use logdriver::{plugin::Plugin, registry};
///
/// // Serve the process-wide registry: register your own driver there first.
/// let server = Plugin::new(registry(), "zmq")
///     .log_dir("/var/lib/logdriver")
///     .serve("/run/docker/plugins/logdriver.sock")?;
/// server.wait();
/// # Ok::<(), logdriver::Error>(())
/// ```
#[must_use = "a Plugin does nothing until `serve` is called"]
pub struct Plugin {
    registry: Shared,
    driver: String,
    log_dir: PathBuf,
    max_frame: usize,
    stop_timeout: Duration,
    socket_mode: u32,
    metrics: Option<MetricsAddress>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("driver", &self.driver)
            .field("log_dir", &self.log_dir)
            .field("max_frame", &self.max_frame)
            .field("stop_timeout", &self.stop_timeout)
            .field("socket_mode", &format_args!("{:o}", self.socket_mode))
            .field("metrics", &self.metrics)
            .finish()
    }
}

/// A registry the plugin can hold: the process-wide one, or one of its own.
enum Shared {
    Static(&'static Registry),
    Owned(Arc<Registry>),
}

impl std::ops::Deref for Shared {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        match self {
            Shared::Static(registry) => registry,
            Shared::Owned(registry) => registry,
        }
    }
}

impl Plugin {
    /// A plugin that creates `driver` from `registry` for each container.
    pub fn new(registry: &'static Registry, driver: &str) -> Plugin {
        Plugin::serving(Shared::Static(registry), driver)
    }

    /// A plugin that creates `driver` from a registry of its own, for
    /// each container: no need to leak one to make it `'static`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use logdriver::{drivers::none::NoneLogger, plugin::Plugin, Info, Registry};
    ///
    /// let registry = Arc::new(Registry::with_builtins());
    /// registry.register_driver("quiet", |_: &Info| Ok(NoneLogger))?;
    /// let server = Plugin::with_registry(registry, "quiet").serve("/run/docker/plugins/quiet.sock")?;
    /// server.wait();
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    pub fn with_registry(registry: Arc<Registry>, driver: &str) -> Plugin {
        Plugin::serving(Shared::Owned(registry), driver)
    }

    fn serving(registry: Shared, driver: &str) -> Plugin {
        Plugin {
            registry,
            driver: driver.to_owned(),
            log_dir: PathBuf::from("/var/lib/logdriver"),
            max_frame: DEFAULT_MAX_FRAME_BYTES,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            socket_mode: DEFAULT_SOCKET_MODE,
            metrics: None,
        }
    }

    /// Where drivers that write files put them: `<dir>/<container id>-json.log`
    /// for json-file, `<dir>/<container id>-<driver>.log` for the others.
    ///
    /// By default, `/var/lib/logdriver`.
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Plugin {
        self.log_dir = dir.into();
        self
    }

    /// The largest frame read from a FIFO; a larger length is corruption,
    /// counted and skipped.
    ///
    /// By default, [`DEFAULT_MAX_FRAME_BYTES`] (1 MiB).
    pub fn max_frame_bytes(mut self, bytes: usize) -> Plugin {
        self.max_frame = bytes;
        self
    }

    /// The longest `StopLogging` waits for a container's FIFO to drain
    /// before it lets the reader go.
    ///
    /// By default, [`DEFAULT_STOP_TIMEOUT`] (5 seconds).
    pub fn stop_timeout(mut self, timeout: Duration) -> Plugin {
        self.stop_timeout = timeout;
        self
    }

    /// The permissions the socket is created with.
    ///
    /// By default, [`DEFAULT_SOCKET_MODE`] (`0660`).
    pub fn socket_mode(mut self, mode: u32) -> Plugin {
        self.socket_mode = mode & 0o777;
        self
    }

    /// Serves Prometheus text on `address` as well (off by default): for
    /// each container being logged, and each that stopped less than 5
    /// minutes ago (at most the last 64), its driver's
    /// [`LoggerStats`](crate::LoggerStats) as
    /// [`render_prometheus`](crate::render_prometheus) writes them,
    /// labelled `container` (the full id) and `driver` (drops labelled by
    /// `reason` too, and with the partial chunks the plugin handed the
    /// driver); for a `tee`, each branch too, labelled `branch` beside the
    /// tee's sum; then the plugin's
    /// own: the gauge `logdriver_plugin_containers` (being logged), and the
    /// counters `logdriver_plugin_started_total`, `_stopped_total`, and,
    /// over the containers that stopped, `_entries_total`,
    /// `_log_errors_total` and `_bad_frames_total`.
    pub fn metrics_address(mut self, address: MetricsAddress) -> Plugin {
        self.metrics = Some(address);
        self
    }

    /// Listens on the unix socket `path` and serves requests on a thread of
    /// its own.
    ///
    /// The socket is bound in a private directory beside `path`, given
    /// its mode, then renamed to `path`: nothing can connect before the
    /// mode is set. An existing socket at `path` (a stale one) is replaced.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `path` exists and is not a socket, or when the
    /// socket (or the metrics address) cannot be bound; [`Error::Spawn`]
    /// when the thread cannot be started.
    pub fn serve(self, path: impl AsRef<Path>) -> Result<PluginServer> {
        let path = path.as_ref().to_owned();
        let listener = bind(&path, self.socket_mode).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let metrics = self.metrics.clone();
        let state = Arc::new(State::new(self));
        if let Some(address) = metrics {
            let state = Arc::clone(&state);
            crate::metrics::serve(&address, move || state.render_metrics()).map_err(|source| {
                Error::Io {
                    path: address.to_string().into(),
                    source,
                }
            })?;
        }
        let stopping = Arc::new(AtomicBool::new(false));
        let waker = listener.try_clone().map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let thread = {
            let state = Arc::clone(&state);
            let stopping = Arc::clone(&stopping);
            let name = "logdriver-plugin".to_owned();
            thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    let slots = http::Slots::default();
                    for conn in listener.incoming() {
                        if stopping.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(conn) = conn else {
                            // Out of descriptors, say: do not spin.
                            thread::sleep(Duration::from_millis(10));
                            continue;
                        };
                        let state = Arc::clone(&state);
                        let Some(slot) = slots.take(http::MAX_CONNECTIONS) else {
                            http::refuse_busy(&conn);
                            continue;
                        };
                        // Each connection on its own thread: StopLogging
                        // waits for a drain, and ReadLogs may follow for long.
                        let _ = thread::Builder::new()
                            .name("logdriver-plugin-conn".into())
                            .spawn(move || {
                                let _slot = slot;
                                http::serve_connection(conn, &|req, out| state.handle(req, out))
                            });
                    }
                })
                .map_err(|source| Error::Spawn {
                    thread: name,
                    source,
                })?
        };
        Ok(PluginServer {
            state,
            stopping,
            listener: waker,
            thread: Some(thread),
            path,
        })
    }
}

/// Binds a unix socket at `path` with `mode`, replacing only a socket.
fn bind(path: &Path, mode: u32) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket; not replacing it",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    static BINDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = BINDS.fetch_add(1, Ordering::Relaxed);
    let private = dir.join(format!(".logdriver-bind-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&private)?;
    let bound = (|| {
        let tmp = private.join("sock");
        let listener = UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&private);
    bound
}

/// A running [`Plugin`].
#[must_use = "dropping the server stops it"]
pub struct PluginServer {
    state: Arc<State>,
    stopping: Arc<AtomicBool>,
    /// The listening socket, for `shutdown` to wake the accepting thread.
    listener: UnixListener,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl fmt::Debug for PluginServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginServer")
            .field("path", &self.path)
            .finish()
    }
}

impl PluginServer {
    /// The socket it listens on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The counts of the container whose FIFO is `fifo`, once its logging
    /// has stopped; `None` while it runs, if it never did, or once
    /// [`STATS_KEPT`] other containers have stopped since.
    pub fn stats(&self, fifo: impl AsRef<Path>) -> Option<StreamStats> {
        let stats = self.state.stats.lock();
        stats
            .iter()
            .rev()
            .find(|(path, _)| path == fifo.as_ref())
            .map(|(_, s)| *s)
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for PluginServer {
    /// Stops accepting requests and removes the socket file. Containers that
    /// are logging go on until dockerd stops them.
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accepting thread: its `accept` fails from then on.
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.listener);
        let _ = nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
