//! Prints a log file as its driver reads it back: each stdout line to
//! stdout, each stderr line to stderr, byte for byte as the container
//! wrote them.
//!
//! ```text
//! cargo run --example read_log -- json-file /var/lib/logdriver/containerd/default/web.log --tail 10
//! cargo run --example read_log -- k8s-file /var/log/pods/default_web_0/web/0.log
//! cargo run --example read_log -- local /var/lib/docker/containers/<id>/local-logs/container.log
//! cargo run --example read_log -- journald <full container id> --tail 10
//! ```
//!
//! For `journald` the second argument is the container's full id, whose
//! entries `journalctl` finds in the journal.

use std::io::Write;

use logdriver::{drivers, ReadConfig, Source};

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: read_log DRIVER PATH|ID [--tail N]";
    let (Some(driver), Some(path)) = (args.next(), args.next()) else {
        return Err(usage.into());
    };
    let mut config = ReadConfig::default();
    match (args.next().as_deref(), args.next()) {
        (None, _) => {}
        (Some("--tail"), Some(n)) => config.tail = Some(n.parse()?),
        _ => return Err(usage.into()),
    }
    let entries = match driver.as_str() {
        "json-file" => Box::new(drivers::jsonfile::read_logs(&path, &config)?)
            as Box<dyn Iterator<Item = logdriver::Result<logdriver::Message>>>,
        "k8s-file" => Box::new(drivers::k8sfile::read_logs(&path, &config)?),
        "local" => Box::new(drivers::local::read_logs(&path, &config)?),
        #[cfg(all(feature = "journald", target_os = "linux"))]
        "journald" => Box::new(drivers::journald::read_logs(&path, &config)?),
        other => {
            let known = "json-file, k8s-file, local and journald";
            return Err(format!("read_log reads {known} logs, not {other:?}").into());
        }
    };
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr().lock());
    let mut corrupt = 0;
    for entry in entries {
        let msg = match entry {
            Ok(msg) => msg,
            Err(err) => {
                eprintln!("read_log: {err}");
                corrupt += 1;
                continue;
            }
        };
        let out: &mut dyn Write = match msg.source {
            Source::Stdout => &mut stdout,
            Source::Stderr => &mut stderr,
        };
        out.write_all(&msg.line)?;
        if msg.ends_line() {
            out.write_all(b"\n")?;
        }
    }
    stdout.flush()?;
    if corrupt > 0 {
        return Err(format!("{corrupt} corrupt entries skipped").into());
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
