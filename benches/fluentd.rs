//! Lines into `fluentd` against a local sink that reads and discards,
//! against a raw loop writing the same pre-encoded Message-mode frames to
//! the same sink, one `write` per line, in the same run: blocking mode
//! (Docker's default), async mode, and async Forward mode. 100-byte
//! lines, 50,000 per iteration; and blocking against async mode at 64 KiB
//! lines.

use std::io::{Cursor, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logdriver::{registry, Copier, Info, Logger, Source};

mod common;

const LINES: usize = 50_000;

/// A Message-mode frame for one 99-byte line, as the driver writes it.
fn frame() -> Vec<u8> {
    let id = "0123456789abcdef".repeat(4);
    let mut out = vec![0x94, 0xac];
    out.extend_from_slice(&id.as_bytes()[..12]);
    out.extend_from_slice(&[0xd2, 0x69, 0x2c, 0x23, 0xb1, 0x84]);
    for (k, v) in [
        ("container_id", id.as_str()),
        ("container_name", "/web"),
        ("source", "stdout"),
        ("log", &"x".repeat(99)),
    ] {
        out.push(0xa0 | k.len() as u8);
        out.extend_from_slice(k.as_bytes());
        if v.len() < 32 {
            out.push(0xa0 | v.len() as u8);
        } else {
            out.extend_from_slice(&[0xd9, v.len() as u8]);
        }
        out.extend_from_slice(v.as_bytes());
    }
    out.push(0x80);
    out
}

/// Times a Copier that reads `input` into a fluentd driver at `address`
/// with `opts`, made and closed each iteration, which must send `records`.
fn copier_into_fluentd(
    b: &mut criterion::Bencher<'_>,
    address: &str,
    opts: &[(&str, &str)],
    input: &Arc<[u8]>,
    records: u64,
) {
    let mut info = Info::new("0123456789abcdef".repeat(4))
        .with_option("fluentd-address", address)
        .with_option("fluentd-buffer-limit", "64m");
    info.container_name = "/web".into();
    for &(k, v) in opts {
        info = info.with_option(k, v);
    }
    b.iter(|| {
        let logger = registry().create("fluentd", &info).unwrap();
        let stats = Copier::new(Arc::clone(&logger))
            .source(Source::Stdout, Cursor::new(Arc::clone(input)))
            .run()
            .unwrap()
            .wait();
        logger.close().unwrap();
        assert_eq!((stats.lines, logger.stats().lines), (records, records));
    })
}

fn fluentd(c: &mut Criterion) {
    let port = common::tcp_sink();
    let address = format!("tcp://127.0.0.1:{port}");
    let mut line = [b'x'; 100];
    line[99] = b'\n';
    let input: Arc<[u8]> = line.repeat(LINES).into();

    let mut group = c.benchmark_group("fluentd");
    group
        .throughput(Throughput::Elements(LINES as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for (name, opts) in [
        ("copier_into_fluentd_blocking", &[][..]),
        (
            "copier_into_fluentd_async",
            &[("fluentd-async", "true")][..],
        ),
        (
            "copier_into_fluentd_async_forward",
            &[("fluentd-async", "true"), ("fluentd-forward-mode", "true")][..],
        ),
    ] {
        group.bench_function(name, |b| {
            copier_into_fluentd(b, &address, opts, &input, LINES as u64)
        });
    }
    let frame = frame();
    group.bench_function("raw_msgpack_over_tcp", |b| {
        b.iter(|| {
            let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
            conn.set_nodelay(true).unwrap();
            for _ in 0..LINES {
                conn.write_all(&frame).unwrap();
            }
        })
    });
    group.finish();
}

/// Blocking against async mode at 64 KiB lines (each four 16 KiB chunks,
/// four records), 80 lines per iteration: where the hand-off to the
/// worker costs most against the encoding.
fn fluentd_64k(c: &mut Criterion) {
    const LONG: usize = 64 << 10;
    const LONG_LINES: usize = 80;
    let port = common::tcp_sink();
    let address = format!("tcp://127.0.0.1:{port}");
    let mut line = vec![b'x'; LONG];
    line[LONG - 1] = b'\n';
    let input: Arc<[u8]> = line.repeat(LONG_LINES).into();
    let mut group = c.benchmark_group("fluentd_64KiB");
    group
        .throughput(Throughput::Elements(LONG_LINES as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for (name, opts) in [
        ("copier_into_fluentd_blocking", &[][..]),
        (
            "copier_into_fluentd_async",
            &[("fluentd-async", "true")][..],
        ),
    ] {
        group.bench_function(name, |b| {
            // Four chunks a line, each a record.
            copier_into_fluentd(b, &address, opts, &input, 4 * LONG_LINES as u64)
        });
    }
    group.finish();
}

criterion_group!(benches, fluentd, fluentd_64k);
criterion_main!(benches);
