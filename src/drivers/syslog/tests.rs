//! The driver end to end over local sockets: exact bytes per transport,
//! order, reconnection, and what a full queue and a close cost.

use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::message::Source;

/// 2026-12-02T14:05:09.123456789Z.
fn at() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_796_220_309, 123_456_789)
}

fn line(source: Source, text: &str) -> Message {
    let mut msg = Message::new(source, text.to_owned());
    msg.timestamp = at();
    msg
}

fn logger(options: &[(&str, &str)]) -> SyslogLogger {
    let mut info = Info::new("0123456789abcdef0123456789abcdef");
    info.container_name = "/web".into();
    for &(key, value) in options {
        info = info.with_option(key, value);
    }
    SyslogLogger::new(&info).unwrap()
}

fn pid() -> u32 {
    std::process::id()
}

/// A UDP server on a loopback port, and its `udp://` address.
fn udp_server() -> (UdpSocket, String) {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let address = format!("udp://{}", server.local_addr().unwrap());
    (server, address)
}

/// A TCP server on a loopback port, and its `tcp://` address.
fn tcp_server() -> (TcpListener, String) {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("tcp://{}", server.local_addr().unwrap());
    (server, address)
}

/// A `tcp://` address that nothing listens on yet, and its port.
fn closed_port() -> (u16, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    (port, format!("tcp://127.0.0.1:{port}"))
}

/// Everything one accepted connection sends, until it ends.
fn read_all(listener: &TcpListener) -> String {
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    got
}

#[test]
fn udp_sends_one_rfc5424_message_a_datagram_with_dockers_bytes() {
    let (server, address) = udp_server();
    let log = logger(&[
        ("syslog-address", &address),
        ("syslog-format", "rfc5424micro"),
        ("syslog-facility", "local0"),
    ]);
    log.log(line(Source::Stdout, "hello")).unwrap();
    log.log(line(Source::Stderr, "oops")).unwrap();
    log.close().unwrap();
    let host = hostname();
    let mut buf = [0u8; 1024];
    for (pri, text) in [(134, "hello"), (131, "oops")] {
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!(
                "<{pri}>1 2026-12-02T14:05:09.123456Z {host} 0123456789ab {} 0123456789ab - {text}\n",
                pid()
            )
        );
    }
    let stats = log.stats();
    assert_eq!((stats.lines, stats.bytes, stats.dropped), (2, 9, 0));
}

#[test]
fn a_udp_message_too_big_for_a_datagram_is_cut_and_counted() {
    let (server, address) = udp_server();
    let log = logger(&[("syslog-address", &address)]);
    log.log(line(Source::Stdout, &"x".repeat(70_000))).unwrap();
    log.close().unwrap();
    let mut buf = vec![0u8; 80_000];
    assert_eq!(server.recv(&mut buf).unwrap(), 65_507);
    let stats = log.stats();
    assert_eq!((stats.lines, stats.truncated), (1, 1));
}

#[test]
fn tcp_tls_style_octet_counting_frames_every_message_in_order() {
    let (server, address) = tcp_server();
    let log = logger(&[
        ("syslog-address", &address),
        ("syslog-format", "rfc3164"),
        ("syslog-framing", "octet-counted"),
        ("tag", "{{.Name}}"),
    ]);
    let mut batch: VecDeque<Message> = (0..1000)
        .map(|i| line(Source::Stdout, &format!("line {i}")))
        .collect();
    log.log_batch(&mut batch, &mut |e| panic!("{e}"));
    log.close().unwrap();
    let got = read_all(&server);
    let host = hostname();
    let want: String = (0..1000)
        .map(|i| {
            let message = format!("<30>Dec  2 14:05:09 {host} web[{}]: line {i}\n", pid());
            format!("{} {message}", message.len())
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(log.stats().lines, 1000);
}

#[test]
fn structured_data_names_the_container_and_the_selected_labels() {
    let (server, address) = tcp_server();
    let mut info = Info::new("0123456789abcdef0123456789abcdef")
        .with_option("syslog-address", &address)
        .with_option("syslog-format", "rfc5424")
        .with_option("syslog-structured-data", "true")
        .with_option("labels", "team");
    info.container_name = "/web".into();
    info.container_labels
        .insert("team".into(), r#"a"b]"#.into());
    let log = SyslogLogger::new(&info).unwrap();
    log.log(line(Source::Stdout, "hi")).unwrap();
    log.close().unwrap();
    let got = read_all(&server);
    let sd = r#"[container@32473 name="web" id="0123456789abcdef0123456789abcdef" team="a\"b\]"]"#;
    assert_eq!(
        got,
        format!(
            "<30>1 2026-12-02T14:05:09Z {} 0123456789ab {} 0123456789ab {sd} hi\n",
            hostname(),
            pid()
        )
    );
}

#[test]
fn a_server_down_at_start_gets_the_queued_lines_once_it_is_up() {
    // A port that nothing listens on, yet.
    let (port, address) = closed_port();
    let log = logger(&[("syslog-address", &address), ("tag", "t")]);
    for i in 0..10 {
        log.log(line(Source::Stdout, &format!("early {i}")))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let server = TcpListener::bind(("127.0.0.1", port)).unwrap();
    log.log(line(Source::Stdout, "late")).unwrap();
    let reader = std::thread::spawn(move || read_all(&server));
    log.close().unwrap();
    let got = reader.join().unwrap();
    let lines: Vec<&str> = got
        .lines()
        .map(|l| l.rsplit(": ").next().unwrap())
        .collect();
    let mut want: Vec<String> = (0..10).map(|i| format!("early {i}")).collect();
    want.push("late".into());
    assert_eq!(lines, want);
    assert_eq!(log.stats().lines, 11);
}

#[test]
fn a_connection_the_server_closed_while_idle_is_made_again_before_the_next_line() {
    let (server, address) = tcp_server();
    let log = logger(&[("syslog-address", &address), ("tag", "t")]);
    log.log(line(Source::Stdout, "first")).unwrap();
    {
        let (mut conn, _) = server.accept().unwrap();
        let mut buf = vec![0u8; 256];
        let n = conn.read(&mut buf).unwrap();
        assert!(buf[..n].ends_with(b": first\n"));
        // The server ends the idle connection.
    }
    std::thread::sleep(Duration::from_millis(200));
    log.log(line(Source::Stdout, "second")).unwrap();
    let reader = std::thread::spawn(move || read_all(&server));
    log.close().unwrap();
    let got = reader.join().unwrap();
    assert!(got.ends_with(": second\n"), "{got:?}");
    assert_eq!(got.lines().count(), 1);
}

#[test]
fn while_the_server_is_down_a_full_queue_drops_and_counts() {
    let (_, address) = closed_port();
    let log = logger(&[
        ("syslog-address", &address),
        ("syslog-buffer-limit", "1k"),
        ("syslog-write-timeout", "1s"),
    ]);
    // Once the worker has failed to connect, `log` does not wait.
    log.log(line(Source::Stdout, "x")).unwrap();
    while !log.shared.down.load(std::sync::atomic::Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut dropped = 0;
    for _ in 0..100 {
        match log.log(line(Source::Stdout, &"y".repeat(100))) {
            Ok(()) => {}
            Err(Error::Dropped { driver, .. }) => {
                assert_eq!(driver, NAME);
                dropped += 1;
            }
            Err(other) => panic!("not a drop: {other}"),
        }
    }
    // 1 KiB holds the first line and as many of the others as fit.
    let first = log.frame(&line(Source::Stdout, "x")).0.len();
    let other = log.frame(&line(Source::Stdout, &"y".repeat(100))).0.len();
    let kept = (1024 - first) / other;
    assert_eq!(dropped, 100 - kept as u64);
    assert_eq!(log.stats().dropped, dropped);
    assert_eq!(log.stats().dropped_full, dropped);
    // What is queued is dropped at close, once the server has stayed
    // down for the write timeout.
    match log.close() {
        Err(Error::FlushTimeout { unflushed, .. }) => assert_eq!(unflushed, 1 + kept as u64),
        other => panic!("not a flush timeout: {other:?}"),
    }
    assert_eq!(log.stats().dropped, 101);
}

#[test]
fn close_drops_and_counts_what_the_server_did_not_take_in_time() {
    // A server that accepts and never reads.
    let (server, address) = tcp_server();
    let log = logger(&[
        ("syslog-address", &address),
        ("syslog-write-timeout", "200ms"),
        ("syslog-buffer-limit", "64m"),
    ]);
    let big = "z".repeat(16 << 10);
    let mut refused = 0u64;
    for _ in 0..2000 {
        if log.log(line(Source::Stdout, &big)).is_err() {
            refused += 1;
        }
    }
    let _conn: TcpStream = server.accept().unwrap().0;
    match log.close() {
        Err(Error::FlushTimeout {
            driver, unflushed, ..
        }) => {
            assert_eq!(driver, NAME);
            let stats = log.stats();
            assert_eq!(stats.dropped, unflushed + refused);
            assert_eq!(stats.lines + stats.dropped, 2000);
        }
        other => panic!("not a flush timeout: {other:?}"),
    }
    assert!(matches!(
        log.log(line(Source::Stdout, "late")),
        Err(Error::Closed { .. })
    ));
}

#[test]
fn unixgram_and_unix_stream_sockets_take_the_unix_format() {
    let dir = std::env::temp_dir().join(format!("logdriver-syslog-{}", pid()));
    std::fs::create_dir_all(&dir).unwrap();
    let gram = dir.join("gram.sock");
    let _ = std::fs::remove_file(&gram);
    let server = UnixDatagram::bind(&gram).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let address = format!("unixgram://{}", gram.display());
    let log = logger(&[("syslog-address", &address), ("tag", "t")]);
    log.log(line(Source::Stderr, "dgram")).unwrap();
    log.close().unwrap();
    let mut buf = [0u8; 256];
    let n = server.recv(&mut buf).unwrap();
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        format!("<27>Dec  2 14:05:09 t[{}]: dgram\n", pid())
    );

    let stream = dir.join("stream.sock");
    let _ = std::fs::remove_file(&stream);
    let server = std::os::unix::net::UnixListener::bind(&stream).unwrap();
    let address = format!("unix://{}", stream.display());
    let log = logger(&[("syslog-address", &address), ("tag", "t")]);
    log.log(line(Source::Stdout, "one")).unwrap();
    log.log(line(Source::Stdout, "two")).unwrap();
    log.close().unwrap();
    let (mut conn, _) = server.accept().unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(
        got,
        format!(
            "<30>Dec  2 14:05:09 t[{0}]: one\n<30>Dec  2 14:05:09 t[{0}]: two\n",
            pid()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_options_name_the_driver_the_option_and_the_value() {
    let err = SyslogLogger::validate(
        &[("syslog-address".to_owned(), "tcp+tls://h".to_owned())]
            .into_iter()
            .chain([(
                "syslog-tls-ca-cert".to_owned(),
                "/nonexistent/ca.pem".to_owned(),
            )])
            .collect(),
    )
    .unwrap_err();
    match err {
        Error::InvalidOption {
            driver, key, value, ..
        } => {
            assert_eq!(driver, NAME);
            if cfg!(feature = "tls") {
                assert_eq!(
                    (key.as_str(), value.as_str()),
                    ("syslog-tls-ca-cert", "/nonexistent/ca.pem")
                );
            } else {
                assert_eq!(
                    (key.as_str(), value.as_str()),
                    ("syslog-address", "tcp+tls://h:514")
                );
            }
        }
        other => panic!("not an InvalidOption: {other:?}"),
    }
}

#[test]
fn a_100_character_name_as_the_tag_is_cut_to_fit_rfc5424_never_refused() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let name = "n".repeat(100);
    let mut info = Info::new("0123456789abcdef0123456789abcdef")
        .with_option(
            "syslog-address",
            format!("udp://{}", server.local_addr().unwrap()),
        )
        .with_option("syslog-format", "rfc5424")
        .with_option("syslog-structured-data", "true")
        .with_option("tag", "{{.Name}}");
    info.container_name = format!("/{name}");
    let log = SyslogLogger::new(&info).unwrap();
    log.log(line(Source::Stdout, "hi")).unwrap();
    log.close().unwrap();
    let mut buf = [0u8; 1024];
    let n = server.recv(&mut buf).unwrap();
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        format!(
            "<30>1 2026-12-02T14:05:09Z {} {} {} {} [container@32473 name=\"{name}\" id=\"0123456789abcdef0123456789abcdef\"] hi\n",
            hostname(),
            &name[..48],
            pid(),
            &name[..32],
        )
    );
}
