//! Lines into `otlp` against a raw loop that POSTs the same protobuf
//! bodies, captured from the driver beforehand, to the same local
//! receiver, on one kept-alive connection, in the same run: as they are,
//! or gzipped in the loop at the driver's level. 100,000 lines of 100
//! bytes per iteration; the driver is timed from its creation until
//! `close` has the last answer.
//!
//! The receiver reads each request whole and answers `200` at once,
//! without decoding, so what is measured is the client.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::write::GzEncoder;
use logdriver::{registry, Info, Message, Source};

const LINES: usize = 100_000;
/// One read's worth of lines, as the Copier hands them over.
const READ: usize = 64;

type Captured = Arc<Mutex<Vec<(Vec<String>, Vec<u8>)>>>;

/// A receiver that answers every request 200, keeping each request's
/// headers and body when `capture` is given.
fn receiver(capture: Option<Captured>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let conn = conn.unwrap();
            let capture = capture.clone();
            std::thread::spawn(move || serve(conn, capture));
        }
    });
    port
}

fn serve(conn: TcpStream, capture: Option<Captured>) {
    let mut answer = conn.try_clone().unwrap();
    let mut reader = BufReader::with_capacity(1 << 16, conn);
    let mut line = String::new();
    loop {
        let (mut headers, mut len) = (Vec::new(), 0);
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some(n) = header.strip_prefix("Content-Length: ") {
                len = n.parse().unwrap();
            } else if !header.starts_with("POST ") {
                headers.push(header.to_owned());
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        if let Some(capture) = &capture {
            capture.lock().unwrap().push((headers, body));
        }
        if answer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

fn info(port: u16, compression: &str) -> Info {
    Info::new("0123456789abcdef".repeat(4))
        .with_option("otlp-endpoint", format!("http://127.0.0.1:{port}"))
        .with_option("otlp-compression", compression)
        .with_option("otlp-buffer-limit", "64m")
}

/// Every line through the driver, a read's worth at a time.
fn drive(info: &Info, line: &bytes::Bytes) {
    let logger = registry().create("otlp", info).unwrap();
    let mut batch = VecDeque::with_capacity(READ);
    for _ in 0..LINES / READ {
        // One clock read per read, as the Copier stamps them.
        let now = std::time::SystemTime::now();
        batch.extend((0..READ).map(|_| Message {
            line: line.clone(),
            source: Source::Stdout,
            timestamp: now,
            partial: None,
        }));
        logger.log_batch(&mut batch, &mut |e| panic!("{e}"));
    }
    logger.close().unwrap();
    assert_eq!(logger.stats().lines, (LINES / READ * READ) as u64);
}

fn otlp(c: &mut Criterion) {
    // A static line: its clones cost no reference count, which is the
    // Copier's cost (benches/copier.rs), not the driver's.
    static LINE: [u8; 100] = [b'x'; 100];
    let line = bytes::Bytes::from_static(&LINE);
    let mut group = c.benchmark_group("otlp");
    group
        .throughput(Throughput::Elements((LINES / READ * READ) as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    let port = receiver(None);
    // The requests the driver sends for one iteration, uncompressed, for
    // the raw loop: it sends them as they are, or gzips each first, at
    // the driver's level, as a client with pre-encoded batches would.
    let captured = Captured::default();
    drive(&info(receiver(Some(captured.clone())), "none"), &line);
    let bodies: Vec<Vec<u8>> = captured.lock().unwrap().drain(..).map(|(_, b)| b).collect();
    for compression in ["none", "gzip"] {
        let info = info(port, compression);
        group.bench_function(format!("driver_{compression}"), |b| {
            b.iter(|| drive(&info, &line))
        });
        group.bench_function(format!("raw_post_{compression}"), |b| {
            b.iter(|| {
                let conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
                conn.set_nodelay(true).unwrap();
                let mut answers = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                let mut line = String::new();
                for body in &bodies {
                    let gzipped;
                    let body = if compression == "gzip" {
                        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
                        gz.write_all(body).unwrap();
                        gzipped = gz.finish().unwrap();
                        &gzipped
                    } else {
                        body
                    };
                    let mut request = format!(
                        "POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
                         Content-Type: application/x-protobuf\r\n{}Content-Length: {}\r\n\r\n",
                        if compression == "gzip" {
                            "Content-Encoding: gzip\r\n"
                        } else {
                            ""
                        },
                        body.len()
                    )
                    .into_bytes();
                    request.extend_from_slice(body);
                    conn.write_all(&request).unwrap();
                    // The answer: a status line, a header, a blank line.
                    for _ in 0..3 {
                        line.clear();
                        answers.read_line(&mut line).unwrap();
                    }
                    assert!(line == "\r\n");
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, otlp);
criterion_main!(benches);
