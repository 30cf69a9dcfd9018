//! Lines into `k8s-file`, against a loop that does one `write` of a
//! pre-formatted CRI record per line to the same file system, in the same
//! run: through the Copier (reading from memory), which hands the driver
//! each read's lines as one batch and so writes once per batch, and by
//! calling `log` directly, one `write` per line (the encoder's own cost).
//! 100-byte lines, 50,000 per iteration.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logdriver::drivers::k8sfile::K8sFileLogger;
use logdriver::{Copier, Info, Logger, Source};

const LINES: usize = 50_000;

/// A k8s-file logger writing to `path`, which starts empty.
fn fresh_logger(path: &Path) -> K8sFileLogger {
    let _ = fs::remove_file(path);
    K8sFileLogger::new(&Info::new("bench").with_log_path(path)).unwrap()
}

fn k8s_file(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("logdriver-bench-k8s-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("0.log");

    let mut line = [b'x'; 100];
    line[99] = b'\n';
    let input: Arc<[u8]> = line.repeat(LINES).into();
    // What k8s-file writes for one such line.
    let record = format!(
        "2026-11-30T11:00:01.123456789Z stdout F {}\n",
        "x".repeat(99)
    );

    let mut group = c.benchmark_group("k8s_file");
    group
        .throughput(Throughput::Elements(LINES as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));

    group.bench_function("copier_into_k8s_file", |b| {
        b.iter(|| {
            let logger = Arc::new(fresh_logger(&path));
            let stats = Copier::new(logger.clone())
                .source(Source::Stdout, Cursor::new(Arc::clone(&input)))
                .run()
                .unwrap()
                .wait();
            logger.close().unwrap();
            assert_eq!((stats.lines, stats.log_errors), (LINES as u64, 0));
        })
    });

    group.bench_function("log_calls_into_k8s_file", |b| {
        let msg = logdriver::Message::new(Source::Stdout, input[..99].to_vec());
        b.iter(|| {
            let logger = fresh_logger(&path);
            for _ in 0..LINES {
                logger.log(msg.clone()).unwrap();
            }
            logger.close().unwrap();
        })
    });

    group.bench_function("preformatted_writes", |b| {
        b.iter(|| common::write_records(&path, record.as_bytes(), LINES))
    });
    group.finish();
    let _ = fs::remove_dir_all(&dir);
}

criterion_group!(benches, k8s_file);
criterion_main!(benches);
