//! Lines into the `nats` driver against a raw `async-nats` JetStream
//! publish loop with the same payload, headers and in-flight window
//! (4096), in the same run, against a local `nats-server -js` that the
//! bench starts (it must be on PATH). Throughput is acked messages per
//! second: both wait for every ack. 100-byte lines, 20,000 per iteration.

use std::io::Cursor;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logdriver::{registry, Copier, Info, Logger, Source};

const LINES: usize = 20_000;
const WINDOW: usize = 4096;

/// A nats-server with JetStream on a free port, killed when dropped.
struct Server(Child, std::path::PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn server() -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("logdriver-bench-nats-{}", std::process::id()));
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server on PATH");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Server(child, dir), format!("nats://127.0.0.1:{port}"))
}

fn nats(c: &mut Criterion) {
    let (_server, url) = server();
    let mut line = [b'x'; 100];
    line[99] = b'\n';
    let input: Arc<[u8]> = line.repeat(LINES).into();
    let info = Info::new("0123456789abcdef".repeat(4)).with_option("nats-url", &url);
    // Made once, by the driver: the stream LOGS on logs.>.
    registry().create("nats", &info).unwrap().close().unwrap();

    let mut group = c.benchmark_group("nats");
    group
        .throughput(Throughput::Elements(LINES as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("copier_into_nats", |b| {
        b.iter(|| {
            let logger = registry().create("nats", &info).unwrap();
            Copier::new(Arc::clone(&logger))
                .source(Source::Stdout, Cursor::new(Arc::clone(&input)))
                .run()
                .unwrap()
                .wait();
            logger.close().unwrap();
            assert_eq!(logger.stats().lines, LINES as u64);
        })
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let js = runtime
        .block_on(async { jetstream::new(async_nats::connect(url.as_str()).await.unwrap()) });
    let payload = bytes::Bytes::from(format!("0123456789ab: {}", "x".repeat(99)));
    group.bench_function("raw_jetstream_publish_loop", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut acks = tokio::task::JoinSet::new();
                for seq in 1..=LINES {
                    if acks.len() >= WINDOW {
                        acks.join_next().await.unwrap().unwrap();
                    }
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert(
                        "Nats-Msg-Id",
                        format!("raw-{seq}-{:?}", Instant::now()).as_str(),
                    );
                    headers.insert("Log-Source", "stdout");
                    headers.insert("Log-Time", "2026-11-30T11:00:01.123456789Z");
                    headers.insert("Log-Seq", seq.to_string().as_str());
                    let publish = PublishMessage::build()
                        .payload(payload.clone())
                        .headers(headers);
                    let ack = js
                        .send_publish("logs.default.default", publish)
                        .await
                        .unwrap();
                    acks.spawn(async move { ack.await.unwrap() });
                }
                while let Some(ack) = acks.join_next().await {
                    ack.unwrap();
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, nats);
criterion_main!(benches);
