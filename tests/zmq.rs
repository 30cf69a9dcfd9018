//! The zmq driver against real SUB hubs from the `zmq` crate.
#![cfg(feature = "zmq")]

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use logdriver::drivers::zmq::{ZmqLogger, ADDRESS_OPT, NAME};
use logdriver::{registry, Copier, Error, Info, Logger, Message, Source};

type Frames = Vec<Vec<u8>>;

/// A hub as hubs are written for the Go driver: a SUB bound on a loopback
/// port, subscribed by tenant prefix, receiving on its own thread.
struct Hub {
    endpoint: String,
    thread: JoinHandle<Vec<Frames>>,
}

impl Hub {
    /// Receives `count` messages, or stops after 30 s of silence.
    fn start(subscribe: &[u8], count: usize) -> Hub {
        Hub::start_at("tcp://127.0.0.1:*", subscribe, count)
    }

    fn start_at(bind: &str, subscribe: &[u8], count: usize) -> Hub {
        let ctx = zmq::Context::new();
        let sub = ctx.socket(zmq::SUB).unwrap();
        sub.set_linger(0).unwrap();
        sub.set_rcvtimeo(30_000).unwrap();
        sub.set_subscribe(subscribe).unwrap();
        sub.bind(bind).unwrap();
        let endpoint = sub.get_last_endpoint().unwrap().unwrap();
        let thread = thread::spawn(move || {
            let mut got = Vec::with_capacity(count);
            while got.len() < count {
                match sub.recv_multipart(0) {
                    Ok(frames) => got.push(frames),
                    Err(_) => break,
                }
            }
            drop(sub);
            drop(ctx); // frees the port before the thread ends
            got
        });
        Hub { endpoint, thread }
    }

    fn join(self) -> Vec<Frames> {
        self.thread.join().unwrap()
    }
}

fn info(address: &str, env: &[&str], extra: &[(&str, &str)]) -> Info {
    let mut config: HashMap<String, String> =
        [(ADDRESS_OPT.to_string(), address.to_string())].into();
    config.extend(extra.iter().map(|&(k, v)| (k.to_string(), v.to_string())));
    Info {
        config,
        container_id: "f00dfeedbeefcafe0123456789".into(),
        container_env: env.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn frames(tenant: &str, service: &str, line: &str) -> Frames {
    vec![
        tenant.into(),
        service.into(),
        format!("f00dfeedbeef: {line}").into_bytes(),
    ]
}

#[test]
fn frames_are_exact() {
    let hub = Hub::start(b"", 2);
    let logger = ZmqLogger::new(&info(
        &hub.endpoint,
        &["TENANT_ID=acme", "SERVICE_ID=billing"],
        &[],
    ))
    .unwrap();
    logger.log(Message::new(Source::Stdout, "hello")).unwrap();
    logger
        .log(Message::new(Source::Stderr, &b"\xff\x00 raw\r"[..]))
        .unwrap();
    logger.close().unwrap();
    let mut raw = frames("acme", "billing", "");
    raw[2].extend_from_slice(b"\xff\x00 raw\r");
    assert_eq!(hub.join(), [frames("acme", "billing", "hello"), raw]);
    assert_eq!((logger.sent(), logger.dropped()), (2, 0));
}

#[test]
fn tenant_and_service_default_when_unset_or_empty() {
    let hub = Hub::start(b"default", 1);
    let logger = ZmqLogger::new(&info(&hub.endpoint, &["SERVICE_ID=", "OTHER=x"], &[])).unwrap();
    logger.log(Message::new(Source::Stdout, "x")).unwrap();
    logger.close().unwrap();
    assert_eq!(hub.join(), [frames("default", "default", "x")]);
}

#[test]
fn hubs_subscribed_to_other_tenants_see_nothing() {
    let mine = Hub::start(b"acme", 1);
    let logger = ZmqLogger::new(&info(&mine.endpoint, &["TENANT_ID=acme"], &[])).unwrap();
    logger
        .log(Message::new(Source::Stdout, "for acme"))
        .unwrap();
    logger.close().unwrap();
    assert_eq!(mine.join(), [frames("acme", "default", "for acme")]);

    // A hub of another tenant never subscribes to us: the line is dropped,
    // counted, and the error says why.
    let other = Hub::start(b"globex", 1);
    let logger = ZmqLogger::new(&info(
        &other.endpoint,
        &["TENANT_ID=acme"],
        &[("zmq-send-timeout", "200ms")],
    ))
    .unwrap();
    let err = logger
        .log(Message::new(Source::Stdout, "for acme"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no hub subscribed to tenant \"acme\" within 200ms"),
        "{err}"
    );
    assert_eq!(logger.dropped(), 1);
    // The next line is dropped at once, and says so: no wait happened.
    let err = logger
        .log(Message::new(Source::Stdout, "for acme"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("still no hub subscribed to tenant \"acme\""),
        "{err}"
    );
    assert!(
        err.contains("dropped at once") && !err.contains("within"),
        "{err}"
    );
    assert_eq!(logger.dropped(), 2);
    logger.close().unwrap();
    drop(other);
}

#[test]
fn both_streams_log_concurrently_through_a_copier() {
    let per_stream = 20_000;
    let hub = Hub::start(b"", 2 * per_stream);
    let logger = registry()
        .create(NAME, &info(&hub.endpoint, &["TENANT_ID=t"], &[]))
        .unwrap();
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for prefix in ["out", "err"] {
        let (reader, mut writer) = io::pipe().unwrap();
        readers.push(reader);
        writers.push(thread::spawn(move || {
            for i in 0..per_stream {
                writeln!(writer, "{prefix} {i}").unwrap();
            }
        }));
    }
    let [out, err] = <[_; 2]>::try_from(readers).ok().unwrap();
    let stats = Copier::new(logger.clone())
        .source(Source::Stdout, out)
        .source(Source::Stderr, err)
        .run()
        .unwrap();
    for w in writers {
        w.join().unwrap();
    }
    let stats = stats.wait();
    logger.close().unwrap();
    assert_eq!((stats.lines, stats.log_errors), (2 * per_stream as u64, 0));
    let got = hub.join();
    assert_eq!(got.len(), 2 * per_stream);
    for prefix in ["out", "err"] {
        let lines: Vec<&[u8]> = got
            .iter()
            .map(|f| &f[2]["f00dfeedbeef: ".len()..])
            .filter(|l| l.starts_with(prefix.as_bytes()))
            .collect();
        let want: Vec<Vec<u8>> = (0..per_stream)
            .map(|i| format!("{prefix} {i}").into_bytes())
            .collect();
        assert_eq!(lines, want, "{prefix} lines must all arrive, in order");
    }
}

#[test]
fn a_burst_of_a_million_lines_loses_nothing() {
    let count = 1_000_000;
    let hub = Hub::start(b"", count);
    let logger = ZmqLogger::new(&info(&hub.endpoint, &[], &[])).unwrap();
    let line = vec![b'x'; 100];
    for _ in 0..count {
        logger
            .log(Message::new(Source::Stdout, line.clone()))
            .unwrap();
    }
    logger.close().unwrap();
    let got = hub.join();
    assert_eq!(got.len(), count, "every line of the burst arrives");
    assert_eq!((logger.sent(), logger.dropped()), (count as u64, 0));
    let want = frames("default", "default", std::str::from_utf8(&line).unwrap());
    assert!(got.iter().all(|f| *f == want));
}

#[test]
fn lines_wait_for_a_hub_that_starts_after_the_driver() {
    // Reserve a port by binding a hub, then free it: the driver connects
    // to it before anything listens there.
    let port = {
        let ctx = zmq::Context::new();
        let probe = ctx.socket(zmq::SUB).unwrap();
        probe.bind("tcp://127.0.0.1:*").unwrap();
        probe.get_last_endpoint().unwrap().unwrap()
    };
    let logger =
        Arc::new(ZmqLogger::new(&info(&port, &[], &[("zmq-send-timeout", "20s")])).unwrap());
    let (about_to_log, logging) = crossbeam_channel::bounded(0);
    let writer = {
        let logger = logger.clone();
        thread::spawn(move || {
            about_to_log.send(()).unwrap();
            let t = Instant::now();
            logger.log(Message::new(Source::Stdout, "early")).unwrap();
            logger.log(Message::new(Source::Stdout, "later")).unwrap();
            t.elapsed()
        })
    };
    logging.recv().unwrap();
    let hub = Hub::start_at(&port, b"", 2);
    let waited = writer.join().unwrap();
    assert!(
        waited < Duration::from_secs(20),
        "bounded by the send timeout: {waited:?}"
    );
    logger.close().unwrap();
    assert_eq!(
        hub.join(),
        [
            frames("default", "default", "early"),
            frames("default", "default", "later")
        ]
    );
    assert_eq!(logger.dropped(), 0);
}

#[test]
fn without_a_hub_log_gives_up_counts_and_close_is_bounded() {
    let timeout = Duration::from_millis(300);
    let logger = ZmqLogger::new(&info(
        "tcp://127.0.0.1:1",
        &[],
        &[("zmq-send-timeout", "300ms"), ("zmq-linger", "300ms")],
    ))
    .unwrap();
    let t = Instant::now();
    let err = logger
        .log(Message::new(Source::Stdout, "lost"))
        .unwrap_err();
    let first = t.elapsed();
    assert!(first >= timeout, "waited for a hub first: {first:?}");
    assert!(first < Duration::from_secs(10), "bounded: {first:?}");
    assert!(
        matches!(&err, Error::Dropped { driver, .. } if driver == NAME),
        "{err:?}"
    );
    // Once it gave up, it does not wait again until a hub turns up.
    let t = Instant::now();
    for _ in 0..100 {
        assert!(logger.log(Message::new(Source::Stdout, "lost")).is_err());
    }
    assert!(
        t.elapsed() < timeout,
        "later lines fail fast: {:?}",
        t.elapsed()
    );
    assert_eq!((logger.sent(), logger.dropped()), (0, 101));
    let t = Instant::now();
    logger.close().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "close is bounded: {:?}",
        t.elapsed()
    );
    assert!(matches!(
        logger.log(Message::new(Source::Stdout, "x")),
        Err(Error::Closed { .. })
    ));
    logger.close().unwrap();
}

#[test]
fn a_restarted_hub_gets_lines_again() {
    let first = Hub::start(b"", 10);
    let endpoint = first.endpoint.clone();
    let logger = ZmqLogger::new(&info(&endpoint, &[], &[("zmq-send-timeout", "10s")])).unwrap();
    for i in 0..10 {
        logger
            .log(Message::new(Source::Stdout, format!("before {i}")))
            .unwrap();
    }
    assert_eq!(first.join().len(), 10); // the hub exits and frees its port
    let second = Hub::start_at(&endpoint, b"", 1);
    // Lines sent before the driver notices are lost with the old
    // connection; once the new hub subscribes, they arrive again.
    let mut sent = 0;
    let t = Instant::now();
    while !second.thread.is_finished() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the driver never reached the new hub"
        );
        let _ = logger.log(Message::new(Source::Stdout, format!("after {sent}")));
        sent += 1;
    }
    let got = second.join();
    assert_eq!(got.len(), 1);
    assert!(
        got[0][2].starts_with(b"f00dfeedbeef: after "),
        "{:?}",
        got[0]
    );
    logger.close().unwrap();
}

fn validate(pairs: &[(&str, &str)]) -> Result<(), Error> {
    let opts: HashMap<String, String> = pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect();
    ZmqLogger::validate(&opts)?;
    registry().validate(NAME, &opts)
}

#[test]
fn every_validation_error_names_driver_key_and_value() {
    validate(&[(ADDRESS_OPT, "tcp://hub:5555,ipc:///run/hub,inproc://hub")]).unwrap();
    validate(&[
        (ADDRESS_OPT, "tcp://hub:5555"),
        ("zmq-sndhwm", "0"),
        ("zmq-send-timeout", "250ms"),
        ("zmq-linger", "1m"),
    ])
    .unwrap();

    match validate(&[(ADDRESS_OPT, "tcp://hub:1"), ("zmq-colour", "red")]).unwrap_err() {
        Error::UnknownOption { driver, key } => {
            assert_eq!((driver.as_str(), key.as_str()), ("zmq", "zmq-colour"))
        }
        other => panic!("{other:?}"),
    }
    match validate(&[]).unwrap_err() {
        Error::MissingOption { driver, key } => {
            assert_eq!((driver.as_str(), key.as_str()), ("zmq", "zmq-address"))
        }
        other => panic!("{other:?}"),
    }
    let invalid = [
        (ADDRESS_OPT, "hub:5555"),
        (ADDRESS_OPT, "http://hub:80"),
        (ADDRESS_OPT, "tcp://hub"),
        (ADDRESS_OPT, "tcp://hub:99999"),
        (ADDRESS_OPT, "tcp://hub:1,"),
        (ADDRESS_OPT, "ipc://"),
        ("zmq-sndhwm", "-1"),
        ("zmq-sndhwm", "many"),
        ("zmq-send-timeout", "5"),
        ("zmq-send-timeout", "soon"),
        ("zmq-linger", "2h"),
    ];
    for (key, value) in invalid {
        let mut pairs = vec![(key, value)];
        if key != ADDRESS_OPT {
            pairs.push((ADDRESS_OPT, "tcp://hub:1"));
        }
        match validate(&pairs).unwrap_err() {
            Error::InvalidOption {
                driver,
                key: k,
                value: v,
                ..
            } => {
                assert_eq!(
                    (driver.as_str(), k.as_str(), v.as_str()),
                    ("zmq", key, value)
                );
            }
            other => panic!("{key}={value}: {other:?}"),
        }
    }
    let err = validate(&[(ADDRESS_OPT, "http://hub:80")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"http://hub:80\" for option \"zmq-address\" of log driver \"zmq\": \
         not a ZeroMQ endpoint (tcp://host:port, ipc://path or inproc://name)"
    );
}

#[test]
fn the_registry_creates_it_by_name() {
    assert!(registry().names().contains(&NAME.to_string()));
    assert!(matches!(
        registry().create(NAME, &Info::default()),
        Err(Error::MissingOption { .. })
    ));
    let hub = Hub::start(b"", 1);
    let logger = registry()
        .create(NAME, &info(&hub.endpoint, &[], &[("mode", "non-blocking")]))
        .unwrap();
    assert_eq!(logger.name(), NAME);
    logger
        .log(Message::new(Source::Stdout, "via registry"))
        .unwrap();
    logger.close().unwrap();
    assert_eq!(hub.join(), [frames("default", "default", "via registry")]);
}

#[test]
fn zmq_logger_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ZmqLogger>();
}

#[test]
fn a_long_line_is_one_message_per_chunk_and_the_partial_frame_marks_them() {
    for marked in [false, true] {
        let hub = Hub::start(b"", 5);
        let extra: &[(&str, &str)] = if marked {
            &[("zmq-partial-frame", "true")]
        } else {
            &[]
        };
        let logger = Arc::new(ZmqLogger::new(&info(&hub.endpoint, &[], extra)).unwrap());
        // 10 bytes cut at 4: "0123", "4567", "89"; then "ok" whole; then
        // an output that ends without a newline.
        Copier::new(logger.clone())
            .buffer_size(4)
            .source(Source::Stdout, &b"0123456789\nok\nend"[..])
            .run()
            .unwrap()
            .wait();
        logger.close().unwrap();
        let got = hub.join();
        let payloads: Vec<&[u8]> = got.iter().map(|f| &f[2][..]).collect();
        assert_eq!(
            payloads,
            [
                &b"f00dfeedbeef: 0123"[..],
                b"f00dfeedbeef: 4567",
                b"f00dfeedbeef: 89",
                b"f00dfeedbeef: ok",
                b"f00dfeedbeef: end"
            ]
        );
        if !marked {
            assert!(
                got.iter().all(|f| f.len() == 3),
                "the default layout never changes"
            );
            continue;
        }
        let marks: Vec<String> = got
            .iter()
            .map(|f| String::from_utf8(f[3].clone()).unwrap())
            .collect();
        let id = |i: usize| marks[i].split(':').next().unwrap().to_owned();
        let (first, tail) = (id(0), id(4));
        assert_eq!((first.len(), tail.len()), (64, 64));
        assert_ne!(first, tail);
        assert_eq!(
            marks,
            [
                format!("{first}:1:more"),
                format!("{first}:2:more"),
                format!("{first}:3:last"),
                String::new(),
                format!("{tail}:1:more")
            ]
        );
    }
}
