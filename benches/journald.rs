//! The `journald` driver: 100-byte lines, 20,000 per iteration, by calling
//! `log`, against a loop that sends the same entry, pre-encoded, as one
//! datagram per line to the same socket, in the same run. A thread
//! drains the socket, as journald would; each iteration ends when it has
//! every entry.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logdriver::drivers::journald::JournaldLogger;
use logdriver::{Info, Logger, Message, Source};

const LINES: u64 = 20_000;

fn send(c: &mut Criterion) {
    let path = std::env::temp_dir().join(format!("logdriver-bench-journal-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let journal = UnixDatagram::bind(&path).unwrap();
    let mut info = Info::new("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
        .with_option("journald-socket", path.to_str().unwrap());
    info.container_name = "/bench".into();
    info.container_image_name = "busybox:latest".into();
    let logger = JournaldLogger::new(&info).unwrap();
    let msg = Message::new(Source::Stdout, vec![b'x'; 99]);

    // The driver's entry for that line, as the raw loop sends it.
    logger.log(msg.clone()).unwrap();
    let mut entry = vec![0; 4096];
    let n = journal.recv(&mut entry).unwrap();
    entry.truncate(n);

    let received = Arc::new(AtomicU64::new(0));
    std::thread::spawn({
        let received = Arc::clone(&received);
        move || {
            let mut buf = vec![0; 4096];
            while journal.recv(&mut buf).is_ok() {
                received.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let wait_for = |target: u64| {
        while received.load(Ordering::Relaxed) < target {
            std::hint::spin_loop();
        }
    };

    let raw = UnixDatagram::unbound().unwrap();
    raw.connect(&path).unwrap();
    let mut group = c.benchmark_group("journald_send");
    group
        .throughput(Throughput::Elements(LINES))
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("driver_log", |b| {
        b.iter(|| {
            let target = received.load(Ordering::Relaxed) + LINES;
            for _ in 0..LINES {
                logger.log(msg.clone()).unwrap();
            }
            wait_for(target);
        })
    });
    group.bench_function("raw_datagrams", |b| {
        b.iter(|| {
            let target = received.load(Ordering::Relaxed) + LINES;
            for _ in 0..LINES {
                raw.send(&entry).unwrap();
            }
            wait_for(target);
        })
    });
    group.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, send);
criterion_main!(benches);
