//! The local driver: Docker's record bytes, defaults, rotation, reading
//! back (tail from the end), and corruption.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::TempDir;
use logdriver::drivers::local::{self, LocalLogger, ReadConfig, NAME};
use logdriver::{registry, Copier, Error, Info, Logger, Message, PartialMeta, Source};

mod common;

/// A fresh directory for a test.
fn temp_dir() -> TempDir {
    TempDir::new("local", "container.log")
}

fn info(path: &Path, opts: &[(&str, &str)]) -> Info {
    let mut info = Info::new("0123456789abcdef").with_log_path(path);
    for &(k, v) in opts {
        info = info.with_option(k, v);
    }
    info
}

fn at(secs: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

fn lines(reader: local::LocalReader) -> Vec<String> {
    reader
        .map(|m| String::from_utf8(m.unwrap().line.to_vec()).unwrap())
        .collect()
}

#[test]
fn records_are_dockers_bytes() {
    let dir = temp_dir();
    let info = info(&dir.log(), &[("env", "TENANT_ID")]).with_env("TENANT_ID", "acme");
    let logger = LocalLogger::new(&info).unwrap();
    let t = at(1, 5); // time_nano 1,000,000,005
    logger
        .log(Message {
            timestamp: t,
            ..Message::new(Source::Stdout, "hi")
        })
        .unwrap();
    logger
        .log(Message {
            timestamp: UNIX_EPOCH,
            partial: Some(PartialMeta {
                id: "ab".into(),
                ordinal: 2,
                last: true,
            }),
            ..Message::new(Source::Stderr, "")
        })
        .unwrap();
    logger.close().unwrap();
    let attr: &[u8] = b"\x32\x11\x0a\x09TENANT_ID\x12\x04acme";
    let first = [
        b"\x0a\x06stdout\x10\x85\x94\xeb\xdc\x03\x1a\x02hi".as_slice(),
        attr,
    ]
    .concat();
    let second = [
        b"\x0a\x06stderr\x20\x01\x2a\x08\x08\x01\x12\x02ab\x18\x02".as_slice(),
        attr,
    ]
    .concat();
    let mut want = Vec::new();
    for entry in [first, second] {
        let len = (entry.len() as u32).to_be_bytes();
        want.extend_from_slice(&len);
        want.extend_from_slice(&entry);
        want.extend_from_slice(&len);
    }
    assert_eq!(fs::read(dir.log()).unwrap(), want);
}

#[test]
fn defaults_rotate_at_20_mib_and_compress() {
    let dir = temp_dir();
    let logger = LocalLogger::new(&info(&dir.log(), &[])).unwrap();
    let line = vec![b'x'; 100_000];
    for _ in 0..209 {
        logger
            .log(Message::new(Source::Stdout, line.clone()))
            .unwrap();
    }
    assert_eq!(dir.names(), ["container.log"], "under 20 MiB: no rotation");
    for _ in 0..2 {
        logger
            .log(Message::new(Source::Stdout, line.clone()))
            .unwrap();
    }
    logger.close().unwrap();
    assert_eq!(dir.names(), ["container.log", "container.log.1.gz"]);
}

#[test]
fn validation_is_dockers_and_names_driver_key_and_value() {
    let check = |pairs: &[(&str, &str)]| {
        let opts: HashMap<String, String> =
            pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect();
        LocalLogger::validate(&opts)
    };
    let invalid = |pairs: &[(&str, &str)], key: &str, value: &str| match check(pairs) {
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
        other => panic!("{pairs:?}: {other:?}"),
    };
    invalid(&[("max-file", "1")], "max-file", "1");
    invalid(
        &[("max-file", "1"), ("compress", "true")],
        "compress",
        "true",
    );
    invalid(&[("max-size", "-1")], "max-size", "-1");
    invalid(&[("max-file", "x")], "max-file", "x");
    invalid(&[("compress", "maybe")], "compress", "maybe");
    assert!(matches!(
        check(&[("tag", "x")]),
        Err(Error::UnknownOption { driver, key }) if driver == NAME && key == "tag"
    ));
    check(&[("max-file", "1"), ("compress", "false")]).unwrap();
    check(&[("max-size", "1k"), ("labels", "a,b"), ("env-regex", "^T")]).unwrap();
    assert!(matches!(
        registry().create(NAME, &Info::new("x")),
        Err(Error::MissingLogPath { driver }) if driver == NAME
    ));
}

/// A reader that hands out at most `step` bytes per read.
struct Trickle(&'static [u8], usize);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(self.1).min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn output(tag: &str, lines: usize) -> &'static [u8] {
    let mut out = Vec::new();
    for i in 0..lines {
        if i % 300 == 7 {
            writeln!(out, "{tag} {i} {}", "y".repeat(40_000)).unwrap();
        } else {
            writeln!(out, "{tag} {i}\tgr\u{fc}\u{df}e\r").unwrap();
        }
    }
    write!(out, "{tag} no newline").unwrap();
    out.leak()
}

fn streams(reader: local::LocalReader) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    for msg in reader {
        let msg = msg.unwrap();
        let dst = if msg.source == Source::Stdout {
            &mut out
        } else {
            &mut err
        };
        dst.extend_from_slice(&msg.line);
        if msg.ends_line() {
            dst.push(b'\n');
        }
    }
    (out, err)
}

#[test]
fn a_copier_writes_through_rotation_and_gzip_and_it_reads_back_byte_for_byte() {
    let dir = temp_dir();
    let opts = [("max-size", "100k"), ("max-file", "100")];
    let logger = registry().create(NAME, &info(&dir.log(), &opts)).unwrap();
    let (out, err) = (output("out", 2000), output("err", 2000));
    let stats = Copier::new(Arc::clone(&logger))
        .source(Source::Stdout, Trickle(out, 1000))
        .source(Source::Stderr, Trickle(err, 777))
        .run()
        .unwrap()
        .wait();
    assert_eq!(stats.log_errors, 0);
    logger.close().unwrap();
    let names = dir.names();
    assert!(names.len() > 3, "{names:?}");
    assert!(names[1..].iter().all(|n| n.ends_with(".gz")), "{names:?}");
    let (got_out, got_err) = streams(local::read_logs(dir.log(), &ReadConfig::default()).unwrap());
    assert_eq!((got_out.as_slice(), got_err.as_slice()), (out, err));
}

#[test]
fn partial_metadata_is_kept() {
    let dir = temp_dir();
    let logger = LocalLogger::new(&info(&dir.log(), &[])).unwrap();
    let chunk = |ordinal, last| Message {
        partial: Some(PartialMeta {
            id: "c".repeat(64),
            ordinal,
            last,
        }),
        ..Message::new(Source::Stdout, format!("part {ordinal}"))
    };
    for msg in [chunk(1, false), chunk(2, false), chunk(3, true)] {
        logger.log(msg).unwrap();
    }
    let got: Vec<(Vec<u8>, Option<PartialMeta>)> = logger
        .read_logs(&ReadConfig::default())
        .unwrap()
        .map(|m| m.map(|m| (m.line.to_vec(), m.partial)))
        .collect::<Result<_, _>>()
        .unwrap();
    let want: Vec<(Vec<u8>, Option<PartialMeta>)> =
        [chunk(1, false), chunk(2, false), chunk(3, true)]
            .into_iter()
            .map(|m| (m.line.to_vec(), m.partial))
            .collect();
    assert_eq!(got, want);
    logger.close().unwrap();
}

#[test]
fn a_line_over_dockers_1_mb_record_limit_becomes_a_partial_group() {
    let dir = temp_dir();
    let logger = LocalLogger::new(&info(&dir.log(), &[])).unwrap();
    let big: Vec<u8> = (0..2_500_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    logger
        .log(Message::new(Source::Stdout, big.clone()))
        .unwrap();
    // A Copier chunk of 1 MiB in a group of its own: renumbered after it.
    let id = "d".repeat(64);
    let meta = |ordinal, last| {
        Some(PartialMeta {
            id: id.clone(),
            ordinal,
            last,
        })
    };
    logger
        .log(Message {
            partial: meta(1, false),
            ..Message::new(Source::Stderr, vec![b'e'; 1 << 20])
        })
        .unwrap();
    logger
        .log(Message {
            partial: meta(2, true),
            ..Message::new(Source::Stderr, "end")
        })
        .unwrap();
    logger.close().unwrap();

    let bytes = fs::read(dir.log()).unwrap();
    let mut pos = 0;
    let mut sizes = Vec::new();
    while pos < bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        sizes.push(len);
        pos += len + 8;
    }
    assert!(sizes.iter().all(|&s| s <= 1_000_000), "{sizes:?}");
    assert_eq!(sizes.len(), 3 + 2 + 1, "{sizes:?}");

    let got: Vec<Message> = local::read_logs(dir.log(), &ReadConfig::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let ordinals: Vec<(Source, u32, bool)> = got
        .iter()
        .map(|m| {
            m.partial
                .as_ref()
                .map(|p| (m.source, p.ordinal, p.last))
                .unwrap()
        })
        .collect();
    assert_eq!(
        ordinals,
        [
            (Source::Stdout, 1, false),
            (Source::Stdout, 2, false),
            (Source::Stdout, 3, true),
            (Source::Stderr, 1, false),
            (Source::Stderr, 2, false),
            (Source::Stderr, 3, true),
        ]
    );
    assert!(got[3..]
        .iter()
        .all(|m| m.partial.as_ref().unwrap().id == id));
    let (out, err) = streams(local::read_logs(dir.log(), &ReadConfig::default()).unwrap());
    assert_eq!(out, [big.as_slice(), b"\n"].concat());
    assert_eq!(err, [vec![b'e'; 1 << 20].as_slice(), b"end\n"].concat());
}

#[test]
fn tail_since_and_until_across_compressed_files() {
    let dir = temp_dir();
    let opts = [("max-size", "1k"), ("max-file", "50")];
    let logger = LocalLogger::new(&info(&dir.log(), &opts)).unwrap();
    for i in 0..300u32 {
        let msg = Message {
            timestamp: at(1_000 + u64::from(i), 0),
            ..Message::new(Source::Stdout, format!("{i}"))
        };
        logger.log(msg).unwrap();
    }
    let read = |config: ReadConfig| lines(logger.read_logs(&config).unwrap());
    // More than the live file holds: the walk goes on into .gz files.
    let tail = read(ReadConfig {
        tail: Some(120),
        ..Default::default()
    });
    let want: Vec<String> = (180..300).map(|i| i.to_string()).collect();
    assert_eq!(tail, want);
    assert_eq!(
        read(ReadConfig {
            tail: Some(0),
            ..Default::default()
        }),
        Vec::<String>::new()
    );
    assert_eq!(
        read(ReadConfig {
            since: Some(at(1_250, 0)),
            until: Some(at(1_252, 0)),
            ..Default::default()
        }),
        ["250", "251", "252"]
    );
    logger.close().unwrap();
    // After close: the files as they are, the same answers.
    let tail = lines(
        local::read_logs(
            dir.log(),
            &ReadConfig {
                tail: Some(120),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    assert_eq!(tail, want);
}

#[test]
fn follow_goes_on_across_rotations_until_close() {
    let dir = temp_dir();
    let opts = [("max-size", "2k"), ("max-file", "100")];
    let logger = Arc::new(LocalLogger::new(&info(&dir.log(), &opts)).unwrap());
    let follower = logger
        .read_logs(&ReadConfig {
            follow: true,
            tail: Some(0),
            ..Default::default()
        })
        .unwrap();
    let reader = std::thread::spawn(move || lines(follower));
    for i in 0..500 {
        logger
            .log(Message::new(Source::Stdout, format!("line {i}")))
            .unwrap();
    }
    logger.close().unwrap();
    let want: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
    assert_eq!(reader.join().unwrap(), want);
}

/// One record, as Docker frames it.
fn record(line: &str) -> Vec<u8> {
    let mut entry = b"\x0a\x06stdout\x10\x01".to_vec();
    entry.push(0x1a);
    entry.push(line.len() as u8);
    entry.extend_from_slice(line.as_bytes());
    let len = (entry.len() as u32).to_be_bytes();
    [len.as_slice(), &entry, &len].concat()
}

#[test]
fn corrupt_records_are_reported_and_skipped() {
    let dir = temp_dir();
    let mut bytes = record("one");
    // Lengths that disagree: skipped, reading goes on after it.
    let mut bad = record("two");
    let n = bad.len();
    bad[n - 1] ^= 1;
    bytes.extend_from_slice(&bad);
    bytes.extend_from_slice(&record("three"));
    // A protobuf that is not a LogEntry, well framed.
    bytes.extend_from_slice(&[0, 0, 0, 1, 0xff, 0, 0, 0, 1]);
    bytes.extend_from_slice(&record("four"));
    // A length over 1 MB: nothing after it in this file can be found.
    bytes.extend_from_slice(&2_000_000u32.to_be_bytes());
    bytes.extend_from_slice(&record("lost"));
    fs::write(dir.0.join("container.log.1"), &bytes).unwrap();
    // The live file: one record, then one cut short by a writer that died.
    let mut live = record("five");
    live.extend_from_slice(&record("cut")[..7]);
    fs::write(dir.log(), &live).unwrap();

    let (mut good, mut errors) = (Vec::new(), Vec::new());
    for item in local::read_logs(dir.log(), &ReadConfig::default()).unwrap() {
        match item {
            Ok(msg) => good.push(String::from_utf8(msg.line.to_vec()).unwrap()),
            Err(Error::CorruptEntry { line, reason, .. }) => errors.push((line, reason)),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(good, ["one", "three", "four", "five"]);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(
        errors[0],
        (
            2,
            "its lengths disagree (15 before it, 14 after)".to_string()
        )
    );
    assert_eq!(errors[1].0, 4);
    assert!(
        errors[2].1.starts_with("a length of 2000000 bytes"),
        "{errors:?}"
    );

    // tail walks back from the end: the corruption before is never read.
    let tail = lines(
        local::read_logs(
            dir.log(),
            &ReadConfig {
                tail: Some(1),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    assert_eq!(tail, ["five"]);
}

#[test]
fn tail_walks_back_over_a_file_whose_start_cannot_be_read_forward() {
    let dir = temp_dir();
    // An impossible length first: read forward, the whole file is lost.
    let mut bytes = 3_000_000u32.to_be_bytes().to_vec();
    for i in 0..10 {
        bytes.extend_from_slice(&record(&format!("r{i}")));
    }
    fs::write(dir.log(), &bytes).unwrap();
    let all: Vec<_> = local::read_logs(dir.log(), &ReadConfig::default())
        .unwrap()
        .collect();
    assert_eq!(all.len(), 1);
    assert!(matches!(all[0], Err(Error::CorruptEntry { .. })));
    let tail = lines(
        local::read_logs(
            dir.log(),
            &ReadConfig {
                tail: Some(3),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    assert_eq!(tail, ["r7", "r8", "r9"]);
}
