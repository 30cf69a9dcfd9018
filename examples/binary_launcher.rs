//! A container runtime's side of `binary://`: starts a binary logger as
//! containerd's shim does, runs a command with its stdout and stderr going
//! to the logger, then stops the logger, bounded, and reports how.
//!
//! ```sh
//! cargo build --example containerd_logger --example binary_launcher
//! target/debug/examples/binary_launcher \
//!     "binary://$PWD/target/debug/examples/containerd_logger?driver=json-file&log-dir=/tmp/ctr" \
//!     -- sh -c 'echo hello; echo oops >&2'
//! ```
//!
//! `LOGGER_ID` (default `launched-<pid>`) and `LOGGER_NAMESPACE` (default
//! `default`) name the container for the logger.

use std::process::{Command, ExitCode, Stdio};

use logdriver::containerd::Launcher;

fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let uri = args
        .next()
        .ok_or("usage: binary_launcher URI -- COMMAND [ARG]...")?;
    if args.next().as_deref() != Some("--") {
        return Err("usage: binary_launcher URI -- COMMAND [ARG]...".into());
    }
    let program = args.next().ok_or("no command after --")?;
    let id =
        std::env::var("LOGGER_ID").unwrap_or_else(|_| format!("launched-{}", std::process::id()));
    let namespace = std::env::var("LOGGER_NAMESPACE").unwrap_or_else(|_| "default".into());

    let mut logger = Launcher::new(&uri)?.launch(&id, &namespace)?;
    let (stdout, stderr) = logger.take_stdio().expect("not taken yet");
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .status()?;
    // The command's copies of the pipes closed as it exited; ours went to it.
    let stopped = logger.stop()?;
    eprintln!(
        "binary_launcher: the command {status}; the logger {} ({:?})",
        stopped.status, stopped.by
    );
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
