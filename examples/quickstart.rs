//! The whole pipeline: a child process's stdout and stderr, pumped line by
//! line through a Copier into a driver created by name.
//!
//! ```text
//! cargo run --example quickstart              # a built-in demo child
//! cargo run --example quickstart -- ls -l /   # any command
//! ```

use std::process::{Command, Stdio};

use logdriver::{registry, Copier, Info, Source};

/// The demo child: this same program, run with this argument.
const DEMO_ARG: &str = "--demo-child";

fn demo_child() {
    for i in 1..=5 {
        println!("request {i} handled");
        eprintln!("warning {i}: cache cold");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(DEMO_ARG) {
        demo_child();
        return Ok(());
    }
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

    let info = Info {
        container_id: "c0ffee00c0ffee00c0ffee00".into(),
        container_name: "/quickstart".into(),
        ..Default::default()
    };
    let logger = registry().create("none", &info)?;

    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let copier = Copier::new(logger.clone())
        .source(Source::Stdout, child.stdout.take().expect("piped"))
        .source(Source::Stderr, child.stderr.take().expect("piped"))
        .run()?;
    child.wait()?;
    let stats = copier.wait();
    logger.close()?;
    println!(
        "copied {} lines ({} bytes) into the {:?} driver; {} errors",
        stats.lines,
        stats.bytes,
        logger.name(),
        stats.log_errors
    );
    Ok(())
}
