//! Lines into `syslog` against a raw loop that sends the same messages,
//! formatted beforehand, to the same server, in the same run: over UDP
//! (one datagram a message, a `send` each) and over TCP (one `write` a
//! message). RFC 5424, 100-byte lines, 50,000 per iteration; the driver
//! is timed from the first `log` until `close` has written the last.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logdriver::{registry, Info, Logger, Message, Source};

mod common;

const LINES: usize = 50_000;

/// A UDP server that reads and throws away every datagram.
fn udp_sink() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while socket.recv(&mut buf).is_ok() {}
    });
    port
}

/// One message as the driver sends it: RFC 5424, a 99-byte line.
fn message() -> Vec<u8> {
    let mut m = format!(
        "<30>1 2026-12-02T14:05:09Z host 0123456789ab {} 0123456789ab - ",
        std::process::id()
    )
    .into_bytes();
    m.extend_from_slice(&[b'x'; 99]);
    m.push(b'\n');
    m
}

fn syslog(c: &mut Criterion) {
    let line = bytes::Bytes::from(vec![b'x'; 99]);
    let message = message();
    let mut group = c.benchmark_group("syslog");
    group
        .throughput(Throughput::Elements(LINES as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for (transport, port) in [("udp", udp_sink()), ("tcp", common::tcp_sink())] {
        let info = Info::new("0123456789abcdef".repeat(4))
            .with_option("syslog-address", format!("{transport}://127.0.0.1:{port}"))
            .with_option("syslog-format", "rfc5424")
            .with_option("syslog-buffer-limit", "64m");
        group.bench_function(format!("driver_{transport}"), |b| {
            b.iter(|| {
                let logger = registry().create("syslog", &info).unwrap();
                for _ in 0..LINES {
                    logger
                        .log(Message::new(Source::Stdout, line.clone()))
                        .unwrap();
                }
                logger.close().unwrap();
                assert_eq!(logger.stats().lines, LINES as u64);
            })
        });
        group.bench_function(format!("raw_socket_{transport}"), |b| {
            b.iter(|| {
                if transport == "udp" {
                    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                    socket.connect(("127.0.0.1", port)).unwrap();
                    for _ in 0..LINES {
                        socket.send(&message).unwrap();
                    }
                } else {
                    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    conn.set_nodelay(true).unwrap();
                    for _ in 0..LINES {
                        conn.write_all(&message).unwrap();
                    }
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, syslog);
criterion_main!(benches);
