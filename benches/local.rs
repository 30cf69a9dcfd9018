//! The `local` driver. Writing: 100-byte lines, 50,000 per iteration,
//! through the Copier and by calling `log`, against a loop that does one
//! `write` of a pre-encoded record per line to the same file system, in
//! the same run. Tailing: the last 100 records of a 100 MB file, walking
//! back over the trailing lengths, against reading the file once, which
//! is the least any forward scan costs.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logdriver::drivers::local::{self, LocalLogger, ReadConfig};
use logdriver::{Copier, Info, Logger, Message, Source};

const LINES: usize = 50_000;

/// A local logger writing to `path`, which starts empty; no rotation.
fn fresh_logger(path: &Path) -> LocalLogger {
    let _ = fs::remove_file(path);
    let info = Info::new("bench")
        .with_log_path(path)
        .with_option("max-size", "1t")
        .with_option("max-file", "1")
        .with_option("compress", "false");
    LocalLogger::new(&info).unwrap()
}

fn write(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("logdriver-bench-local-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("container.log");

    let mut line = [b'x'; 100];
    line[99] = b'\n';
    let input: Arc<[u8]> = line.repeat(LINES).into();
    // What local writes for one such line.
    let record = {
        let logger = fresh_logger(&path);
        logger
            .log(Message::new(Source::Stdout, line[..99].to_vec()))
            .unwrap();
        logger.close().unwrap();
        fs::read(&path).unwrap()
    };

    let mut group = c.benchmark_group("local_write");
    group
        .throughput(Throughput::Elements(LINES as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("copier_into_local", |b| {
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
    group.bench_function("log_calls_into_local", |b| {
        let msg = Message::new(Source::Stdout, input[..99].to_vec());
        b.iter(|| {
            let logger = fresh_logger(&path);
            for _ in 0..LINES {
                logger.log(msg.clone()).unwrap();
            }
            logger.close().unwrap();
        })
    });
    group.bench_function("preformatted_writes", |b| {
        b.iter(|| common::write_records(&path, &record, LINES))
    });
    group.finish();

    // 100 MB of records, then the last 100 of them.
    {
        let logger = Arc::new(fresh_logger(&path));
        let big: Arc<[u8]> = line.repeat(100_000_000 / 100).into();
        Copier::new(logger.clone())
            .source(Source::Stdout, Cursor::new(big))
            .run()
            .unwrap()
            .wait();
        logger.close().unwrap();
    }
    let size = fs::metadata(&path).unwrap().len();
    assert!(size > 100_000_000, "{size}");
    let mut group = c.benchmark_group("local_tail");
    group.sample_size(10);
    group.bench_function("tail_100_of_100mb", |b| {
        let tail = ReadConfig {
            tail: Some(100),
            ..ReadConfig::default()
        };
        b.iter(|| {
            let n = local::read_logs(&path, &tail).unwrap().count();
            assert_eq!(n, 100);
        })
    });
    group.bench_function("read_100mb_once", |b| {
        b.iter(|| fs::read(&path).unwrap().len())
    });
    group.finish();
    let _ = fs::remove_dir_all(&dir);
}

criterion_group!(benches, write);
criterion_main!(benches);
