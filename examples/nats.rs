//! A child process's output through a Copier into the `nats` driver, and a
//! consumer that prints what reaches the server, for a server you start:
//!
//! ```text
//! apt-get install nats-server && nats-server -js
//! cargo run --features nats --example nats -- nats://127.0.0.1:4222
//! cargo run --features nats --example nats -- nats://127.0.0.1:4222 ls -l /
//! ```
//!
//! The lines go to the stream `LOGS` (made if missing) on subjects
//! `logs.<TENANT_ID>.<SERVICE_ID>`; here tenant `demo`, service `example`.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use logdriver::{registry, Copier, Info, Source};

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let command: Vec<String> = args.collect();

    // The consumer: a plain subscription to the demo tenant's subjects.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = runtime.block_on(async_nats::connect(url.as_str()))?;
    let mut lines = runtime.block_on(client.subscribe("logs.demo.>"))?;
    runtime.block_on(client.flush())?;

    let info = Info::new("0123456789abcdef")
        .with_option("nats-url", &url)
        .with_env("TENANT_ID", "demo")
        .with_env("SERVICE_ID", "example");
    let logger = registry().create("nats", &info)?;

    let mut child = match command.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest);
            c
        }
        None => {
            let mut c = Command::new("sh");
            c.args([
                "-c",
                "for i in 1 2 3; do echo line $i; echo oops $i >&2; done",
            ]);
            c
        }
    }
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()?;
    let stats = Copier::new(Arc::clone(&logger))
        .source(Source::Stdout, child.stdout.take().expect("piped"))
        .source(Source::Stderr, child.stderr.take().expect("piped"))
        .run()?
        .wait();
    child.wait()?;
    logger.close()?;

    runtime.block_on(async {
        while let Ok(Some(msg)) =
            tokio::time::timeout(Duration::from_millis(500), lines.next()).await
        {
            let headers = msg.headers.unwrap_or_default();
            let seq = headers.get("Log-Seq").map_or("?", |v| v.as_str());
            let source = headers.get("Log-Source").map_or("?", |v| v.as_str());
            println!(
                "[{} #{seq} {source}] {}",
                msg.subject,
                String::from_utf8_lossy(&msg.payload)
            );
        }
    });
    let sent = logger.stats();
    println!(
        "{} lines read, {} acked by the stream, {} dropped",
        stats.lines, sent.lines, sent.dropped
    );
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
