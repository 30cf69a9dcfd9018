//! Helpers shared by the benchmarks.
#![allow(dead_code)] // each benchmark uses its own subset

use std::io::{self, PipeReader, PipeWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeVal;

use logdriver::{Copier, CopyStats, Logger, Message, Result, Source};

/// Bytes written into each pipe per iteration.
pub const BYTES_PER_SOURCE: usize = 8 << 20;

/// One counter per source, on its own cache line, so that the two copying
/// threads do not share one; with the count it rings the bell at.
#[derive(Default)]
#[repr(align(128))]
pub struct Padded {
    count: AtomicU64,
    ring_at: AtomicU64,
}

/// Counts lines per source and does nothing else, but rings a bell when a
/// source's count reaches the one [`Count::wait`] waits for: a waiter
/// that polls would take a core's turns from the threads it times.
#[derive(Default)]
pub struct Count {
    sources: [Padded; 2],
    bell: (parking_lot::Mutex<()>, parking_lot::Condvar),
}

impl Count {
    pub fn add(&self, source: Source) {
        let counter = &self.sources[source as usize];
        let n = counter.count.fetch_add(1, Ordering::Relaxed) + 1;
        if n == counter.ring_at.load(Ordering::Relaxed) {
            let _held = self.bell.0.lock();
            self.bell.1.notify_all();
        }
    }

    pub fn total(&self) -> u64 {
        self.sources
            .iter()
            .map(|c| c.count.load(Ordering::Relaxed))
            .sum()
    }

    /// Waits until `done()` holds, woken as each source's count reaches
    /// `per_source`, and every millisecond to look again (a buffer that
    /// drops lines never lets the count get there). Panics after a
    /// minute, so that messages that never arrive fail the benchmark
    /// rather than hang it.
    pub fn wait(&self, per_source: u64, mut done: impl FnMut() -> bool) {
        for counter in &self.sources {
            counter.ring_at.store(per_source, Ordering::Relaxed);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        // `done` is looked at under the bell's lock, and the bell is rung
        // under it: a ring cannot fall between the look and the wait.
        let mut held = self.bell.0.lock();
        while !done() {
            assert!(
                Instant::now() < deadline,
                "the driver never got every message"
            );
            self.bell.1.wait_for(&mut held, Duration::from_millis(1));
        }
    }
}

impl Logger for Count {
    fn log(&self, msg: Message) -> Result<()> {
        self.add(msg.source);
        Ok(())
    }
    fn name(&self) -> &str {
        "count"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// How many messages `lines` lines of `line_len` bytes (newline included)
/// make with the default 16 KiB chunks: a line of 16 KiB or more is
/// several.
pub fn messages(lines: u64, line_len: usize) -> u64 {
    lines * ((line_len as u64 - 1) / (16 << 10) + 1)
}

/// `BYTES_PER_SOURCE` bytes of `line_len`-byte lines, newlines included.
pub fn lines_of(line_len: usize) -> Vec<u8> {
    let mut line = vec![b'x'; line_len];
    line[line_len - 1] = b'\n';
    line.repeat(BYTES_PER_SOURCE / line_len)
}

/// Two OS pipes, each fed `data` by a writer thread of its own.
pub fn feed(data: &Arc<Vec<u8>>) -> [PipeReader; 2] {
    spawn_writers(data, |writer, data| writer.write_all(data).unwrap())
}

/// Like [`feed`], but each writer makes one `write` per `line_len`-byte
/// line, as a program does whose stdout is unbuffered (Go's `os.Stdout`)
/// or line-buffered (Rust's `println!`): the reader finds a line or a few
/// in the pipe, not 64 KiB.
pub fn feed_line_writes(data: &Arc<Vec<u8>>, line_len: usize) -> [PipeReader; 2] {
    spawn_writers(data, move |writer, data| {
        write_in_pieces(writer, data, line_len)
    })
}

/// Writes `data` into `writer`, at most `piece` bytes per `write` call.
fn write_in_pieces(writer: &mut PipeWriter, data: &[u8], piece: usize) {
    for piece in data.chunks(piece) {
        writer.write_all(piece).unwrap();
    }
}

/// Two OS pipes, each with a writer thread that runs `write` with `data`.
fn spawn_writers(
    data: &Arc<Vec<u8>>,
    write: impl Fn(&mut PipeWriter, &[u8]) + Copy + Send + 'static,
) -> [PipeReader; 2] {
    [0, 1].map(|_| {
        let (reader, mut writer) = io::pipe().unwrap();
        let data = Arc::clone(data);
        thread::spawn(move || write(&mut writer, &data));
        reader
    })
}

/// A container's two streams for its whole life: one Copier reads both
/// pipes into its driver from the start, and each [`burst`](Streams::burst)
/// has a writer thread per pipe write the same bytes once more, at most
/// `write` bytes per `write` call (`usize::MAX`: all at once). Buffers
/// the Copier keeps for reuse live as long as in a real container, not
/// one burst. Dropping it closes the pipes: the Copier ends on its own.
pub struct Streams {
    go: Vec<crossbeam_channel::Sender<()>>,
    written: crossbeam_channel::Receiver<()>,
    _copier: logdriver::CopierHandle,
}

impl Streams {
    /// Starts the writers and a Copier of both pipes into `dst`.
    pub fn start(dst: Arc<dyn Logger>, data: &Arc<Vec<u8>>, write: usize) -> Streams {
        let (done, written) = crossbeam_channel::unbounded();
        let mut go = Vec::new();
        let pipes = [0, 1].map(|_| {
            let (reader, mut writer) = io::pipe().unwrap();
            let (tx, rx) = crossbeam_channel::unbounded::<()>();
            let (data, done) = (Arc::clone(data), done.clone());
            thread::spawn(move || {
                for () in rx {
                    write_in_pieces(&mut writer, &data, write);
                    done.send(()).unwrap();
                }
            });
            go.push(tx);
            reader
        });
        let [out, err] = pipes;
        let copier = Copier::new(dst)
            .source(Source::Stdout, out)
            .source(Source::Stderr, err)
            .run()
            .unwrap();
        Streams {
            go,
            written,
            _copier: copier,
        }
    }

    /// Writes the bytes into both pipes once more; returns when both are
    /// written (the Copier may not have read them all yet).
    pub fn burst(&self) {
        for go in &self.go {
            go.send(()).unwrap();
        }
        for _ in &self.go {
            self.written.recv().unwrap();
        }
    }
}

/// Copies the two pipes of [`feed`] into `dst`, as stdout and stderr, to
/// their ends.
pub fn copy_both(dst: Arc<dyn Logger>, [out, err]: [PipeReader; 2]) -> CopyStats {
    Copier::new(dst)
        .source(Source::Stdout, out)
        .source(Source::Stderr, err)
        .run()
        .unwrap()
        .wait()
}

/// The CPU time (user and system) the process has used so far, on all its
/// threads, those that have ended included.
pub fn cpu_time() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage(RUSAGE_SELF)");
    let time =
        |t: TimeVal| Duration::from_micros(t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64);
    time(usage.user_time()) + time(usage.system_time())
}

/// Adds up the CPU time that a benchmark's iterations take, beside the wall
/// time criterion measures: on a small machine, threads wait on pipes and on
/// each other, and the CPU time per line shows what each variant costs.
#[derive(Default)]
pub struct CpuTally {
    cpu: Duration,
    wall: Duration,
    lines: u64,
}

impl CpuTally {
    /// Runs `iteration` `iters` times, tallies the CPU time of `lines`
    /// lines per iteration, and returns the wall time, for `iter_custom`.
    pub fn run(&mut self, iters: u64, lines: u64, mut iteration: impl FnMut()) -> Duration {
        let (cpu, wall) = (cpu_time(), Instant::now());
        for _ in 0..iters {
            iteration();
        }
        let wall = wall.elapsed();
        self.cpu += cpu_time() - cpu;
        self.wall += wall;
        self.lines += iters * lines;
        wall
    }

    /// Prints how `self` compares with `base`, which ran in the same
    /// process: lines per second (wall time, every iteration criterion ran,
    /// warm-up included) and CPU time per line. Nothing if either did not
    /// run.
    pub fn compare(&self, name: &str, base: &CpuTally, base_name: &str) {
        if self.lines == 0 || base.lines == 0 {
            return;
        }
        let speed = base.per_line(base.wall) / self.per_line(self.wall);
        let cpu = self.per_line(self.cpu) / base.per_line(base.cpu);
        eprintln!("{name}: {speed:.2}x the lines/s of {base_name}, at {cpu:.2}x its CPU per line");
    }

    /// Prints the CPU time per line, all threads together, if the
    /// benchmark ran (a filter may have skipped it).
    pub fn report(&self, name: &str) {
        if self.lines == 0 {
            return;
        }
        let per_line = self.per_line(self.cpu) * 1e9;
        eprintln!("{name}: {per_line:.1} ns of CPU per line (all threads)");
    }

    /// `total`, a time tallied here, in seconds per line.
    fn per_line(&self, total: Duration) -> f64 {
        total.as_secs_f64() / self.lines.max(1) as f64
    }
}

/// Like [`feed`], but each writer paces itself to `bytes_per_sec`, in
/// 64 KiB writes: a container that logs fast, but not as fast as it can.
pub fn feed_paced(data: &Arc<Vec<u8>>, bytes_per_sec: u64) -> [PipeReader; 2] {
    spawn_writers(data, move |writer, data| {
        let start = Instant::now();
        let mut sent = 0u64;
        for chunk in data.chunks(64 << 10) {
            writer.write_all(chunk).unwrap();
            sent += chunk.len() as u64;
            let due = Duration::from_nanos(sent * 1_000_000_000 / bytes_per_sec);
            if let Some(early) = due.checked_sub(start.elapsed()) {
                thread::sleep(early);
            }
        }
    })
}

/// The file drivers' baseline: `path` made anew, then `record` appended
/// `n` times, one `write` each.
pub fn write_records(path: &std::path::Path, record: &[u8], n: usize) {
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    for _ in 0..n {
        file.write_all(record).unwrap();
    }
}

/// A TCP server on a loopback port that takes connections and throws
/// away what they send; returns its port.
pub fn tcp_sink() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while matches!(io::Read::read(&mut conn, &mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    port
}
