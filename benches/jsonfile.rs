//! Lines into `json-file`, against a loop that does one `write` of a
//! pre-formatted entry per line to the same file system, in the same run:
//! through the Copier (reading from memory), which hands the driver each
//! read's lines as one batch and so writes once per batch, and by calling
//! `log` directly, one `write` per line (the encoder's own cost); and
//! through the Copier and a `NonBlocking` buffer, whose worker hands the
//! driver batches as well.
//! 100-byte lines, 50,000 per iteration. And `--tail 100` of a 1 GB
//! file, against reading it forward.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logdriver::drivers::jsonfile::JsonFileLogger;
use logdriver::{Copier, Info, Logger, NonBlocking, Source};

const LINES: usize = 50_000;

/// A json-file logger writing to `path`, which starts empty.
fn fresh_logger(path: &Path) -> JsonFileLogger {
    let _ = fs::remove_file(path);
    let info = Info {
        log_path: Some(path.to_owned()),
        ..Default::default()
    };
    JsonFileLogger::new(&info).unwrap()
}

fn jsonfile(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("logdriver-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("container-json.log");

    let mut line = [b'x'; 100];
    line[99] = b'\n';
    let input: Arc<[u8]> = line.repeat(LINES).into();
    // What json-file writes for one such line.
    let entry = format!(
        "{{\"log\":\"{}\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-27T01:02:03.123456789Z\"}}\n",
        "x".repeat(99)
    );

    let mut group = c.benchmark_group("jsonfile");
    group
        .throughput(Throughput::Elements(LINES as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));

    group.bench_function("copier_into_json_file", |b| {
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

    // Docker's `mode=non-blocking` in front of json-file: the worker hands
    // the driver batches too. Timed until `close` has written everything.
    group.bench_function("copier_into_nonblocking_json_file", |b| {
        b.iter(|| {
            let driver = Arc::new(fresh_logger(&path));
            let logger = Arc::new(NonBlocking::new(driver, 64 << 20));
            let stats = Copier::new(logger.clone())
                .source(Source::Stdout, Cursor::new(Arc::clone(&input)))
                .run()
                .unwrap()
                .wait();
            logger.close().unwrap();
            assert_eq!(
                (stats.lines, logger.delivered()),
                (LINES as u64, LINES as u64)
            );
        })
    });

    group.bench_function("log_calls_into_json_file", |b| {
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
        b.iter(|| common::write_records(&path, entry.as_bytes(), LINES))
    });
    group.finish();
    let _ = fs::remove_dir_all(&dir);
}

/// `--tail 100` of a 1 GB json-file, against a `read_until` loop over the
/// whole file (what reading it forward costs at the least), in the same
/// run.
fn tail(c: &mut Criterion) {
    use std::io::{BufRead, BufReader, Write};
    let dir = std::env::temp_dir().join(format!("logdriver-bench-tail-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("container-json.log");
    let entry = format!(
        "{{\"log\":\"{}\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-27T01:02:03.123456789Z\"}}\n",
        "x".repeat(99)
    );
    let block = entry.repeat((1 << 20) / entry.len());
    let mut out = std::io::BufWriter::new(fs::File::create(&path).unwrap());
    while fs::metadata(&path).unwrap().len() < 1_000_000_000 {
        for _ in 0..64 {
            out.write_all(block.as_bytes()).unwrap();
        }
        out.flush().unwrap();
    }
    drop(out);
    let mut group = c.benchmark_group("jsonfile_tail");
    group.sample_size(10);
    group.bench_function("tail_100_of_1gb", |b| {
        let tail = logdriver::ReadConfig {
            tail: Some(100),
            ..logdriver::ReadConfig::default()
        };
        b.iter(|| {
            let n = logdriver::drivers::jsonfile::read_logs(&path, &tail)
                .unwrap()
                .count();
            assert_eq!(n, 100);
        })
    });
    group.bench_function("read_until_1gb_once", |b| {
        b.iter(|| {
            let mut reader = BufReader::new(fs::File::open(&path).unwrap());
            let (mut line, mut n) = (Vec::new(), 0u64);
            while reader.read_until(b'\n', &mut line).unwrap() > 0 {
                n += 1;
                line.clear();
            }
            n
        })
    });
    group.finish();
    let _ = fs::remove_dir_all(&dir);
}

criterion_group!(benches, jsonfile, tail);
criterion_main!(benches);
