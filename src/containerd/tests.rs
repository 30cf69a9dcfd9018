use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use super::*;
use crate::error::Error;
use crate::testing::Collect;
use std::collections::HashMap;
use std::path::PathBuf;

fn pipe() -> (File, File) {
    let (r, w) = io::pipe().unwrap();
    (File::from(OwnedFd::from(r)), File::from(OwnedFd::from(w)))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("logdriver-ctd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_query_pairs_become_driver_log_dir_and_options() {
    let args = [
        "zmq-address",
        "tcp://h:5555",
        "driver",
        "zmq",
        "log-dir",
        "/d",
        "mode",
        "non-blocking",
    ];
    let config = Config::parse(args, "web-1", "k8s.io").unwrap();
    assert_eq!(config.driver, "zmq");
    assert_eq!(config.log_dir, PathBuf::from("/d"));
    assert_eq!(
        config.options,
        HashMap::from([
            ("zmq-address".to_owned(), "tcp://h:5555".to_owned()),
            ("mode".to_owned(), "non-blocking".to_owned()),
        ])
    );
    assert_eq!(config.log_path(), PathBuf::from("/d/k8s.io/web-1.log"));

    let defaults = Config::parse(Vec::<String>::new(), "web", "default").unwrap();
    assert_eq!(defaults.driver, "json-file");
    assert_eq!(
        defaults.log_path(),
        PathBuf::from("/var/lib/logdriver/containerd/default/web.log")
    );
}

#[test]
fn an_argument_without_a_value_is_named() {
    let err = Config::parse(["driver", "zmq", "zmq-address"], "web", "default").unwrap_err();
    assert!(
        matches!(&err, StartError::MissingValue { key } if key == "zmq-address"),
        "{err:?}"
    );
}

#[test]
fn ids_and_namespaces_that_could_leave_the_log_dir_are_refused() {
    for bad in [
        "",
        "..",
        "../etc",
        "a/b",
        "a..b",
        "-a",
        "a-",
        ".a",
        "a b",
        &"a".repeat(77),
    ] {
        let err = Config::parse(["driver", "none"], bad, "default").unwrap_err();
        assert!(
            matches!(&err, StartError::InvalidIdentifier { what: "CONTAINER_ID", value } if value == bad),
            "{bad:?}: {err:?}"
        );
        let err = Config::parse(["driver", "none"], "web", bad).unwrap_err();
        assert!(
            matches!(
                &err,
                StartError::InvalidIdentifier {
                    what: "CONTAINER_NAMESPACE",
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
    }
    for good in [
        "a",
        "web-1",
        "k8s.io",
        "a_b.c-d",
        "0123456789abcdef",
        &"a".repeat(76),
    ] {
        assert!(
            Config::parse(["driver", "none"], good, good).is_ok(),
            "{good:?}"
        );
    }
}

#[test]
fn the_info_carries_id_namespace_options_and_the_bundles_process() {
    let config = Config::parse(["max-size", "1m"], "web", "prod").unwrap();
    let mut info = config.info();
    assert_eq!(info.container_id, "web");
    assert_eq!(info.container_name, "web");
    assert_eq!(info.daemon_name, "containerd");
    assert_eq!(info.container_labels[NAMESPACE_LABEL], "prod");
    assert_eq!(
        info.config,
        HashMap::from([("max-size".into(), "1m".into())])
    );
    assert_eq!(info.log_path, Some(config.log_path()));

    let bundle = scratch("bundle");
    std::fs::write(
        bundle.join("config.json"),
        r#"{"ociVersion":"1.0.2","process":{"args":["sh","-c","echo hi"],
            "env":["PATH=/bin","TENANT_ID=acme"],"cwd":"/"},"root":{"path":"rootfs"}}"#,
    )
    .unwrap();
    add_bundle(&mut info, &bundle);
    assert_eq!(info.container_entrypoint, "sh");
    assert_eq!(info.container_args, ["-c", "echo hi"]);
    assert_eq!(info.env("TENANT_ID"), Some("acme"));

    // No bundle, or not one: nothing added, nothing fails.
    let mut plain = config.info();
    add_bundle(&mut plain, &bundle.join("missing"));
    std::fs::write(bundle.join("config.json"), "not json").unwrap();
    add_bundle(&mut plain, &bundle);
    assert_eq!(plain, config.info());
    std::fs::remove_dir_all(bundle).unwrap();
}

#[test]
fn only_a_shim_serving_this_container_alone_is_ours() {
    let shim =
        b"/usr/bin/containerd-shim-runc-v2\0-namespace\0default\0-id\0web\0-address\0/run/c.sock\0";
    assert!(is_own_shim(shim, "web"));
    assert!(!is_own_shim(shim, "we"));
    assert!(!is_own_shim(shim, "default"), "the namespace is not the id");
    let grouped = b"containerd-shim-runc-v2\0-namespace\0k8s.io\0-id\0sandbox\0";
    assert!(!is_own_shim(grouped, "web"));
    assert!(!is_own_shim(b"/bin/bash\0-id\0web\0", "web"));
    assert!(!is_own_shim(b"", "web"));
}

/// A registry with `collect`, which keeps every message for the test.
fn registry_with(collect: &Arc<Collect>) -> Registry {
    let registry = Registry::new();
    let shared = Arc::clone(collect);
    registry
        .register("collect", move |_| Ok(Box::new(Arc::clone(&shared))))
        .unwrap();
    registry
        .register_validator("collect", |opts| {
            reject_unknown("collect", opts, &["color"])
        })
        .unwrap();
    registry
}

fn reject_unknown(
    driver: &str,
    opts: &HashMap<String, String>,
    known: &[&str],
) -> crate::Result<()> {
    crate::info::reject_unknown_options(driver, opts, known)
}

#[test]
fn ready_comes_after_the_driver_and_every_line_is_delivered_in_order() {
    let collect = Arc::new(Collect::default());
    let registry = registry_with(&collect);
    let (stdout, mut out) = pipe();
    let (stderr, mut err) = pipe();
    let (mut shim_ready, ready) = pipe();
    let config = Config::parse(["driver", "collect", "color", "blue"], "web", "default").unwrap();
    let info = config.info();
    let served = std::thread::spawn(move || {
        serve(
            &registry,
            &config,
            info,
            ShimIo {
                stdout,
                stderr,
                ready,
            },
        )
    });

    let mut byte = [9];
    assert_eq!(shim_ready.read(&mut byte).unwrap(), 1);
    assert_eq!(byte, [0]);
    for i in 0..1000 {
        writeln!(out, "out {i}").unwrap();
        writeln!(err, "err {i}").unwrap();
    }
    out.write_all(b"no newline").unwrap();
    drop((out, err));

    let outcome = served.join().unwrap().unwrap();
    assert_eq!(outcome.copied.lines, 2001);
    assert_eq!(outcome.copied.complete_lines, 2000);
    assert!(!outcome.lost_lines());
    assert_eq!(outcome.exit_code(), ExitCode::from(0));
    let messages = collect.0.lock();
    for source in [Source::Stdout, Source::Stderr] {
        let lines: Vec<&[u8]> = messages
            .iter()
            .filter(|m| m.source == source)
            .map(|m| &m.line[..])
            .collect();
        let prefix = if source == Source::Stdout {
            "out"
        } else {
            "err"
        };
        let mut expected: Vec<Vec<u8>> = (0..1000)
            .map(|i| format!("{prefix} {i}").into_bytes())
            .collect();
        if source == Source::Stdout {
            expected.push(b"no newline".to_vec());
        }
        assert_eq!(lines, expected);
    }
}

#[test]
fn a_bad_option_never_signals_ready_and_names_driver_and_option() {
    let collect = Arc::new(Collect::default());
    let registry = registry_with(&collect);
    let (stdout, _out) = pipe();
    let (stderr, _err) = pipe();
    let (mut shim_ready, ready) = pipe();
    let config = Config::parse(["driver", "collect", "colour", "blue"], "web", "default").unwrap();
    let err = serve(
        &registry,
        &config,
        config.info(),
        ShimIo {
            stdout,
            stderr,
            ready,
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, StartError::Driver(Error::UnknownOption { driver, key }) if driver == "collect" && key == "colour"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        r#"unknown option "colour" for log driver "collect""#
    );
    // The end of the pipe, not a byte: serve let go of it without a word.
    assert_eq!(shim_ready.read(&mut [0]).unwrap(), 0);

    let config = Config::parse(["driver", "nope"], "web", "default").unwrap();
    let (stdout, _out) = pipe();
    let (stderr, _err) = pipe();
    let (_, ready) = pipe();
    let err = serve(
        &registry,
        &config,
        config.info(),
        ShimIo {
            stdout,
            stderr,
            ready,
        },
    )
    .unwrap_err();
    assert!(matches!(&err, StartError::Driver(Error::UnknownDriver { name }) if name == "nope"));
}

#[test]
fn a_failing_driver_makes_the_outcome_say_lines_were_lost() {
    struct Refuse;
    impl Logger for Refuse {
        fn log(&self, _: crate::Message) -> crate::Result<()> {
            Err(Error::closed("refuse"))
        }
        fn name(&self) -> &str {
            "refuse"
        }
        fn close(&self) -> crate::Result<()> {
            Ok(())
        }
    }
    let registry = Registry::new();
    registry
        .register("refuse", |_| Ok(Box::new(Refuse)))
        .unwrap();
    let (stdout, mut out) = pipe();
    let (stderr, err) = pipe();
    let (_shim_ready, ready) = pipe();
    let config = Config::parse(["driver", "refuse"], "web", "default").unwrap();
    out.write_all(b"a\nb\n").unwrap();
    drop((out, err));
    let outcome = serve(
        &registry,
        &config,
        config.info(),
        ShimIo {
            stdout,
            stderr,
            ready,
        },
    )
    .unwrap();
    assert_eq!(outcome.copied.log_errors, 2);
    assert!(outcome.lost_lines());
    assert_eq!(outcome.exit_code(), ExitCode::from(1));
    assert_eq!(
        lost_report(&outcome),
        "lines may be lost: 2 of 2 messages failed in the driver, 0 reads failed, \
         the driver dropped 0 and failed 0"
    );
}

#[test]
fn metrics_address_is_the_loggers_not_the_drivers() {
    let config = Config::parse(
        ["metrics-address", "unix:/run/m/web.sock", "max-size", "1m"],
        "web",
        "default",
    )
    .unwrap();
    assert_eq!(
        config.metrics,
        Some(MetricsAddress::Unix("/run/m/web.sock".into()))
    );
    assert_eq!(
        config.options,
        HashMap::from([("max-size".to_owned(), "1m".to_owned())])
    );
    match Config::parse(["metrics-address", "0.0.0.0:9464"], "web", "default") {
        Err(e @ StartError::MetricsAddress(_)) => assert_eq!(
            e.to_string(),
            "metrics-address \"0.0.0.0:9464\": not a loopback address; use 127.0.0.1, [::1] or a unix socket"
        ),
        other => panic!("{other:?}"),
    }
}
