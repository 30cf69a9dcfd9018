//! The real peers, as processes that a test can kill (`-9`), stop
//! (`SIGSTOP`) and resume, and the lines each has received.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Which real peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `examples/zmq_hub.rs`: a SUB socket that prints every line.
    ZmqHub,
    /// `@fluent-org/logger`'s FluentServer (`tests/fluentd/server.js`).
    FluentServer,
    /// `nats-server` with JetStream.
    NatsServer,
    /// `rsyslogd`, its TCP input writing each message's MSG.
    Rsyslog,
    /// `tests/otlp/receiver.py`, on PyPI's opentelemetry-proto: every
    /// record it acks, as a JSON line.
    OtlpReceiver,
}

/// A peer on a port of its own, with a scratch directory for its output
/// (and, for nats-server, its store), kept across restarts.
pub struct Peer {
    kind: Kind,
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "logdriver-fault-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `target/<profile>/examples/<name>`, next to this test's binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().unwrap().parent().unwrap();
    profile.join("examples").join(name)
}

impl Peer {
    /// A peer of `kind`, not started.
    pub fn new(kind: Kind) -> Peer {
        Peer {
            kind,
            port: free_port(),
            dir: scratch(),
            child: None,
        }
    }

    /// Starts the peer (again), on its port, and waits until it listens.
    pub fn start(&mut self) {
        let out = File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("received"))
            .unwrap();
        let port = self.port.to_string();
        let mut command = match self.kind {
            Kind::ZmqHub => {
                let mut c = Command::new(example("zmq_hub"));
                c.arg(format!("tcp://127.0.0.1:{port}"));
                c
            }
            Kind::FluentServer => {
                let mut c = Command::new("node");
                c.arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/fluentd/server.js"
                ))
                .arg(&port);
                c
            }
            Kind::Rsyslog => {
                let conf = self.dir.join("rsyslog.conf");
                let work = self.dir.join("rsyslog");
                std::fs::create_dir_all(&work).unwrap();
                std::fs::write(
                    &conf,
                    format!(
                        r#"global(workDirectory="{work}")
main_queue(queue.workerThreads="1")
module(load="imtcp")
template(name="msg" type="string" string="%msg%\n")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="out")
ruleset(name="out") {{ action(type="omfile" file="{received}" template="msg") }}
"#,
                        work = work.display(),
                        received = self.dir.join("received").display(),
                    ),
                )
                .unwrap();
                let mut c = Command::new("rsyslogd");
                // In the foreground, with no pid file to outlive a kill -9.
                c.arg("-n").arg("-f").arg(&conf).arg("-iNONE");
                c
            }
            Kind::OtlpReceiver => {
                let python = std::env::var("OTLP_PY").expect("OTLP_PY, from tests/otlp/setup.sh");
                let receiver =
                    std::env::var("RECEIVER").expect("RECEIVER, from tests/otlp/setup.sh");
                let mut c = Command::new(python);
                c.arg(receiver).arg(&port).arg(self.dir.join("records"));
                c
            }
            Kind::NatsServer => {
                let mut c = Command::new("nats-server");
                c.args(["-js", "-a", "127.0.0.1", "-p", &port, "-sd"])
                    .arg(self.dir.join("store"));
                c
            }
        };
        let child = command
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{:?} cannot start: {e}", self.kind));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "{:?} did not listen", self.kind);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, signal: Signal) -> nix::Result<()> {
        let child = self.child.as_ref().expect("a running peer");
        kill(Pid::from_raw(child.id() as i32), signal)
    }

    /// `SIGSTOP`.
    pub fn stop(&self) {
        self.signal(Signal::SIGSTOP).unwrap();
    }

    /// `SIGCONT`.
    pub fn resume(&self) {
        self.signal(Signal::SIGCONT).unwrap();
    }

    /// The payloads of every line received, in the order received, with
    /// duplicates. The peer must be running (nats-server is asked).
    pub fn received(&self) -> Vec<String> {
        match self.kind {
            Kind::ZmqHub => {
                // `[tenant/service] <12-char id>: <line>`
                let text = std::fs::read_to_string(self.dir.join("received")).unwrap();
                text.lines()
                    .filter_map(|l| l.split_once(": ").map(|(_, line)| line.to_owned()))
                    .collect()
            }
            Kind::Rsyslog => {
                let text = std::fs::read_to_string(self.dir.join("received")).unwrap_or_default();
                text.lines().map(str::to_owned).collect()
            }
            Kind::FluentServer => {
                let text = std::fs::read_to_string(self.dir.join("received")).unwrap();
                text.lines()
                    .map(|l| {
                        let event: serde_json::Value = serde_json::from_str(l).unwrap();
                        event["record"]["log"].as_str().unwrap().to_owned()
                    })
                    .collect()
            }
            Kind::OtlpReceiver => {
                let text = std::fs::read_to_string(self.dir.join("records")).unwrap_or_default();
                // A line a kill -9 cut short does not parse: its records
                // were never acked.
                text.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .map(|record| record["body"].as_str().unwrap().to_owned())
                    .collect()
            }
            Kind::NatsServer => read_stream(self.port),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.signal(Signal::SIGCONT);
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every message of stream `LOGS`, as `<line>` (the payload after its
/// `<12-char id>: `).
fn read_stream(port: u16) -> Vec<String> {
    use async_nats::jetstream::{self, consumer};
    use futures_util::StreamExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        let js = jetstream::new(client);
        let Ok(mut stream) = js.get_stream("LOGS").await else {
            return Vec::new(); // nothing ever reached it
        };
        let count = stream.info().await.unwrap().state.messages as usize;
        let config = consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        };
        let consumer = stream.create_consumer(config).await.unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let msg = tokio::time::timeout(Duration::from_secs(10), messages.next())
                .await
                .expect("the stream's messages within 10 s")
                .unwrap()
                .unwrap();
            let payload = String::from_utf8_lossy(&msg.payload).into_owned();
            out.push(
                payload
                    .split_once(": ")
                    .map_or(payload.clone(), |(_, l)| l.to_owned()),
            );
        }
        out
    })
}
