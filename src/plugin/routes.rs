//! The plugin's routes: what each endpoint does, and the containers being
//! logged.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

use crossbeam_channel::Receiver;
use parking_lot::Mutex;

use super::fifo::{self, Abandonable, END_MARKER};
use super::http::{Request, Responder};
use super::requests::{DockerInfo, ReadRequest, StartRequest, StopRequest, JSON};
use super::{read_logs, Plugin, StreamStats, DRIVER_OPT, STATS_KEPT};
use crate::error::{Error, Result};
use crate::info::Info;
use crate::logger::{Logger, LoggerStats};
use crate::metrics::{render_prometheus, CountChunks, StatsSample};
use crate::read::LogStream;

/// One container's FIFO reader.
struct Stream {
    /// Says when the reader has ended, after its counts are recorded.
    done: Receiver<()>,
    /// Lets the reader go: its FIFO reads as ended from then on.
    abandon: Arc<AtomicBool>,
    /// The FIFO, open read-write: for the end marker.
    fifo: File,
}

pub(super) struct State {
    plugin: Plugin,
    /// The containers being logged, by FIFO; `None` while one is starting.
    streams: Mutex<HashMap<PathBuf, Option<Stream>>>,
    /// The counts of the containers that stopped, oldest first; the
    /// readers add theirs as they end.
    pub(super) stats: Arc<Mutex<VecDeque<(PathBuf, StreamStats)>>>,
    /// The drivers of running and recently stopped containers, for ReadLogs.
    loggers: Arc<Mutex<Loggers>>,
    /// Whether the plugin's driver can read back; asked once.
    can_read: OnceLock<bool>,
}

/// How many stopped containers' drivers are kept for ReadLogs: a closed
/// driver may still hold resources (a reader's files, a driver's memory).
/// Older ones are read through a driver created for the request.
const STOPPED_KEPT: usize = 64;

/// The drivers of running containers, and of the last [`STOPPED_KEPT`]
/// that stopped, by container id.
#[derive(Default)]
struct Loggers {
    by_id: HashMap<String, Arc<dyn Logger>>,
    /// With when each stopped.
    stopped: VecDeque<(String, Arc<dyn Logger>, Instant)>,
    /// The plugin's own counts, over every container that stopped.
    totals: Totals,
}

/// What the plugin counted over the containers that stopped.
#[derive(Default, Clone, Copy)]
struct Totals {
    started: u64,
    stopped: u64,
    entries: u64,
    log_errors: u64,
    bad_frames: u64,
}

/// How long a stopped container's counts stay in the metrics.
pub(super) const METRICS_KEPT_FOR: Duration = Duration::from_secs(300);

impl Loggers {
    fn get(&self, id: &str) -> Option<Arc<dyn Logger>> {
        self.by_id.get(id).cloned()
    }

    fn start(&mut self, id: &str, logger: Arc<dyn Logger>) {
        self.by_id.insert(id.to_owned(), logger);
        self.totals.started += 1;
    }

    fn stopped(&mut self, id: String, logger: Arc<dyn Logger>, counts: StreamStats) {
        let t = &mut self.totals;
        t.stopped += 1;
        t.entries += counts.entries;
        t.log_errors += counts.log_errors;
        t.bad_frames += counts.bad_frames;
        self.stopped.push_back((id, logger, Instant::now()));
        if self.stopped.len() > STOPPED_KEPT {
            let (id, old, _) = self.stopped.pop_front().expect("not empty");
            // The container may have started again since: keep its driver.
            if self.by_id.get(&id).is_some_and(|l| Arc::ptr_eq(l, &old)) {
                self.by_id.remove(&id);
            }
        }
    }
}

/// The name of a container's log file, for what is in it: Docker's
/// `<id>-json.log` for json-file, so that tools that know Docker's name find
/// it, and `<id>-<driver>.log` for any other driver (`<id>-k8s-file.log`
/// holds CRI text, `<id>-local.log` Docker's protobuf), so that a shipper
/// globbing `*-json.log` never misreads them. A driver name that could not
/// be part of a file name gets `<id>.log`.
pub(super) fn log_file_name(id: &str, driver: &str) -> String {
    match driver {
        "json-file" => format!("{id}-json.log"),
        _ if check_container_id(driver).is_ok() => format!("{id}-{driver}.log"),
        _ => format!("{id}.log"),
    }
}

/// Checks a container id that will name a file: 1 to 128 characters of
/// `[A-Za-z0-9_.-]`, without `..`.
fn check_container_id(id: &str) -> std::result::Result<(), String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    if (1..=128).contains(&id.len()) && id.bytes().all(allowed) && !id.contains("..") {
        Ok(())
    } else {
        Err(format!(
            "invalid ContainerID {id:?}: must be 1 to 128 characters of [A-Za-z0-9_.-], without \"..\""
        ))
    }
}

impl State {
    pub(super) fn new(plugin: Plugin) -> State {
        State {
            plugin,
            streams: Mutex::new(HashMap::new()),
            stats: Arc::default(),
            loggers: Arc::default(),
            can_read: OnceLock::new(),
        }
    }

    /// The counts of every running container's driver and of those that
    /// stopped less than [`METRICS_KEPT_FOR`] ago, and the plugin's own,
    /// as Prometheus text.
    pub(super) fn render_metrics(&self) -> String {
        let (loggers, totals) = {
            let kept = self.loggers.lock();
            // A container stopped long ago leaves, unless it started again.
            let gone: Vec<&Arc<dyn Logger>> = kept
                .stopped
                .iter()
                .filter(|(_, _, at)| at.elapsed() >= METRICS_KEPT_FOR)
                .map(|(_, logger, _)| logger)
                .collect();
            let loggers: Vec<(String, Arc<dyn Logger>)> = kept
                .by_id
                .iter()
                .filter(|(_, logger)| !gone.iter().any(|g| Arc::ptr_eq(g, logger)))
                .map(|(id, logger)| (id.clone(), Arc::clone(logger)))
                .collect();
            (loggers, kept.totals)
        };
        // Each container's driver, then each branch of a tee, labelled
        // with the branch beside the tee's sum.
        let mut rows: Vec<(&str, String, Option<String>, LoggerStats)> = Vec::new();
        for (id, logger) in &loggers {
            rows.push((id, logger.name().to_owned(), None, logger.stats()));
            for (branch, driver, stats) in logger.branch_stats() {
                rows.push((id, driver, Some(branch), stats));
            }
        }
        let labels: Vec<Vec<(&str, &str)>> = rows
            .iter()
            .map(|(id, driver, branch, _)| {
                let mut labels = vec![("container", *id), ("driver", driver.as_str())];
                labels.extend(branch.as_deref().map(|b| ("branch", b)));
                labels
            })
            .collect();
        let samples: Vec<StatsSample<'_>> = rows
            .iter()
            .zip(&labels)
            .map(|((.., stats), labels)| StatsSample {
                labels,
                stats: *stats,
            })
            .collect();
        let mut out = render_prometheus(&samples);
        let running = self.streams.lock().len() as u64;
        let own = [
            (
                "logdriver_plugin_containers",
                "gauge",
                "Containers being logged.",
                running,
            ),
            (
                "logdriver_plugin_started_total",
                "counter",
                "Containers whose logging started.",
                totals.started,
            ),
            (
                "logdriver_plugin_stopped_total",
                "counter",
                "Containers whose logging stopped.",
                totals.stopped,
            ),
            (
                "logdriver_plugin_entries_total",
                "counter",
                "Entries read from the FIFOs of stopped containers.",
                totals.entries,
            ),
            (
                "logdriver_plugin_log_errors_total",
                "counter",
                "Entries of stopped containers whose log failed or panicked.",
                totals.log_errors,
            ),
            (
                "logdriver_plugin_bad_frames_total",
                "counter",
                "Frames of stopped containers skipped: too big, or not a LogEntry.",
                totals.bad_frames,
            ),
        ];
        for (name, kind, help, value) in own {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        out
    }

    pub(super) fn handle(&self, request: Request, out: &mut Responder<'_>) {
        if request.url == "/LogDriver.ReadLogs" && self.reads_logs() {
            match self.read_logs(&request.body) {
                Ok(logs) => read_logs::stream(logs, out),
                Err(err) => out.send(
                    500,
                    JSON,
                    serde_json::json!({ "Err": err }).to_string().as_bytes(),
                ),
            }
            return;
        }
        let (status, json) = match self.answer(&request.url, &request.body) {
            Ok(json) => (200, json),
            Err(err) => (500, serde_json::json!({ "Err": err })),
        };
        out.send(status, JSON, json.to_string().as_bytes());
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
                self.start(req)?;
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

    /// Whether the plugin's driver can read back: as its registration
    /// says ([`Registry::reads_logs`](crate::Registry::reads_logs)), or,
    /// for a driver registered without saying, as the [`Logger::reader`]
    /// of one created for no container in a scratch directory says, asked
    /// once.
    fn reads_logs(&self) -> bool {
        if let Some(reads) = self.plugin.registry.reads_logs(&self.plugin.driver) {
            return reads;
        }
        *self.can_read.get_or_init(|| {
            let dir = self
                .plugin
                .log_dir
                .join(format!(".capabilities-probe-{}", std::process::id()));
            let info = Info {
                container_id: "capabilities-probe".into(),
                log_path: Some(dir.join("probe.log")),
                ..Info::default()
            };
            let can = std::fs::create_dir_all(&dir).is_ok()
                && match self.plugin.registry.create(&self.plugin.driver, &info) {
                    Ok(logger) => {
                        let can = logger.reader().is_some();
                        let _ = logger.close();
                        can
                    }
                    Err(_) => false,
                };
            let _ = std::fs::remove_dir_all(&dir);
            can
        })
    }

    /// Where a file driver writes for the container `id`: always under the
    /// log directory, named for its format (see [`log_file_name`]).
    fn log_path(&self, id: &str, driver: &str) -> std::result::Result<PathBuf, String> {
        check_container_id(id)?;
        Ok(self.plugin.log_dir.join(log_file_name(id, driver)))
    }

    /// The driver a container names (or the plugin's), and its `Info`.
    fn to_info(&self, docker: DockerInfo) -> std::result::Result<(String, Info), String> {
        let mut config = docker.config.unwrap_or_default();
        let driver = config
            .remove(DRIVER_OPT)
            .unwrap_or_else(|| self.plugin.driver.clone());
        let log_path = self.log_path(&docker.container_id, &driver)?;
        let info = Info {
            config,
            container_name: docker.container_name,
            container_entrypoint: docker.container_entrypoint,
            container_args: docker.container_args.unwrap_or_default(),
            container_image_id: docker.container_image_id,
            container_image_name: docker.container_image_name,
            container_created: docker
                .container_created
                .as_deref()
                .and_then(crate::time::parse_time)
                .unwrap_or(UNIX_EPOCH),
            container_env: docker.container_env.unwrap_or_default(),
            container_labels: docker.container_labels.unwrap_or_default(),
            log_path: Some(log_path),
            daemon_name: docker.daemon_name,
            container_id: docker.container_id,
        };
        Ok((driver, info))
    }

    /// The container's logs, read through its driver's [`Logger::reader`]:
    /// the driver it logs to now (or did last), or, for a container this
    /// plugin has not seen since it started, one created and closed at once
    /// to read what was left.
    fn read_logs(&self, body: &[u8]) -> std::result::Result<LogStream, String> {
        let req: ReadRequest = serde_json::from_slice(body).map_err(|e| {
            format!("/LogDriver.ReadLogs: the request is not {{Info, Config}}: {e}")
        })?;
        let (driver, info) = self.to_info(req.info)?;
        let known = self.loggers.lock().get(&info.container_id);
        let logger = match known {
            Some(logger) => logger,
            None => {
                let logger = self
                    .plugin
                    .registry
                    .create(&driver, &info)
                    .map_err(|e| e.to_string())?;
                let _ = logger.close();
                logger
            }
        };
        let reader = logger
            .reader()
            .ok_or_else(|| format!("log driver {:?} cannot read logs back", logger.name()))?;
        reader
            .read_logs(&req.config.to_read_config())
            .map_err(|e| e.to_string())
    }

    fn start(&self, req: StartRequest) -> std::result::Result<(), String> {
        // A refusal is reported on stderr as well as to dockerd, which
        // shows it only to whoever ran the container.
        let refused = |e: String| {
            log::warn!("{}: cannot start logging: {e}", req.file.display());
            e
        };
        let (driver, info) = self.to_info(req.info).map_err(refused)?;
        // Claim the FIFO first, so that two requests for it cannot both start.
        {
            let mut streams = self.streams.lock();
            if streams.contains_key(&req.file) {
                return Err(refused(format!(
                    "{} is already being logged",
                    req.file.display()
                )));
            }
            streams.insert(req.file.clone(), None);
        }
        let id = info.id().to_owned();
        match self.start_stream(&req.file, &driver, &info) {
            Ok(stream) => {
                log::info!("container {id}: logging to {driver:?}");
                self.streams.lock().insert(req.file, Some(stream));
                Ok(())
            }
            Err(e) => {
                log::warn!("container {id}: cannot start logging to {driver:?}: {e}");
                self.streams.lock().remove(&req.file);
                Err(e.to_string())
            }
        }
    }

    /// Opens the FIFO, creates the driver and starts the reader.
    fn start_stream(&self, path: &Path, driver: &str, info: &Info) -> Result<Stream> {
        let io = |source: io::Error| Error::Io {
            path: path.to_owned(),
            source,
        };
        let not_fifo = || {
            io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "File is not a FIFO",
            ))
        };
        // Checked before the open: opening some files (a device, say) has
        // effects of its own. And again after it, on what was opened.
        if !std::fs::metadata(path).map_err(io)?.file_type().is_fifo() {
            return Err(not_fifo());
        }
        // Read-write, as dockerd opens it: the open never blocks, and the
        // same handle writes the end marker.
        let fifo = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(path)
            .map_err(io)?;
        if !fifo.metadata().map_err(io)?.file_type().is_fifo() {
            return Err(not_fifo());
        }
        if let Some(dir) = info.log_path.as_deref().and_then(Path::parent) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let logger = CountChunks::wrap(self.plugin.registry.create(driver, info)?);
        self.loggers
            .lock()
            .start(&info.container_id, Arc::clone(&logger));
        // The reader blocks: a second, blocking handle of the same FIFO.
        let reader = File::open(path).map_err(io)?;
        let abandon = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let src = Abandonable {
            inner: reader,
            abandon: Arc::clone(&abandon),
        };
        let max_frame = self.plugin.max_frame;
        let key = path.to_owned();
        let stats = Arc::clone(&self.stats);
        let loggers = Arc::clone(&self.loggers);
        let container = info.container_id.clone();
        let name = "logdriver-plugin-fifo".to_owned();
        thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let counts = fifo::pump(src, &*logger, max_frame);
                let closed = Error::guard(logger.name(), || logger.close());
                let driver = logger.stats();
                log::info!(
                    "container {}: stopped: {} entries, {} log errors, {} bad frames, \
                     slowest log {:?}; driver {:?}: {} lines sent, {} dropped, {} errors{}",
                    &container[..container.len().min(12)],
                    counts.entries,
                    counts.log_errors,
                    counts.bad_frames,
                    counts.slowest_log,
                    logger.name(),
                    driver.lines,
                    driver.dropped,
                    driver.errors,
                    closed
                        .err()
                        .map(|e| format!("; close: {e}"))
                        .unwrap_or_default(),
                );
                loggers.lock().stopped(container, logger, counts);
                let mut stats = stats.lock();
                if stats.len() == STATS_KEPT {
                    stats.pop_front();
                }
                stats.push_back((key, counts));
                drop(stats);
                let _ = done_tx.send(());
            })
            .map_err(|source| Error::Spawn {
                thread: name,
                source,
            })?;
        Ok(Stream {
            done,
            abandon,
            fifo,
        })
    }

    fn stop(&self, fifo: &Path) -> std::result::Result<(), String> {
        let stream = {
            let mut streams = self.streams.lock();
            match streams.get(fifo) {
                Some(Some(_)) => streams.remove(fifo).flatten(),
                Some(None) => return Err(format!("{} is still starting", fifo.display())),
                None => None,
            }
        }
        .ok_or_else(|| format!("{} is not being logged", fifo.display()))?;
        // dockerd keeps its end open: mark the end of what it wrote. The
        // write never blocks: a FIFO too full for it has a reader that is
        // stuck, and the deadline below lets it go.
        let mut marker = &stream.fifo;
        let _ = marker.write_all(&END_MARKER.to_be_bytes());
        if stream.done.recv_timeout(self.plugin.stop_timeout).is_err() {
            log::warn!(
                "{}: the FIFO did not drain within {:?}; letting its reader go",
                fifo.display(),
                self.plugin.stop_timeout
            );
            // Let the reader go, and wake it if it waits for bytes.
            stream.abandon.store(true, Ordering::SeqCst);
            let _ = marker.write_all(&END_MARKER.to_be_bytes());
        }
        Ok(())
    }
}
