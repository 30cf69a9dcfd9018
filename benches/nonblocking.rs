//! NonBlocking against calling the driver directly, in the same run:
//!
//! - `log`: one `log` call into a no-op driver, directly or through the
//!   buffer (whose worker forwards to the same driver);
//! - `copier`: the Copier reading 2 OS pipes of 100-byte, 1 KiB and
//!   64 KiB lines into a counting no-op driver, in blocking mode and with
//!   `mode=non-blocking`
//!   (timed until the worker has delivered every line; one `NonBlocking`
//!   serves every iteration, as one serves a container for its life).
//!
//! Lines the non-blocking buffer dropped are printed at the end of each
//! benchmark: with a driver that keeps up, there should be none.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logdriver::{Logger, Message, NonBlocking, Source};

const DEFAULT_MAX_BUFFER_SIZE: usize = NonBlocking::DEFAULT_MAX_BUFFER_BYTES;

mod common;
use common::{copy_both, feed, Count, CpuTally};

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
    let mut group = c.benchmark_group("nonblocking/copier");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    for line_len in [100, 1024, 64 << 10] {
        copier_at(&mut group, line_len);
    }
    group.finish();
}

/// Blocking and non-blocking mode on the same `line_len`-byte lines.
fn copier_at(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    line_len: usize,
) {
    let data = Arc::new(common::lines_of(line_len));
    let lines = 2 * (data.len() / line_len) as u64;
    // What the driver counts: a line of 16 KiB or more is several chunks.
    let msgs = lines * ((line_len as u64 - 1) / (16 << 10) + 1);
    group.throughput(Throughput::Elements(lines));

    let mut blocking = CpuTally::default();
    group.bench_with_input(BenchmarkId::new("blocking", line_len), &data, |b, data| {
        b.iter_custom(|iters| {
            blocking.run(iters, lines, || {
                let count = Arc::new(Count::default());
                copy_both(count.clone(), feed(data));
                assert_eq!(count.total(), msgs);
            })
        })
    });
    blocking.report(&format!("nonblocking/copier/blocking/{line_len}"));

    // Docker's default buffer, one that holds a few milliseconds (a
    // scheduler slice) of this output, and one that holds a whole
    // iteration: the first two show what a burst of 1.5 GB/s on busy cores
    // does to a buffer the worker must wait its turn to drain, the last
    // the cost of the hand-off alone (no drops), which is what longer
    // lines are measured with. One NonBlocking lives through all
    // iterations, as it lives as long as its container: each iteration
    // waits until the worker has delivered (or the buffer dropped) every
    // line, without closing it.
    let buffers: &[(&str, usize)] = if line_len == 100 {
        &[
            ("non-blocking-1MB", DEFAULT_MAX_BUFFER_SIZE),
            ("non-blocking-4MiB", 4 << 20),
            ("non-blocking-64MiB", 64 << 20),
        ]
    } else {
        &[("non-blocking-64MiB", 64 << 20)]
    };
    for &(label, max) in buffers {
        let count = Arc::new(Count::default());
        let logger = Arc::new(NonBlocking::new(count.clone(), max));
        let mut sent = 0;
        let mut cpu = CpuTally::default();
        group.bench_with_input(BenchmarkId::new(label, line_len), &data, |b, data| {
            b.iter_custom(|iters| {
                cpu.run(iters, lines, || {
                    copy_both(logger.clone(), feed(data));
                    sent += msgs;
                    while count.total() + logger.dropped() < sent {
                        thread::sleep(Duration::from_micros(50));
                    }
                })
            })
        });
        let name = format!("nonblocking/copier/{label}/{line_len}");
        cpu.report(&name);
        cpu.compare(&name, &blocking, "blocking");
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
