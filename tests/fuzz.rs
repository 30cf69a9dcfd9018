//! Hostile input: arbitrary option values, tag templates and log files.
//! Each must give a value or an error: never a panic, never a hang.
//!
//! `cargo test` runs 256 cases of each property; CI runs 10,000 in
//! release mode (`FUZZ_CASES=10000 cargo test --release --test fuzz`).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use logdriver::drivers::jsonfile::{self, ReadConfig};
use logdriver::{registry, Info};
use proptest::prelude::*;

/// How many cases each property runs: `FUZZ_CASES`, or 256.
fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

/// Every option the built-in drivers and the registry know, by driver.
fn options() -> Vec<(&'static str, &'static str)> {
    let mut all = vec![
        ("json-file", "max-size"),
        ("json-file", "max-file"),
        ("json-file", "compress"),
        ("json-file", "labels"),
        ("json-file", "labels-regex"),
        ("json-file", "env"),
        ("json-file", "env-regex"),
        ("json-file", "tag"),
        ("json-file", "mode"),
        ("json-file", "max-buffer-size"),
        ("json-file", "non-blocking-drop"),
        ("json-file", "non-blocking-close-timeout"),
        ("json-file", "no-such-option"),
    ];
    if cfg!(feature = "zmq") {
        all.extend([
            ("zmq", "zmq-address"),
            ("zmq", "zmq-sndhwm"),
            ("zmq", "zmq-send-timeout"),
            ("zmq", "zmq-linger"),
            ("zmq", "zmq-partial-frame"),
        ]);
    }
    all
}

/// Strings that look like values, and strings that do not.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,25}(\\.[0-9]{0,5})?( ?[kmgtpKMGTP]?[iI]?[bB]?|ms|s|m|h)?",
        "(tcp|ipc|inproc)://[ -~]{0,30}(, ?(tcp|ipc)://[ -~]{0,10})?",
        "\\{\\{[ -~]{0,30}\\}\\}[ -~]{0,10}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_option_value_is_a_value_or_an_error(
        which in any::<prop::sample::Index>(),
        value in value(),
        non_blocking in any::<bool>(),
    ) {
        let options = options();
        let (driver, key) = options[which.index(options.len())];
        let mut opts = HashMap::from([(key.to_string(), value)]);
        if non_blocking {
            opts.insert("mode".into(), "non-blocking".into());
        }
        if driver == "zmq" && key != "zmq-address" {
            opts.insert("zmq-address".into(), "tcp://127.0.0.1:1".into());
        }
        let _ = registry().validate(driver, &opts);
    }

    #[test]
    fn any_tag_template_is_a_value_or_an_error(template in value()) {
        let info = Info {
            config: HashMap::from([("tag".to_string(), template)]),
            container_id: "0123456789abcdef".repeat(4),
            container_name: "/web".into(),
            container_env: vec!["A=1".into()],
            ..Info::default()
        };
        let _ = info.tag("fuzz");
    }

    #[test]
    fn any_json_file_log_reads_to_its_end(
        live in prop::collection::vec(any::<u8>(), 0..2048),
        rotated in rotated_file(),
        tail in prop::option::of(0usize..20),
    ) {
        let dir = scratch();
        let path = dir.join("c-json.log");
        fs::write(&path, &live).unwrap();
        if let Some((gz, bytes)) = rotated {
            let name = if gz { "c-json.log.1.gz" } else { "c-json.log.1" };
            fs::write(dir.join(name), bytes).unwrap();
        }
        let config = ReadConfig { tail, ..ReadConfig::default() };
        if let Ok(reader) = jsonfile::read_logs(&path, &config) {
            // A finite file ends: each item is an entry or its error.
            let items = reader.take(10_000).count();
            prop_assert!(items <= live.len() + 2049);
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}

/// A rotated file: arbitrary bytes, or a real gzip of entries cut short or
/// with a byte flipped; `true` when it is named `.gz`.
fn rotated_file() -> impl Strategy<Value = Option<(bool, Vec<u8>)>> {
    let entries = prop::collection::vec("[ -~]{0,40}", 0..8).prop_map(|lines| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for line in lines {
            let entry = serde_json::json!({"log": format!("{line}\n"), "stream": "stdout", "time": "2026-11-30T11:00:01.5Z"});
            writeln!(gz, "{entry}").unwrap();
        }
        gz.finish().unwrap()
    });
    let damaged = (
        entries,
        any::<prop::sample::Index>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(mut gz, at, byte, cut)| {
            if !gz.is_empty() {
                let i = at.index(gz.len());
                if cut {
                    gz.truncate(i);
                } else {
                    gz[i] ^= byte | 1;
                }
            }
            (true, gz)
        });
    prop_oneof![
        Just(None),
        (any::<bool>(), prop::collection::vec(any::<u8>(), 0..512)).prop_map(Some),
        damaged.prop_map(Some),
    ]
}

fn scratch() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "logdriver-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap();
    dir
}
