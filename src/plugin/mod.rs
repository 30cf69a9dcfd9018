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
//! cargo run --example docker_plugin -- --socket /run/docker/plugins/logdriver.sock --driver zmq
//! docker run --log-driver logdriver --log-opt zmq-address=tcp://hub:5555 --env TENANT_ID=acme busybox echo hi
//! ```
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
//! | `/LogDriver.Capabilities` | | `{"Cap":{"ReadLogs":…}}`: whether the driver is `json-file` |
//! | `/LogDriver.StartLogging` | `{"File":…,"Info":{…}}` | `{"Err":""}` |
//! | `/LogDriver.StopLogging` | `{"File":…}` | `{"Err":""}`, once the FIFO is drained and the driver closed |
//!
//! | `/LogDriver.ReadLogs` | `{"Info":{…},"Config":{"Since","Until","Tail","Follow"}}` | framed `LogEntry`s |
//!
//! An error is answered `{"Err":"…"}` with status 500. `ReadLogs` (what
//! `docker logs` uses) is served when the plugin's driver is `json-file`,
//! and `Capabilities` says so. It reads the container's file with Docker's
//! `Tail`, `Since` and `Until`; with `Follow`, a running container's new
//! lines stream on until it stops.
//!
//! # Choosing the driver
//!
//! The plugin creates the driver it was started with, or the one a
//! container names with `--log-opt driver=NAME`. The other `--log-opt`s
//! are the driver's options, checked by the registry: an error reaches
//! `docker run` as the reason the container could not start. A driver that
//! writes files (`json-file`) gets `<log dir>/<container id>-json.log`.
//!
//! # Nothing wedged
//!
//! dockerd opens the FIFO read-write, so a plugin that stops reading
//! blocks the container. The plugin never stops: a driver's error or panic
//! is counted and the next entry is read; a frame larger than the limit
//! (by default 1 MiB) or one that does not decode is counted and skipped.
//! `StopLogging` drains what dockerd wrote before it, then closes the
//! driver: the plugin writes an end marker (a frame length of `u32::MAX`)
//! into the FIFO behind dockerd's last entry, since a FIFO that dockerd
//! keeps open never reaches its end.

mod proto;

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, UNIX_EPOCH};

use bytes::BytesMut;
use parking_lot::Mutex;
use serde::Deserialize;

pub use proto::{encode_frame, LogAttr, LogEntry, PartialLogEntryMetadata};

use crate::{Error, Info, Logger, Message, PartialMeta, Registry, Result, Source};

/// The frame length that marks the end of a FIFO's stream.
const END_MARKER: u32 = u32::MAX;

/// The largest frame accepted by default: 1 MiB, as moby's own tests use.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1 << 20;

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
    registry: &'static Registry,
    driver: String,
    log_dir: PathBuf,
    max_frame: usize,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("driver", &self.driver)
            .field("log_dir", &self.log_dir)
            .field("max_frame", &self.max_frame)
            .finish()
    }
}

impl Plugin {
    /// A plugin that creates `driver` from `registry` for each container.
    pub fn new(registry: &'static Registry, driver: &str) -> Plugin {
        Plugin {
            registry,
            driver: driver.to_owned(),
            log_dir: PathBuf::from("/var/lib/logdriver"),
            max_frame: DEFAULT_MAX_FRAME_BYTES,
        }
    }

    /// Where drivers that write files put them, when dockerd gives no path.
    ///
    /// By default, `/var/lib/logdriver`.
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Plugin {
        self.log_dir = dir.into();
        self
    }

    /// The largest frame read from a FIFO; larger ones are skipped and counted.
    ///
    /// By default, [`DEFAULT_MAX_FRAME_BYTES`] (1 MiB).
    pub fn max_frame_bytes(mut self, bytes: usize) -> Plugin {
        self.max_frame = bytes;
        self
    }

    /// Listens on the unix socket `path` and serves requests on a thread of
    /// its own. A stale socket file at `path` is replaced.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the socket cannot be bound; [`Error::Spawn`]
    /// when the thread cannot be started.
    pub fn serve(self, path: impl AsRef<Path>) -> Result<PluginServer> {
        let path = path.as_ref().to_owned();
        let io = |source: io::Error| Error::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        if std::fs::symlink_metadata(&path).is_ok() {
            std::fs::remove_file(&path).map_err(io)?;
        }
        let http =
            tiny_http::Server::http_unix(&path).map_err(|e| io(io::Error::other(e.to_string())))?;
        let http = Arc::new(http);
        let state = Arc::new(State {
            plugin: self,
            streams: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
        });
        let thread = {
            let http = Arc::clone(&http);
            let state = Arc::clone(&state);
            let name = "logdriver-plugin".to_owned();
            thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    for request in http.incoming_requests() {
                        let state = Arc::clone(&state);
                        // Each request on its own thread: StopLogging waits
                        // for a drain, and must not hold up other containers.
                        let _ = thread::Builder::new()
                            .name("logdriver-plugin-request".into())
                            .spawn(move || state.handle(request));
                    }
                })
                .map_err(|source| Error::Spawn {
                    thread: name,
                    source,
                })?
        };
        Ok(PluginServer {
            http,
            state,
            thread: Some(thread),
            path,
        })
    }
}

/// A running [`Plugin`].
#[must_use = "dropping the server stops it"]
pub struct PluginServer {
    http: Arc<tiny_http::Server>,
    state: Arc<State>,
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
    /// has stopped; `None` while it runs or if it never did.
    pub fn stats(&self, fifo: impl AsRef<Path>) -> Option<StreamStats> {
        self.state.stats.lock().get(fifo.as_ref()).copied()
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
        self.http.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

struct State {
    plugin: Plugin,
    /// The containers being logged, by FIFO: their reader threads.
    streams: Mutex<HashMap<PathBuf, JoinHandle<StreamStats>>>,
    stats: Mutex<HashMap<PathBuf, StreamStats>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartRequest {
    file: PathBuf,
    info: DockerInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReadRequest {
    info: DockerInfo,
    #[serde(default)]
    config: DockerReadConfig,
}

/// dockerd's `logger.ReadConfig`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DockerReadConfig {
    since: Option<String>,
    until: Option<String>,
    /// `-1` for all.
    tail: i64,
    follow: bool,
}

impl Default for DockerReadConfig {
    fn default() -> DockerReadConfig {
        DockerReadConfig {
            since: None,
            until: None,
            tail: -1,
            follow: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StopRequest {
    file: PathBuf,
}

/// dockerd's `logger.Info`, with Go's field names.
#[derive(Deserialize, Default)]
#[serde(default)]
struct DockerInfo {
    #[serde(rename = "Config")]
    config: Option<HashMap<String, String>>,
    #[serde(rename = "ContainerID")]
    container_id: String,
    #[serde(rename = "ContainerName")]
    container_name: String,
    #[serde(rename = "ContainerEntrypoint")]
    container_entrypoint: String,
    #[serde(rename = "ContainerArgs")]
    container_args: Option<Vec<String>>,
    #[serde(rename = "ContainerImageID")]
    container_image_id: String,
    #[serde(rename = "ContainerImageName")]
    container_image_name: String,
    #[serde(rename = "ContainerCreated")]
    container_created: Option<String>,
    #[serde(rename = "ContainerEnv")]
    container_env: Option<Vec<String>>,
    #[serde(rename = "ContainerLabels")]
    container_labels: Option<HashMap<String, String>>,
    #[serde(rename = "LogPath")]
    log_path: String,
    #[serde(rename = "DaemonName")]
    daemon_name: String,
}

impl State {
    fn handle(&self, mut request: tiny_http::Request) {
        let mut body = Vec::new();
        let result = match request.as_reader().read_to_end(&mut body) {
            Err(e) => Err(format!("cannot read the request: {e}")),
            Ok(_) if request.url() == "/LogDriver.ReadLogs" && self.reads_logs() => match self
                .read_logs(&body)
            {
                Ok(frames) => {
                    let response = tiny_http::Response::new(200.into(), vec![], frames, None, None);
                    let _ = request.respond(response);
                    return;
                }
                Err(e) => Err(e),
            },
            Ok(_) => self.answer(request.url(), &body),
        };
        let (status, json) = match result {
            Ok(json) => (200, json),
            Err(err) => (500, serde_json::json!({ "Err": err })),
        };
        let header = tiny_http::Header::from_bytes(
            "Content-Type",
            "application/vnd.docker.plugins.v1.2+json",
        )
        .expect("a valid header");
        let response = tiny_http::Response::from_string(json.to_string())
            .with_status_code(status)
            .with_header(header);
        let _ = request.respond(response);
    }

    fn answer(&self, url: &str, body: &[u8]) -> std::result::Result<serde_json::Value, String> {
        let parse = |what: &str| format!("{url}: the request is not {what}");
        match url {
            "/Plugin.Activate" => Ok(serde_json::json!({ "Implements": ["LogDriver"] })),
            "/LogDriver.Capabilities" => {
                Ok(serde_json::json!({ "Cap": { "ReadLogs": self.reads_logs() } }))
            }
            "/LogDriver.StartLogging" => {
                let req: StartRequest = serde_json::from_slice(body)
                    .map_err(|e| format!("{}: {e}", parse("{File, Info}")))?;
                self.start(req).map_err(|e| e.to_string())?;
                Ok(serde_json::json!({ "Err": "" }))
            }
            "/LogDriver.StopLogging" => {
                let req: StopRequest = serde_json::from_slice(body)
                    .map_err(|e| format!("{}: {e}", parse("{File}")))?;
                self.stop(&req.file)?;
                Ok(serde_json::json!({ "Err": "" }))
            }
            "/LogDriver.ReadLogs" => Err(
                "this plugin does not read logs back (Capabilities says ReadLogs: false)".into(),
            ),
            other => Err(format!("unknown endpoint {other}")),
        }
    }

    /// Whether the plugin's driver can read back: json-file can.
    fn reads_logs(&self) -> bool {
        self.plugin.driver == crate::drivers::jsonfile::NAME
    }

    /// Where a file driver writes for the container `info`.
    fn log_path(&self, info: &DockerInfo) -> PathBuf {
        match info.log_path.as_str() {
            "" => self
                .plugin
                .log_dir
                .join(format!("{}-json.log", info.container_id)),
            path => PathBuf::from(path),
        }
    }

    /// The container's json-file log as a stream of frames, for dockerd.
    fn read_logs(&self, body: &[u8]) -> std::result::Result<FrameReader, String> {
        let req: ReadRequest = serde_json::from_slice(body).map_err(|e| {
            format!("/LogDriver.ReadLogs: the request is not {{Info, Config}}: {e}")
        })?;
        // Go's zero time means "no limit".
        let time = |t: &Option<String>| {
            t.as_deref()
                .filter(|t| !t.starts_with("0001-01-01"))
                .and_then(crate::drivers::jsonfile::parse_rfc3339)
        };
        let config = crate::drivers::jsonfile::ReadConfig {
            tail: usize::try_from(req.config.tail).ok(),
            since: time(&req.config.since),
            until: time(&req.config.until),
            follow: req.config.follow,
        };
        let logs = crate::drivers::jsonfile::read_logs(self.log_path(&req.info), &config)
            .map_err(|e| e.to_string())?;
        Ok(FrameReader {
            logs,
            buf: Vec::new(),
            pos: 0,
        })
    }

    fn start(&self, req: StartRequest) -> Result<()> {
        let log_path = self.log_path(&req.info);
        let mut config = req.info.config.unwrap_or_default();
        let driver = config
            .remove(DRIVER_OPT)
            .unwrap_or_else(|| self.plugin.driver.clone());
        let id = req.info.container_id;
        let info = Info {
            config,
            container_name: req.info.container_name,
            container_entrypoint: req.info.container_entrypoint,
            container_args: req.info.container_args.unwrap_or_default(),
            container_image_id: req.info.container_image_id,
            container_image_name: req.info.container_image_name,
            container_created: req
                .info
                .container_created
                .as_deref()
                .and_then(crate::drivers::jsonfile::parse_rfc3339)
                .unwrap_or(UNIX_EPOCH),
            container_env: req.info.container_env.unwrap_or_default(),
            container_labels: req.info.container_labels.unwrap_or_default(),
            log_path: Some(log_path.clone()),
            daemon_name: req.info.daemon_name,
            container_id: id,
        };
        if self.streams.lock().contains_key(&req.file) {
            return Err(Error::driver(
                &driver,
                format!("{} is already being logged", req.file.display()),
            ));
        }
        if driver == crate::drivers::jsonfile::NAME {
            if let Some(dir) = log_path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    path: dir.to_owned(),
                    source,
                })?;
            }
        }
        // Open the FIFO first: a driver is not created for nothing.
        let fifo = File::open(&req.file).map_err(|source| Error::Io {
            path: req.file.clone(),
            source,
        })?;
        let logger = self.plugin.registry.create(&driver, &info)?;
        let max_frame = self.plugin.max_frame;
        let name = "logdriver-plugin-fifo".to_owned();
        let thread = thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let stats = pump(fifo, &*logger, max_frame);
                let _ = Error::guard(logger.name(), || logger.close());
                stats
            })
            .map_err(|source| Error::Spawn {
                thread: name,
                source,
            })?;
        self.streams.lock().insert(req.file, thread);
        Ok(())
    }

    fn stop(&self, fifo: &Path) -> std::result::Result<(), String> {
        let stream = self
            .streams
            .lock()
            .remove(fifo)
            .ok_or_else(|| format!("{} is not being logged", fifo.display()))?;
        // dockerd keeps its end open: mark the end of what it wrote. (A
        // reader that already stopped needs no marker, and a full pipe
        // with no reader would block the write.)
        if !stream.is_finished() {
            let marked = OpenOptions::new()
                .write(true)
                .open(fifo)
                .and_then(|mut f| f.write_all(&END_MARKER.to_be_bytes()));
            if let Err(e) = marked {
                return Err(format!("cannot end the stream of {}: {e}", fifo.display()));
            }
        }
        let stats = stream.join().unwrap_or_default();
        self.stats.lock().insert(fifo.to_owned(), stats);
        Ok(())
    }
}

/// Entries of a json-file log, framed for dockerd as they are read.
struct FrameReader {
    logs: crate::drivers::jsonfile::LogReader,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for FrameReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            let msg = match self.logs.next() {
                None => return Ok(0),
                // A corrupt entry is skipped, as dockerd's own reader does.
                Some(Err(_)) => continue,
                Some(Ok(msg)) => msg,
            };
            // dockerd hands `Line` to `docker logs` as it is: with its newline.
            let mut line = msg.line.to_vec();
            if msg.ends_line() {
                line.push(b'\n');
            }
            let time_nano = msg
                .timestamp
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
            let entry = LogEntry {
                source: msg.source.as_str().to_owned(),
                time_nano,
                line: line.into(),
                ..LogEntry::default()
            };
            encode_frame(&entry, &mut self.buf);
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads frames from `fifo` into `logger` until the end marker or the end
/// of the stream. Never stops early: that would block the container.
fn pump(fifo: File, logger: &dyn Logger, max_frame: usize) -> StreamStats {
    // dockerd writes one frame per write: read them in bulk.
    let mut fifo = io::BufReader::with_capacity(64 * 1024, fifo);
    let mut stats = StreamStats::default();
    let mut groups = HashMap::new();
    let mut len = [0u8; 4];
    loop {
        if fifo.read_exact(&mut len).is_err() {
            break;
        }
        let len = u32::from_be_bytes(len);
        if len == END_MARKER {
            break;
        }
        let len = len as usize;
        if len > max_frame {
            stats.bad_frames += 1;
            if io::copy(&mut (&mut fifo).take(len as u64), &mut io::sink()).is_err() {
                break;
            }
            continue;
        }
        let mut frame = BytesMut::zeroed(len);
        if fifo.read_exact(&mut frame).is_err() {
            break;
        }
        let Some(msg) = to_message(frame.freeze(), &mut groups) else {
            stats.bad_frames += 1;
            continue;
        };
        stats.entries += 1;
        if Error::guard(logger.name(), || logger.log(msg)).is_err() {
            stats.log_errors += 1;
        }
    }
    stats
}

/// Decodes one frame into a message; `None` if it is not a `LogEntry` of
/// `stdout` or `stderr`.
fn to_message(frame: bytes::Bytes, groups: &mut HashMap<Source, (String, u32)>) -> Option<Message> {
    let entry: LogEntry = prost::Message::decode(frame).ok()?;
    let source = match entry.source.as_str() {
        "stdout" => Source::Stdout,
        "stderr" => Source::Stderr,
        _ => return None,
    };
    let timestamp = match u64::try_from(entry.time_nano) {
        Ok(n) => UNIX_EPOCH + Duration::from_nanos(n),
        Err(_) => UNIX_EPOCH - Duration::from_nanos(entry.time_nano.unsigned_abs()),
    };
    let partial = match (entry.partial_log_metadata, entry.partial) {
        (Some(meta), _) => Some(PartialMeta {
            id: meta.id,
            ordinal: u32::try_from(meta.ordinal).unwrap_or(0),
            last: meta.last,
        }),
        // Old-style chunks carry no metadata: a partial entry continues its
        // stream's group (or starts one, with an id of our own), and the
        // next whole entry of that stream ends it.
        (None, true) => {
            let (id, ordinal) = groups
                .entry(source)
                .or_insert_with(|| (crate::copier::random_id(), 0));
            *ordinal += 1;
            Some(PartialMeta {
                id: id.clone(),
                ordinal: *ordinal,
                last: false,
            })
        }
        (None, false) => groups.remove(&source).map(|(id, ordinal)| PartialMeta {
            id,
            ordinal: ordinal + 1,
            last: true,
        }),
    };
    Some(Message {
        line: entry.line,
        source,
        timestamp,
        partial,
    })
}
