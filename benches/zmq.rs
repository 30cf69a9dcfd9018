//! The zmq driver against a raw `zmq` PUB socket, in the same run, both
//! publishing `[8-byte tenant, 8-byte service, 100-byte payload]` over
//! loopback TCP to a live SUB hub.
//!
//! The raw socket has an unlimited high-water mark, so it drops nothing
//! either. Each iteration sends a batch and is timed until the hub has
//! received all of it: the figure is delivered messages per second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logdriver::drivers::zmq::{ZmqLogger, ADDRESS_OPT};
use logdriver::{Info, Logger, Message, Source};

const BATCH: u64 = 50_000;
const TENANT: &str = "tenant01";
const SERVICE: &str = "service1";

/// A SUB hub on a loopback port that counts the messages it receives.
struct Hub {
    endpoint: String,
    received: Arc<AtomicU64>,
}

impl Hub {
    fn start() -> Hub {
        let ctx = zmq::Context::new();
        let sub = ctx.socket(zmq::SUB).unwrap();
        sub.set_rcvhwm(0).unwrap();
        sub.set_subscribe(b"").unwrap();
        sub.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = sub.get_last_endpoint().unwrap().unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        thread::spawn(move || {
            let _ctx = ctx;
            let mut msg = zmq::Message::new();
            loop {
                sub.recv(&mut msg, 0).unwrap();
                if !msg.get_more() {
                    counter.fetch_add(1, Ordering::Release);
                }
            }
        });
        Hub { endpoint, received }
    }

    /// Times `iters` batches of `BATCH` calls to `send`, each until the
    /// hub has received the whole batch.
    fn time_batches(&self, iters: u64, mut send: impl FnMut()) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let target = self.received.load(Ordering::Acquire) + BATCH;
            for _ in 0..BATCH {
                send();
            }
            self.wait_for(target);
        }
        start.elapsed()
    }

    /// Waits until the hub has received `n` messages in all.
    fn wait_for(&self, n: u64) {
        while self.received.load(Ordering::Acquire) < n {
            thread::yield_now();
        }
    }
}

fn zmq(c: &mut Criterion) {
    let mut group = c.benchmark_group("zmq");
    group
        .throughput(Throughput::Elements(BATCH))
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));

    // The raw socket, as the Go driver used it, but with no HWM to drop at.
    let hub = Hub::start();
    let ctx = zmq::Context::new();
    let raw = ctx.socket(zmq::PUB).unwrap();
    raw.set_sndhwm(0).unwrap();
    raw.connect(&hub.endpoint).unwrap();
    let payload = vec![b'x'; 100];
    // Slow joiner: send until the hub's subscription has arrived.
    while hub.received.load(Ordering::Acquire) == 0 {
        raw.send_multipart([TENANT.as_bytes(), SERVICE.as_bytes(), &payload], 0)
            .unwrap();
        thread::sleep(Duration::from_millis(1));
    }
    group.bench_function("raw_pub_socket", |b| {
        b.iter_custom(|iters| {
            hub.time_batches(iters, || {
                raw.send(TENANT, zmq::SNDMORE).unwrap();
                raw.send(SERVICE, zmq::SNDMORE).unwrap();
                raw.send(&payload[..], 0).unwrap();
            })
        })
    });

    // The driver: the same frames, the payload being "<12-char id>: <86 bytes>".
    let hub = Hub::start();
    let info = Info {
        config: HashMap::from([(ADDRESS_OPT.to_string(), hub.endpoint.clone())]),
        container_id: "0123456789abcdef".into(),
        container_env: vec![
            format!("TENANT_ID={TENANT}"),
            format!("SERVICE_ID={SERVICE}"),
        ],
        ..Default::default()
    };
    let driver = ZmqLogger::new(&info).unwrap();
    let line = Bytes::from(vec![b'x'; 100 - "0123456789ab: ".len()]);
    group.bench_function("zmq_logger", |b| {
        b.iter_custom(|iters| {
            hub.time_batches(iters, || {
                driver
                    .log(Message::new(Source::Stdout, line.clone()))
                    .unwrap();
            })
        })
    });
    driver.close().unwrap();
    eprintln!(
        "zmq_logger: sent {}, dropped {}",
        driver.sent(),
        driver.dropped()
    );
    group.finish();
}

criterion_group!(benches, zmq);
criterion_main!(benches);
