//! The Docker logging plugin against a simulated dockerd: an HTTP client on
//! the unix socket, and a FIFO writer that sends real `LogEntry` frames.
#![cfg(feature = "plugin")]

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;

use logdriver::plugin::{
    encode_frame, LogEntry, MetricsAddress, PartialLogEntryMetadata, Plugin, PluginServer,
};
use logdriver::{Error, Info, Logger, Message, Registry, Result, Source};
use parking_lot::Mutex;
use serde_json::{json, Value};

mod common;

type Seen = (Source, String, Option<(u32, bool)>);

/// What each container's driver received, by container id.
fn seen() -> &'static Mutex<HashMap<String, Vec<Seen>>> {
    static SEEN: OnceLock<Mutex<HashMap<String, Vec<Seen>>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// Records lines; errors on lines starting "err", panics on "boom".
struct Record {
    container: String,
    tenant: String,
}

impl Logger for Record {
    fn log(&self, msg: Message) -> Result<()> {
        let line = String::from_utf8(msg.line.to_vec()).unwrap();
        if line.starts_with("boom") {
            panic!("driver exploded");
        }
        if line.starts_with("err") {
            return Err(Error::driver("record", "refused"));
        }
        let partial = msg.partial.map(|p| (p.ordinal, p.last));
        let line = format!("{}:{line}", self.tenant);
        seen()
            .lock()
            .entry(self.container.clone())
            .or_default()
            .push((msg.source, line, partial));
        Ok(())
    }
    fn name(&self) -> &str {
        "record"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// A driver of the test's own that keeps its lines and reads them back.
#[derive(Default)]
struct Memory(Mutex<Vec<Message>>);

impl Logger for Memory {
    fn log(&self, msg: Message) -> Result<()> {
        self.0.lock().push(msg);
        Ok(())
    }
    fn name(&self) -> &str {
        "memory"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
    fn reader(&self) -> Option<&dyn logdriver::LogReader> {
        Some(self)
    }
}

impl logdriver::LogReader for Memory {
    fn read_logs(&self, config: &logdriver::ReadConfig) -> Result<logdriver::LogStream> {
        let lines = self.0.lock().clone();
        let skip = lines
            .len()
            .saturating_sub(config.tail.unwrap_or(usize::MAX));
        Ok(logdriver::LogStream::new(
            lines.into_iter().skip(skip).map(Ok),
        ))
    }
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let registry = Registry::with_builtins();
        registry
            .register("record", |info: &Info| {
                Ok(Box::new(Record {
                    container: info.container_id.clone(),
                    tenant: info.env("TENANT_ID").unwrap_or("none").to_owned(),
                }) as Box<dyn Logger>)
            })
            .unwrap();
        registry
            .register("memory", |_: &Info| {
                Ok(Box::new(Memory::default()) as Box<dyn Logger>)
            })
            .unwrap();
        // A reading driver that cannot be created without its option.
        registry
            .register_reading_driver("picky-json", |info: &Info| {
                if !info.config.contains_key("picky") {
                    return Err(Error::missing_option("picky-json", "picky"));
                }
                let mut own = info.clone();
                own.config.remove("picky");
                logdriver::drivers::jsonfile::JsonFileLogger::new(&own)
            })
            .unwrap();
        registry
            .register_validator("record", |opts: &HashMap<String, String>| {
                match opts.keys().next() {
                    Some(key) => Err(Error::unknown_option("record", key)),
                    None => Ok(()),
                }
            })
            .unwrap();
        registry
    })
}

struct Daemon {
    dir: PathBuf,
    server: PluginServer,
}

impl Daemon {
    fn start() -> Daemon {
        Daemon::with_driver("record")
    }

    fn with_driver(driver: &str) -> Daemon {
        Daemon::build(driver, false)
    }

    /// With `--metrics-address` on `<dir>/metrics.sock`.
    fn with_metrics() -> Daemon {
        Daemon::build("record", true)
    }

    fn metrics(&self) -> String {
        let mut conn = UnixStream::connect(self.dir.join("metrics.sock")).unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: plugin\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        answer[answer.find("\r\n\r\n").unwrap() + 4..].to_owned()
    }

    fn build(driver: &str, metrics: bool) -> Daemon {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "logdriver-plugin-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut plugin = Plugin::new(registry(), driver)
            .log_dir(dir.join("logs"))
            .max_frame_bytes(64 * 1024);
        if metrics {
            plugin = plugin.metrics_address(MetricsAddress::Unix(dir.join("metrics.sock")));
        }
        let server = plugin.serve(dir.join("plugin.sock")).unwrap();
        Daemon { dir, server }
    }

    /// POSTs `body` to `url`; returns the status and the JSON answer.
    fn post(&self, url: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        let mut stream = UnixStream::connect(self.server.path()).unwrap();
        write!(
            stream,
            "POST {url} HTTP/1.1\r\nHost: plugin\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status: u16 = response[9..12].parse().unwrap();
        let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
        (status, serde_json::from_str(body).unwrap())
    }

    /// POSTs over HTTP/1.0, so that a streamed answer is not chunked;
    /// returns the status and the raw body.
    fn post_raw(&self, url: &str, body: &Value) -> (u16, Vec<u8>) {
        let body = body.to_string();
        let mut stream = UnixStream::connect(self.server.path()).unwrap();
        write!(
            stream,
            "POST {url} HTTP/1.0\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let status = std::str::from_utf8(&response[9..12])
            .unwrap()
            .parse()
            .unwrap();
        let start = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        (status, response[start..].to_vec())
    }

    /// Makes a FIFO and opens it as dockerd does: read-write.
    fn fifo(&self, name: &str) -> (PathBuf, File) {
        let path = self.dir.join(name);
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        (path, file)
    }

    fn start_logging(&self, fifo: &Path, id: &str, config: Value, env: &[&str]) -> (u16, Value) {
        self.post(
            "/LogDriver.StartLogging",
            &json!({
                "File": fifo,
                "Info": {
                    "Config": config,
                    "ContainerID": id,
                    "ContainerName": "/test",
                    "ContainerEnv": env,
                    "ContainerCreated": "2026-11-27T01:02:03.5Z",
                    "DaemonName": "docker",
                }
            }),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The lines container `id`'s driver received, as `tenant:line`; forgets them.
fn seen_lines(id: &str) -> Vec<String> {
    let seen = seen().lock().remove(id).unwrap_or_default();
    seen.into_iter().map(|s| s.1).collect()
}

/// Stops logging `path`, failing the test instead of hanging if the
/// plugin does not answer.
fn stop_within(daemon: &Arc<Daemon>, path: &Path) -> (u16, Value) {
    let (daemon, path) = (Arc::clone(daemon), path.to_owned());
    within(move || daemon.post("/LogDriver.StopLogging", &json!({"File": path})))
}

fn entry(source: &str, line: &str) -> LogEntry {
    LogEntry {
        source: source.into(),
        time_nano: 1_764_205_323_000_000_000,
        line: line.to_owned().into(),
        ..Default::default()
    }
}

fn frames(entries: &[LogEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        encode_frame(e, &mut out);
    }
    out
}

#[test]
fn activate_capabilities_and_bad_requests() {
    let daemon = Daemon::start();
    assert_eq!(
        daemon.post("/Plugin.Activate", &json!({})),
        (200, json!({"Implements": ["LogDriver"]}))
    );
    assert_eq!(
        daemon.post("/LogDriver.Capabilities", &json!({})),
        (200, json!({"Cap": {"ReadLogs": false}}))
    );
    let (status, answer) = daemon.post("/LogDriver.ReadLogs", &json!({}));
    assert_eq!(status, 500);
    assert!(answer["Err"]
        .as_str()
        .unwrap()
        .contains("does not read logs back"));
    let (status, answer) = daemon.post("/LogDriver.Nope", &json!({}));
    assert_eq!(
        (status, answer),
        (500, json!({"Err": "unknown endpoint /LogDriver.Nope"}))
    );
    let (status, answer) = daemon.post("/LogDriver.StartLogging", &json!({"File": 3}));
    assert_eq!(status, 500);
    assert!(answer["Err"]
        .as_str()
        .unwrap()
        .starts_with("/LogDriver.StartLogging: the request is not {File, Info}"));
    let (status, answer) = daemon.post("/LogDriver.StopLogging", &json!({"File": "/nowhere"}));
    assert_eq!(
        (status, answer),
        (500, json!({"Err": "/nowhere is not being logged"}))
    );
}

#[test]
fn entries_reach_the_driver_in_order_and_stop_drains() {
    let daemon = Daemon::start();
    let (path, mut fifo) = daemon.fifo("c1");
    let (status, answer) = daemon.start_logging(&path, "c1", json!({}), &["TENANT_ID=acme"]);
    assert_eq!((status, answer), (200, json!({"Err": ""})));

    let mut entries = Vec::new();
    for i in 0..2000 {
        entries.push(entry(
            if i % 2 == 0 { "stdout" } else { "stderr" },
            &format!("line {i}"),
        ));
    }
    let chunk = |line: &str, ordinal: i32, last: bool| LogEntry {
        partial: !last,
        partial_log_metadata: Some(PartialLogEntryMetadata {
            last,
            id: "ab".repeat(32),
            ordinal,
        }),
        ..entry("stdout", line)
    };
    entries.push(chunk("long 1", 1, false));
    entries.push(chunk("long 2", 2, true));
    fifo.write_all(&frames(&entries)).unwrap();

    // StopLogging answers only once everything written before it is logged.
    assert_eq!(
        daemon.post("/LogDriver.StopLogging", &json!({"File": path})),
        (200, json!({"Err": ""}))
    );
    let got = seen().lock().remove("c1").unwrap();
    assert_eq!(got.len(), 2002);
    for (i, (source, line, partial)) in got[..2000].iter().enumerate() {
        assert_eq!(
            *source,
            if i % 2 == 0 {
                Source::Stdout
            } else {
                Source::Stderr
            }
        );
        assert_eq!(*line, format!("acme:line {i}"));
        assert_eq!(*partial, None);
    }
    assert_eq!(
        got[2000],
        (Source::Stdout, "acme:long 1".into(), Some((1, false)))
    );
    assert_eq!(
        got[2001],
        (Source::Stdout, "acme:long 2".into(), Some((2, true)))
    );
    let stats = daemon.server.stats(&path).unwrap();
    assert_eq!(
        (stats.entries, stats.log_errors, stats.bad_frames),
        (2002, 0, 0)
    );
}

#[test]
fn corrupt_and_oversized_frames_are_counted_and_skipped() {
    let daemon = Daemon::start();
    let (path, mut fifo) = daemon.fifo("c2");
    daemon.start_logging(&path, "c2", json!({}), &[]);
    let mut bytes = frames(&[entry("stdout", "before")]);
    // Not a stream dockerd knows.
    bytes.extend(frames(&[entry("stdin", "nope")]));
    // Not protobuf at all.
    bytes.extend_from_slice(&[0, 0, 0, 3, 0xff, 0xff, 0xff]);
    // Larger than the 64 KiB limit.
    let huge = "x".repeat(100 * 1024);
    bytes.extend(frames(&[entry("stdout", &huge)]));
    bytes.extend(frames(&[entry("stderr", "after")]));
    let writer = thread::spawn(move || fifo.write_all(&bytes).map(|()| fifo));
    let fifo = writer.join().unwrap().unwrap(); // never blocked: the plugin kept reading
    assert_eq!(
        daemon.post("/LogDriver.StopLogging", &json!({"File": path})),
        (200, json!({"Err": ""}))
    );
    drop(fifo);
    let got = seen_lines("c2");
    assert_eq!(got, ["none:before", "none:after"]);
    let stats = daemon.server.stats(&path).unwrap();
    assert_eq!((stats.entries, stats.bad_frames), (2, 3));
}

#[test]
fn the_metrics_count_each_container_and_the_plugin() {
    let daemon = Daemon::with_metrics();
    let (path, mut fifo) = daemon.fifo("m1");
    daemon.start_logging(&path, "m1", json!({"rate-limit-lines": "2"}), &[]);
    let chunk = LogEntry {
        partial: true,
        partial_log_metadata: Some(PartialLogEntryMetadata {
            last: false,
            id: "cd".repeat(32),
            ordinal: 1,
        }),
        ..entry("stdout", "d")
    };
    let mut bytes = frames(&[
        entry("stdout", "a"),
        entry("stdout", "b"),
        entry("stdout", "c"),
        chunk,
    ]);
    bytes.extend_from_slice(&[0, 0, 0, 3, 0xff, 0xff, 0xff]);
    fifo.write_all(&bytes).unwrap();
    // A tee: its sum, and each branch beside it.
    let (tee_path, _tee_fifo) = daemon.fifo("m2");
    let opts = json!({"driver": "tee", "tee-drivers": "record,copy:memory"});
    daemon.start_logging(&tee_path, "m2", opts, &[]);
    let running = daemon.metrics();
    assert!(
        running.contains("\nlogdriver_plugin_containers 2\n"),
        "{running}"
    );
    assert!(
        running.contains("\nlogdriver_plugin_started_total 2\n"),
        "{running}"
    );
    assert_eq!(
        daemon.post("/LogDriver.StopLogging", &json!({"File": path})),
        (200, json!({"Err": ""}))
    );
    let stopped = daemon.metrics();
    for sample in [
        // c and d were over the limit; the record driver saw a, b and the
        // notice. d was a chunk of a long line, counted before the limit.
        "logdriver_suppressed_total{container=\"m1\",driver=\"record\"} 2",
        "logdriver_suppressed_bytes_total{container=\"m1\",driver=\"record\"} 2",
        "logdriver_partial_chunks_total{container=\"m1\",driver=\"record\"} 1",
        "logdriver_dropped_total{container=\"m1\",driver=\"record\",reason=\"unavailable\"} 0",
        "logdriver_lines_total{container=\"m2\",driver=\"tee\"} 0",
        "logdriver_lines_total{container=\"m2\",driver=\"record\",branch=\"record\"} 0",
        "logdriver_lines_total{container=\"m2\",driver=\"memory\",branch=\"copy\"} 0",
        "logdriver_plugin_containers 1",
        "logdriver_plugin_started_total 2",
        "logdriver_plugin_stopped_total 1",
        "logdriver_plugin_entries_total 4",
        "logdriver_plugin_bad_frames_total 1",
        "# TYPE logdriver_plugin_containers gauge",
    ] {
        assert!(
            stopped.lines().any(|l| l == sample),
            "no {sample:?} in:\n{stopped}"
        );
    }
    let _ = seen_lines("m1");
}

#[test]
fn a_broken_driver_never_stops_the_draining() {
    let daemon = Daemon::start();
    let (path, mut fifo) = daemon.fifo("c3");
    daemon.start_logging(&path, "c3", json!({}), &[]);
    common::silence_panics_on("logdriver-plugin-fifo");
    // 2 MB through a 64 KiB pipe: only a plugin that keeps reading lets it through.
    let mut entries = Vec::new();
    for i in 0..6000 {
        let kind = ["ok", "err", "boom"][i % 3];
        entries.push(entry("stdout", &format!("{kind} {i} {}", "y".repeat(300))));
    }
    let bytes = frames(&entries);
    assert!(bytes.len() > 2_000_000);
    let writer = thread::spawn(move || fifo.write_all(&bytes).map(|()| fifo));
    let fifo = writer.join().unwrap().unwrap();
    assert_eq!(
        daemon.post("/LogDriver.StopLogging", &json!({"File": path})),
        (200, json!({"Err": ""}))
    );
    drop(fifo);
    let stats = daemon.server.stats(&path).unwrap();
    assert_eq!(
        (stats.entries, stats.log_errors, stats.bad_frames),
        (6000, 4000, 0)
    );
    assert!(stats.slowest_log > std::time::Duration::ZERO, "{stats:?}");
    assert_eq!(seen().lock().remove("c3").unwrap().len(), 2000);
}

#[test]
fn several_containers_at_once() {
    let daemon = Daemon::start();
    let containers: Vec<(String, PathBuf, File)> = (0..4)
        .map(|n| {
            let id = format!("multi{n}");
            let (path, fifo) = daemon.fifo(&id);
            let env = format!("TENANT_ID=t{n}");
            assert_eq!(
                daemon
                    .start_logging(&path, &id, json!({}), &[env.as_str()])
                    .0,
                200
            );
            (id, path, fifo)
        })
        .collect();
    let writers: Vec<_> = containers
        .into_iter()
        .map(|(id, path, mut fifo)| {
            thread::spawn(move || {
                let entries: Vec<LogEntry> = (0..500)
                    .map(|i| entry("stdout", &format!("{id} {i}")))
                    .collect();
                fifo.write_all(&frames(&entries)).unwrap();
                (id, path, fifo)
            })
        })
        .collect();
    for (n, writer) in writers.into_iter().enumerate() {
        let (id, path, _fifo) = writer.join().unwrap();
        assert_eq!(
            daemon
                .post("/LogDriver.StopLogging", &json!({"File": path}))
                .0,
            200
        );
        let got = seen_lines(&id);
        let want: Vec<String> = (0..500).map(|i| format!("t{n}:{id} {i}")).collect();
        assert_eq!(got, want);
    }
}

#[test]
fn start_errors_name_the_driver_the_option_and_the_value() {
    let daemon = Daemon::start();
    let (path, _fifo) = daemon.fifo("c5");
    let (status, answer) = daemon.start_logging(&path, "c5", json!({"colour": "red"}), &[]);
    assert_eq!(
        (status, answer),
        (
            500,
            json!({"Err": "unknown option \"colour\" for log driver \"record\""})
        )
    );
    let (status, answer) = daemon.start_logging(&path, "c5", json!({"driver": "nope"}), &[]);
    assert_eq!(
        (status, answer),
        (
            500,
            json!({"Err": "no log driver named \"nope\" is registered"})
        )
    );
    let (status, answer) = daemon.start_logging(
        &path,
        "c5",
        json!({"driver": "zmq", "zmq-address": "http://hub"}),
        &[],
    );
    assert_eq!(status, 500);
    assert_eq!(
        answer["Err"],
        "invalid value \"http://hub\" for option \"zmq-address\" of log driver \"zmq\": \
         not a ZeroMQ endpoint (tcp://host:port, ipc://path or inproc://name)"
    );
}

#[test]
fn a_container_can_pick_json_file() {
    let daemon = Daemon::start();
    let (path, mut fifo) = daemon.fifo("c6");
    let (status, _) = daemon.start_logging(
        &path,
        "c6",
        json!({"driver": "json-file", "max-size": "1m"}),
        &[],
    );
    assert_eq!(status, 200);
    fifo.write_all(&frames(&[entry("stdout", "to a file")]))
        .unwrap();
    assert_eq!(
        daemon
            .post("/LogDriver.StopLogging", &json!({"File": path}))
            .0,
        200
    );
    let file = std::fs::read_to_string(daemon.dir.join("logs/c6-json.log")).unwrap();
    assert_eq!(
        file,
        "{\"log\":\"to a file\\n\",\"stream\":\"stdout\",\"time\":\"2025-11-27T01:02:03Z\"}\n"
    );
}

/// Splits a ReadLogs body into its entries.
fn decode_frames(mut body: &[u8]) -> Vec<LogEntry> {
    let mut entries = Vec::new();
    while !body.is_empty() {
        let len = u32::from_be_bytes(body[..4].try_into().unwrap()) as usize;
        entries.push(prost::Message::decode(&body[4..4 + len]).unwrap());
        body = &body[4 + len..];
    }
    entries
}

#[test]
fn read_logs_serves_json_file_back_to_dockerd() {
    read_logs_serves_back_to_dockerd("json-file");
}

#[test]
fn read_logs_serves_k8s_file_back_to_dockerd() {
    read_logs_serves_back_to_dockerd("k8s-file");
}

#[test]
fn read_logs_serves_local_back_to_dockerd() {
    read_logs_serves_back_to_dockerd("local");
}

/// `docker logs`, with tail, since and until, for a driver that reads back.
fn read_logs_serves_back_to_dockerd(driver: &str) {
    let daemon = Daemon::with_driver(driver);
    assert_eq!(
        daemon.post("/LogDriver.Capabilities", &json!({})),
        (200, json!({"Cap": {"ReadLogs": true}}))
    );
    let (path, mut fifo) = daemon.fifo("c7");
    assert_eq!(daemon.start_logging(&path, "c7", json!({}), &[]).0, 200);
    let mut entries: Vec<LogEntry> = (0..5)
        .map(|i| LogEntry {
            time_nano: 1_000_000_000 * (i + 1),
            ..entry("stdout", &format!("line {i}"))
        })
        .collect();
    entries.push(LogEntry {
        partial: true,
        partial_log_metadata: Some(PartialLogEntryMetadata {
            last: false,
            id: "c".repeat(64),
            ordinal: 1,
        }),
        time_nano: 6_000_000_000,
        ..entry("stderr", "chunk")
    });
    fifo.write_all(&frames(&entries)).unwrap();
    assert_eq!(
        daemon
            .post("/LogDriver.StopLogging", &json!({"File": path}))
            .0,
        200
    );

    // The file is the driver's own format.
    // Named for its format: only json-file's is Docker's `-json.log`.
    let name = match driver {
        "json-file" => "c7-json.log".to_owned(),
        other => format!("c7-{other}.log"),
    };
    let bytes = std::fs::read(daemon.dir.join("logs").join(&name)).unwrap();
    let others = std::fs::read_dir(daemon.dir.join("logs")).unwrap();
    let names: Vec<String> = others
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("c7"))
        .collect();
    assert_eq!(names, std::slice::from_ref(&name));
    let text = String::from_utf8_lossy(&bytes);
    let first = text.lines().next().unwrap();
    match driver {
        "k8s-file" => assert_eq!(first, "1970-01-01T00:00:01.000000000Z stdout F line 0"),
        "local" => assert_eq!(&bytes[4..12], b"\x0a\x06stdout"),
        _ => assert!(first.starts_with("{\"log\":\"line 0\\n\""), "{first}"),
    }

    let read = |config: Value| {
        let (status, body) = daemon.post_raw(
            "/LogDriver.ReadLogs",
            &json!({"Info": {"ContainerID": "c7"}, "Config": config}),
        );
        assert_eq!(status, 200);
        decode_frames(&body)
            .into_iter()
            .map(|e| {
                (
                    e.source,
                    String::from_utf8(e.line.to_vec()).unwrap(),
                    e.time_nano,
                )
            })
            .collect::<Vec<_>>()
    };
    let all =
        read(json!({"Tail": -1, "Since": "0001-01-01T00:00:00Z", "Until": "0001-01-01T00:00:00Z"}));
    let want: Vec<(String, String, i64)> = (0..5)
        .map(|i| {
            (
                "stdout".to_string(),
                format!("line {i}\n"),
                1_000_000_000 * (i + 1),
            )
        })
        .chain(std::iter::once((
            "stderr".to_string(),
            "chunk".to_string(),
            6_000_000_000,
        )))
        .collect();
    assert_eq!(all, want);
    assert_eq!(read(json!({"Tail": 2})), want[4..]);
    assert_eq!(
        read(json!({"Since": "1970-01-01T00:00:03Z", "Until": "1970-01-01T00:00:04Z", "Tail": -1})),
        want[2..4]
    );
    assert_eq!(read(json!({"Tail": 0})), []);

    // A container this plugin never saw is read through a driver created
    // for it: a file driver finds (and starts) an empty file.
    let (status, body) = daemon.post_raw(
        "/LogDriver.ReadLogs",
        &json!({"Info": {"ContainerID": "gone"}, "Config": {}}),
    );
    assert_eq!((status, body), (200, Vec::new()));
    let gone = name.replace("c7", "gone");
    assert!(daemon.dir.join("logs").join(gone).exists());
}

#[test]
fn read_logs_follows_a_running_container_until_it_stops() {
    let daemon = Daemon::with_driver("json-file");
    let (path, mut fifo) = daemon.fifo("c8");
    assert_eq!(daemon.start_logging(&path, "c8", json!({}), &[]).0, 200);
    fifo.write_all(&frames(&[entry("stdout", "first")]))
        .unwrap();
    thread::scope(|s| {
        let follower = s.spawn(|| {
            let request =
                json!({"Info": {"ContainerID": "c8"}, "Config": {"Follow": true, "Tail": -1}});
            daemon.post_raw("/LogDriver.ReadLogs", &request)
        });
        let later: Vec<LogEntry> = (0..100)
            .map(|i| entry("stderr", &format!("later {i}")))
            .collect();
        fifo.write_all(&frames(&later)).unwrap();
        // Stopping the container ends the follow.
        assert_eq!(
            daemon
                .post("/LogDriver.StopLogging", &json!({"File": path}))
                .0,
            200
        );
        let (status, body) = follower.join().unwrap();
        assert_eq!(status, 200);
        let lines: Vec<String> = decode_frames(&body)
            .into_iter()
            .map(|e| String::from_utf8(e.line.to_vec()).unwrap())
            .collect();
        let want: Vec<String> = std::iter::once("first\n".to_string())
            .chain((0..100).map(|i| format!("later {i}\n")))
            .collect();
        assert_eq!(lines, want);
    });
}

/// Runs `f` on a thread of its own; panics if it has not finished within
/// 30 s: a regression must fail, not hang.
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("did not finish in time")
}

#[test]
fn a_huge_frame_length_is_corruption_and_the_stream_resyncs() {
    let daemon = Daemon::start();
    let (path, mut fifo) = daemon.fifo("huge");
    assert_eq!(daemon.start_logging(&path, "huge", json!({}), &[]).0, 200);
    let mut bytes = frames(&[entry("stdout", "before")]);
    bytes.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    bytes.extend_from_slice(b"not a frame at all");
    bytes.extend(frames(&[entry("stderr", "after")]));
    fifo.write_all(&bytes).unwrap();
    let daemon = Arc::new(daemon);
    assert_eq!(stop_within(&daemon, &path), (200, json!({"Err": ""})));
    let got = seen_lines("huge");
    assert_eq!(got, ["none:before", "none:after"]);
    let stats = daemon.server.stats(&path).unwrap();
    assert_eq!((stats.entries, stats.bad_frames), (2, 1));
}

#[test]
fn stop_logging_returns_within_its_timeout_on_a_truncated_frame() {
    let dir = std::env::temp_dir().join(format!("logdriver-plugin-trunc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server = Plugin::new(registry(), "record")
        .log_dir(dir.join("logs"))
        .stop_timeout(std::time::Duration::from_millis(300))
        .serve(dir.join("plugin.sock"))
        .unwrap();
    let daemon = Daemon { dir, server };
    let (path, mut fifo) = daemon.fifo("trunc");
    assert_eq!(daemon.start_logging(&path, "trunc", json!({}), &[]).0, 200);
    let mut bytes = frames(&[entry("stdout", "whole")]);
    // A frame that says 1000 bytes and brings 5; the end marker is eaten
    // as part of it.
    bytes.extend_from_slice(&1000u32.to_be_bytes());
    bytes.extend_from_slice(b"\x0a\x06std");
    fifo.write_all(&bytes).unwrap();
    let daemon = Arc::new(daemon);
    assert_eq!(stop_within(&daemon, &path), (200, json!({"Err": ""})));
    // The reader was let go: it ends, and its driver is closed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while daemon.server.stats(&path).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the reader never ended"
        );
        thread::sleep(std::time::Duration::from_millis(10));
    }
    let got = seen_lines("trunc");
    assert_eq!(got, ["none:whole"]);
}

#[test]
fn container_ids_that_name_no_plain_file_are_refused() {
    warnings();
    let daemon = Daemon::with_driver("json-file");
    let (path, _fifo) = daemon.fifo("esc");
    for id in [
        "../../escaped",
        "..",
        "a/b",
        "",
        "x..y",
        &"a".repeat(129),
        "sp ace",
    ] {
        let (status, answer) = daemon.start_logging(&path, id, json!({}), &[]);
        assert_eq!(status, 500, "{id:?}");
        let err = answer["Err"].as_str().unwrap();
        assert!(err.starts_with("invalid ContainerID"), "{id:?}: {err}");
        // And the operator sees it on the plugin's stderr.
        let line = format!("{}: cannot start logging: {err}", path.display());
        assert!(warnings().contains(&line), "{id:?}: no warning {line:?}");
    }
    assert!(!daemon.dir.join("escaped-json.log").exists());
    assert!(!daemon
        .dir
        .parent()
        .unwrap()
        .join("escaped-json.log")
        .exists());
    // The same check guards ReadLogs.
    let (status, body) = daemon.post_raw(
        "/LogDriver.ReadLogs",
        &json!({"Info": {"ContainerID": "../x"}, "Config": {}}),
    );
    assert_eq!(status, 500);
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("invalid ContainerID"));
    // A good id still works.
    assert_eq!(
        daemon.start_logging(&path, "Good_id-1.0", json!({}), &[]).0,
        200
    );
    assert_eq!(
        daemon
            .post("/LogDriver.StopLogging", &json!({"File": path}))
            .0,
        200
    );
    assert!(daemon.dir.join("logs/Good_id-1.0-json.log").exists());
}

#[test]
fn file_must_be_a_fifo() {
    let daemon = Daemon::start();
    let plain = daemon.dir.join("plain-file");
    std::fs::write(&plain, b"data").unwrap();
    let (status, answer) = daemon.start_logging(&plain, "plain", json!({}), &[]);
    assert_eq!(status, 500);
    let err = answer["Err"].as_str().unwrap();
    assert!(err.contains("not a FIFO"), "{err}");
    // Checked before it is opened: a directory cannot even be opened
    // read-write, and is still refused as no FIFO.
    let dir = daemon.dir.join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let (status, answer) = daemon.start_logging(&dir, "dir", json!({}), &[]);
    assert_eq!(status, 500);
    let err = answer["Err"].as_str().unwrap();
    assert!(err.contains("not a FIFO"), "{err}");
    // Refused, so not claimed: a stop finds nothing.
    assert_eq!(
        daemon
            .post("/LogDriver.StopLogging", &json!({"File": plain}))
            .0,
        500
    );
}

#[test]
fn serve_replaces_only_a_socket_and_sets_the_socket_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("logdriver-plugin-sock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("not-a-socket");
    std::fs::write(&file, b"precious").unwrap();
    match Plugin::new(registry(), "record").serve(&file) {
        Err(Error::Io { path, source }) => {
            assert_eq!(path, file);
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");

    let sock = dir.join("plugin.sock");
    let server = Plugin::new(registry(), "record").serve(&sock).unwrap();
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    drop(server);
    // A stale socket is replaced, with the mode asked for.
    let stale = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let server = Plugin::new(registry(), "record")
        .socket_mode(0o600)
        .serve(&sock)
        .unwrap();
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    drop((server, stale));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_start_loggings_for_one_fifo_start_one_reader() {
    let daemon = Arc::new(Daemon::start());
    let (path, _fifo) = daemon.fifo("twice");
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let starts: Vec<_> = (0..2)
        .map(|_| {
            let (daemon, barrier, path) = (daemon.clone(), barrier.clone(), path.clone());
            thread::spawn(move || {
                barrier.wait();
                daemon.start_logging(&path, "twice", json!({}), &[])
            })
        })
        .collect();
    let mut statuses: Vec<u16> = starts.into_iter().map(|t| t.join().unwrap().0).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 500]);
    assert_eq!(
        daemon
            .post("/LogDriver.StopLogging", &json!({"File": path}))
            .0,
        200
    );
    assert_eq!(
        daemon
            .post("/LogDriver.StopLogging", &json!({"File": path}))
            .0,
        500
    );
}

#[test]
fn the_stats_of_stopped_containers_are_bounded() {
    let daemon = Daemon::start();
    let (path, _fifo) = daemon.fifo("many");
    let first = daemon.dir.join("first");
    std::fs::rename(&path, &first).unwrap();
    assert_eq!(daemon.start_logging(&first, "first", json!({}), &[]).0, 200);
    assert_eq!(
        daemon
            .post("/LogDriver.StopLogging", &json!({"File": first}))
            .0,
        200
    );
    assert!(daemon.server.stats(&first).is_some());
    let (path, _fifo) = daemon.fifo("again");
    for _ in 0..logdriver::plugin::STATS_KEPT {
        assert_eq!(daemon.start_logging(&path, "again", json!({}), &[]).0, 200);
        assert_eq!(
            daemon
                .post("/LogDriver.StopLogging", &json!({"File": path}))
                .0,
            200
        );
    }
    assert_eq!(daemon.server.stats(&first), None);
    assert!(daemon.server.stats(&path).is_some());
}

#[test]
fn capabilities_come_from_the_registration_not_from_a_probe() {
    // The probe, a driver created with no options, would fail here.
    let daemon = Daemon::with_driver("picky-json");
    assert_eq!(
        daemon.post("/LogDriver.Capabilities", &json!({})),
        (200, json!({"Cap": {"ReadLogs": true}}))
    );
    assert_eq!(registry().reads_logs("picky-json"), Some(true));
    assert_eq!(registry().reads_logs("fluentd"), Some(false));
    assert_eq!(registry().reads_logs("memory"), None);
}

#[test]
fn a_users_own_reading_driver_serves_docker_logs() {
    let daemon = Daemon::with_driver("memory");
    assert_eq!(
        daemon.post("/LogDriver.Capabilities", &json!({})),
        (200, json!({"Cap": {"ReadLogs": true}}))
    );
    let (path, mut fifo) = daemon.fifo("mem");
    assert_eq!(daemon.start_logging(&path, "mem", json!({}), &[]).0, 200);
    fifo.write_all(&frames(&[
        entry("stdout", "one"),
        entry("stderr", "two"),
        entry("stdout", "three"),
    ]))
    .unwrap();
    assert_eq!(
        daemon
            .post("/LogDriver.StopLogging", &json!({"File": path}))
            .0,
        200
    );
    let (status, body) = daemon.post_raw(
        "/LogDriver.ReadLogs",
        &json!({"Info": {"ContainerID": "mem"}, "Config": {"Tail": 2}}),
    );
    assert_eq!(status, 200);
    let got: Vec<(String, String)> = decode_frames(&body)
        .into_iter()
        .map(|e| (e.source, String::from_utf8(e.line.to_vec()).unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("stderr".to_string(), "two\n".to_string()),
            ("stdout".to_string(), "three\n".to_string())
        ]
    );
    // A driver that cannot read says so.
    let (status, body) = daemon.post_raw(
        "/LogDriver.ReadLogs",
        &json!({"Info": {"ContainerID": "other", "Config": {"driver": "record"}}, "Config": {}}),
    );
    assert_eq!(status, 500);
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.contains(r#"log driver \"record\" cannot read logs back"#),
        "{body}"
    );
}

/// `--driver nats`: a container's lines reach a JetStream stream through
/// the plugin. Needs nats-server on PATH (tests/nats_e2e.sh runs this with
/// `--features nats`).
#[cfg(feature = "nats")]
#[test]
fn a_containers_lines_reach_a_nats_stream_through_the_plugin() {
    use futures_util::StreamExt;
    use std::process::{Command, Stdio};

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = std::env::temp_dir().join(format!("logdriver-plugin-nats-{}", std::process::id()));
    let mut nats = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(&store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server on PATH");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let url = format!("nats://127.0.0.1:{port}");

    let daemon = Daemon::with_driver("nats");
    let (path, mut fifo) = daemon.fifo("n1");
    let (status, answer) =
        daemon.start_logging(&path, "n1", json!({"nats-url": url}), &["TENANT_ID=acme"]);
    assert_eq!(status, 200, "{answer}");
    fifo.write_all(&frames(&[
        entry("stdout", "hello"),
        entry("stderr", "oops"),
    ]))
    .unwrap();
    assert_eq!(
        daemon
            .post("/LogDriver.StopLogging", &json!({"File": path}))
            .0,
        200
    );

    let got: Vec<(String, String)> = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let js = async_nats::jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
            let stream = js.get_stream("LOGS").await.unwrap();
            let consumer = stream
                .create_consumer(async_nats::jetstream::consumer::pull::Config {
                    ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
                    ..Default::default()
                })
                .await
                .unwrap();
            let mut messages = consumer.messages().await.unwrap();
            let mut got = Vec::new();
            while got.len() < 2 {
                let msg = messages.next().await.unwrap().unwrap();
                got.push((
                    msg.subject.to_string(),
                    String::from_utf8(msg.payload.to_vec()).unwrap(),
                ));
            }
            got
        });
    let _ = nats.kill();
    let _ = nats.wait();
    let _ = std::fs::remove_dir_all(&store);
    assert_eq!(
        got,
        [
            ("logs.acme.default".to_string(), "n1: hello".to_string()),
            ("logs.acme.default".to_string(), "n1: oops".to_string()),
        ]
    );
}

/// Every warning the plugin has logged in this test binary, in order.
fn warnings() -> Vec<String> {
    struct Capture;
    static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());
    impl log::Log for Capture {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Warn
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                WARNINGS.lock().push(record.args().to_string());
            }
        }
        fn flush(&self) {}
    }
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
    });
    WARNINGS.lock().clone()
}
