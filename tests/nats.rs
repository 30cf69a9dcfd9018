//! The nats driver against real `nats-server`s that the tests start on
//! free loopback ports, each with its own store directory. Run by
//! `tests/nats_e2e.sh` (`cargo test --features nats --test nats`), which
//! installs Debian's nats-server when it is missing; without the binary
//! these tests fail, they do not skip.
#![cfg(feature = "nats")]

use std::io::Cursor;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use logdriver::drivers::nats::{NatsLogger, NAME};
use logdriver::{registry, Copier, Error, Info, Logger, Message, Source};

/// A nats-server with JetStream, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "logdriver-nats-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::start_on(free_port(), scratch(), extra)
    }

    fn start_on(port: u16, dir: PathBuf, extra: &[&str]) -> Server {
        let mut args: Vec<String> = ["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        args.push(dir.display().to_string());
        args.extend(extra.iter().map(|a| a.to_string()));
        let child = spawn(&args, port);
        Server {
            child,
            port,
            dir,
            args,
        }
    }

    /// Kills the server (-9) and starts it again on the same port and store.
    fn crash_and_restart(&mut self, down_for: Duration) {
        self.kill();
        std::thread::sleep(down_for);
        self.child = spawn(&self.args, self.port);
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

fn spawn(args: &[String], port: u16) -> Child {
    let child = Command::new("nats-server")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server on PATH (tests/nats_e2e.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nats-server did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn info(url: &str, opts: &[(&str, &str)]) -> Info {
    let mut info = Info::new(ID).with_option("nats-url", url);
    for &(k, v) in opts {
        info = info.with_option(k, v);
    }
    info
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every message of `stream`, in stream order.
fn read_stream(url: &str, stream: &str, token: Option<&str>) -> Vec<async_nats::Message> {
    runtime().block_on(async {
        let mut options = async_nats::ConnectOptions::new();
        if let Some(token) = token {
            options = options.token(token.into());
        }
        let client = options.connect(url).await.unwrap();
        let js = jetstream::new(client);
        // A cluster that just lost a node can take a while to answer:
        // try again for up to 30 s.
        let deadline = Instant::now() + Duration::from_secs(30);
        let (count, consumer) = loop {
            let attempt = async {
                let mut stream = js.get_stream(stream).await.ok()?;
                let count = stream.info().await.ok()?.state.messages as usize;
                let config = consumer::pull::Config {
                    ack_policy: consumer::AckPolicy::None,
                    ..Default::default()
                };
                Some((count, stream.create_consumer(config).await.ok()?))
            };
            match attempt.await {
                Some(ready) => break ready,
                None if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                None => panic!("the stream could not be read within 30 s"),
            }
        };
        let mut messages = consumer.messages().await.unwrap();
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let msg = tokio::time::timeout(Duration::from_secs(10), messages.next())
                .await
                .expect("the stream's messages within 10 s")
                .unwrap()
                .unwrap();
            out.push(msg.message.clone());
        }
        out
    })
}

fn header<'a>(msg: &'a async_nats::Message, name: &str) -> &'a str {
    msg.headers.as_ref().unwrap().get(name).unwrap().as_str()
}

#[test]
fn single_server_200_000_lines_in_order_with_exact_subjects_payloads_and_headers() {
    let server = Server::start(&[]);
    let info = info(&server.url(), &[])
        .with_env("TENANT_ID", "acme")
        .with_env("SERVICE_ID", "web");
    let logger = registry().create(NAME, &info).unwrap();
    let input: Vec<u8> = (0..200_000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let stats = Copier::new(Arc::clone(&logger))
        .source(Source::Stdout, Cursor::new(input))
        .run()
        .unwrap()
        .wait();
    assert_eq!((stats.lines, stats.log_errors), (200_000, 0));
    logger.close().unwrap();
    let s = logger.stats();
    assert_eq!((s.lines, s.dropped), (200_000, 0));

    let messages = read_stream(&server.url(), "LOGS", None);
    assert_eq!(messages.len(), 200_000);
    let id = header(&messages[0], "Nats-Msg-Id");
    let start = id
        .strip_prefix(&format!("{ID}-"))
        .and_then(|rest| rest.strip_suffix("-1"))
        .expect("<full id>-<start>-1");
    assert!(start.parse::<u128>().is_ok(), "{id}");
    for (i, msg) in messages.iter().enumerate() {
        let seq = i + 1;
        assert_eq!(msg.subject.as_str(), "logs.acme.web");
        assert_eq!(
            &msg.payload[..],
            format!("0123456789ab: line {i}").as_bytes()
        );
        assert_eq!(header(msg, "Nats-Msg-Id"), format!("{ID}-{start}-{seq}"));
        assert_eq!(header(msg, "Log-Seq"), seq.to_string());
        assert_eq!(header(msg, "Log-Source"), "stdout");
        let time = header(msg, "Log-Time");
        assert_eq!((time.len(), &time[29..]), (30, "Z"), "{time}");
        assert!(msg
            .headers
            .as_ref()
            .unwrap()
            .get("Log-Partial-Id")
            .is_none());
    }
}

#[test]
fn partial_chunks_carry_their_headers() {
    let server = Server::start(&[]);
    let logger = NatsLogger::new(&info(&server.url(), &[])).unwrap();
    logger
        .log(Message {
            partial: Some(logdriver::PartialMeta {
                id: "c".repeat(64),
                ordinal: 2,
                last: true,
            }),
            ..Message::new(Source::Stderr, "end of a long line")
        })
        .unwrap();
    logger.close().unwrap();
    let messages = read_stream(&server.url(), "LOGS", None);
    assert_eq!(messages[0].subject.as_str(), "logs.default.default");
    assert_eq!(header(&messages[0], "Log-Source"), "stderr");
    assert_eq!(header(&messages[0], "Log-Partial-Id"), "c".repeat(64));
    assert_eq!(header(&messages[0], "Log-Partial-Ordinal"), "2");
    assert_eq!(header(&messages[0], "Log-Partial-Last"), "true");
}

#[test]
fn with_no_server_log_is_bounded_drops_are_counted_and_close_returns() {
    let url = format!("nats://127.0.0.1:{}", free_port());
    let opts = [
        ("nats-max-pending", "10"),
        ("nats-send-timeout", "300ms"),
        ("nats-linger", "300ms"),
    ];
    let logger = NatsLogger::new(&info(&url, &opts)).unwrap();
    let mut waits = Vec::new();
    for i in 0..100 {
        let start = Instant::now();
        let result = logger.log(Message::new(Source::Stdout, format!("line {i}")));
        waits.push((result.is_ok(), start.elapsed()));
    }
    // Ten in flight; the eleventh waits the send timeout; the rest drop at once.
    assert!(waits[..10].iter().all(|(ok, _)| *ok));
    assert!(
        !waits[10].0 && waits[10].1 >= Duration::from_millis(300),
        "{:?}",
        waits[10]
    );
    assert!(waits[11..]
        .iter()
        .all(|(ok, t)| !ok && *t < Duration::from_millis(100)));
    let start = Instant::now();
    let err = logger.close().unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(
        matches!(err, Error::FlushTimeout { unflushed: 10, .. }),
        "{err:?}"
    );
    let stats = logger.stats();
    assert_eq!((stats.lines, stats.dropped), (0, 100));
}

#[test]
fn tenants_see_only_their_own_lines_and_bad_tokens_are_refused() {
    let server = Server::start(&[]);
    let url = server.url();
    let (got_t1, got_t10) = runtime().block_on(async {
        let client = async_nats::connect(&url).await.unwrap();
        let mut t1 = client.subscribe("logs.t1.>").await.unwrap();
        let mut t10 = client.subscribe("logs.t10.>").await.unwrap();
        client.flush().await.unwrap();
        for tenant in ["t1", "t10"] {
            let url = url.clone();
            tokio::task::spawn_blocking(move || {
                let logger =
                    NatsLogger::new(&info(&url, &[]).with_env("TENANT_ID", tenant)).unwrap();
                for i in 0..10 {
                    logger
                        .log(Message::new(Source::Stdout, format!("{tenant} {i}")))
                        .unwrap();
                }
                logger.close().unwrap();
            })
            .await
            .unwrap();
        }
        let mut got = (Vec::new(), Vec::new());
        for (sub, out) in [(&mut t1, &mut got.0), (&mut t10, &mut got.1)] {
            while let Ok(Some(msg)) =
                tokio::time::timeout(Duration::from_millis(500), sub.next()).await
            {
                out.push(String::from_utf8(msg.payload.to_vec()).unwrap());
            }
        }
        got
    });
    let want = |t: &str| {
        (0..10)
            .map(|i| format!("0123456789ab: {t} {i}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(got_t1, want("t1"));
    assert_eq!(got_t10, want("t10"));

    for bad in ["a.b", "*", ">", "a b", "  "] {
        let err = NatsLogger::new(&info(&url, &[]).with_env("TENANT_ID", bad)).unwrap_err();
        assert!(
            matches!(&err, Error::Driver { driver, source } if driver == NAME && source.to_string().contains(&format!("TENANT_ID={bad:?}"))),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn a_wrong_token_is_refused_at_creation_and_the_right_one_works() {
    let server = Server::start(&["--auth", "s3cret"]);
    let err = NatsLogger::new(&info(&server.url(), &[("nats-token", "wrong")])).unwrap_err();
    assert!(err.to_string().contains("refused the credentials"), "{err}");
    let logger = NatsLogger::new(&info(&server.url(), &[("nats-token", "s3cret")])).unwrap();
    logger.log(Message::new(Source::Stdout, "let in")).unwrap();
    logger.close().unwrap();
    let messages = read_stream(&server.url(), "LOGS", Some("s3cret"));
    assert_eq!(&messages[0].payload[..], b"0123456789ab: let in");
}

#[test]
fn a_missing_stream_with_create_stream_false_is_an_error_at_creation() {
    let server = Server::start(&[]);
    let opts = [
        ("nats-create-stream", "false"),
        ("nats-stream", "ELSEWHERE"),
    ];
    let err = NatsLogger::new(&info(&server.url(), &opts)).unwrap_err();
    assert!(
        err.to_string()
            .contains("stream \"ELSEWHERE\" does not exist"),
        "{err}"
    );
}

#[test]
fn options_are_checked_with_their_bounds() {
    let check = |pairs: &[(&str, &str)]| {
        let opts = pairs
            .iter()
            .map(|&(k, v)| (k.to_string(), v.to_string()))
            .collect();
        NatsLogger::validate(&opts)
    };
    assert!(matches!(check(&[]), Err(Error::MissingOption { key, .. }) if key == "nats-url"));
    let url = ("nats-url", "nats://127.0.0.1:4222");
    for (key, value) in [
        ("nats-url", "http://h:1"),
        ("nats-subject-prefix", "a..b"),
        ("nats-subject-prefix", "logs.*"),
        ("nats-stream", "A.B"),
        ("nats-create-stream", "yes"),
        ("nats-max-pending", "0"),
        ("nats-max-pending", "1000001"),
        ("nats-send-timeout", "0"),
        ("nats-linger", "2h"),
    ] {
        let mut pairs = vec![url, (key, value)];
        if key == "nats-url" {
            pairs.remove(0);
        }
        match check(&pairs) {
            Err(Error::InvalidOption {
                driver,
                key: k,
                value: v,
                ..
            }) => {
                assert_eq!(
                    (driver.as_str(), k.as_str(), v.as_str()),
                    (NAME, key, value)
                )
            }
            other => panic!("{key}={value}: {other:?}"),
        }
    }
    assert!(
        matches!(check(&[url, ("nats-user", "u")]), Err(Error::MissingOption { key, .. }) if key == "nats-password")
    );
    assert!(matches!(
        check(&[url, ("nats-nope", "1")]),
        Err(Error::UnknownOption { .. })
    ));
    check(&[
        ("nats-url", "nats://a:4222, tls://b:4222"),
        ("nats-subject-prefix", "logs.prod"),
    ])
    .unwrap();
}

/// Sends `lines` numbered lines through a Copier, on a thread.
fn pump(logger: Arc<dyn Logger>, lines: usize) -> std::thread::JoinHandle<logdriver::CopyStats> {
    std::thread::spawn(move || {
        let input: Vec<u8> = (0..lines)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        Copier::new(logger)
            .source(Source::Stdout, Cursor::new(input))
            .run()
            .unwrap()
            .wait()
    })
}

/// Waits until `logger` has `n` lines acked, at most 60 s.
fn wait_acked(logger: &dyn Logger, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while logger.stats().lines < n {
        assert!(
            Instant::now() < deadline,
            "only {} lines acked",
            logger.stats().lines
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `Log-Seq`s of `messages`: each of 1..=n exactly once, whatever
/// the order.
fn assert_each_once(messages: &[async_nats::Message], n: usize) {
    let mut seen = vec![0u32; n + 1];
    for msg in messages {
        let seq: usize = header(msg, "Log-Seq").parse().unwrap();
        seen[seq] += 1;
    }
    let missing = (1..=n).filter(|&s| seen[s] == 0).count();
    let twice = (1..=n).filter(|&s| seen[s] > 1).count();
    assert_eq!((messages.len(), missing, twice), (n, 0, 0));
}

#[test]
fn a_server_killed_and_restarted_on_its_store_loses_nothing_and_duplicates_nothing() {
    let mut server = Server::start(&[]);
    let logger = registry().create(NAME, &info(&server.url(), &[])).unwrap();
    let copier = pump(Arc::clone(&logger), 200_000);
    wait_acked(&*logger, 60_000);
    server.crash_and_restart(Duration::from_millis(300));
    let stats = copier.join().unwrap();
    assert_eq!((stats.lines, stats.log_errors), (200_000, 0));
    logger.close().unwrap();
    let s = logger.stats();
    assert_eq!((s.lines, s.dropped), (200_000, 0));
    assert_each_once(&read_stream(&server.url(), "LOGS", None), 200_000);
}

#[test]
fn a_cluster_that_loses_its_stream_leader_loses_nothing_and_duplicates_nothing() {
    // Three servers, routed to each other.
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let all_routes = routes
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut servers: Vec<Server> = (0..3)
        .map(|i| {
            let name = format!("n{i}");
            let cluster = format!("nats://127.0.0.1:{}", routes[i]);
            Server::start_on(
                ports[i],
                scratch(),
                &[
                    "--server_name",
                    &name,
                    "--cluster_name",
                    "logs",
                    "--cluster",
                    &cluster,
                    "--routes",
                    &all_routes,
                ],
            )
        })
        .collect();
    let urls = servers
        .iter()
        .map(Server::url)
        .collect::<Vec<_>>()
        .join(",");
    // The stream, with three replicas, once the cluster has a meta leader.
    let leader = runtime().block_on(async {
        let seeds: Vec<async_nats::ServerAddr> =
            urls.split(',').map(|u| u.parse().unwrap()).collect();
        let client = async_nats::connect(seeds.as_slice()).await.unwrap();
        let js = jetstream::new(client);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let config = jetstream::stream::Config {
                name: "LOGS".into(),
                subjects: vec!["logs.>".into()],
                num_replicas: 3,
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            };
            if let Ok(mut stream) = js.get_or_create_stream(config).await {
                if let Some(leader) = stream
                    .info()
                    .await
                    .ok()
                    .and_then(|i| i.cluster.clone())
                    .and_then(|c| c.leader)
                {
                    break leader;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the cluster never made the stream"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // The new leader takes about 5 s to elect: wait for it, losing nothing.
    let logger = registry()
        .create(NAME, &info(&urls, &[("nats-send-timeout", "30s")]))
        .unwrap();
    let copier = pump(Arc::clone(&logger), 100_000);
    wait_acked(&*logger, 30_000);
    let at: usize = leader.trim_start_matches('n').parse().unwrap();
    servers[at].kill();
    let stats = copier.join().unwrap();
    assert_eq!((stats.lines, stats.log_errors), (100_000, 0));
    logger.close().unwrap();
    let s = logger.stats();
    assert_eq!((s.lines, s.dropped), (100_000, 0));
    let survivor = servers[(at + 1) % 3].url();
    assert_each_once(&read_stream(&survivor, "LOGS", None), 100_000);
}

/// A CA and a certificate for `localhost` signed by it, made with openssl.
fn certificates(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .status()
            .expect("openssl on PATH");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=logdriver-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
}

#[test]
fn tls_with_a_ca_made_here_is_accepted_and_refused_without_it() {
    let certs = scratch();
    certificates(&certs);
    let (cert, key) = (certs.join("server.pem"), certs.join("server.key"));
    let server = Server::start(&[
        "--tls",
        "--tlscert",
        cert.to_str().unwrap(),
        "--tlskey",
        key.to_str().unwrap(),
    ]);
    let url = format!("tls://localhost:{}", server.port);
    let ca = certs.join("ca.pem");
    let logger = NatsLogger::new(&info(&url, &[("nats-tls-ca", ca.to_str().unwrap())])).unwrap();
    logger
        .log(Message::new(Source::Stdout, "over tls"))
        .unwrap();
    logger.close().unwrap();
    assert_eq!(logger.stats().lines, 1);

    let err = NatsLogger::new(&info(&url, &[])).unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
    std::fs::remove_dir_all(&certs).unwrap();
}

#[test]
fn a_full_stream_refuses_lines_and_they_are_counted_and_reported() {
    let server = Server::start(&[]);
    // A stream that takes five messages, then refuses (discard: new).
    runtime().block_on(async {
        let js = jetstream::new(async_nats::connect(server.url().as_str()).await.unwrap());
        js.create_stream(jetstream::stream::Config {
            name: "LOGS".into(),
            subjects: vec!["logs.>".into()],
            max_messages: 5,
            discard: jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        })
        .await
        .unwrap();
    });
    let logger = NatsLogger::new(&info(&server.url(), &[("nats-max-pending", "1")])).unwrap();
    let mut errors = Vec::new();
    for i in 0..10 {
        if let Err(e) = logger.log(Message::new(Source::Stdout, format!("line {i}"))) {
            errors.push(e.to_string());
        }
    }
    let closed = logger.close();
    let stats = logger.stats();
    assert_eq!((stats.lines, stats.dropped), (5, 5));
    // Each refusal is reported by the next log, or by close's count.
    assert!(!errors.is_empty(), "no log reported a refusal");
    assert!(
        errors
            .iter()
            .all(|e| e.contains("the stream refused a line")),
        "{errors:?}"
    );
    assert!(closed.is_ok() || matches!(closed, Err(Error::FlushTimeout { .. })));
    assert_eq!(read_stream(&server.url(), "LOGS", None).len(), 5);
}

#[test]
fn a_server_that_comes_up_after_the_driver_gets_its_stream_and_every_line() {
    // The start order of a compose stack or a booting host: no server
    // when the driver is created.
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let logger = registry().create(NAME, &info(&url, &[])).unwrap();
    for i in 0..100 {
        logger
            .log(Message::new(Source::Stdout, format!("before {i}")))
            .unwrap();
    }
    let server = Server::start_on(port, scratch(), &[]);
    for i in 0..100 {
        logger
            .log(Message::new(Source::Stdout, format!("after {i}")))
            .unwrap();
    }
    logger.close().unwrap();
    let s = logger.stats();
    assert_eq!((s.lines, s.dropped, s.errors), (200, 0, 0));
    assert_each_once(&read_stream(&server.url(), "LOGS", None), 200);
}

#[test]
fn close_with_the_server_gone_returns_within_its_linger_and_counts_every_line() {
    let mut server = Server::start(&[]);
    let linger = Duration::from_secs(2);
    let logger = registry()
        .create(NAME, &info(&server.url(), &[("nats-linger", "2s")]))
        .unwrap();
    logger.log(Message::new(Source::Stdout, "first")).unwrap();
    wait_acked(&*logger, 1);
    server.kill();
    let mut failed = 0;
    for i in 0..3_000 {
        failed += u64::from(
            logger
                .log(Message::new(Source::Stdout, format!("{i}")))
                .is_err(),
        );
    }
    let start = Instant::now();
    let err = logger.close().unwrap_err();
    let took = start.elapsed();
    assert!(
        took < linger + Duration::from_secs(1),
        "close took {took:?}"
    );
    let Error::FlushTimeout { unflushed, .. } = err else {
        panic!("{err:?}")
    };
    let s = logger.stats();
    // Every line is acked, refused by `log`, or dropped by close.
    assert_eq!(s.lines + s.dropped, 3_001, "{s:?}");
    assert_eq!(s.dropped, unflushed + failed, "{s:?}");
}

#[test]
fn log_and_close_work_from_inside_tokio_runtimes() {
    let server = Server::start(&[]);
    let no_server = format!("nats://127.0.0.1:{}", free_port());
    let opts = [("nats-send-timeout", "200ms"), ("nats-linger", "200ms")];
    for url in [server.url(), no_server] {
        for multi in [false, true] {
            let rt = if multi {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap()
            } else {
                runtime()
            };
            let logger = NatsLogger::new(&info(&url, &opts)).unwrap();
            let (sent, closed) = rt.block_on(async {
                let sent = logger.log(Message::new(Source::Stdout, "from async"));
                (sent, logger.close())
            });
            if url == server.url() {
                assert!(sent.is_ok() && closed.is_ok(), "{sent:?} {closed:?}");
                assert_eq!(logger.stats().lines, 1);
            } else {
                // No server: the line waits its linger and is counted.
                assert_eq!(logger.stats().lines + logger.stats().dropped, 1);
            }
        }
    }
}

#[test]
fn a_log_waiting_for_room_when_close_comes_returns_at_once() {
    let url = format!("nats://127.0.0.1:{}", free_port());
    let opts = [
        ("nats-max-pending", "1"),
        ("nats-send-timeout", "30s"),
        ("nats-linger", "200ms"),
    ];
    let logger = Arc::new(NatsLogger::new(&info(&url, &opts)).unwrap());
    logger
        .log(Message::new(Source::Stdout, "holds the room"))
        .unwrap();
    let waiting = {
        let logger = Arc::clone(&logger);
        std::thread::spawn(move || {
            let start = Instant::now();
            let result = logger.log(Message::new(Source::Stdout, "waits"));
            (result, start.elapsed())
        })
    };
    let start = Instant::now();
    assert!(logger.close().is_err(), "the first line was never acked");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let (result, waited) = waiting.join().unwrap();
    // Refused as closed, or counted as dropped: never a wait of 30 s.
    assert!(result.is_err(), "{result:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let s = logger.stats();
    assert_eq!(s.lines, 0);
}
