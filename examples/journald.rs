//! Writes a few lines into the local journald through the `journald`
//! driver, then reads them back through the driver's reader (which runs
//! `journalctl`), as `docker logs` does through the plugin.
//!
//! ```text
//! cargo run --example journald
//! ```
//!
//! Needs a running journald (and `journalctl`): without one, the driver's
//! creation fails and says so.

use std::time::{SystemTime, UNIX_EPOCH};

use logdriver::{registry, Info, Logger, Message, ReadConfig, Source};

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // An id of our own, so that the read finds only these lines.
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let mut info = Info::new(format!("{nanos:064x}")).with_option("tag", "journald-example");
    info.container_name = "/example".into();
    let logger = registry().create("journald", &info)?;
    logger.log(Message::new(Source::Stdout, "hello from logdriver"))?;
    logger.log(Message::new(Source::Stderr, &b"not UTF-8: \xff\xfe"[..]))?;
    logger.close()?;
    println!("sent: {:?}", logger.stats());

    // journald writes asynchronously: wait until both entries are there.
    let reader = logger.reader().expect("journald reads back");
    for _ in 0..50 {
        let entries: Vec<_> = reader.read_logs(&ReadConfig::default())?.collect();
        if entries.len() == 2 {
            for msg in entries {
                let msg = msg?;
                println!("{} {:?}", msg.source, String::from_utf8_lossy(&msg.line));
            }
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err("journald did not show both entries within 5 s".into())
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
