//! A tokio program that runs a child and logs its stdout and stderr into
//! `k8s-file` with [`copy_async`], on its own runtime.
//!
//! ```text
//! cargo run --features tokio --example async_child -- [LOG_PATH]
//! ```

use std::process::Stdio;

use logdriver::{copy_async, registry, Info, Source};

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("logdriver-async-child/0.log"));
    std::fs::create_dir_all(path.parent().unwrap())?;
    let info = Info {
        log_path: Some(path.clone()),
        ..Info::new("a7317399f3f857173c6179d44823594f8294678dea9999662e5c625b5a1c7657")
    };
    let logger = registry().create("k8s-file", &info)?;

    let mut child = tokio::process::Command::new("sh")
        .args(["-c", "echo hello; echo oops >&2; seq 3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    // Each stream is a task on this runtime; the driver runs on its
    // blocking pool, so a slow one never stalls the runtime.
    let out = tokio::spawn(copy_async(stdout, Source::Stdout, logger.clone()));
    let err = tokio::spawn(copy_async(stderr, Source::Stderr, logger.clone()));
    let (out, err) = (out.await?, err.await?);
    child.wait().await?;
    // `close` may wait (a network driver's linger): off the runtime.
    let closing = logger.clone();
    tokio::task::spawn_blocking(move || closing.close()).await??;

    println!("{} lines from stdout, {} from stderr", out.lines, err.lines);
    print!("{}", std::fs::read_to_string(&path)?);
    Ok(())
}

/// Runs the example; an error is shown as its message, not its `Debug`.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
