//! A noisy child behind `rate-limit-lines`: as many lines as it can write
//! for 3 s, of which the json-file driver gets 1,000 a second, and a
//! notice each second of what was suppressed.
//!
//! ```text
//! cargo run --release --example rate_limit
//! cargo run --release --example rate_limit -- 5000 sh -c 'yes | head -n 1000000'
//! ```
//!
//! Prints what the Copier read, what reached the file, what the limit
//! suppressed, and the notices as the file holds them.

use std::process::{Command, Stdio};

use logdriver::{registry, Copier, Info, Source};

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rate = args.next().unwrap_or_else(|| "1000".into());
    let command: Vec<String> = args.collect();
    let (program, rest) = command
        .split_first()
        .map(|(p, r)| (p.clone(), r.to_vec()))
        .unwrap_or_else(|| {
            (
                "timeout".into(),
                vec!["3".into(), "yes".into(), "noisy".into()],
            )
        });

    let path = std::env::temp_dir().join(format!("rate-limit-example-{}.log", std::process::id()));
    let info = Info::new("noisy")
        .with_log_path(&path)
        .with_option("rate-limit-lines", &rate);
    let logger = registry().create("json-file", &info)?;

    let mut child = Command::new(program)
        .args(rest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let copied = Copier::new(logger.clone())
        .source(Source::Stdout, child.stdout.take().expect("piped"))
        .source(Source::Stderr, child.stderr.take().expect("piped"))
        .run()?
        .wait();
    child.wait()?;
    logger.close()?;

    let stats = logger.stats();
    let text = std::fs::read_to_string(&path)?;
    let notices: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("logdriver rate-limit: "))
        .collect();
    println!(
        "read {} lines; the file got {} ({} of them notices); the limit of {rate}/s suppressed {} lines, {} bytes",
        copied.lines,
        stats.lines,
        notices.len(),
        stats.suppressed,
        stats.suppressed_bytes
    );
    for notice in notices {
        println!("  {notice}");
    }
    std::fs::remove_file(&path)?;
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("rate_limit: {e}");
        std::process::exit(1);
    }
}
