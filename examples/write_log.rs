//! Runs a command and writes its stdout and stderr through a Copier into
//! any registered driver, with the log path and options given here: the
//! writing half of a runtime, for trying drivers by hand.
//!
//! ```text
//! cargo run --example write_log -- DRIVER PATH [KEY=VALUE]... -- COMMAND [ARG]...
//! cargo run --example write_log -- k8s-file /tmp/0.log max-size=10m -- ls -l /
//! ```
//!
//! Exits with the command's status; a line the driver could not take is
//! reported on stderr and makes the exit status 1. With `WRITE_LOG_STATS`
//! set to a path, the driver's counts ([`LoggerStats`]) are written there
//! as JSON once it has closed, for scripts that check them. The container's
//! id is `write-log`, or `WRITE_LOG_ID` when that is set.
//!
//! [`LoggerStats`]: logdriver::LoggerStats

use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;

use logdriver::{registry, Copier, Info, Source};

fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: write_log DRIVER PATH [KEY=VALUE]... -- COMMAND [ARG]...";
    let split = args.iter().position(|a| a == "--").ok_or(usage)?;
    let (ours, command) = (&args[..split], &args[split + 1..]);
    let [driver, path, options @ ..] = ours else {
        return Err(usage.into());
    };
    let (program, program_args) = command.split_first().ok_or(usage)?;

    // A runtime makes the container's folder; so does this example.
    if let Some(folder) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(folder)?;
    }
    let id = std::env::var("WRITE_LOG_ID").unwrap_or_else(|_| "write-log".into());
    let mut info = Info::new(id).with_log_path(path);
    for option in options {
        let (key, value) = option.split_once('=').ok_or(usage)?;
        info = info.with_option(key, value);
    }
    let logger = registry().create(driver, &info)?;

    let mut child = Command::new(program)
        .args(program_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stats = Copier::new(Arc::clone(&logger))
        .source(Source::Stdout, child.stdout.take().expect("piped"))
        .source(Source::Stderr, child.stderr.take().expect("piped"))
        .run()?
        .wait();
    let status = child.wait()?;
    let closed = logger.close();
    if let Ok(path) = std::env::var("WRITE_LOG_STATS") {
        let s = logger.stats();
        let json = format!(
            "{{\"lines\":{},\"bytes\":{},\"dropped\":{},\"errors\":{},\"truncated\":{},\"resent\":{}}}\n",
            s.lines, s.bytes, s.dropped, s.errors, s.truncated, s.resent
        );
        std::fs::write(path, json)?;
    }
    closed?;
    if stats.log_errors > 0 || stats.read_errors > 0 {
        eprintln!("write_log: {stats:?}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}

/// Runs the example; an error is shown as its message, not its `Debug`.
fn main() -> ExitCode {
    run().unwrap_or_else(|err| {
        eprintln!("error: {err}");
        ExitCode::FAILURE
    })
}
