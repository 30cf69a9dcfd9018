//! A driver of your own: written, registered by name, and fed by a Copier
//! from a child process.
//!
//! ```text
//! cargo run --example custom_logger
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use logdriver::{registry, Copier, Error, Info, Logger, Message, Result, Source};

/// Writes `<tag> <stream>| <line>` to standard output.
struct Console {
    tag: String,
    out: Mutex<std::io::Stdout>,
}

const NAME: &str = "console";

impl Console {
    fn new(info: &Info) -> Result<Console> {
        Ok(Console {
            tag: info.tag(NAME)?,
            out: Mutex::new(std::io::stdout()),
        })
    }

    fn validate(opts: &HashMap<String, String>) -> Result<()> {
        logdriver::reject_unknown_options(NAME, opts, &[logdriver::options::TAG])
    }
}

impl Logger for Console {
    fn log(&self, msg: Message) -> Result<()> {
        // Both streams' threads call `log`: one line at a time. A line
        // that panicked half-written leaves nothing to repair.
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let line = String::from_utf8_lossy(&msg.line);
        writeln!(out, "{} {}| {line}", self.tag, msg.source).map_err(|e| Error::driver(NAME, e))
    }

    fn name(&self) -> &str {
        NAME
    }

    fn close(&self) -> Result<()> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        out.flush().map_err(|e| Error::driver(NAME, e))
    }
}

fn run() -> std::result::Result<(), Box<dyn std::error::Error>> {
    registry().register_driver(NAME, Console::new)?;
    registry().register_validator(NAME, Console::validate)?;

    // What a runtime knows about the container, and its `--log-opt`s.
    let info = Info {
        container_id: "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99".into(),
        container_name: "/demo".into(),
        config: [("tag".to_string(), "{{.Name}}/{{.ID}}".to_string())].into(),
        ..Default::default()
    };
    let logger = registry().create(NAME, &info)?;

    let mut child = Command::new("sh")
        .args([
            "-c",
            "for i in 1 2 3; do echo \"tick $i\"; echo \"warn $i\" >&2; done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let copier = Copier::new(logger.clone())
        .source(Source::Stdout, child.stdout.take().expect("piped"))
        .source(Source::Stderr, child.stderr.take().expect("piped"))
        .run()?;
    let status = child.wait()?;
    let stats = copier.wait();
    logger.close()?;

    println!(
        "child {status}; {} lines, {} bytes, {} errors",
        stats.lines, stats.bytes, stats.log_errors
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
