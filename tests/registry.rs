//! The Registry: Docker's validation order, duplicates, names, and modes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use logdriver::{registry, Error, Info, Logger, Message, Registry, Result, Source};

struct Discard(&'static str);

impl Logger for Discard {
    fn log(&self, _: Message) -> Result<()> {
        Ok(())
    }
    fn name(&self) -> &str {
        self.0
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
    fn buf_size(&self) -> Option<usize> {
        Some(4096)
    }
}

fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A registry with `strict` (accepts only `colour`) and `lax` (no validator).
fn registry_with_drivers() -> (Registry, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let registry = Registry::new();
    registry
        .register("strict", |_: &Info| {
            Ok(Box::new(Discard("strict")) as Box<dyn Logger>)
        })
        .unwrap();
    registry
        .register("lax", |_: &Info| {
            Ok(Box::new(Discard("lax")) as Box<dyn Logger>)
        })
        .unwrap();
    let counter = seen.clone();
    registry
        .register_validator("strict", move |opts: &HashMap<String, String>| {
            counter.fetch_add(1, Ordering::SeqCst);
            for key in opts.keys() {
                if key != "colour" {
                    return Err(Error::unknown_option("strict", key));
                }
            }
            Ok(())
        })
        .unwrap();
    (registry, seen)
}

fn invalid(err: Error) -> (String, String, String) {
    match err {
        Error::InvalidOption {
            driver, key, value, ..
        } => (driver, key, value),
        other => panic!("expected InvalidOption, got {other:?}"),
    }
}

fn s3(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.into(), b.into(), c.into())
}

#[test]
fn none_always_passes() {
    let (r, _) = registry_with_drivers();
    r.validate("none", &opts(&[("mode", "bogus"), ("anything", "goes")]))
        .unwrap();
}

#[test]
fn mode_is_checked_before_the_driver_exists() {
    let (r, _) = registry_with_drivers();
    let err = r
        .validate("missing", &opts(&[("mode", "fast")]))
        .unwrap_err();
    assert_eq!(invalid(err), s3("missing", "mode", "fast"));
    for mode in ["", "blocking", "non-blocking"] {
        r.validate("strict", &opts(&[("mode", mode)])).unwrap();
    }
}

#[test]
fn max_buffer_size_needs_non_blocking_and_a_size() {
    let (r, _) = registry_with_drivers();
    let err = r
        .validate("strict", &opts(&[("max-buffer-size", "1m")]))
        .unwrap_err();
    assert_eq!(invalid(err), s3("strict", "max-buffer-size", "1m"));
    let err = r
        .validate(
            "strict",
            &opts(&[("mode", "blocking"), ("max-buffer-size", "1m")]),
        )
        .unwrap_err();
    assert_eq!(invalid(err), s3("strict", "max-buffer-size", "1m"));
    let err = r
        .validate(
            "missing",
            &opts(&[("mode", "non-blocking"), ("max-buffer-size", "lots")]),
        )
        .unwrap_err();
    assert_eq!(invalid(err), s3("missing", "max-buffer-size", "lots"));
    r.validate(
        "strict",
        &opts(&[("mode", "non-blocking"), ("max-buffer-size", "4MiB")]),
    )
    .unwrap();
}

#[test]
fn non_blocking_drop_needs_non_blocking_and_a_known_policy() {
    let (r, _) = registry_with_drivers();
    let err = r
        .validate("strict", &opts(&[("non-blocking-drop", "oldest")]))
        .unwrap_err();
    assert_eq!(invalid(err), s3("strict", "non-blocking-drop", "oldest"));
    let err = r
        .validate(
            "strict",
            &opts(&[("mode", "non-blocking"), ("non-blocking-drop", "middle")]),
        )
        .unwrap_err();
    assert_eq!(invalid(err), s3("strict", "non-blocking-drop", "middle"));
    for policy in ["newest", "oldest"] {
        r.validate(
            "strict",
            &opts(&[("mode", "non-blocking"), ("non-blocking-drop", policy)]),
        )
        .unwrap();
    }
}

#[test]
fn unknown_driver_comes_after_the_builtin_options() {
    let (r, _) = registry_with_drivers();
    match r
        .validate("missing", &opts(&[("mode", "blocking")]))
        .unwrap_err()
    {
        Error::UnknownDriver { name } => assert_eq!(name, "missing"),
        other => panic!("{other:?}"),
    }
    let err = r.create("missing", &Info::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no log driver named \"missing\" is registered"
    );
}

#[test]
fn the_driver_validator_sees_only_its_own_options() {
    let (r, seen) = registry_with_drivers();
    r.validate(
        "strict",
        &opts(&[
            ("mode", "non-blocking"),
            ("max-buffer-size", "1k"),
            ("non-blocking-drop", "newest"),
            ("colour", "red"),
        ]),
    )
    .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    match r.validate("strict", &opts(&[("size", "xl")])).unwrap_err() {
        Error::UnknownOption { driver, key } => {
            assert_eq!((driver.as_str(), key.as_str()), ("strict", "size"))
        }
        other => panic!("{other:?}"),
    }
    // Without a validator, any options pass, as in Docker.
    r.validate("lax", &opts(&[("size", "xl")])).unwrap();
}

#[test]
fn duplicate_registration_is_an_error_and_keeps_the_first() {
    let (r, _) = registry_with_drivers();
    let err = r
        .register("strict", |_: &Info| {
            Ok(Box::new(Discard("impostor")) as Box<dyn Logger>)
        })
        .unwrap_err();
    assert!(matches!(&err, Error::AlreadyRegistered { what: "driver", name } if name == "strict"));
    assert_eq!(
        err.to_string(),
        "a log driver named \"strict\" is already registered"
    );
    let err = r
        .register_validator("strict", |_: &HashMap<String, String>| Ok(()))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::AlreadyRegistered {
            what: "validator",
            ..
        }
    ));
    assert_eq!(
        r.create("strict", &Info::default()).unwrap().name(),
        "strict"
    );
}

#[test]
fn names_are_sorted() {
    let r = Registry::new();
    for name in ["zeta", "alpha", "mid", "Beta"] {
        r.register(name, |_: &Info| {
            Ok(Box::new(Discard("x")) as Box<dyn Logger>)
        })
        .unwrap();
    }
    assert_eq!(r.names(), ["Beta", "alpha", "mid", "zeta"]);
    assert!(Registry::new().names().is_empty());
}

#[test]
fn create_validates_first_and_passes_info_to_the_creator() {
    let r = Registry::new();
    r.register("echo-id", |info: &Info| {
        let name: &'static str = Box::leak(info.id().to_owned().into_boxed_str());
        Ok(Box::new(Discard(name)) as Box<dyn Logger>)
    })
    .unwrap();
    let info = Info {
        container_id: "0123456789abcdef".into(),
        ..Default::default()
    };
    assert_eq!(r.create("echo-id", &info).unwrap().name(), "0123456789ab");
    let bad = Info {
        config: opts(&[("mode", "sometimes")]),
        ..info
    };
    assert!(matches!(
        r.create("echo-id", &bad),
        Err(Error::InvalidOption { .. })
    ));
}

#[test]
fn the_creator_sees_only_the_drivers_own_options() {
    let r = Registry::new();
    r.register("keys", |info: &Info| {
        let mut keys: Vec<&str> = info.config.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["colour"]);
        Ok(Box::new(Discard("keys")) as Box<dyn Logger>)
    })
    .unwrap();
    let info = Info {
        config: opts(&[
            ("mode", "non-blocking"),
            ("max-buffer-size", "2m"),
            ("non-blocking-drop", "oldest"),
            ("colour", "red"),
        ]),
        ..Default::default()
    };
    r.create("keys", &info).unwrap().close().unwrap();
}

#[test]
fn creator_errors_are_returned_as_they_are() {
    let r = Registry::new();
    r.register("down", |_: &Info| {
        Err(Error::missing_option("down", "address"))
    })
    .unwrap();
    match r.create("down", &Info::default()).unwrap_err() {
        Error::MissingOption { driver, key } => {
            assert_eq!((driver.as_str(), key.as_str()), ("down", "address"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_blocking_mode_wraps_the_driver_and_keeps_its_name_and_size() {
    let (r, _) = registry_with_drivers();
    let info = Info {
        config: opts(&[("mode", "non-blocking"), ("max-buffer-size", "1k")]),
        ..Default::default()
    };
    let logger = r.create("strict", &info).unwrap();
    assert_eq!(logger.name(), "strict");
    assert_eq!(logger.buf_size(), Some(4096));
    logger.log(Message::new(Source::Stdout, "hi")).unwrap();
    logger.close().unwrap();
    // Only the wrapper refuses a line after close: `Discard` never does.
    assert!(matches!(
        logger.log(Message::new(Source::Stdout, "late")),
        Err(Error::Closed { .. })
    ));

    let blocking = r.create("strict", &Info::default()).unwrap();
    blocking.close().unwrap();
    blocking.log(Message::new(Source::Stdout, "late")).unwrap();
}

#[test]
fn the_process_wide_registry_has_the_builtins() {
    let names = registry().names();
    assert!(names.contains(&"none".to_owned()), "{names:?}");
    assert_eq!(names, Registry::with_builtins().names());
    let none = registry().create("none", &Info::default()).unwrap();
    none.log(Message::new(Source::Stdout, "dropped")).unwrap();
    assert_eq!(none.name(), "none");
}

#[test]
fn every_numeric_option_has_a_bound_named_at_validation() {
    let r = Registry::with_builtins();
    let nb = |k: &str, v: &str| opts(&[("mode", "non-blocking"), (k, v)]);
    // (driver, the option, its value, is it a non-blocking option, the reason)
    let cases = [
        (
            "none-such",
            "max-buffer-size",
            "2g",
            true,
            "must be at most 1073741824 bytes",
        ),
        (
            "none-such",
            "max-buffer-size",
            "99999999999999p",
            true,
            "must be at most 1073741824 bytes",
        ),
        (
            "none-such",
            "non-blocking-close-timeout",
            "61m",
            true,
            "must be at most 1h",
        ),
        (
            "json-file",
            "max-size",
            "2t",
            false,
            "must be at most 1099511627776 bytes",
        ),
        (
            "json-file",
            "max-file",
            "101",
            false,
            "must be a whole number from 1 to 100",
        ),
    ];
    for (driver, key, value, non_blocking, reason) in cases {
        let o = if non_blocking {
            nb(key, value)
        } else {
            opts(&[(key, value)])
        };
        match r.validate(driver, &o) {
            Err(Error::InvalidOption {
                key: k,
                value: v,
                reason: why,
                ..
            }) => assert_eq!((k.as_str(), v.as_str(), why.as_str()), (key, value, reason)),
            other => panic!("{key}={value}: {other:?}"),
        }
    }
    r.validate("json-file", &nb("non-blocking-close-timeout", "250ms"))
        .unwrap();
}

#[cfg(feature = "zmq")]
#[test]
fn zmq_durations_are_bounded_and_never_overflow() {
    let r = Registry::with_builtins();
    for (key, value) in [
        ("zmq-send-timeout", "18446744073709551615s"),
        ("zmq-send-timeout", "61m"),
        ("zmq-linger", "3601s"),
        ("zmq-linger", "99999999999999999999999ms"),
    ] {
        let o = opts(&[("zmq-address", "tcp://127.0.0.1:1"), (key, value)]);
        match r.validate("zmq", &o) {
            Err(Error::InvalidOption { key: k, reason, .. }) => {
                assert_eq!((k.as_str(), reason.as_str()), (key, "must be at most 1h"));
            }
            other => panic!("{key}={value}: {other:?}"),
        }
    }
    let o = opts(&[
        ("zmq-address", "tcp://127.0.0.1:1"),
        ("zmq-sndhwm", "2147483648"),
    ]);
    assert!(matches!(
        r.validate("zmq", &o),
        Err(Error::InvalidOption { .. })
    ));
}

#[cfg(feature = "zmq")]
#[test]
fn drops_of_a_driver_behind_non_blocking_are_seen_through_the_registry() {
    // No hub listens: every line is dropped by the driver, behind a buffer.
    let info = Info {
        config: opts(&[
            ("zmq-address", "tcp://127.0.0.1:1"),
            ("zmq-send-timeout", "300ms"),
            ("zmq-linger", "0ms"),
            ("mode", "non-blocking"),
        ]),
        container_id: "c".repeat(64),
        ..Info::default()
    };
    let logger = registry().create("zmq", &info).unwrap();
    for line in ["one", "two", "three"] {
        logger.log(Message::new(Source::Stdout, line)).unwrap();
    }
    logger.close().unwrap();
    let stats = logger.stats();
    assert_eq!((stats.lines, stats.dropped), (0, 3));
}

#[test]
fn non_blocking_adds_its_own_drops_to_its_drivers_counts() {
    /// Holds each line until the gate opens; reports 7 errors of its own.
    struct Stuck(std::sync::Mutex<std::sync::mpsc::Receiver<()>>);
    impl Logger for Stuck {
        fn log(&self, _: Message) -> Result<()> {
            let _ = self.0.lock().unwrap().recv();
            Ok(())
        }
        fn name(&self) -> &str {
            "stuck"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
        fn stats(&self) -> logdriver::LoggerStats {
            let mut stats = logdriver::LoggerStats::default();
            stats.errors = 7; // a struct literal is refused: it is non_exhaustive
            stats
        }
    }
    let (key, gate) = std::sync::mpsc::channel();
    let driver: Arc<dyn Logger> = Arc::new(Stuck(std::sync::Mutex::new(gate)));
    let logger = logdriver::NonBlocking::new(driver, 10);
    for _ in 0..5 {
        logger
            .log(Message::new(Source::Stdout, "0123456789"))
            .unwrap();
    }
    // The first line fills the 10-byte buffer, queued or held: the other
    // four are dropped.
    let stats = logger.stats();
    assert_eq!((stats.errors, stats.dropped), (7, 4));
    drop(key);
    logger.close().unwrap();
}

#[test]
fn log_after_close_is_an_error_for_every_built_in_driver_and_wrapper() {
    let dir = std::env::temp_dir().join(format!("logdriver-closed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases = vec![
        Info::new("c1").with_log_path(dir.join("a.log")),
        Info::new("c2")
            .with_log_path(dir.join("b.log"))
            .with_option("mode", "non-blocking"),
    ];
    let mut drivers = vec!["json-file", "json-file"];
    if cfg!(feature = "zmq") {
        for mode in ["blocking", "non-blocking"] {
            cases.push(
                Info::new("c3")
                    .with_option("zmq-address", "tcp://127.0.0.1:1")
                    .with_option("zmq-linger", "0ms")
                    .with_option("mode", mode),
            );
            drivers.push("zmq");
        }
    }
    for (driver, info) in drivers.into_iter().zip(cases) {
        let logger = registry().create(driver, &info).unwrap();
        logger.close().unwrap();
        logger.close().unwrap(); // a second close is fine
        match logger.log(Message::new(Source::Stdout, "too late")) {
            Err(Error::Closed { driver: name }) => assert_eq!(name, driver),
            other => panic!("{driver} {:?}: {other:?}", info.config),
        }
    }
    // `none` holds nothing: it discards, before and after.
    let none = registry().create("none", &Info::default()).unwrap();
    none.close().unwrap();
    none.log(Message::new(Source::Stdout, "gone")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn durations_are_taken_as_docker_takes_them_go_style() {
    let r = Registry::with_builtins();
    let nb = |k: &str, v: &str| opts(&[("mode", "non-blocking"), (k, v)]);
    for value in ["1h", "1.5s", "1m30s", "250us", "100ns", "0"] {
        r.validate("json-file", &nb("non-blocking-close-timeout", value))
            .unwrap_or_else(|e| panic!("{value}: {e}"));
    }
    for value in ["1h", "1.5s"] {
        r.validate("fluentd", &opts(&[("fluentd-retry-wait", value)]))
            .unwrap_or_else(|e| panic!("fluentd-retry-wait={value}: {e}"));
    }
    match r.validate("json-file", &nb("non-blocking-close-timeout", "2h")) {
        Err(Error::InvalidOption { key, reason, .. }) => assert_eq!(
            (key.as_str(), reason.as_str()),
            ("non-blocking-close-timeout", "must be at most 1h")
        ),
        other => panic!("{other:?}"),
    }
    match r.validate("json-file", &nb("non-blocking-close-timeout", "5d")) {
        Err(Error::InvalidOption { reason, .. }) => {
            assert_eq!(reason, "not a duration such as 250ms, 1.5s, 1m30s or 1h")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_builtins_are_the_documented_list_of_this_builds_features() {
    let built: Vec<String> = logdriver::BUILTIN_DRIVERS
        .iter()
        .filter(|(_, feature)| match feature {
            None => true,
            Some("nats") => cfg!(feature = "nats"),
            Some("zmq") => cfg!(feature = "zmq"),
            Some("otlp") => cfg!(feature = "otlp"),
            Some("journald") => cfg!(all(feature = "journald", target_os = "linux")),
            Some(other) => panic!("a feature this test does not know: {other}"),
        })
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(Registry::with_builtins().names(), built);
}

#[test]
fn a_builtin_left_out_of_the_build_names_its_feature() {
    let r = Registry::with_builtins();
    for (name, feature) in logdriver::BUILTIN_DRIVERS {
        let Some(feature) = feature else { continue };
        if r.names().iter().any(|n| n == name) {
            continue;
        }
        match r.validate(name, &HashMap::new()) {
            Err(e @ Error::DriverNotBuilt { .. }) => assert_eq!(
                e.to_string(),
                format!(
                    "the log driver {name:?} is not in this build: \
                     enable logdriver's cargo feature {feature:?}"
                )
            ),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(
        r.validate("no-such", &HashMap::new()),
        Err(Error::UnknownDriver { name }) if name == "no-such"
    ));
}
