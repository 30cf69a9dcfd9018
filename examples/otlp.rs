//! A child process's output through a Copier into the `otlp` driver, for
//! a collector you start, such as rotel (an OpenTelemetry collector in a
//! Python wheel) printing what it gets:
//!
//! ```text
//! pip install rotel
//! rotel-agent start --otlp-http-endpoint 127.0.0.1:4318 --exporter blackhole --debug-log logs &
//! cargo run --features otlp --example otlp -- http://127.0.0.1:4318
//! cargo run --features otlp --example otlp -- http://127.0.0.1:4318 ls -l /
//! ```
//!
//! (`rotel-agent` is in the wheel's `rotel/` folder.) Each line becomes one
//! log record of service `example`; at the end the example prints what the
//! driver counted, and why it dropped what it dropped.

use std::process::{Command, Stdio};
use std::sync::Arc;

use logdriver::drivers::otlp::OtlpLogger;
use logdriver::{Copier, Info, Logger, Source};

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:4318".into());
    let command: Vec<String> = args.collect();

    let info = Info::new("0123456789abcdef")
        .with_option("otlp-endpoint", &endpoint)
        .with_option("otlp-service-name", "example")
        .with_option("otlp-linger", "2s");
    let logger = Arc::new(OtlpLogger::new(&info)?);

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
    let copied = Copier::new(Arc::clone(&logger) as Arc<dyn Logger>)
        .source(Source::Stdout, child.stdout.take().expect("piped"))
        .source(Source::Stderr, child.stderr.take().expect("piped"))
        .run()?
        .wait();
    child.wait()?;
    let closed = logger.close();
    let stats = logger.stats();
    println!(
        "read {} lines; the collector took {} records, {} dropped ({:?})",
        copied.lines,
        stats.lines,
        stats.dropped,
        logger.drops()
    );
    if let Some(why) = logger.last_rejection() {
        println!("the collector last said: {why}");
    }
    closed?;
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("otlp: {e}");
        std::process::exit(1);
    }
}
