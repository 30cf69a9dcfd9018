//! Many containers on one [`Pump`]: what it costs, beside the threaded
//! Copier, in one run.
//!
//! ```text
//! cargo run --release --features pump --example pump_density -- [IDLE] [BUSY]
//! ```
//!
//! - IDLE containers (default 9,000: 18,000 pipes, in a machine that allows
//!   20,000 descriptors) sit on one pump: it reports the process's threads,
//!   its resident memory, and the CPU it uses over 10 s of silence. The
//!   pipes are FIFOs whose write ends a helper process holds (it is this
//!   program again, with `--hold`), so the descriptors fit.
//! - BUSY containers (default 1,000) write 100-byte lines as fast as they
//!   can for 5 s, first into one pump, then into one Copier each: it
//!   reports the lines per second of both.

use std::fs::OpenOptions;
use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logdriver::{drivers::none::NoneLogger, Copier, Logger, Message, Pump, Result, Source};

fn run() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--hold") {
        return hold(Path::new(&args[2]), args[3].parse()?);
    }
    let idle: usize = args.get(1).map_or(Ok(9_000), |a| a.parse())?;
    let busy: usize = args.get(2).map_or(Ok(1_000), |a| a.parse())?;
    idle_containers(idle)?;
    busy_containers(busy)?;
    Ok(())
}

/// A field of `/proc/self/status`, as its number.
fn status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The CPU this process has used, user and system, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn idle_containers(n: usize) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("logdriver-density-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let (threads0, rss0) = (status("Threads:"), status("VmRSS:"));
    let mut readers = Vec::with_capacity(2 * n);
    for i in 0..2 * n {
        let path = dir.join(i.to_string());
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU)?;
        readers.push(
            OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_NONBLOCK)
                .open(&path)?,
        );
    }
    // The helper opens every write end, and holds them until we exit.
    let mut helper = Command::new(std::env::current_exe()?)
        .args(["--hold", &dir.display().to_string(), &(2 * n).to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut ready = String::new();
    std::io::BufReader::new(helper.stdout.take().unwrap()).read_line(&mut ready)?;
    assert_eq!(ready.trim(), "ready", "the helper could not open the FIFOs");

    let pump = Pump::new()?;
    let logger: Arc<dyn Logger> = Arc::new(NoneLogger);
    let mut sources = Vec::with_capacity(2 * n);
    for (i, file) in readers.into_iter().enumerate() {
        let stream = if i % 2 == 0 {
            Source::Stdout
        } else {
            Source::Stderr
        };
        sources.push(pump.add(stream, file.into(), Arc::clone(&logger))?);
    }
    std::thread::sleep(Duration::from_secs(1));
    let cpu = cpu_ticks();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let used = cpu_ticks() - cpu;
    // Linux counts /proc CPU times in USER_HZ, which is 100.
    let ticks = 100.0;
    println!(
        "idle: {n} containers ({} pipes) on one pump: {} threads in the process ({} before), \
         {:.1} MB resident ({:.1} MB before), {:.2} s of CPU over {:.0} s idle",
        2 * n,
        status("Threads:"),
        threads0,
        status("VmRSS:") as f64 / 1024.0,
        rss0 as f64 / 1024.0,
        used as f64 / ticks,
        start.elapsed().as_secs_f64()
    );
    drop(helper.stdin.take());
    helper.wait()?;
    for source in &sources {
        source.wait();
    }
    pump.shutdown();
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The helper: opens `n` FIFOs in `dir` for writing, says so, and holds
/// them until its stdin closes.
fn hold(dir: &Path, n: usize) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut writers = Vec::with_capacity(n);
    for i in 0..n {
        writers.push(
            OpenOptions::new()
                .write(true)
                .open(dir.join(i.to_string()))?,
        );
    }
    println!("ready");
    std::io::stdout().flush()?;
    let mut rest = String::new();
    let _ = std::io::stdin().read_line(&mut rest);
    drop(writers);
    Ok(())
}

/// Counts lines.
struct Count(AtomicU64);

impl Logger for Count {
    fn log(&self, _: Message) -> Result<()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn name(&self) -> &str {
        "count"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// `n` containers writing 100-byte lines for `secs` seconds, from four
/// writer threads, into `start(reader, logger)`; lines per second.
fn drive(n: usize, secs: u64, start: impl Fn(std::io::PipeReader, Arc<dyn Logger>)) -> f64 {
    let count = Arc::new(Count(AtomicU64::new(0)));
    let mut writers = Vec::with_capacity(n);
    for _ in 0..n {
        let (reader, writer) = std::io::pipe().unwrap();
        start(reader, count.clone());
        writers.push(writer);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let block: Vec<u8> = [b"x".repeat(99), b"\n".to_vec()].concat().repeat(40);
    let mut threads = Vec::new();
    let per = n.div_ceil(4);
    let begin = Instant::now();
    while !writers.is_empty() {
        let mine: Vec<_> = writers.drain(..per.min(writers.len())).collect();
        let (stop, block) = (Arc::clone(&stop), block.clone());
        threads.push(std::thread::spawn(move || {
            let mut mine = mine;
            while !stop.load(Ordering::Relaxed) {
                for w in &mut mine {
                    let _ = w.write_all(&block);
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(secs));
    let lines = count.0.load(Ordering::Relaxed);
    let took = begin.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    lines as f64 / took
}

fn busy_containers(n: usize) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let pump = Pump::new()?;
    let sources = std::sync::Mutex::new(Vec::new());
    let pumped = drive(n, 5, |reader, logger| {
        sources
            .lock()
            .unwrap()
            .push(pump.add(Source::Stdout, reader.into(), logger).unwrap());
    });
    for s in sources.into_inner().unwrap() {
        s.wait();
    }
    pump.shutdown();
    let handles = std::sync::Mutex::new(Vec::new());
    let copied = drive(n, 5, |reader, logger| {
        let handle = Copier::new(logger)
            .source(Source::Stdout, reader)
            .run()
            .unwrap();
        handles.lock().unwrap().push(handle);
    });
    for h in handles.into_inner().unwrap() {
        h.wait();
    }
    println!(
        "busy: {n} containers writing 100-byte lines: one pump {:.2} M lines/s, \
         a Copier each ({n} threads) {:.2} M lines/s: {:.2}x",
        pumped / 1e6,
        copied / 1e6,
        pumped / copied
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
