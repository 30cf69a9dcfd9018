//! The fault matrix: every network driver, in blocking and in
//! non-blocking mode, against its real peer, under each fault a peer can
//! have. A driver joins by adding one [`Driver`] to [`DRIVERS`].
//!
//! For each run the harness measures, and asserts against what the
//! driver documents:
//! - the longest single `log` call, within the driver's bound (its send or
//!   write timeout; in non-blocking mode, no wait at all);
//! - how long `close` takes, within its linger or close timeout;
//! - where every line went: received by the peer, counted as dropped, or
//!   lost unseen (allowed only where the driver documents it: a driver
//!   without acks loses what was in flight on a connection that breaks);
//!   and duplicates (none, or counted in `resent`);
//! - that every error `log` returned is [`Error::Dropped`]: a fault costs
//!   counted drops, never a transport error the caller must decode;
//! - that nothing panicked and the process's threads came back.
//!
//! The peers are real processes (nats-server, `@fluent-org/logger`'s
//! FluentServer, rsyslog, `examples/zmq_hub.rs`, and an OTLP receiver on
//! PyPI's opentelemetry-proto): killed with `-9`, stopped with
//! `SIGSTOP`, and behind a proxy of ours for a slow peer and a reset in the
//! middle of a frame. Run by `tests/fault_matrix_e2e.sh`, which installs
//! them; the table it prints is the one in the README.
#![cfg(all(feature = "nats", feature = "otlp"))]

mod peer;
mod proxy;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use logdriver::{registry, Error, Info, Logger, LoggerStats, Message, Source};
use peer::{Kind, Peer};
use proxy::{Fault, Proxy};

/// How the driver delivers, as its docs promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// No acknowledgements: each line counted as sent arrives at most
    /// once; what is in flight when a connection breaks is lost unseen.
    NoAcks,
    /// Acknowledged and sent again until acked: every line not counted as
    /// dropped arrives; a copy sent again may arrive twice, unless the
    /// peer removes duplicates (`dedup`), and is counted in `resent`.
    Acks { dedup: bool },
}

/// One network driver, its peer, and what it documents.
struct Driver {
    /// The row's name.
    label: &'static str,
    /// The registered driver.
    name: &'static str,
    peer: Kind,
    /// Its options, for a peer on `port`.
    options: fn(port: u16) -> Vec<(&'static str, String)>,
    /// The longest a blocking `log` waits.
    log_bound: Duration,
    /// The longest `close` takes.
    close_bound: Duration,
    delivery: Delivery,
}

const DRIVERS: &[Driver] = &[
    Driver {
        label: "zmq",
        name: "zmq",
        peer: Kind::ZmqHub,
        options: |port| {
            vec![
                ("zmq-address", format!("tcp://127.0.0.1:{port}")),
                ("zmq-send-timeout", "1s".into()),
                ("zmq-linger", "1s".into()),
            ]
        },
        log_bound: Duration::from_secs(1),
        close_bound: Duration::from_secs(1),
        delivery: Delivery::NoAcks,
    },
    Driver {
        label: "fluentd",
        name: "fluentd",
        peer: Kind::FluentServer,
        options: |port| {
            vec![
                ("fluentd-address", format!("tcp://127.0.0.1:{port}")),
                ("fluentd-write-timeout", "1s".into()),
                ("fluentd-retry-wait", "100ms".into()),
            ]
        },
        log_bound: Duration::from_secs(1),
        close_bound: Duration::from_secs(1),
        delivery: Delivery::NoAcks,
    },
    Driver {
        label: "fluentd, acks",
        name: "fluentd",
        peer: Kind::FluentServer,
        options: |port| {
            vec![
                ("fluentd-address", format!("tcp://127.0.0.1:{port}")),
                ("fluentd-request-ack", "true".into()),
                ("fluentd-write-timeout", "1s".into()),
                ("fluentd-retry-wait", "100ms".into()),
            ]
        },
        log_bound: Duration::from_secs(1),
        close_bound: Duration::from_secs(1),
        delivery: Delivery::Acks { dedup: false },
    },
    Driver {
        label: "nats",
        name: "nats",
        peer: Kind::NatsServer,
        options: |port| {
            vec![
                ("nats-url", format!("nats://127.0.0.1:{port}")),
                ("nats-send-timeout", "1s".into()),
                ("nats-linger", "2s".into()),
            ]
        },
        log_bound: Duration::from_secs(1),
        close_bound: Duration::from_secs(2),
        delivery: Delivery::Acks { dedup: true },
    },
    Driver {
        label: "syslog",
        name: "syslog",
        peer: Kind::Rsyslog,
        options: |port| {
            vec![
                ("syslog-address", format!("tcp://127.0.0.1:{port}")),
                ("syslog-format", "rfc5424".into()),
                ("syslog-write-timeout", "1s".into()),
            ]
        },
        log_bound: Duration::from_secs(1),
        close_bound: Duration::from_secs(1),
        delivery: Delivery::NoAcks,
    },
    Driver {
        label: "otlp",
        name: "otlp",
        peer: Kind::OtlpReceiver,
        options: |port| {
            vec![
                ("otlp-endpoint", format!("http://127.0.0.1:{port}")),
                ("otlp-send-timeout", "1s".into()),
                ("otlp-timeout", "1s".into()),
                ("otlp-linger", "1s".into()),
            ]
        },
        log_bound: Duration::from_secs(1),
        close_bound: Duration::from_secs(1),
        delivery: Delivery::Acks { dedup: false },
    },
];

/// The faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// No peer when the driver is created; it comes up later.
    LatePeer,
    /// The peer is killed (`-9`) in the middle of the stream, and restarted.
    Killed,
    /// The peer is stopped (`SIGSTOP`) for longer than every timeout, then
    /// resumed.
    Stopped,
    /// The peer reads slowly and trickles its answers.
    Slow,
    /// The connection is reset in the middle of a frame.
    Reset,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario::LatePeer,
    Scenario::Killed,
    Scenario::Stopped,
    Scenario::Slow,
    Scenario::Reset,
];

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::LatePeer => "peer comes up late",
            Scenario::Killed => "peer killed -9, restarted",
            Scenario::Stopped => "peer SIGSTOPped 2.5 s",
            Scenario::Slow => "peer slow (200 KB/s)",
            Scenario::Reset => "reset mid-frame",
        }
    }
}

/// How long a stopped peer stays stopped: longer than every timeout.
const STOPPED_FOR: Duration = Duration::from_millis(2_500);

/// What non-blocking mode's `close` waits at most.
const NB_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Slack on every measured bound, for a shared 2-core machine.
const SLACK: Duration = Duration::from_millis(750);

const ID: &str = "f00d5eed0123456789abcdef0123456789abcdef0123456789abcdef01234567";

/// Panics anywhere in the process, counted.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

/// The process's threads, from `/proc/self/status`.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Lines logged so far, the longest `log` among them, and the errors
/// that were not a counted drop.
struct Logging {
    logger: Arc<dyn Logger>,
    sent: usize,
    longest: Duration,
    width: usize,
    not_drops: Vec<String>,
}

impl Logging {
    /// Logs up to `n` lines, for at most `budget`.
    fn lines(&mut self, n: usize, budget: Duration) {
        let start = Instant::now();
        for _ in 0..n {
            if start.elapsed() > budget {
                break;
            }
            self.one();
        }
    }

    /// Logs up to `n` lines until `until`, then lets the rest of the time
    /// pass: a fault lasts as long as it lasts.
    fn until(&mut self, until: Instant, n: usize) {
        for _ in 0..n {
            if Instant::now() >= until {
                return;
            }
            self.one();
        }
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
    }

    /// Logs `n` lines, one every `every`, as a container's steady output.
    fn paced(&mut self, n: usize, every: Duration) {
        for _ in 0..n {
            self.one();
            std::thread::sleep(every);
        }
    }

    fn one(&mut self) {
        let mut line = format!("fm-{:07}-", self.sent).into_bytes();
        line.resize(self.width, b'.');
        let start = Instant::now();
        match self.logger.log(Message::new(Source::Stdout, line)) {
            Ok(()) | Err(Error::Dropped { .. }) => {}
            Err(other) => self.not_drops.push(other.to_string()),
        }
        self.longest = self.longest.max(start.elapsed());
        self.sent += 1;
    }
}

/// One run's measures.
struct Row {
    driver: &'static str,
    mode: &'static str,
    scenario: Scenario,
    sent: usize,
    stats: LoggerStats,
    received: usize,
    unique: usize,
    longest: Duration,
    close: Duration,
    /// What broke the driver's promises; empty when it kept them.
    failures: Vec<String>,
}

impl Row {
    fn expected(&self) -> usize {
        self.sent.saturating_sub(self.stats.dropped as usize)
    }
    fn unseen(&self) -> usize {
        self.expected().saturating_sub(self.unique)
    }
    fn dups(&self) -> usize {
        self.received - self.unique
    }
}

fn run(driver: &Driver, blocking: bool, scenario: Scenario) -> Row {
    let mut peer = Peer::new(driver.peer);
    if scenario != Scenario::LatePeer {
        peer.start();
    }
    let proxy = match scenario {
        Scenario::Slow => Some(Proxy::start(
            peer.port,
            Fault::Slow {
                bytes: 2048,
                pause: Duration::from_millis(10),
            },
        )),
        Scenario::Reset => Some(Proxy::start(peer.port, Fault::ResetAfter(30_000))),
        _ => None,
    };
    let port = proxy.as_ref().map_or(peer.port, |p| p.port);
    let mut info = Info::new(ID);
    for (key, value) in (driver.options)(port) {
        info = info.with_option(key, &value);
    }
    if !blocking {
        info = info
            .with_option("mode", "non-blocking")
            .with_option("non-blocking-close-timeout", "2s");
    }
    let before = threads();
    let panics = PANICS.load(Ordering::SeqCst);
    let logger = registry().create(driver.name, &info).unwrap();
    let width = if matches!(scenario, Scenario::Slow | Scenario::Reset) {
        200
    } else {
        40
    };
    let mut logging = Logging {
        logger: Arc::clone(&logger),
        sent: 0,
        longest: Duration::ZERO,
        width,
        not_drops: Vec::new(),
    };
    let budget = Duration::from_secs(4);
    match scenario {
        Scenario::LatePeer => {
            logging.lines(100, budget);
            peer.start();
            logging.paced(200, Duration::from_millis(5));
        }
        Scenario::Killed => {
            logging.paced(200, Duration::from_millis(2));
            peer.kill();
            logging.lines(100, budget);
            peer.start();
            logging.paced(200, Duration::from_millis(5));
        }
        Scenario::Stopped => {
            logging.lines(200, budget);
            peer.stop();
            logging.until(Instant::now() + STOPPED_FOR, 5_000);
            peer.resume();
            logging.lines(200, budget);
        }
        Scenario::Slow => logging.lines(2_000, Duration::from_secs(8)),
        Scenario::Reset => logging.lines(1_000, budget),
    }
    let start = Instant::now();
    let _ = logger.close();
    let close = start.elapsed();
    let (sent, longest) = (logging.sent, logging.longest);
    let not_drops = std::mem::take(&mut logging.not_drops);
    drop(logging);
    let stats = logger.stats();
    drop(logger);
    // Threads end a moment after close: a worker that was stuck, a runtime.
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let threads_after = threads();
    // What the peer took, once it has stopped growing.
    let mut got = peer.received();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let again = peer.received();
        if again.len() == got.len() || Instant::now() > deadline {
            got = again;
            break;
        }
        got = again;
    }
    let ids: Vec<&str> = got.iter().map(|l| &l[..l.len().min(10)]).collect();
    let unique = ids.iter().collect::<HashSet<_>>().len();
    let mut row = Row {
        driver: driver.label,
        mode: if blocking { "blocking" } else { "non-blocking" },
        scenario,
        sent,
        stats,
        received: got.len(),
        unique,
        longest,
        close,
        failures: Vec::new(),
    };
    // What the driver promises.
    let log_bound = if blocking {
        driver.log_bound
    } else {
        Duration::ZERO
    };
    // A fault costs counted drops, each said as one: never another error.
    if let Some(first) = not_drops.first() {
        row.failures.push(format!(
            "{} log errors were not a counted drop, first: {first}",
            not_drops.len()
        ));
    }
    if longest > log_bound + SLACK {
        row.failures
            .push(format!("a log took {longest:?}, over {log_bound:?}"));
    }
    // Non-blocking: the drain, then the driver's own close.
    let close_bound = if blocking {
        driver.close_bound
    } else {
        NB_CLOSE_TIMEOUT + driver.close_bound
    };
    if close > close_bound + SLACK {
        row.failures
            .push(format!("close took {close:?}, over {close_bound:?}"));
    }
    let broken = matches!(scenario, Scenario::Killed | Scenario::Reset);
    match driver.delivery {
        Delivery::NoAcks => {
            if row.dups() > 0 {
                row.failures
                    .push(format!("{} lines arrived twice", row.dups()));
            }
            if row.unseen() > 0 && !broken {
                row.failures
                    .push(format!("{} lines lost unseen", row.unseen()));
            }
            // Counted as dropped, yet arrived: only the line a stuck driver
            // was on when non-blocking close gave up.
            let over = row.unique.saturating_sub(row.expected());
            if over > usize::from(!blocking) {
                row.failures
                    .push(format!("{over} lines counted as dropped arrived"));
            }
        }
        Delivery::Acks { dedup } => {
            if row.unseen() > 0 {
                row.failures
                    .push(format!("{} lines lost unseen", row.unseen()));
            }
            let allowed = if dedup { 0 } else { row.stats.resent as usize };
            if row.dups() > allowed {
                row.failures.push(format!(
                    "{} lines arrived twice, {} counted as resent",
                    row.dups(),
                    row.stats.resent
                ));
            }
        }
    }
    if row.unique > sent {
        row.failures
            .push("lines arrived that were never sent".into());
    }
    if PANICS.load(Ordering::SeqCst) > panics {
        row.failures.push("a panic".into());
    }
    if threads_after > before {
        row.failures
            .push(format!("threads: {before} before, {threads_after} after"));
    }
    row
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| driver | mode | fault | sent | received | dropped (counted) | lost unseen | twice | longest `log` | `close` | promise |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} ms | {} ms | {} |",
            r.driver,
            r.mode,
            r.scenario.label(),
            r.sent,
            r.unique,
            r.stats.dropped,
            r.unseen(),
            r.dups(),
            r.longest.as_millis(),
            r.close.as_millis(),
            if r.failures.is_empty() {
                "kept".to_owned()
            } else {
                r.failures.join("; ")
            },
        );
    }
    out
}

#[test]
#[ignore = "needs nats-server, node with @fluent-org/logger, rsyslog, examples/zmq_hub and tests/otlp/receiver.py: run by tests/fault_matrix_e2e.sh"]
fn every_network_driver_keeps_its_promises_under_every_fault() {
    count_panics();
    let only = std::env::var("FAULT_MATRIX_ONLY").ok();
    let mut rows = Vec::new();
    for driver in DRIVERS {
        if only
            .as_deref()
            .is_some_and(|o| !driver.label.starts_with(o))
        {
            continue;
        }
        for blocking in [true, false] {
            for scenario in SCENARIOS {
                let row = run(driver, blocking, scenario);
                eprintln!(
                    "fault matrix: {} {} {:?}: sent {} received {} dropped {} unseen {} twice {} log {:?} close {:?} {:?}",
                    row.driver, row.mode, scenario, row.sent, row.unique, row.stats.dropped,
                    row.unseen(), row.dups(), row.longest, row.close, row.failures
                );
                rows.push(row);
            }
        }
    }
    let table = table(&rows);
    println!("{table}");
    if let Ok(path) = std::env::var("FAULT_MATRIX_TABLE") {
        std::fs::write(path, &table).unwrap();
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.failures.is_empty()).collect();
    assert!(failed.is_empty(), "promises broken:\n{table}");
}
