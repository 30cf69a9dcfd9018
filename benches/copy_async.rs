//! `copy_async` against the threaded Copier, on the same bytes in the
//! same run, into a driver that does nothing: 100-byte lines and
//! 16,000-byte lines, 10 MB per iteration.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logdriver::{copy_async, drivers::none::NoneLogger, Copier, Logger, Source};

fn input(line: usize) -> Arc<[u8]> {
    let mut one = vec![b'x'; line];
    one[line - 1] = b'\n';
    one.repeat(10_000_000 / line).into()
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
                let stats = runtime.block_on(copy_async(&input[..], Source::Stdout, logger));
                assert_eq!(stats.lines, lines);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, copy);
criterion_main!(benches);
