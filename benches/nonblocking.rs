//! NonBlocking against calling the driver directly, in the same run:
//!
//! - `log`: one `log` call into a no-op driver, directly or through the
//!   buffer (whose worker forwards to the same driver);
//! - `copier`: the Copier reading 2 OS pipes of 100-byte, 1 KiB and
//!   64 KiB lines (8 MiB each) into a counting no-op driver, in blocking
//!   mode and with `mode=non-blocking`, timed until the driver has every
//!   line; a Copier per iteration, one `NonBlocking` for them all;
//! - `container`: the same, with one Copier for every iteration too, as
//!   one serves a container for its life (each iteration writes 8 MiB more
//!   into the same pipes);
//! - `line_writes`: a container too, whose writers make one `write` per
//!   line, as a program with unbuffered or line-buffered stdout does.
//!
//! Lines the non-blocking buffer dropped are printed at the end of each
//! benchmark: with a driver that keeps up, there should be none.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logdriver::{Logger, Message, NonBlocking, Source};

const DEFAULT_MAX_BUFFER_SIZE: usize = NonBlocking::DEFAULT_MAX_BUFFER_BYTES;

mod common;
use common::{copy_both, feed, Count, CpuTally, Streams};

fn log(c: &mut Criterion) {
    let mut group = c.benchmark_group("nonblocking/log");
    group.throughput(Throughput::Elements(1));
    let line = Bytes::from(vec![b'x'; 100]);

    let direct: Arc<dyn Logger> = Arc::new(Count::default());
    group.bench_function("direct", |b| {
        b.iter(|| {
            direct
                .log(Message::new(Source::Stdout, line.clone()))
                .unwrap()
        })
    });

    let nonblocking = NonBlocking::new(Arc::new(Count::default()), DEFAULT_MAX_BUFFER_SIZE);
    group.bench_function("nonblocking", |b| {
        b.iter(|| {
            nonblocking
                .log(Message::new(Source::Stdout, line.clone()))
                .unwrap()
        })
    });
    nonblocking.close().unwrap();
    eprintln!(
        "nonblocking/log: delivered {}, dropped {} (a tight loop outruns any worker)",
        nonblocking.delivered(),
        nonblocking.dropped()
    );
    group.finish();
}

fn copier(c: &mut Criterion) {
    for life in [Life::Burst, Life::Container, Life::LineWrites] {
        let mut group = c.benchmark_group(format!("nonblocking/{}", life.group()));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(4));
        let line_lens: &[usize] = match life {
            Life::LineWrites => &[100, 1024],
            _ => &[100, 1024, 64 << 10],
        };
        for &line_len in line_lens {
            copier_at(&mut group, life, line_len);
        }
        group.finish();
    }
}

/// Runs one iteration's bytes into the driver (which may not have every
/// message yet when it returns).
type Feeder = Box<dyn FnMut()>;

/// How long a Copier lives: what buffers it keeps for reuse last that
/// long.
#[derive(Clone, Copy)]
enum Life {
    /// A Copier per iteration, to the end of its pipes (the NonBlocking
    /// lives through every iteration).
    Burst,
    /// One Copier for every iteration, as one serves a container for its
    /// life: each iteration writes the bytes once more into the same pipes.
    Container,
    /// As `Container`, with a `write` per line.
    LineWrites,
}

impl Life {
    fn group(self) -> &'static str {
        match self {
            Life::Burst => "copier",
            Life::Container => "container",
            Life::LineWrites => "line_writes",
        }
    }

    /// What runs one iteration's bytes into `dst`.
    fn feeder(self, dst: Arc<dyn Logger>, data: &Arc<Vec<u8>>, line_len: usize) -> Feeder {
        match self {
            Life::Burst => {
                let data = Arc::clone(data);
                Box::new(move || {
                    copy_both(dst.clone(), feed(&data));
                })
            }
            Life::Container => container(dst, data, usize::MAX),
            Life::LineWrites => container(dst, data, line_len),
        }
    }
}

/// A container's streams into `dst`, written `write` bytes per `write`
/// call: each call of the feeder is one more burst of `data`.
fn container(dst: Arc<dyn Logger>, data: &Arc<Vec<u8>>, write: usize) -> Feeder {
    let streams = Streams::start(dst, data, write);
    Box::new(move || streams.burst())
}

/// Blocking and non-blocking mode on the same `line_len`-byte lines, timed
/// until the driver has every message.
fn copier_at(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    life: Life,
    line_len: usize,
) {
    let data = Arc::new(common::lines_of(line_len));
    let lines = 2 * (data.len() / line_len) as u64;
    let msgs = common::messages(lines, line_len);
    group.throughput(Throughput::Elements(lines));
    let prefix = format!("nonblocking/{}", life.group());

    let mut blocking = CpuTally::default();
    {
        let count = Arc::new(Count::default());
        let mut feed = life.feeder(count.clone(), &data, line_len);
        let mut sent = 0;
        group.bench_with_input(BenchmarkId::new("blocking", line_len), &data, |b, _| {
            b.iter_custom(|iters| {
                blocking.run(iters, lines, || {
                    sent += msgs;
                    feed();
                    count.wait(sent / 2, || count.total() == sent);
                })
            })
        });
    }
    blocking.report(&format!("{prefix}/blocking/{line_len}"));

    // Docker's default buffer, one that holds a few milliseconds (a
    // scheduler slice) of this output, and one that holds a whole
    // iteration: the first two show what a burst of 1.5 GB/s on busy cores
    // does to a buffer the worker must wait its turn to drain, the last
    // the cost of the hand-off alone (no drops), which is what longer
    // lines are measured with.
    let buffers: &[(&str, usize)] = match (life, line_len) {
        (Life::Burst, 100) => &[
            ("non-blocking-1MB", DEFAULT_MAX_BUFFER_SIZE),
            ("non-blocking-4MiB", 4 << 20),
            ("non-blocking-64MiB", 64 << 20),
        ],
        _ => &[("non-blocking-64MiB", 64 << 20)],
    };
    for &(label, max) in buffers {
        let count = Arc::new(Count::default());
        let logger = Arc::new(NonBlocking::new(count.clone(), max));
        let mut feed = life.feeder(logger.clone(), &data, line_len);
        let mut sent = 0;
        let mut cpu = CpuTally::default();
        group.bench_with_input(BenchmarkId::new(label, line_len), &data, |b, _| {
            b.iter_custom(|iters| {
                cpu.run(iters, lines, || {
                    sent += msgs;
                    feed();
                    count.wait(sent / 2, || count.total() + logger.dropped() == sent);
                })
            })
        });
        let name = format!("{prefix}/{label}/{line_len}");
        cpu.report(&name);
        cpu.compare(&name, &blocking, "blocking");
        drop(feed);
        logger.close().unwrap();
        assert_eq!(count.total() + logger.dropped(), sent);
        eprintln!("{name}: dropped {} of {sent} messages", logger.dropped());
    }
}

/// Not timed: how many lines Docker's default 1 MB buffer drops when the
/// container logs at the rate Docker's own Copier reaches on this kind of
/// machine (about 700 MB/s of 100-byte lines, both streams together),
/// rather than as fast as two writer threads can.
fn paced(_: &mut Criterion) {
    let data = Arc::new(common::lines_of(100));
    let lines = 2 * (data.len() / 100) as u64;
    let count = Arc::new(Count::default());
    let logger = Arc::new(NonBlocking::new(count.clone(), DEFAULT_MAX_BUFFER_SIZE));
    let rounds = 10;
    for _ in 0..rounds {
        copy_both(logger.clone(), common::feed_paced(&data, 350 << 20));
    }
    logger.close().unwrap();
    assert_eq!(count.total() + logger.dropped(), rounds * lines);
    eprintln!(
        "nonblocking/paced: 1 MB buffer, 2 x 350 MiB/s: dropped {} of {} lines",
        logger.dropped(),
        rounds * lines
    );
}

criterion_group!(benches, log, copier, paced);
criterion_main!(benches);
