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
use logdriver::drivers::{k8sfile, local};
use logdriver::{registry, Info, Logger, Message, PartialMeta, Source};
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
        ("k8s-file", "max-size"),
        ("k8s-file", "max-file"),
        ("k8s-file", "compress"),
        ("k8s-file", "mode"),
        ("k8s-file", "no-such-option"),
        ("local", "max-size"),
        ("local", "max-file"),
        ("local", "compress"),
        ("local", "labels-regex"),
        ("local", "no-such-option"),
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_cri_log_reads_to_its_end(
        live in prop::collection::vec(any::<u8>(), 0..2048),
        cri_like in prop::collection::vec("(2026-11-30T11:00:0[0-9](\\.[0-9]{0,12})?(Z|[+-]0[0-9]:[0-5][0-9])|[ -~]{0,12}) (stdout|stderr|[a-z]{0,6}) (F|P|F:x|[ -~]{0,2})( [ -~\t]{0,30})?\n?", 0..12),
        rotated in prop::option::of((any::<bool>(), prop::collection::vec(any::<u8>(), 0..512))),
        tail in prop::option::of(0usize..20),
    ) {
        let dir = scratch();
        let path = dir.join("0.log");
        let mut bytes = cri_like.concat().into_bytes();
        bytes.extend_from_slice(&live);
        fs::write(&path, &bytes).unwrap();
        if let Some((gz, rotated)) = rotated {
            let name = if gz { "0.log.20261130-110000.gz" } else { "0.log.20261130-110000" };
            fs::write(dir.join(name), rotated).unwrap();
        }
        let config = ReadConfig { tail, ..ReadConfig::default() };
        if let Ok(reader) = k8sfile::read_logs(&path, &config) {
            let items = reader.take(10_000).count();
            prop_assert!(items <= bytes.len() + 513);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Any bytes, and records with any bytes flipped, as a `local` log:
    /// read forward and tailed from the end, each is entries or errors.
    #[test]
    fn any_local_log_reads_to_its_end(
        records in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        junk in prop::collection::vec(any::<u8>(), 0..64),
        tail in prop::option::of(0usize..20),
    ) {
        let dir = scratch();
        let path = dir.join("container.log");
        let mut bytes = Vec::new();
        for body in &records {
            let len = (body.len() as u32).to_be_bytes();
            bytes.extend_from_slice(&len);
            bytes.extend_from_slice(body);
            bytes.extend_from_slice(&len);
        }
        for (at, byte) in flips {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] ^= byte;
            }
        }
        bytes.extend_from_slice(&junk);
        fs::write(&path, &bytes).unwrap();
        let config = ReadConfig { tail, ..ReadConfig::default() };
        if let Ok(reader) = local::read_logs(&path, &config) {
            let items = reader.take(10_000).count();
            prop_assert!(items <= bytes.len() / 8 + 1);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Any lines, any chunking into partials: k8s-file gives back exactly
    /// the messages' bytes, stream by stream.
    #[test]
    fn any_messages_round_trip_through_k8s_file(
        messages in prop::collection::vec(
            (any::<bool>(), prop::collection::vec(any::<u8>().prop_filter("no newline", |&b| b != b'\n'), 0..40), 0u8..3),
            0..40,
        ),
    ) {
        let dir = scratch();
        let path = dir.join("0.log");
        let logger = k8sfile::K8sFileLogger::new(&Info::new("fuzz").with_log_path(&path)).unwrap();
        let mut want = [Vec::new(), Vec::new()];
        let mut open = [0u32, 0u32];
        for (stderr, line, kind) in messages {
            let source = if stderr { Source::Stderr } else { Source::Stdout };
            let s = source as usize;
            // 0: a whole line (ending any open group); 1: a chunk; 2: a last chunk.
            let partial = match kind {
                1 => { open[s] += 1; Some(PartialMeta { id: "a".repeat(64), ordinal: open[s], last: false }) }
                2 if open[s] > 0 => { open[s] += 1; let p = Some(PartialMeta { id: "a".repeat(64), ordinal: open[s], last: true }); open[s] = 0; p }
                _ => { open[s] = 0; None }
            };
            want[s].extend_from_slice(&line);
            if partial.as_ref().is_none_or(|p| p.last) {
                want[s].push(b'\n');
            }
            logger.log(Message { partial, ..Message::new(source, line) }).unwrap();
        }
        logger.close().unwrap();
        drop(logger);
        let mut got = [Vec::new(), Vec::new()];
        for msg in k8sfile::read_logs(&path, &ReadConfig::default()).unwrap() {
            let msg = msg.unwrap();
            got[msg.source as usize].extend_from_slice(&msg.line);
            if msg.ends_line() {
                got[msg.source as usize].push(b'\n');
            }
        }
        prop_assert_eq!(got, want);
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
