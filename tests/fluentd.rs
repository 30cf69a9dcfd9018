//! The fluentd driver against an in-process forward-protocol server that
//! decodes with an independent MessagePack reader (`rmpv`).

use std::io::{Cursor, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{unbounded, Receiver, Sender};
use logdriver::drivers::fluentd::{FluentdLogger, NAME};
use logdriver::{registry, Copier, Error, Info, Logger, Message, PartialMeta, Source};
use rmpv::Value;

/// What the server does with each frame.
#[derive(Clone, Copy)]
enum Answer {
    /// Ack when asked to.
    Ack,
    /// Close the connection without acking the `n`th frame (from 1), once.
    DropAt(usize),
}

/// A forward-protocol server on a free loopback port: every frame it
/// reads, decoded, goes to `frames`, with its raw bytes.
struct Server {
    port: u16,
    frames: Receiver<(Value, Vec<u8>)>,
}

impl Server {
    fn start(answer: Answer) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Server::serve(listener, answer)
    }

    fn serve(listener: TcpListener, answer: Answer) -> Server {
        let port = listener.local_addr().unwrap().port();
        let (tx, frames) = unbounded();
        let seen = Arc::new(AtomicUsize::new(0));
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (tx, seen) = (tx.clone(), Arc::clone(&seen));
                thread::spawn(move || serve_connection(conn, answer, &tx, &seen));
            }
        });
        Server { port, frames }
    }

    fn address(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// The next frame, within 10 s.
    fn frame(&self) -> Value {
        self.frames
            .recv_timeout(Duration::from_secs(10))
            .expect("a frame within 10 s")
            .0
    }
}

fn serve_connection(
    mut conn: TcpStream,
    answer: Answer,
    tx: &Sender<(Value, Vec<u8>)>,
    seen: &AtomicUsize,
) {
    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
    loop {
        let mut raw = Vec::new();
        let value = {
            let mut tee = TeeReader(&mut reader, &mut raw);
            match rmpv::decode::read_value(&mut tee) {
                Ok(v) => v,
                Err(_) => return,
            }
        };
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        if let Answer::DropAt(at) = answer {
            if n == at {
                return; // gone without an ack, and without handing it on
            }
        }
        let chunk = value
            .as_array()
            .and_then(|a| a.last())
            .and_then(|o| field(o, "chunk"))
            .cloned();
        tx.send((value, raw)).unwrap();
        if let Some(chunk) = chunk {
            let mut ack = Vec::new();
            rmpv::encode::write_value(&mut ack, &Value::Map(vec![("ack".into(), chunk)])).unwrap();
            if conn.write_all(&ack).is_err() {
                return;
            }
        }
    }
}

/// Keeps a copy of what is read.
struct TeeReader<'a, R>(&'a mut R, &'a mut Vec<u8>);

impl<R: std::io::Read> std::io::Read for TeeReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

fn field<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn info(opts: &[(&str, &str)]) -> Info {
    let mut info = Info::new("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    info.container_name = "/web".into();
    for &(k, v) in opts {
        info = info.with_option(k, v);
    }
    info
}

fn record_pairs(record: &Value) -> Vec<(String, String)> {
    record
        .as_map()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                other => panic!("a value that is not a string: {other:?}"),
            };
            (k.as_str().unwrap().to_owned(), v)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|&(k, v)| (k.into(), v.into())).collect()
}

#[test]
fn a_line_is_dockers_message_mode_frame() {
    let server = Server::start(Answer::Ack);
    let logger = FluentdLogger::new(&info(&[("fluentd-address", &server.address())])).unwrap();
    let t = UNIX_EPOCH + Duration::new(1_764_500_401, 500);
    logger
        .log(Message {
            timestamp: t,
            ..Message::new(Source::Stdout, "hello")
        })
        .unwrap();
    let (frame, raw) = server.frames.recv_timeout(Duration::from_secs(10)).unwrap();
    let frame = frame.as_array().unwrap().clone();
    assert_eq!(frame.len(), 4);
    assert_eq!(frame[0].as_str(), Some("0123456789ab"));
    assert_eq!(frame[1].as_i64(), Some(1_764_500_401));
    assert_eq!(
        record_pairs(&frame[2]),
        pairs(&[
            (
                "container_id",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
            ("container_name", "/web"),
            ("source", "stdout"),
            ("log", "hello"),
        ])
    );
    assert_eq!(frame[3], Value::Map(vec![]));
    // The bytes, as Go's msgp writes them: int32 seconds, fixstr keys.
    assert_eq!(&raw[..16], b"\x94\xac0123456789ab\xd2\x69");
    assert_eq!(*raw.last().unwrap(), 0x80);
    logger.close().unwrap();
    assert_eq!(logger.stats().lines, 1);
}

#[test]
fn partials_event_time_and_attrs() {
    let server = Server::start(Answer::Ack);
    let opts = [
        ("fluentd-address", server.address()),
        ("fluentd-sub-second-precision", "true".into()),
        ("env", "TENANT_ID,source".into()),
        ("tag", "docker.{{.Name}}".into()),
    ];
    let opts: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let info = info(&opts)
        .with_env("TENANT_ID", "acme")
        .with_env("source", "overridden");
    let logger = registry().create(NAME, &info).unwrap();
    // 2065: past Go's 2038 wrap.
    let t = UNIX_EPOCH + Duration::new(3_000_000_000, 7);
    logger
        .log(Message {
            timestamp: t,
            partial: Some(PartialMeta {
                id: "p".repeat(64),
                ordinal: 2,
                last: true,
            }),
            ..Message::new(Source::Stderr, "chunk")
        })
        .unwrap();
    let frame = server.frame();
    let frame = frame.as_array().unwrap();
    assert_eq!(frame[0].as_str(), Some("docker.web"));
    assert_eq!(
        frame[1],
        Value::Ext(0, vec![0xb2, 0xd0, 0x5e, 0x00, 0, 0, 0, 7])
    );
    assert_eq!(
        record_pairs(&frame[2]),
        pairs(&[
            (
                "container_id",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
            ("container_name", "/web"),
            ("source", "overridden"),
            ("log", "chunk"),
            ("partial_message", "true"),
            ("partial_id", &"p".repeat(64)),
            ("partial_ordinal", "2"),
            ("partial_last", "true"),
            ("TENANT_ID", "acme"),
        ])
    );
    logger.close().unwrap();
}

/// A Copier's lines through `logger`; returns how long it took.
fn pump(logger: Arc<dyn Logger>, lines: usize) -> Duration {
    let input: Vec<u8> = (0..lines)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let start = Instant::now();
    let stats = Copier::new(Arc::clone(&logger))
        .source(Source::Stdout, Cursor::new(input))
        .run()
        .unwrap()
        .wait();
    assert_eq!(stats.lines, lines as u64);
    start.elapsed()
}

/// Every `log` of every frame, in order; a frame sent again (its ack was
/// lost with the connection, so the same chunk id comes twice: at least
/// once) counts once.
fn logs(frames: &Receiver<(Value, Vec<u8>)>) -> Vec<String> {
    let mut out = Vec::new();
    let mut chunks = std::collections::HashSet::new();
    for (frame, _) in frames.try_iter() {
        let frame = frame.as_array().unwrap();
        let chunk = field(frame.last().unwrap(), "chunk").map(|c| c.as_str().unwrap().to_owned());
        if chunk.is_some_and(|c| !chunks.insert(c)) {
            continue;
        }
        let records: Vec<Value> = match &frame[1] {
            Value::Array(entries) => entries
                .iter()
                .map(|e| e.as_array().unwrap()[1].clone())
                .collect(),
            _ => vec![frame[2].clone()],
        };
        for record in records {
            out.push(field(&record, "log").unwrap().as_str().unwrap().to_owned());
        }
    }
    out
}

#[test]
fn with_acks_a_dropped_connection_loses_nothing() {
    // The server goes away without acking the 100th frame.
    let server = Server::start(Answer::DropAt(100));
    let opts = [
        ("fluentd-address", server.address()),
        ("fluentd-request-ack", "true".into()),
        ("fluentd-retry-wait", "10ms".into()),
    ];
    let opts: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let logger = registry().create(NAME, &info(&opts)).unwrap();
    pump(Arc::clone(&logger), 1000);
    logger.close().unwrap();
    let want: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
    assert_eq!(logs(&server.frames), want);
    let stats = logger.stats();
    assert_eq!((stats.lines, stats.dropped), (1000, 0));
}

#[test]
fn async_forward_mode_batches_and_keeps_order() {
    let server = Server::start(Answer::Ack);
    let opts = [
        ("fluentd-address", server.address()),
        ("fluentd-async", "true".into()),
        ("fluentd-forward-mode", "true".into()),
        ("fluentd-request-ack", "true".into()),
        ("fluentd-buffer-limit", "64m".into()),
    ];
    let opts: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let logger = registry().create(NAME, &info(&opts)).unwrap();
    pump(Arc::clone(&logger), 20_000);
    logger.close().unwrap();
    // Wait until every line is in.
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut frames = 0;
    while got.len() < 20_000 && Instant::now() < deadline {
        if let Ok((frame, raw)) = server.frames.recv_timeout(Duration::from_millis(100)) {
            frames += 1;
            let (tx, rx) = unbounded();
            tx.send((frame, raw)).unwrap();
            got.extend(logs(&rx));
        }
    }
    let want: Vec<String> = (0..20_000).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
    assert!(frames < 20_000 / 2, "{frames} frames for 20,000 lines");
}

#[test]
fn blocking_mode_waits_at_most_the_write_timeout_then_drops_at_once_until_the_server_is_back() {
    // A port with nothing behind it, for now.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let address = format!("tcp://127.0.0.1:{port}");
    let opts = [
        ("fluentd-address", address.as_str()),
        ("fluentd-write-timeout", "300ms"),
        ("fluentd-retry-wait", "20ms"),
    ];
    let logger = FluentdLogger::new(&info(&opts)).unwrap();
    let start = Instant::now();
    let err = logger
        .log(Message::new(Source::Stdout, "lost"))
        .unwrap_err();
    let waited = start.elapsed();
    assert!(matches!(err, Error::Dropped { .. }), "{err:?}");
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // Down: the next lines are dropped without waiting.
    let start = Instant::now();
    for _ in 0..100 {
        assert!(logger.log(Message::new(Source::Stdout, "lost")).is_err());
    }
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(logger.stats().dropped, 101);

    // The server comes up: the worker finds it, and lines go again.
    let server = Server::serve(TcpListener::bind(("127.0.0.1", port)).unwrap(), Answer::Ack);
    let deadline = Instant::now() + Duration::from_secs(10);
    while logger.log(Message::new(Source::Stdout, "back")).is_err() {
        assert!(Instant::now() < deadline, "never reconnected");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        field(&server.frame().as_array().unwrap()[2], "log")
            .unwrap()
            .as_str(),
        Some("back")
    );
    logger.close().unwrap();
}

#[test]
fn a_down_server_never_fails_creation_and_close_returns_within_the_timeout() {
    let opts = [
        ("fluentd-address", "tcp://127.0.0.1:1"),
        ("fluentd-async", "true"),
        ("fluentd-write-timeout", "300ms"),
        ("fluentd-buffer-limit", "2k"),
    ];
    let logger = registry().create(NAME, &info(&opts)).unwrap();
    let mut refused = 0;
    for i in 0..100 {
        if logger
            .log(Message::new(Source::Stdout, format!("line {i}")))
            .is_err()
        {
            refused += 1;
        }
    }
    // About 2 KiB of ~110-byte events fit; the rest were refused.
    assert!((60..=95).contains(&refused), "{refused}");
    let start = Instant::now();
    let err = logger.close().unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    match err {
        Error::FlushTimeout { unflushed, .. } => assert_eq!(unflushed, 100 - refused),
        other => panic!("{other:?}"),
    }
    let stats = logger.stats();
    assert_eq!((stats.lines, stats.dropped), (0, 100));
    // Refused by the full queue; the rest given up at close.
    assert_eq!(stats.dropped_full, refused);
    assert!(matches!(
        logger.log(Message::new(Source::Stdout, "late")),
        Err(Error::Closed { .. })
    ));
}

#[test]
fn a_unix_socket_address() {
    let dir = std::env::temp_dir().join(format!("logdriver-fluentd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fluent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let reader = thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        rmpv::decode::read_value(&mut std::io::BufReader::new(conn)).unwrap()
    });
    let address = format!("unix://{}", path.display());
    let logger = FluentdLogger::new(&info(&[("fluentd-address", &address)])).unwrap();
    logger
        .log(Message::new(Source::Stdout, "over a socket"))
        .unwrap();
    let frame = reader.join().unwrap();
    assert_eq!(
        field(&frame.as_array().unwrap()[2], "log")
            .unwrap()
            .as_str(),
        Some("over a socket")
    );
    logger.close().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_option_is_checked_and_errors_name_driver_key_and_value() {
    let invalid = |key: &str, value: &str, reason: &str| {
        let opts = std::collections::HashMap::from([(key.to_string(), value.to_string())]);
        match FluentdLogger::validate(&opts) {
            Err(Error::InvalidOption {
                driver,
                key: k,
                value: v,
                reason: r,
            }) => {
                assert_eq!(
                    (driver.as_str(), k.as_str(), v.as_str()),
                    (NAME, key, value)
                );
                assert!(r.contains(reason), "{key}={value}: {r}");
            }
            other => panic!("{key}={value}: {other:?}"),
        }
    };
    invalid("fluentd-address", "udp://h:1", "unsupported scheme: 'udp'");
    invalid("fluentd-address", "unix://", "path is empty");
    invalid(
        "fluentd-address",
        "tcp://h:1/x",
        "should not contain a path element",
    );
    invalid("fluentd-address", "h:99999", "invalid port");
    invalid("fluentd-async", "maybe", "true or false");
    invalid(
        "fluentd-async-reconnect-interval",
        "50ms",
        "from 100ms to 10s",
    );
    invalid(
        "fluentd-async-reconnect-interval",
        "11s",
        "from 100ms to 10s",
    );
    invalid("fluentd-max-retries", "2147483648", "out of range");
    invalid("fluentd-buffer-limit", "2g", "");
    invalid("fluentd-write-timeout", "-1s", "");
    invalid("fluentd-retry-wait", "soon", "");
    invalid(
        "fluentd-tls-ca",
        "/ca.pem",
        "needs a tls:// fluentd-address",
    );
    let unknown = std::collections::HashMap::from([("fluentd-nope".to_string(), "1".to_string())]);
    assert!(matches!(
        FluentdLogger::validate(&unknown),
        Err(Error::UnknownOption { driver, key }) if driver == NAME && key == "fluentd-nope"
    ));
    let ok: std::collections::HashMap<String, String> = [
        ("fluentd-address", "fluent:24224"),
        ("fluentd-async", "true"),
        ("fluentd-async-connect", "true"),
        ("fluentd-async-reconnect-interval", "1s"),
        ("fluentd-buffer-limit", "8m"),
        ("fluentd-retry-wait", "1s"),
        ("fluentd-max-retries", "2147483647"),
        ("fluentd-sub-second-precision", "true"),
        ("fluentd-request-ack", "true"),
        ("fluentd-write-timeout", "0"),
        ("fluentd-read-timeout", "2s"),
        ("tag", "{{.Name}}"),
        ("labels", "a"),
        ("env", "B"),
    ]
    .iter()
    .map(|&(k, v)| (k.to_string(), v.to_string()))
    .collect();
    FluentdLogger::validate(&ok).unwrap();
}

#[test]
fn the_now_of_a_frame_is_the_lines_own_time() {
    let server = Server::start(Answer::Ack);
    let logger = FluentdLogger::new(&info(&[("fluentd-address", &server.address())])).unwrap();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    logger.log(Message::new(Source::Stdout, "now")).unwrap();
    let frame = server.frame();
    let secs = frame.as_array().unwrap()[1].as_i64().unwrap();
    assert!((before..=before + 1).contains(&secs));
    logger.close().unwrap();
}

/// Reads one whole MessagePack value from `conn`, or `None` at its end.
fn read_frame(conn: &mut impl std::io::Read) -> Option<Value> {
    rmpv::decode::read_value(conn).ok()
}

#[test]
fn a_trickling_ack_cannot_hold_log_past_its_write_timeout() {
    // The server reads each frame, then sends its ack a byte every 200 ms:
    // progress within every socket timeout, never a whole ack in time.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            thread::spawn(move || {
                let mut reader = conn.try_clone().unwrap();
                while let Some(frame) = read_frame(&mut reader) {
                    let chunk = frame
                        .as_array()
                        .and_then(|a| a.last())
                        .and_then(|o| field(o, "chunk"))
                        .cloned();
                    let mut ack = Vec::new();
                    rmpv::encode::write_value(
                        &mut ack,
                        &Value::Map(vec![("ack".into(), chunk.unwrap())]),
                    )
                    .unwrap();
                    for byte in ack {
                        thread::sleep(Duration::from_millis(200));
                        if conn.write_all(&[byte]).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    let logger = FluentdLogger::new(&info(&[
        ("fluentd-address", &format!("tcp://127.0.0.1:{port}")),
        ("fluentd-request-ack", "true"),
        ("fluentd-write-timeout", "1s"),
    ]))
    .unwrap();
    let start = Instant::now();
    let sent = logger.log(Message::new(Source::Stdout, "slow ack"));
    let took = start.elapsed();
    assert!(sent.is_err(), "an ack that never came whole");
    assert!(took < Duration::from_millis(1_800), "log took {took:?}");
    assert_eq!(logger.stats().dropped, 1);
}

#[test]
fn a_slow_reader_cannot_hold_a_batch_past_its_write_timeout() {
    // An honest but slow server: 64 KiB every 250 ms.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n) = std::io::Read::read(&mut conn, &mut buf) {
                    if n == 0 {
                        return;
                    }
                    thread::sleep(Duration::from_millis(250));
                }
            });
        }
    });
    let logger = FluentdLogger::new(&info(&[
        ("fluentd-address", &format!("tcp://127.0.0.1:{port}")),
        ("fluentd-write-timeout", "1s"),
    ]))
    .unwrap();
    // 32 MiB in one batch: far more than the socket buffers hold.
    let mut batch: std::collections::VecDeque<Message> = (0..512)
        .map(|_| Message::new(Source::Stdout, vec![b'x'; 64 << 10]))
        .collect();
    let start = Instant::now();
    let mut failed = 0;
    logger.log_batch(&mut batch, &mut |_| failed += 1);
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(2_500),
        "the batch took {took:?}"
    );
    let s = logger.stats();
    assert!(failed > 0, "the slow reader took 32 MiB within a second");
    assert_eq!((s.lines + s.dropped, s.dropped), (512, failed));
}

#[test]
fn without_acks_frames_written_whole_before_a_stall_are_not_sent_again() {
    // The first connection stalls (nothing read) until the driver gives up
    // on it and connects again; then both are read to their ends. Every
    // line must arrive exactly once: the frames that went out whole on
    // the first connection are not sent again on the second.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, lines) = unbounded::<String>();
    thread::spawn(move || {
        let mut incoming = listener.incoming();
        let first = incoming.next().unwrap().unwrap();
        let second = incoming.next().unwrap().unwrap();
        let read = |mut conn: TcpStream, tx: Sender<String>| {
            thread::spawn(move || {
                let mut reader = std::io::BufReader::new(&mut conn);
                while let Some(frame) = read_frame(&mut reader) {
                    let record = &frame.as_array().unwrap()[2];
                    let log = field(record, "log").unwrap();
                    let text = String::from_utf8_lossy(
                        log.as_slice().or(log.as_str().map(str::as_bytes)).unwrap(),
                    );
                    tx.send(text[..8].to_owned()).unwrap();
                }
            })
        };
        let a = read(first, tx.clone());
        let b = read(second, tx);
        a.join().unwrap();
        b.join().unwrap();
    });
    let logger = FluentdLogger::new(&info(&[
        ("fluentd-address", &format!("tcp://127.0.0.1:{port}")),
        ("fluentd-async", "true"),
        ("fluentd-buffer-limit", "64m"),
        ("fluentd-write-timeout", "1s"),
        ("fluentd-retry-wait", "100ms"),
    ]))
    .unwrap();
    let n = 400;
    for i in 0..n {
        let mut line = format!("{i:0>8}").into_bytes();
        line.resize(64 << 10, b'.');
        logger.log(Message::new(Source::Stdout, line)).unwrap();
    }
    // 25 MiB: more than the first connection's buffers take.
    let got: Vec<String> = (0..n)
        .map(|_| {
            lines
                .recv_timeout(Duration::from_secs(30))
                .expect("every line")
        })
        .collect();
    logger.close().unwrap();
    let mut seen = got.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n, "lines sent twice");
    assert!(
        lines.recv_timeout(Duration::from_millis(500)).is_err(),
        "a line sent twice"
    );
    let s = logger.stats();
    assert_eq!((s.lines, s.dropped, s.resent), (n as u64, 0, 0));
}

#[test]
fn a_periodic_reconnect_ends_the_old_connection_in_order_and_loses_nothing() {
    // The server has said something on the first connection that the
    // driver never asked for (as a TLS server's session tickets are), and
    // reads that connection only once the driver has moved to a second.
    // A connection dropped with unread input is reset, and a reset throws
    // away what the server had not read yet.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, lines) = unbounded::<String>();
    thread::spawn(move || {
        let mut incoming = listener.incoming();
        let mut first = incoming.next().unwrap().unwrap();
        first.write_all(&[0xc0; 512]).unwrap();
        let second = incoming.next().unwrap().unwrap();
        for conn in [first, second] {
            let mut reader = std::io::BufReader::new(conn);
            while let Some(frame) = read_frame(&mut reader) {
                let record = &frame.as_array().unwrap()[2];
                let log = field(record, "log").unwrap();
                let text = log.as_slice().or(log.as_str().map(str::as_bytes)).unwrap();
                tx.send(String::from_utf8_lossy(text).into_owned()).unwrap();
            }
        }
    });
    let logger = FluentdLogger::new(&info(&[
        ("fluentd-address", &format!("tcp://127.0.0.1:{port}")),
        ("fluentd-async", "true"),
        ("fluentd-async-reconnect-interval", "100ms"),
    ]))
    .unwrap();
    for i in 0..5 {
        logger
            .log(Message::new(Source::Stdout, format!("first {i}")))
            .unwrap();
    }
    // The interval is a time: only waiting it out makes the driver move on.
    while logger.stats().lines < 5 {
        thread::yield_now();
    }
    thread::sleep(Duration::from_millis(150));
    for i in 0..5 {
        logger
            .log(Message::new(Source::Stdout, format!("second {i}")))
            .unwrap();
    }
    logger.close().unwrap();
    let got: Vec<String> = (0..10)
        .map(|_| {
            lines
                .recv_timeout(Duration::from_secs(10))
                .expect("every line")
        })
        .collect();
    let want: Vec<String> = (0..5)
        .map(|i| format!("first {i}"))
        .chain((0..5).map(|i| format!("second {i}")))
        .collect();
    assert_eq!(got, want);
}
