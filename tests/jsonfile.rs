//! The json-file driver: exact bytes, rotation, compression, reading back.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::TempDir;
use logdriver::drivers::jsonfile::{self, JsonFileLogger, ReadConfig, NAME};
use logdriver::{registry, Error, Info, Logger, Message, PartialMeta, Source};

mod common;

/// A fresh directory for a test.
fn temp_dir() -> TempDir {
    TempDir::new("jsonfile", "container-json.log")
}

fn info(path: &Path, opts: &[(&str, &str)]) -> Info {
    Info {
        config: opts.iter().map(|&(k, v)| (k.into(), v.into())).collect(),
        container_id: "a7317399f3f857173c6179d44823594f8294678dea9999662e5c625b5a1c7657".into(),
        container_name: "/test-container".into(),
        log_path: Some(path.to_owned()),
        ..Default::default()
    }
}

fn at(secs: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

fn msg(line: &[u8], source: Source, time: SystemTime) -> Message {
    Message {
        line: line.to_vec().into(),
        source,
        timestamp: time,
        partial: None,
    }
}

fn chunk(line: &[u8], ordinal: u32, last: bool, time: SystemTime) -> Message {
    Message {
        partial: Some(PartialMeta {
            id: "f".repeat(64),
            ordinal,
            last,
        }),
        ..msg(line, Source::Stdout, time)
    }
}

fn contents(path: &Path) -> String {
    String::from_utf8(fs::read(path).unwrap()).unwrap()
}

#[test]
fn golden_lines() {
    let dir = temp_dir();
    let logger = JsonFileLogger::new(&info(&dir.log(), &[])).unwrap();
    let t = at(1_504_227_661, 1); // 2017-09-01T01:01:01.000000001Z
    logger.log(msg(b"line1", Source::Stdout, t)).unwrap();
    logger
        .log(msg(
            b"line2",
            Source::Stderr,
            at(1_504_227_661, 120_000_000),
        ))
        .unwrap();
    logger.log(chunk(b"part1 ", 1, false, t)).unwrap();
    logger.log(chunk(b"part2", 2, true, t)).unwrap();
    logger.log(msg(b"", Source::Stdout, at(0, 0))).unwrap();
    logger
        .log(msg(b"<b>\"q\"\t\\ &\r\x01\x7f", Source::Stdout, t))
        .unwrap();
    logger
        .log(msg("é\u{2028}".as_bytes(), Source::Stdout, t))
        .unwrap();
    logger
        .log(msg(b"bad \xff\xe2\x82 utf8", Source::Stdout, t))
        .unwrap();
    logger.log(chunk(b"", 1, false, t)).unwrap();
    logger.close().unwrap();
    let want = concat!(
        "{\"log\":\"line1\\n\",\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:01.000000001Z\"}\n",
        "{\"log\":\"line2\\n\",\"stream\":\"stderr\",\"time\":\"2017-09-01T01:01:01.12Z\"}\n",
        "{\"log\":\"part1 \",\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:01.000000001Z\"}\n",
        "{\"log\":\"part2\\n\",\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:01.000000001Z\"}\n",
        "{\"log\":\"\\n\",\"stream\":\"stdout\",\"time\":\"1970-01-01T00:00:00Z\"}\n",
        "{\"log\":\"\\u003cb\\u003e\\\"q\\\"\\u0009\\\\ \\u0026\\r\\u0001\x7f\\n\",\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:01.000000001Z\"}\n",
        "{\"log\":\"é\\u2028\\n\",\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:01.000000001Z\"}\n",
        "{\"log\":\"bad \\ufffd\\ufffd\\ufffd utf8\\n\",\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:01.000000001Z\"}\n",
        "{\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:01.000000001Z\"}\n",
    );
    assert_eq!(contents(&dir.log()), want);
}

#[test]
fn golden_attrs_and_tag() {
    let dir = temp_dir();
    let mut info = info(
        &dir.log(),
        &[
            ("tag", "{{.ID}}/{{.Name}}"),
            ("labels", "rack,dc"),
            ("labels-regex", "^loc"),
            ("env", "environ,debug,ssl"),
            ("env-regex", "^dc"),
        ],
    );
    info.container_labels = [
        ("rack", "101"),
        ("dc", "lhr"),
        ("location", "here"),
        ("other", "x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    info.container_env = vec![
        "environ=production".into(),
        "debug=false".into(),
        "port=10001".into(),
        "ssl=true".into(),
        "dc_region=west".into(),
    ];
    let logger = JsonFileLogger::new(&info).unwrap();
    logger.log(msg(b"line1", Source::Stdout, at(0, 0))).unwrap();
    logger.close().unwrap();
    assert_eq!(
        contents(&dir.log()),
        "{\"log\":\"line1\\n\",\"stream\":\"stdout\",\"attrs\":{\"dc\":\"lhr\",\"dc_region\":\"west\",\"debug\":\"false\",\
         \"environ\":\"production\",\"location\":\"here\",\"rack\":\"101\",\"ssl\":\"true\",\
         \"tag\":\"a7317399f3f8/test-container\"},\"time\":\"1970-01-01T00:00:00Z\"}\n"
    );
}

#[test]
fn an_independent_parser_reads_every_line_back() {
    let dir = temp_dir();
    let logger = JsonFileLogger::new(&info(&dir.log(), &[])).unwrap();
    let times = [
        (at(0, 0), "1970-01-01T00:00:00Z"),
        (at(1_504_227_661, 1), "2017-09-01T01:01:01.000000001Z"),
        (at(1_800_000_000, 500_000_000), "2027-01-15T08:00:00.5Z"),
        (
            at(951_782_400, 999_999_999),
            "2000-02-29T00:00:00.999999999Z",
        ),
    ];
    let mut sent = Vec::new();
    for i in 0..400u32 {
        let text: String = (0..i % 50)
            .map(|j| char::from_u32(0x20 + (i * 7 + j) % 0x2100).unwrap_or('x'))
            .collect();
        let source = if i % 3 == 0 {
            Source::Stderr
        } else {
            Source::Stdout
        };
        let (time, time_str) = times[i as usize % times.len()];
        logger.log(msg(text.as_bytes(), source, time)).unwrap();
        sent.push((format!("{text}\n"), source.as_str(), time_str));
    }
    logger.close().unwrap();
    let text = contents(&dir.log());
    let got: Vec<(String, &str, String)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let stream = if v["stream"] == "stdout" {
                "stdout"
            } else {
                "stderr"
            };
            (
                v["log"].as_str().unwrap().to_owned(),
                stream,
                v["time"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, &str, String)> = sent
        .into_iter()
        .map(|(l, s, t)| (l, s, t.to_owned()))
        .collect();
    assert_eq!(got, want);
}

/// 36 entries of 64 bytes each, from "l00" to "l35".
fn write_36(logger: &JsonFileLogger) -> Vec<String> {
    (0..36)
        .map(|i| {
            let line = format!("l{i:02}");
            logger
                .log(msg(
                    line.as_bytes(),
                    Source::Stdout,
                    at(1_700_000_000 + i, 0),
                ))
                .unwrap();
            line
        })
        .collect()
}

fn lines_of(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["log"].as_str().unwrap().trim_end().to_owned()
        })
        .collect()
}

fn gunzip(path: &Path) -> (String, Vec<u8>) {
    let mut gz = flate2::read::GzDecoder::new(fs::File::open(path).unwrap());
    let mut text = String::new();
    gz.read_to_string(&mut text).unwrap();
    let extra = gz.header().unwrap().extra().unwrap().to_vec();
    (text, extra)
}

fn rotated(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

#[test]
fn rotation_16_16_4() {
    let dir = temp_dir();
    let logger =
        JsonFileLogger::new(&info(&dir.log(), &[("max-size", "1k"), ("max-file", "3")])).unwrap();
    let lines = write_36(&logger);
    logger.close().unwrap();
    assert_eq!(
        lines_of(&contents(&rotated(&dir.log(), ".2"))),
        lines[0..16]
    );
    assert_eq!(
        lines_of(&contents(&rotated(&dir.log(), ".1"))),
        lines[16..32]
    );
    assert_eq!(lines_of(&contents(&dir.log())), lines[32..36]);
    assert!(!rotated(&dir.log(), ".3").exists());
}

#[test]
fn compressed_rotation_16_16_4_with_last_time() {
    let dir = temp_dir();
    let logger = JsonFileLogger::new(&info(
        &dir.log(),
        &[("max-size", "1k"), ("max-file", "3"), ("compress", "true")],
    ))
    .unwrap();
    let lines = write_36(&logger);
    logger.close().unwrap(); // waits for the compressions
    let (older, older_extra) = gunzip(&rotated(&dir.log(), ".2.gz"));
    let (newer, newer_extra) = gunzip(&rotated(&dir.log(), ".1.gz"));
    assert_eq!(lines_of(&older), lines[0..16]);
    assert_eq!(lines_of(&newer), lines[16..32]);
    assert_eq!(lines_of(&contents(&dir.log())), lines[32..36]);
    // 1_700_000_015 and 1_700_000_031 seconds: the last entries' times.
    assert_eq!(older_extra, b"{\"lastTime\":\"2023-11-14T22:13:35Z\"}");
    assert_eq!(newer_extra, b"{\"lastTime\":\"2023-11-14T22:13:51Z\"}");
    for plain in [".1", ".2"] {
        assert!(
            !rotated(&dir.log(), plain).exists(),
            "{plain} was replaced by its .gz"
        );
    }
    let files = fs::read_dir(&dir.0).unwrap().count();
    assert_eq!(files, 3, "no temporary files are left behind");
}

#[test]
fn max_file_1_drops_the_full_file() {
    let dir = temp_dir();
    let logger = JsonFileLogger::new(&info(&dir.log(), &[("max-size", "1k")])).unwrap();
    let lines = write_36(&logger);
    logger.close().unwrap();
    assert_eq!(lines_of(&contents(&dir.log())), lines[32..36]);
    assert!(!rotated(&dir.log(), ".1").exists());
}

fn read_all(reader: jsonfile::JsonFileReader) -> Vec<String> {
    reader
        .map(|m| String::from_utf8(m.unwrap().line.to_vec()).unwrap())
        .collect()
}

#[test]
fn tail_since_and_until_across_rotated_files() {
    for compress in ["false", "true"] {
        let dir = temp_dir();
        let logger = JsonFileLogger::new(&info(
            &dir.log(),
            &[
                ("max-size", "1k"),
                ("max-file", "3"),
                ("compress", compress),
            ],
        ))
        .unwrap();
        let lines = write_36(&logger);
        let read = |config: ReadConfig| read_all(logger.read_logs(&config).unwrap());
        assert_eq!(read(ReadConfig::default()), lines);
        assert_eq!(
            read(ReadConfig {
                tail: Some(20),
                ..Default::default()
            }),
            lines[16..]
        );
        assert_eq!(
            read(ReadConfig {
                tail: Some(0),
                ..Default::default()
            }),
            Vec::<String>::new()
        );
        assert_eq!(
            read(ReadConfig {
                tail: Some(100),
                ..Default::default()
            }),
            lines
        );
        let since = Some(at(1_700_000_010, 0));
        let until = Some(at(1_700_000_020, 0));
        assert_eq!(
            read(ReadConfig {
                since,
                ..Default::default()
            }),
            lines[10..]
        );
        assert_eq!(
            read(ReadConfig {
                until,
                ..Default::default()
            }),
            lines[..=20]
        );
        assert_eq!(
            read(ReadConfig {
                since,
                until,
                ..Default::default()
            }),
            lines[10..=20]
        );
        assert_eq!(
            read(ReadConfig {
                tail: Some(30),
                since,
                until,
                ..Default::default()
            }),
            lines[10..=20]
        );
        logger.close().unwrap();
        // A stopped container's files, from the path alone.
        let stopped = jsonfile::read_logs(
            dir.log(),
            &ReadConfig {
                tail: Some(5),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(read_all(stopped), lines[31..]);
    }
}

#[test]
fn follow_across_rotations_until_close() {
    let dir = temp_dir();
    let logger =
        JsonFileLogger::new(&info(&dir.log(), &[("max-size", "1k"), ("max-file", "5")])).unwrap();
    logger
        .log(msg(b"before", Source::Stdout, at(1, 0)))
        .unwrap();
    let reader = logger
        .read_logs(&ReadConfig {
            follow: true,
            ..Default::default()
        })
        .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let follower = std::thread::spawn(move || {
        for m in reader {
            tx.send(String::from_utf8(m.unwrap().line.to_vec()).unwrap())
                .unwrap();
        }
    });
    // The follower has seen what was there before we go on.
    assert_eq!(rx.recv().unwrap(), "before");
    let lines = write_36(&logger); // rotates twice
    for line in &lines[..20] {
        assert_eq!(&rx.recv().unwrap(), line);
    }
    logger.close().unwrap();
    follower.join().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    assert_eq!(rest, lines[20..]);
}

#[test]
fn partial_chunks_come_back_as_partials() {
    let dir = temp_dir();
    let logger = JsonFileLogger::new(&info(&dir.log(), &[])).unwrap();
    let t = at(5, 0);
    logger.log(chunk(b"aa", 1, false, t)).unwrap();
    logger.log(msg(b"err", Source::Stderr, t)).unwrap();
    logger.log(chunk(b"bb", 2, false, t)).unwrap();
    logger.log(chunk(b"cc", 3, true, t)).unwrap();
    logger.log(msg(b"whole", Source::Stdout, t)).unwrap();
    let got: Vec<Message> = logger
        .read_logs(&ReadConfig::default())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    type Shape<'a> = (&'a [u8], Option<(u32, bool)>);
    let shape: Vec<Shape> = got
        .iter()
        .map(|m| (&m.line[..], m.partial.as_ref().map(|p| (p.ordinal, p.last))))
        .collect();
    assert_eq!(
        shape,
        [
            (&b"aa"[..], Some((1, false))),
            (b"err", None),
            (b"bb", Some((2, false))),
            (b"cc", Some((3, true))),
            (b"whole", None)
        ]
    );
    let ids: Vec<&str> = got
        .iter()
        .filter_map(|m| m.partial.as_ref())
        .map(|p| p.id.as_str())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0] && id.len() == 64));
}

#[test]
fn a_corrupt_entry_is_reported_and_skipped() {
    let dir = temp_dir();
    fs::write(
        dir.log(),
        concat!(
            "{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:01Z\"}\n",
            "{\"log\":\"tw\n",
            "{\"log\":\"three\\n\",\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:02Z\"}\n",
            "{\"log\":\"four\\n\",\"stream\":\"stdin\",\"time\":\"2017-09-01T01:01:03Z\"}\n",
            "{\"log\":\"five\\n\",\"stream\":\"stderr\",\"time\":\"2017-09-01T01:01:04Z\"}\n",
        ),
    )
    .unwrap();
    let items: Vec<_> = jsonfile::read_logs(dir.log(), &ReadConfig::default())
        .unwrap()
        .collect();
    assert_eq!(items.len(), 5);
    assert_eq!(&items[0].as_ref().unwrap().line[..], b"one");
    assert!(
        matches!(&items[1], Err(Error::CorruptEntry { line: 2, .. })),
        "{:?}",
        items[1]
    );
    assert_eq!(&items[2].as_ref().unwrap().line[..], b"three");
    match &items[3] {
        Err(Error::CorruptEntry {
            line: 4, reason, ..
        }) => assert_eq!(reason, "unknown stream \"stdin\""),
        other => panic!("{other:?}"),
    }
    assert_eq!(items[4].as_ref().unwrap().source, Source::Stderr);
}

fn validate(pairs: &[(&str, &str)]) -> logdriver::Result<()> {
    let opts: HashMap<String, String> = pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect();
    JsonFileLogger::validate(&opts)?;
    registry().validate(NAME, &opts)
}

#[test]
fn every_validation_error_names_driver_key_and_value() {
    validate(&[]).unwrap();
    validate(&[
        ("max-size", "10m"),
        ("max-file", "5"),
        ("compress", "true"),
        ("tag", "{{.Name}}"),
        ("labels", "a"),
        ("env-regex", "^x"),
    ])
    .unwrap();
    match validate(&[("max-buffer", "1")]).unwrap_err() {
        Error::UnknownOption { driver, key } => {
            assert_eq!((driver.as_str(), key.as_str()), (NAME, "max-buffer"))
        }
        other => panic!("{other:?}"),
    }
    let invalid = [
        ("max-size", "0"),
        ("max-size", "-1"),
        ("max-size", "lots"),
        ("max-file", "0"),
        ("max-file", "two"),
        ("compress", "yes"),
        ("tag", "{{.Nope}}"),
        ("labels-regex", "("),
        ("env-regex", "[z-a]"),
    ];
    for (key, value) in invalid {
        match validate(&[(key, value)]).unwrap_err() {
            Error::InvalidOption {
                driver,
                key: k,
                value: v,
                ..
            } => assert_eq!(
                (driver.as_str(), k.as_str(), v.as_str()),
                (NAME, key, value)
            ),
            other => panic!("{key}={value}: {other:?}"),
        }
    }
    for opts in [
        &[("compress", "true")][..],
        &[("compress", "true"), ("max-size", "1m")],
        &[("compress", "1"), ("max-file", "3")],
    ] {
        match validate(opts).unwrap_err() {
            Error::InvalidOption { key, reason, .. } => {
                assert_eq!(key, "compress");
                assert_eq!(reason, "needs max-file of 2 or more and max-size");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn created_by_name_and_a_missing_path_is_a_clear_error() {
    let dir = temp_dir();
    let logger = registry()
        .create(NAME, &info(&dir.log(), &[("mode", "non-blocking")]))
        .unwrap();
    logger
        .log(msg(b"via registry", Source::Stdout, at(0, 0)))
        .unwrap();
    logger.close().unwrap();
    assert_eq!(lines_of(&contents(&dir.log())), ["via registry"]);

    let err = registry().create(NAME, &Info::default()).unwrap_err();
    assert!(matches!(&err, Error::MissingLogPath { driver } if driver == NAME));
    assert_eq!(
        err.to_string(),
        "log driver \"json-file\" needs a log path (Info::log_path)"
    );
    assert!(matches!(
        logger.log(msg(b"late", Source::Stdout, at(0, 0))),
        Err(Error::Closed { .. })
    ));
}

#[test]
fn read_logs_by_path_follows_a_live_logger() {
    let dir = temp_dir();
    let logger =
        JsonFileLogger::new(&info(&dir.log(), &[("max-size", "1k"), ("max-file", "4")])).unwrap();
    let follow = ReadConfig {
        follow: true,
        ..Default::default()
    };
    let reader = jsonfile::read_logs(dir.log(), &follow).unwrap();
    let lines = write_36(&logger);
    logger.close().unwrap();
    assert_eq!(read_all(reader), lines);
    // Once the logger is gone, the path reads as a stopped container's.
    drop(logger);
    let reader = jsonfile::read_logs(dir.log(), &follow).unwrap();
    assert_eq!(read_all(reader), lines);
}

/// 300 messages of every shape, one of them with a time past year 9999.
fn assorted() -> Vec<Message> {
    (0..300u32)
        .map(|i| {
            let line = format!("line {i} {}", "é\"\\".repeat(i as usize % 23));
            let time = if i == 150 {
                UNIX_EPOCH + Duration::from_secs(253_402_300_800) // year 10000
            } else {
                at(1_700_000_000 + u64::from(i / 7), i * 1000)
            };
            match i % 11 {
                3 => chunk(line.as_bytes(), 1, false, time),
                4 => chunk(b"", 2, true, time),
                5 => msg(b"", Source::Stderr, time),
                _ => msg(line.as_bytes(), Source::Stdout, time),
            }
        })
        .collect()
}

fn files_of(dir: &TempDir) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn batches_write_the_same_files_as_single_lines() {
    let opts = [("max-size", "2k"), ("max-file", "4")];
    let (one_by_one, batched) = (temp_dir(), temp_dir());

    let logger = JsonFileLogger::new(&info(&one_by_one.log(), &opts)).unwrap();
    let mut errors = Vec::new();
    for m in assorted() {
        if let Err(err) = logger.log(m) {
            errors.push(err.to_string());
        }
    }
    logger.close().unwrap();

    let logger = JsonFileLogger::new(&info(&batched.log(), &opts)).unwrap();
    assert!(logger.prefers_batches());
    let mut batch_errors = Vec::new();
    let mut messages = assorted().into_iter().peekable();
    for size in [1, 7, 64, 128].into_iter().cycle() {
        if messages.peek().is_none() {
            break;
        }
        let mut batch: std::collections::VecDeque<Message> = messages.by_ref().take(size).collect();
        logger.log_batch(&mut batch, &mut |err| batch_errors.push(err.to_string()));
        assert!(batch.is_empty());
    }
    logger.close().unwrap();

    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("years 0 to 9999"), "{errors:?}");
    assert_eq!(batch_errors, errors);
    let files = files_of(&one_by_one);
    assert_eq!(files.len(), 4, "rotated into .1 to .3: {files:?}");
    assert_eq!(files_of(&batched), files);
}

#[test]
fn a_batch_after_close_fails_line_by_line() {
    let dir = temp_dir();
    let logger = JsonFileLogger::new(&info(&dir.log(), &[])).unwrap();
    logger.close().unwrap();
    let mut batch: std::collections::VecDeque<Message> = assorted().into_iter().take(3).collect();
    let mut errors = Vec::new();
    logger.log_batch(&mut batch, &mut |err| errors.push(err));
    assert!(batch.is_empty());
    assert_eq!(errors.len(), 3);
    assert!(errors.iter().all(|e| matches!(e, Error::Closed { .. })));
}

#[test]
fn a_copier_writes_both_streams_through_rotations_and_they_read_back() {
    let dir = temp_dir();
    let opts = [("max-size", "100k"), ("max-file", "50")];
    let logger = std::sync::Arc::new(JsonFileLogger::new(&info(&dir.log(), &opts)).unwrap());
    let text = |tag: &str| -> Vec<u8> {
        (0..5_000)
            .flat_map(|i| format!("{tag} {i:05}\n").into_bytes())
            .collect()
    };
    let stats = logdriver::Copier::new(logger.clone())
        .source(Source::Stdout, std::io::Cursor::new(text("out")))
        .source(Source::Stderr, std::io::Cursor::new(text("err")))
        .run()
        .unwrap()
        .wait();
    assert_eq!((stats.lines, stats.log_errors), (10_000, 0));
    let entries: Vec<Message> = jsonfile::read_logs(dir.log(), &ReadConfig::default())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    logger.close().unwrap();
    assert!(rotated(&dir.log(), ".1").exists(), "it rotated");
    for (source, tag) in [(Source::Stdout, "out"), (Source::Stderr, "err")] {
        let got: Vec<u8> = entries
            .iter()
            .filter(|m| m.source == source)
            .flat_map(|m| [&m.line[..], b"\n"].concat())
            .collect();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(text(tag)).unwrap()
        );
    }
}

/// The lines of the file at `path`, as the `log` field of each entry.
fn logs_in(path: &Path) -> Vec<String> {
    contents(path)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["log"].as_str().unwrap_or("").to_owned()
        })
        .collect()
}

#[test]
fn rotation_waits_for_the_end_of_a_line_in_progress() {
    let dir = temp_dir();
    let logger =
        JsonFileLogger::new(&info(&dir.log(), &[("max-size", "300"), ("max-file", "3")])).unwrap();
    let t = at(1, 0);
    for line in [&b"w1"[..], b"w2", b"w3"] {
        logger.log(msg(line, Source::Stdout, t)).unwrap();
    }
    // The file reaches 300 bytes inside this line: rotation waits for its end.
    logger.log(chunk(b"c1", 1, false, t)).unwrap();
    logger.log(chunk(b"c2", 2, false, t)).unwrap();
    logger.log(chunk(b"c3", 3, true, t)).unwrap();
    logger.log(msg(b"after", Source::Stdout, t)).unwrap();
    logger.close().unwrap();
    assert_eq!(
        logs_in(&rotated(&dir.log(), ".1")),
        ["w1\n", "w2\n", "w3\n", "c1", "c2", "c3\n"]
    );
    assert_eq!(logs_in(&dir.log()), ["after\n"]);
}

#[test]
fn a_stream_stuck_in_a_line_delays_rotation_by_at_most_max_size() {
    let dir = temp_dir();
    let logger =
        JsonFileLogger::new(&info(&dir.log(), &[("max-size", "300"), ("max-file", "3")])).unwrap();
    let t = at(1, 0);
    // stdout stops in the middle of a line; stderr goes on.
    logger.log(chunk(b"stuck", 1, false, t)).unwrap();
    for i in 0..20 {
        let line = format!("err{i:02}");
        logger.log(msg(line.as_bytes(), Source::Stderr, t)).unwrap();
    }
    logger.close().unwrap();
    let rotated_size = fs::metadata(rotated(&dir.log(), ".1")).unwrap().len();
    assert!(
        (600..600 + 80).contains(&rotated_size),
        "rotated at {rotated_size} bytes"
    );
}

#[test]
fn follow_with_until_ends_once_until_has_passed() {
    let dir = temp_dir();
    let logger = JsonFileLogger::new(&info(&dir.log(), &[])).unwrap();
    logger.log(msg(b"old", Source::Stdout, at(1, 0))).unwrap();
    let reader = logger
        .read_logs(&ReadConfig {
            follow: true,
            until: Some(SystemTime::now() + Duration::from_millis(200)),
            ..Default::default()
        })
        .unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let lines: Vec<Vec<u8>> = reader.map(|m| m.unwrap().line.to_vec()).collect();
        let _ = tx.send(lines);
    });
    // No line is written again, and the logger stays open.
    let lines = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the follower ended after `until`");
    assert_eq!(lines, [b"old".to_vec()]);
    drop(logger);
}

#[test]
fn max_file_is_bounded() {
    let opts = |n: &str| HashMap::from([("max-file".to_string(), n.to_string())]);
    assert!(JsonFileLogger::validate(&opts("100")).is_ok());
    for bad in ["101", "18446744073709551615", "99999999999999999999"] {
        match JsonFileLogger::validate(&opts(bad)) {
            Err(Error::InvalidOption {
                key, value, reason, ..
            }) => {
                assert_eq!((key.as_str(), value.as_str()), ("max-file", bad));
                assert!(reason.contains("100"), "{reason}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn a_follower_that_falls_behind_max_file_is_told_how_many_files_it_lost() {
    let dir = temp_dir();
    let logger =
        JsonFileLogger::new(&info(&dir.log(), &[("max-size", "1k"), ("max-file", "2")])).unwrap();
    logger
        .log(msg(b"before", Source::Stdout, at(1, 0)))
        .unwrap();
    let mut reader = logger
        .read_logs(&ReadConfig {
            follow: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(&reader.next().unwrap().unwrap().line[..], b"before");
    // Six rotations while the follower reads nothing: two files are kept.
    let written: Vec<String> = (0..3).flat_map(|_| write_36(&logger)).collect();
    let mut seen = Vec::new();
    let mut lost = None;
    logger.close().unwrap();
    for entry in reader {
        match entry {
            Ok(m) => seen.push(String::from_utf8(m.line.to_vec()).unwrap()),
            Err(Error::FollowLost { path, files }) => {
                assert_eq!(path, dir.log());
                assert!(lost.replace(files).is_none(), "told twice");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(lost, Some(4));
    // What it saw is the written lines in order, with one gap.
    let before_gap = seen
        .iter()
        .zip(&written)
        .take_while(|(a, b)| a == b)
        .count();
    let after_gap = seen.len() - before_gap;
    assert!(
        before_gap > 0 && after_gap > 0,
        "{before_gap} + {after_gap}"
    );
    assert_eq!(seen[before_gap..], written[written.len() - after_gap..]);
    assert!(seen.len() < written.len());
}
