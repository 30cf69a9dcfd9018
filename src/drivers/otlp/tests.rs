//! The driver against a stand-in collector that decodes every request
//! with prost messages derived here from the OTLP `.proto` files, apart
//! from the hand-written encoder.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use super::*;
use crate::message::PartialMeta;

#[derive(Clone, PartialEq, prost::Message)]
struct Request {
    #[prost(message, repeated, tag = "1")]
    resource_logs: Vec<ResourceLogs>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct ResourceLogs {
    #[prost(message, optional, tag = "1")]
    resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    scope_logs: Vec<ScopeLogs>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct Resource {
    #[prost(message, repeated, tag = "1")]
    attributes: Vec<KeyValue>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct ScopeLogs {
    #[prost(message, optional, tag = "1")]
    scope: Option<Scope>,
    #[prost(message, repeated, tag = "2")]
    log_records: Vec<LogRecord>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct Scope {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    version: String,
}
#[derive(Clone, PartialEq, prost::Message)]
struct LogRecord {
    #[prost(fixed64, tag = "1")]
    time_unix_nano: u64,
    #[prost(int32, tag = "2")]
    severity_number: i32,
    #[prost(string, tag = "3")]
    severity_text: String,
    #[prost(message, optional, tag = "5")]
    body: Option<AnyValue>,
    #[prost(message, repeated, tag = "6")]
    attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "11")]
    observed_time_unix_nano: u64,
}
#[derive(Clone, PartialEq, prost::Message)]
struct KeyValue {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(message, optional, tag = "2")]
    value: Option<AnyValue>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct AnyValue {
    #[prost(oneof = "Any", tags = "1, 2, 3, 7")]
    value: Option<Any>,
}
#[derive(Clone, PartialEq, prost::Oneof)]
enum Any {
    #[prost(string, tag = "1")]
    Str(String),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(bytes = "vec", tag = "7")]
    Bytes(Vec<u8>),
}

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Any::Str(v.into())),
    })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
    }
}

/// One request the collector got: its head's lines and its decoded body.
#[derive(Debug, Clone)]
struct Got {
    head: Vec<String>,
    request: Request,
}

/// A stand-in collector: answers the `n`th request with `answer(n)`.
struct Collector {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Collector {
    fn start(answer: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static) -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let into = Arc::clone(&got);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (got, answer) = (Arc::clone(&into), Arc::clone(&answer));
                std::thread::spawn(move || serve(conn, &got, &*answer));
            }
        });
        Collector { port, got }
    }

    fn ok() -> Collector {
        Collector::start(|_| ok_answer(b""))
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn records(&self) -> Vec<LogRecord> {
        let got = self.got.lock();
        got.iter()
            .flat_map(|g| &g.request.resource_logs)
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| s.log_records.clone())
            .collect()
    }
}

fn ok_answer(body: &[u8]) -> Vec<u8> {
    let mut a = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    a.extend_from_slice(body);
    a
}

fn serve(conn: TcpStream, got: &Mutex<Vec<Got>>, answer: &dyn Fn(usize) -> Vec<u8>) {
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            head.push(line);
        }
        let header = |name: &str| {
            head.iter().find_map(|h| {
                let (n, v) = h.split_once(": ")?;
                n.eq_ignore_ascii_case(name).then(|| v.to_owned())
            })
        };
        let len: usize = header("content-length").unwrap().parse().unwrap();
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        if header("content-encoding").as_deref() == Some("gzip") {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .unwrap();
            body = plain;
        }
        let request = <Request as prost::Message>::decode(&body[..]).unwrap();
        let n = {
            let mut got = got.lock();
            got.push(Got { head, request });
            got.len() - 1
        };
        if writer.write_all(&answer(n)).is_err() {
            return;
        }
    }
}

fn logger(collector: &Collector, opts: &[(&str, &str)]) -> OtlpLogger {
    let mut info = Info::new("c0ffee0123456789")
        .with_option("otlp-endpoint", collector.endpoint())
        .with_option("otlp-batch-delay", "10ms");
    for &(k, v) in opts {
        info = info.with_option(k, v);
    }
    OtlpLogger::new(&info).unwrap()
}

fn body(r: &LogRecord) -> Any {
    r.body.clone().unwrap().value.unwrap()
}

fn attr(r: &LogRecord, key: &str) -> Option<Any> {
    r.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone()?.value)
}

#[test]
fn every_record_carries_the_container_its_stream_and_its_line() {
    for compression in ["gzip", "none"] {
        let collector = Collector::ok();
        let mut info = Info::new("c0ffee0123456789")
            .with_option("otlp-endpoint", collector.endpoint())
            .with_option("otlp-compression", compression)
            .with_option("otlp-headers", "X-Scope-OrgID=t1")
            .with_option("labels", "tier");
        info.container_name = "/web".into();
        info.container_image_name = "nginx:1".into();
        info.container_image_id = "sha256:abc".into();
        info.container_labels.insert("tier".into(), "front".into());
        let logger = OtlpLogger::new(&info).unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let mut out = Message::new(Source::Stdout, "hello");
        out.timestamp = at;
        logger.log(out).unwrap();
        logger
            .log(Message::new(Source::Stderr, &b"bad \xff\x00 bytes"[..]))
            .unwrap();
        logger.close().unwrap();
        assert_eq!(logger.stats().lines, 2);

        let got = collector.got.lock().clone();
        let head = &got[0].head;
        assert_eq!(head[0], "POST /v1/logs HTTP/1.1");
        assert!(head.contains(&"Content-Type: application/x-protobuf".to_owned()));
        assert!(head.contains(&"X-Scope-OrgID: t1".to_owned()));
        let gzip = head.contains(&"Content-Encoding: gzip".to_owned());
        assert_eq!(gzip, compression == "gzip");
        let resource_logs = &got[0].request.resource_logs;
        assert_eq!(resource_logs.len(), 1);
        let resource = resource_logs[0].resource.clone().unwrap();
        let keys: Vec<_> = resource.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "service.name",
                "container.id",
                "container.name",
                "container.image.name",
                "container.image.id",
                "host.name",
                "tier"
            ]
        );
        assert_eq!(resource.attributes[0], kv("service.name", s("web")));
        assert_eq!(
            resource.attributes[1],
            kv("container.id", s("c0ffee0123456789"))
        );
        assert_eq!(
            resource.attributes[4],
            kv("container.image.id", s("sha256:abc"))
        );
        assert_eq!(resource.attributes[6], kv("tier", s("front")));
        let scope = resource_logs[0].scope_logs[0].scope.clone().unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("logdriver", env!("CARGO_PKG_VERSION"))
        );

        let records = collector.records();
        assert_eq!(records.len(), 2);
        let (first, second) = (&records[0], &records[1]);
        assert_eq!(first.time_unix_nano, 1_700_000_000_123_456_789);
        assert!(first.observed_time_unix_nano > first.time_unix_nano);
        assert_eq!(
            (first.severity_number, &first.severity_text[..]),
            (9, "INFO")
        );
        assert_eq!(first.attributes, [kv("log.iostream", s("stdout"))]);
        assert_eq!(body(first), Any::Str("hello".into()));
        assert_eq!(
            (second.severity_number, &second.severity_text[..]),
            (17, "ERROR")
        );
        assert_eq!(second.attributes, [kv("log.iostream", s("stderr"))]);
        assert_eq!(body(second), Any::Bytes(b"bad \xff\x00 bytes".to_vec()));
    }
}

fn chunk(line: &[u8], id: &str, ordinal: u32, last: bool) -> Message {
    let mut msg = Message::new(Source::Stdout, line.to_vec());
    msg.timestamp = SystemTime::UNIX_EPOCH + Duration::from_secs(7);
    msg.partial = Some(PartialMeta {
        id: id.into(),
        ordinal,
        last,
    });
    msg
}

#[test]
fn a_partial_group_is_one_record_and_a_longer_line_goes_in_parts() {
    let collector = Collector::ok();
    let logger = logger(&collector, &[("otlp-max-record", "1k")]);
    // One line in three chunks: one record, byte for byte.
    logger.log(chunk(b"ab", "g1", 1, false)).unwrap();
    logger.log(chunk(b"\xffc", "g1", 2, false)).unwrap();
    logger.log(chunk(b"d", "g1", 3, true)).unwrap();
    // A line of 2,500 bytes in chunks of 512, with a bound of 1,024:
    // three parts of whole chunks.
    let big: Vec<u8> = (0..2500).map(|i| b'a' + (i % 26) as u8).collect();
    for (n, piece) in big.chunks(512).enumerate() {
        let last = n == 4;
        logger.log(chunk(piece, "g2", n as u32 + 1, last)).unwrap();
    }
    // A group cut short by a whole line: a part that is not the last.
    logger.log(chunk(b"cut", "g3", 1, false)).unwrap();
    logger.log(Message::new(Source::Stdout, "whole")).unwrap();
    logger.close().unwrap();

    let records = collector.records();
    let bodies: Vec<Any> = records.iter().map(body).collect();
    assert_eq!(bodies[0], Any::Bytes(b"ab\xffcd".to_vec()));
    assert_eq!(records[0].time_unix_nano, 7_000_000_000);
    assert_eq!(
        records[0].attributes.len(),
        1,
        "a whole line has no partial attributes"
    );
    let parts = |r: &LogRecord| {
        (
            attr(r, "logdriver.partial.id"),
            attr(r, "logdriver.partial.ordinal"),
            attr(r, "logdriver.partial.last"),
        )
    };
    let text = |r: &LogRecord| match body(r) {
        Any::Str(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(text(&records[1]).len(), 1024);
    assert_eq!(text(&records[2]).len(), 1024);
    assert_eq!(
        text(&records[1]) + &text(&records[2]) + &text(&records[3]),
        String::from_utf8(big).unwrap()
    );
    for (n, last) in [(1, false), (2, false), (3, true)] {
        assert_eq!(
            parts(&records[n]),
            (
                Some(Any::Str("g2".into())),
                Some(Any::Int(n as i64)),
                Some(Any::Bool(last))
            )
        );
    }
    assert_eq!(text(&records[4]), "cut");
    assert_eq!(
        parts(&records[4]),
        (
            Some(Any::Str("g3".into())),
            Some(Any::Int(1)),
            Some(Any::Bool(false))
        )
    );
    assert_eq!(text(&records[5]), "whole");
    assert_eq!(records.len(), 6);
    assert_eq!(logger.stats().lines, 6);
}

#[test]
fn a_group_open_at_close_is_sent_as_a_part() {
    let collector = Collector::ok();
    let logger = logger(&collector, &[]);
    logger.log(chunk(b"open", "g", 1, false)).unwrap();
    logger.close().unwrap();
    let records = collector.records();
    assert_eq!(records.len(), 1);
    assert_eq!(body(&records[0]), Any::Str("open".into()));
    assert_eq!(
        attr(&records[0], "logdriver.partial.last"),
        Some(Any::Bool(false))
    );
}

#[test]
fn busy_answers_are_retried_after_their_retry_after() {
    let collector = Collector::start(|n| match n {
        0 => b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n".to_vec(),
        1 => b"HTTP/1.1 429 Slow down\r\nContent-Length: 0\r\n\r\n".to_vec(),
        _ => ok_answer(b""),
    });
    let logger = logger(&collector, &[]);
    let start = Instant::now();
    for n in 0..3 {
        logger
            .log(Message::new(Source::Stdout, format!("l{n}")))
            .unwrap();
    }
    logger.close().unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    let got = collector.got.lock().clone();
    assert_eq!(got.len(), 3, "the same batch, three times");
    assert_eq!(got[0].request, got[2].request);
    let stats = logger.stats();
    assert_eq!((stats.lines, stats.dropped, stats.resent), (3, 0, 0));
}

#[test]
fn rejections_and_partial_successes_are_counted_exactly() {
    // rejected_log_records = 2, error_message = "too old".
    let partial = [
        0x0a, 0x0b, 0x08, 0x02, 0x12, 0x07, b't', b'o', b'o', b' ', b'o', b'l', b'd',
    ];
    let collector = Collector::start(move |n| match n {
        0 => b"HTTP/1.1 400 Bad Request\r\nContent-Length: 9\r\n\r\nbad field".to_vec(),
        _ => ok_answer(&partial),
    });
    let logger = logger(&collector, &[("otlp-batch-records", "5")]);
    let batch = |logger: &OtlpLogger| {
        let mut lines: VecDeque<Message> = (0..5)
            .map(|n| Message::new(Source::Stdout, format!("{n}")))
            .collect();
        logger.log_batch(&mut lines, &mut |e| panic!("{e}"));
    };
    batch(&logger);
    while collector.got.lock().is_empty() {
        std::thread::sleep(Duration::from_millis(5));
    }
    batch(&logger);
    logger.close().unwrap();
    let stats = logger.stats();
    assert_eq!((stats.lines, stats.dropped), (3, 7));
    assert_eq!((stats.dropped_rejected, stats.dropped_full), (7, 0));
    assert_eq!(
        logger.drops(),
        OtlpDrops {
            rejected: 5,
            partial: 2,
            ..OtlpDrops::default()
        }
    );
    assert_eq!(logger.last_rejection().as_deref(), Some("too old"));
}

#[test]
fn a_collector_that_is_down_costs_counted_drops_and_never_a_wedge() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let info = Info::new("c1")
        .with_option("otlp-endpoint", format!("http://127.0.0.1:{port}"))
        .with_option("otlp-buffer-limit", "4k")
        .with_option("otlp-batch-delay", "1ms")
        .with_option("otlp-linger", "300ms");
    let logger = OtlpLogger::new(&info).expect("a collector that is down is no error at start");
    let line = "x".repeat(100);
    let (mut taken, mut dropped) = (0u64, 0u64);
    for _ in 0..200 {
        match logger.log(Message::new(Source::Stdout, line.clone())) {
            Ok(()) => taken += 1,
            Err(Error::Dropped { driver, .. }) => {
                assert_eq!(driver, NAME);
                dropped += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(dropped > 0 && taken > 0, "taken {taken}, dropped {dropped}");
    // The queue is full: what waits is within a record of its limit (the
    // batch being retried is not counted).
    let queued = logger.stats().queued_bytes;
    assert!((4096 - 200..=4096).contains(&queued), "{queued}");
    let closed = logger.close();
    let unflushed = logger.drops().unflushed;
    match closed {
        Err(Error::FlushTimeout { unflushed: n, .. }) => assert_eq!(n, unflushed),
        other => panic!("{other:?}"),
    }
    // Every record `log` took is dropped at close, counted: none unseen.
    assert_eq!(logger.drops().queue_full, dropped);
    assert_eq!(logger.stats().dropped, taken + dropped);
    assert_eq!(logger.stats().dropped_full, dropped);
    assert_eq!(logger.stats().dropped_rejected, 0);
    assert_eq!(logger.stats().lines, 0);
    assert_eq!(logger.stats().queued_bytes, 0);
}

#[test]
fn a_connection_the_collector_closed_while_idle_is_replaced() {
    let collector = Collector::start(|_| {
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
    });
    let logger = logger(&collector, &[]);
    for n in 0..3 {
        logger
            .log(Message::new(Source::Stdout, format!("l{n}")))
            .unwrap();
        while collector.got.lock().len() <= n {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    logger.close().unwrap();
    let stats = logger.stats();
    assert_eq!((stats.lines, stats.resent, stats.dropped), (3, 0, 0));
}

#[test]
fn options_are_checked_through_the_registry() {
    let opts = |k: &str, v: &str| HashMap::from([(k.to_owned(), v.to_owned())]);
    assert!(OtlpLogger::validate(&opts("otlp-endpoint", "http://c:4318")).is_ok());
    match crate::registry().validate(NAME, &opts("otlp-endpoint", "tcp://c")) {
        Err(Error::InvalidOption {
            driver, key, value, ..
        }) => {
            assert_eq!(
                (&driver[..], &key[..], &value[..]),
                (NAME, "otlp-endpoint", "tcp://c")
            );
        }
        other => panic!("{other:?}"),
    }
}
