//! `copy_async` against the threaded Copier, on the same bytes in the
//! same run, into a driver that does nothing: 100-byte lines and
//! 16,000-byte lines, 10 MB per iteration, read from memory (a burst that
//! costs nothing to read, the hardest case for a hand-off between threads)
//! and from a pipe that a thread writes, as a container's would be.

use std::io::{Cursor, Write};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logdriver::{copy_async, drivers::none::NoneLogger, Copier, Logger, Source};

fn input(line: usize) -> Arc<[u8]> {
    let mut one = vec![b'x'; line];
    one[line - 1] = b'\n';
    one.repeat(10_000_000 / line).into()
}

/// A pipe, and a thread that writes `input` into it and closes it.
fn pipe(input: &Arc<[u8]>) -> (std::io::PipeReader, std::thread::JoinHandle<()>) {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let input = Arc::clone(input);
    let thread = std::thread::spawn(move || writer.write_all(&input).unwrap());
    (reader, thread)
}

fn copy(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("copy_async");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for line in [100, 16_000] {
        let input = input(line);
        let lines = (input.len() / line) as u64;
        group.throughput(Throughput::Elements(lines));
        group.bench_function(format!("copier_threaded_{line}b"), |b| {
            b.iter(|| {
                let logger: Arc<dyn Logger> = Arc::new(NoneLogger);
                let stats = Copier::new(logger)
                    .source(Source::Stdout, Cursor::new(Arc::clone(&input)))
                    .run()
                    .unwrap()
                    .wait();
                assert_eq!(stats.lines, lines);
            })
        });
        group.bench_function(format!("copy_async_{line}b"), |b| {
            b.iter(|| {
                let logger: Arc<dyn Logger> = Arc::new(NoneLogger);
                let reader = Cursor::new(Arc::clone(&input));
                let stats = runtime.block_on(copy_async(reader, Source::Stdout, logger));
                assert_eq!(stats.lines, lines);
            })
        });
        group.bench_function(format!("copier_threaded_pipe_{line}b"), |b| {
            b.iter(|| {
                let (reader, writer) = pipe(&input);
                let logger: Arc<dyn Logger> = Arc::new(NoneLogger);
                let stats = Copier::new(logger)
                    .source(Source::Stdout, reader)
                    .run()
                    .unwrap()
                    .wait();
                writer.join().unwrap();
                assert_eq!(stats.lines, lines);
            })
        });
        group.bench_function(format!("copy_async_pipe_{line}b"), |b| {
            b.iter(|| {
                let (reader, writer) = pipe(&input);
                let logger: Arc<dyn Logger> = Arc::new(NoneLogger);
                let stats = runtime.block_on(async {
                    let reader =
                        tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into()).unwrap();
                    copy_async(reader, Source::Stdout, logger).await
                });
                writer.join().unwrap();
                assert_eq!(stats.lines, lines);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, copy);
criterion_main!(benches);
