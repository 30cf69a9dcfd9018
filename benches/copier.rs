//! The Copier against two baselines, on the same OS pipes in the same run:
//!
//! - `read_until`: a plain `BufRead::read_until` loop that only counts lines;
//! - `per_line_copy`: Docker's per-line work: a clock read, a copy of the
//!   line into a new `Vec`, and a call through `dyn`.
//!
//! Each iteration of `copier` writes 8 MiB of lines into each of two pipes
//! (stdout and stderr) and reads both to the end; `copier_line_writes`
//! does the same with one `write` per line, as a program whose stdout is
//! unbuffered or line-buffered does, so that each read finds a few lines
//! rather than a full pipe. On a small machine the
//! pipes and writer threads dominate; `copier_in_memory` reads 16 MiB of
//! 100-byte and of 64 KiB lines from memory on one thread, to show the
//! per-line cost (for 64 KiB lines, that of their four 16 KiB chunks).
//! Each pipe benchmark also prints the CPU time it took per line, all
//! threads together (writers included), which the waiting does not blur.

use std::io::{self, BufRead, BufReader, PipeReader};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logdriver::{Copier, Source};

mod common;
use common::{copy_both, feed, lines_of, Count, CpuTally};

/// Docker's message: an owned copy of the line.
struct OwnedMessage {
    line: Vec<u8>,
    source: Source,
    _timestamp: SystemTime,
}

trait OwnedLogger: Send + Sync {
    fn log(&self, msg: OwnedMessage);
}

impl OwnedLogger for Count {
    fn log(&self, msg: OwnedMessage) {
        self.add(msg.source);
        std::hint::black_box(&msg.line);
    }
}

fn read_until_loop(reader: PipeReader) -> u64 {
    let mut reader = BufReader::with_capacity(64 << 10, reader);
    let mut line = Vec::with_capacity(256);
    let mut lines = 0;
    while reader.read_until(b'\n', &mut line).unwrap() > 0 {
        lines += 1;
        line.clear();
    }
    lines
}

fn per_line_copy_loop(reader: PipeReader, source: Source, dst: &dyn OwnedLogger) {
    let mut reader = BufReader::with_capacity(64 << 10, reader);
    let mut line = Vec::with_capacity(256);
    while reader.read_until(b'\n', &mut line).unwrap() > 0 {
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        dst.log(OwnedMessage {
            line: text.to_vec(),
            source,
            _timestamp: SystemTime::now(),
        });
        line.clear();
    }
}

/// Starts writers of `data`, whose lines are the given number of bytes
/// long, into two new pipes.
type Feed = fn(&Arc<Vec<u8>>, usize) -> [PipeReader; 2];

fn copier(c: &mut Criterion) {
    pipes(c, "copier", &[100, 1024, 64 << 10], |data, _| feed(data));
    pipes(
        c,
        "copier_line_writes",
        &[100, 1024],
        common::feed_line_writes,
    );
}

/// The Copier and the baselines on two pipes that `feed` writes.
fn pipes(c: &mut Criterion, name: &str, line_lens: &[usize], feed: Feed) {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    for &line_len in line_lens {
        let data = Arc::new(lines_of(line_len));
        let lines = 2 * (data.len() / line_len) as u64;
        group.throughput(Throughput::Elements(lines));
        let feed = |data: &Arc<Vec<u8>>| feed(data, line_len);

        let mut copier = CpuTally::default();
        group.bench_with_input(BenchmarkId::new("copier", line_len), &data, |b, data| {
            b.iter_custom(|iters| {
                copier.run(iters, lines, || {
                    let stats = copy_both(Arc::new(Count::default()), feed(data));
                    // 64 KiB lines go out as 16 KiB chunks: count input bytes.
                    assert_eq!(stats.bytes, 2 * data.len() as u64);
                })
            })
        });
        let case = format!("{name}/copier/{line_len}");
        copier.report(&case);

        let mut read_until = CpuTally::default();
        group.bench_with_input(
            BenchmarkId::new("read_until", line_len),
            &data,
            |b, data| {
                b.iter_custom(|iters| {
                    read_until.run(iters, lines, || {
                        let [out, err] = feed(data);
                        let other = thread::spawn(move || read_until_loop(err));
                        let n = read_until_loop(out) + other.join().unwrap();
                        assert_eq!(n, lines);
                    })
                })
            },
        );
        read_until.report(&format!("{name}/read_until/{line_len}"));

        let mut per_line_copy = CpuTally::default();
        group.bench_with_input(
            BenchmarkId::new("per_line_copy", line_len),
            &data,
            |b, data| {
                b.iter_custom(|iters| {
                    per_line_copy.run(iters, lines, || {
                        let [out, err] = feed(data);
                        let count = Arc::new(Count::default());
                        let dst = Arc::clone(&count);
                        let other =
                            thread::spawn(move || per_line_copy_loop(err, Source::Stderr, &*dst));
                        per_line_copy_loop(out, Source::Stdout, &*count);
                        other.join().unwrap();
                        assert_eq!(count.total(), lines);
                    })
                })
            },
        );
        per_line_copy.report(&format!("{name}/per_line_copy/{line_len}"));

        copier.compare(&case, &per_line_copy, "per_line_copy");
        copier.compare(&case, &read_until, "read_until");
    }
    group.finish();
}

/// Serves `pattern` over and over, `total` bytes in all: an input with no
/// pipe and no writer thread, to show the per-line cost alone.
struct Repeat {
    pattern: Arc<Vec<u8>>,
    pos: usize,
    left: usize,
}

impl io::Read for Repeat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left).min(self.pattern.len() - self.pos);
        buf[..n].copy_from_slice(&self.pattern[self.pos..self.pos + n]);
        self.pos = (self.pos + n) % self.pattern.len();
        self.left -= n;
        Ok(n)
    }
}

fn copier_in_memory(c: &mut Criterion) {
    let mut group = c.benchmark_group("copier_in_memory");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    for line_len in [100, 64 << 10] {
        in_memory_at(&mut group, line_len);
    }
    group.finish();
}

/// The Copier and the baselines on 16 MiB of `line_len`-byte lines, read
/// from memory on one thread.
fn in_memory_at(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    line_len: usize,
) {
    let whole_lines = (1 << 20) / line_len * line_len;
    let pattern = Arc::new(lines_of(line_len)[..whole_lines].to_vec());
    let total = 16 * whole_lines;
    let lines = (total / line_len) as u64;
    let msgs = common::messages(lines, line_len);
    let input = || Repeat {
        pattern: Arc::clone(&pattern),
        pos: 0,
        left: total,
    };
    group.throughput(Throughput::Elements(lines));

    group.bench_function(BenchmarkId::new("copier", line_len), |b| {
        b.iter(|| {
            let stats = Copier::new(Arc::new(Count::default()))
                .source(Source::Stdout, input())
                .run()
                .unwrap()
                .wait();
            assert_eq!(stats.lines, msgs);
        })
    });
    group.bench_function(BenchmarkId::new("read_until", line_len), |b| {
        b.iter(|| {
            let mut reader = BufReader::with_capacity(64 << 10, input());
            let mut line = Vec::with_capacity(256);
            let mut n = 0;
            while reader.read_until(b'\n', &mut line).unwrap() > 0 {
                n += 1;
                line.clear();
            }
            assert_eq!(n, lines);
        })
    });
    group.bench_function(BenchmarkId::new("per_line_copy", line_len), |b| {
        b.iter(|| {
            let count = Count::default();
            let mut reader = BufReader::with_capacity(64 << 10, input());
            let mut line = Vec::with_capacity(256);
            while reader.read_until(b'\n', &mut line).unwrap() > 0 {
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let dst: &dyn OwnedLogger = &count;
                dst.log(OwnedMessage {
                    line: text.to_vec(),
                    source: Source::Stdout,
                    _timestamp: SystemTime::now(),
                });
                line.clear();
            }
            assert_eq!(count.total(), lines);
        })
    });
}

criterion_group!(benches, copier, copier_in_memory);
criterion_main!(benches);
