//! The whole pipeline: a child process's stdout and stderr, pumped line by
//! line through a Copier into the `zmq` driver, published to a log hub.
//!
//! ```text
//! cargo run --example quickstart              # a built-in demo child
//! cargo run --example quickstart -- ls -l /   # any command
//! ```
//!
//! The hub runs in this process: a SUB socket bound on a free loopback
//! port, as hubs for the original Go driver are written. The driver is
//! created by name from the process-wide registry, with its options given
//! the way `--log-opt` gives them.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use logdriver::{registry, zmq, Copier, Info, Source};

/// The demo child: this same program, run with this argument.
const DEMO_ARG: &str = "--demo-child";

fn demo_child() {
    for i in 1..=5 {
        println!("GET /orders/{i} 200 {}ms", 3 * i);
        if i % 2 == 0 {
            eprintln!("warn: slow query on order {i}");
        }
    }
    println!(
        "{}",
        "a very long line, cut into 16 KiB chunks: ".repeat(400)
    );
}

/// Prints what arrives until it has `expected` lines (sent by `main` once
/// it knows), or until the hub has been quiet for two seconds after that.
fn run_hub(hub: zmq::Socket, expected: Receiver<u64>) -> u64 {
    let mut received = 0;
    let mut expect = None;
    loop {
        if expect.is_some_and(|n| received >= n) {
            return received;
        }
        match hub.poll(zmq::POLLIN, 100) {
            Ok(1) => {
                let frames = hub.recv_multipart(0).expect("hub receives");
                let [tenant, service, line] = &frames[..] else {
                    continue;
                };
                let line = String::from_utf8_lossy(line);
                let shown: String = line.chars().take(100).collect();
                let more = if line.len() > shown.len() { "…" } else { "" };
                println!(
                    "hub <- [{}/{}] {shown}{more}",
                    String::from_utf8_lossy(tenant),
                    String::from_utf8_lossy(service),
                );
                received += 1;
            }
            _ => match expected.recv_timeout(Duration::ZERO) {
                Ok(n) => expect = Some(n),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return received,
            },
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(DEMO_ARG) {
        demo_child();
        return Ok(());
    }

    // The hub: a SUB bound on a free loopback port, subscribed to everything.
    let context = zmq::Context::new();
    let hub = context.socket(zmq::SUB)?;
    hub.bind("tcp://127.0.0.1:*")?;
    hub.set_subscribe(b"")?;
    let address = hub
        .get_last_endpoint()?
        .map_err(|_| "endpoint is not UTF-8")?;
    let (expected_tx, expected_rx) = sync_channel(1);
    let hub = thread::spawn(move || run_hub(hub, expected_rx));

    // The container, as a runtime describes it, with its --log-opt options.
    let info = Info {
        container_id: "c0ffee00c0ffee00c0ffee00".into(),
        container_name: "/quickstart".into(),
        container_env: vec!["TENANT_ID=acme".into(), "SERVICE_ID=orders".into()],
        config: HashMap::from([("zmq-address".to_string(), address.clone())]),
        ..Default::default()
    };
    let logger = registry().create("zmq", &info)?;
    println!("driver {:?} publishing to {address}", logger.name());

    let mut command = match args.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest);
            c
        }
        None => {
            let mut c = Command::new(std::env::current_exe()?);
            c.arg(DEMO_ARG);
            c
        }
    };
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    let copier = Copier::new(logger.clone())
        .source(Source::Stdout, child.stdout.take().expect("piped"))
        .source(Source::Stderr, child.stderr.take().expect("piped"))
        .run()?;
    let status = child.wait()?;
    let stats = copier.wait();
    logger.close()?;

    let delivered = stats.lines - stats.log_errors;
    expected_tx.send(delivered)?;
    let received = hub.join().expect("hub thread");
    println!(
        "child {status}; lines sent {}, received {received}, dropped {}",
        stats.lines, stats.log_errors
    );
    if received != delivered {
        return Err(format!("the hub received {received} of {delivered} lines").into());
    }
    Ok(())
}

/// Runs the example; an error is shown as its message, not its `Debug`.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
