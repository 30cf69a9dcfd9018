//! The k8s-file driver: exact CRI records, kubelet-style rotation, reopen,
//! and reading back what this crate, containerd and conmon write.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::TempDir;
use logdriver::drivers::k8sfile::{self, K8sFileLogger, ReadConfig, NAME};
use logdriver::{registry, Copier, Error, Info, Logger, Message, Source};

mod common;

/// A fresh directory for a test.
fn temp_dir() -> TempDir {
    TempDir::new("k8s", "0.log")
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

/// A reader that hands out at most `step` bytes per read, so that lines
/// are cut across reads.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(self.1).min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// What the container writes: short lines, tabs, UTF-8, `\r`, empty
/// lines, 40,000-byte lines, and a last line with no newline.
fn output(tag: &str, lines: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..lines {
        match i % 500 {
            7 => out.extend_from_slice(format!("{tag} {i} {}\n", "x".repeat(40_000)).as_bytes()),
            11 => out.extend_from_slice(b"\n"),
            13 => out.extend_from_slice(format!("{tag} {i} crlf\r\n").as_bytes()),
            _ => out.extend_from_slice(format!("{tag} {i}\tgr\u{fc}\u{df}e\n").as_bytes()),
        }
    }
    out.extend_from_slice(format!("{tag} the end, no newline").as_bytes());
    out
}

/// Each stream as a reader prints it: lines, a newline where one was.
fn streams(reader: impl Iterator<Item = logdriver::Result<Message>>) -> (Vec<u8>, Vec<u8>) {
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

/// Copies `out` and `err` through a Copier into `logger`, trickled.
fn copy(logger: Arc<dyn Logger>, out: &'static [u8], err: &'static [u8]) {
    let stats = Copier::new(Arc::clone(&logger))
        .source(Source::Stdout, Trickle(out, 1000))
        .source(Source::Stderr, Trickle(err, 777))
        .run()
        .unwrap()
        .wait();
    assert_eq!(stats.log_errors, 0);
}

#[test]
fn records_are_containerds_with_fixed_width_times() {
    let dir = temp_dir();
    let logger = K8sFileLogger::new(&info(&dir.log(), &[])).unwrap();
    let t = at(1_764_500_401, 120_000_000); // 2025-11-30T11:00:01.12Z
    logger
        .log(Message {
            timestamp: t,
            ..Message::new(Source::Stdout, "hello world")
        })
        .unwrap();
    logger
        .log(Message {
            timestamp: t,
            ..Message::new(Source::Stderr, "tab\there\r")
        })
        .unwrap();
    logger
        .log(Message {
            timestamp: at(1_764_500_401, 0),
            ..Message::new(Source::Stdout, "")
        })
        .unwrap();
    logger.close().unwrap();
    assert_eq!(
        fs::read_to_string(dir.log()).unwrap(),
        "2025-11-30T11:00:01.120000000Z stdout F hello world\n\
         2025-11-30T11:00:01.120000000Z stderr F tab\there\r\n\
         2025-11-30T11:00:01.000000000Z stdout F \n"
    );
}

#[test]
fn long_lines_are_p_groups_carried_across_reads_and_read_back_byte_for_byte() {
    let dir = temp_dir();
    let logger = registry().create(NAME, &info(&dir.log(), &[])).unwrap();
    let (out, err): (&'static [u8], &'static [u8]) =
        (output("out", 3000).leak(), output("err", 3000).leak());
    copy(Arc::clone(&logger), out, err);
    logger.close().unwrap();

    // The tags, per stream, as containerd writes them for the same input.
    let text = fs::read(dir.log()).unwrap();
    let mut tags: HashMap<&str, Vec<(u8, usize)>> = HashMap::new();
    for record in text.split(|&b| b == b'\n').filter(|r| !r.is_empty()) {
        assert_eq!(
            record[30],
            b' ',
            "{:?}",
            String::from_utf8_lossy(&record[..40])
        );
        assert_eq!(&record[29..30], b"Z");
        let rest = &record[31..];
        let stream = if rest.starts_with(b"stdout ") {
            "stdout"
        } else {
            "stderr"
        };
        let content_len = rest.len() - stream.len() - 3;
        tags.entry(stream)
            .or_default()
            .push((rest[stream.len() + 1], content_len));
    }
    for stream in ["stdout", "stderr"] {
        let tags = &tags[stream];
        // 3,000 lines, six of them 40,000+ bytes: 16,384 + 16,384 + the rest.
        assert_eq!(tags.len(), 3000 - 6 + 6 * 3 + 1, "{stream}");
        let long: Vec<&(u8, usize)> = tags.iter().filter(|(_, len)| *len == 16_384).collect();
        assert_eq!(long.len(), 12);
        assert!(long.iter().all(|(tag, _)| *tag == b'P'));
        // The last line had no newline: a P with no F after it.
        assert_eq!(tags.last().unwrap().0, b'P');
        assert_eq!(tags.iter().filter(|(tag, _)| *tag == b'P').count(), 13);
    }

    let (got_out, got_err) =
        streams(k8sfile::read_logs(dir.log(), &ReadConfig::default()).unwrap());
    assert_eq!(got_out, out);
    assert_eq!(got_err, err);
}

#[test]
fn rotation_uses_the_kubelets_names_and_keeps_max_file_minus_one() {
    let dir = temp_dir();
    let opts = [("max-size", "20k"), ("max-file", "4")];
    let logger = K8sFileLogger::new(&info(&dir.log(), &opts)).unwrap();
    for i in 0..3000 {
        logger
            .log(Message::new(Source::Stdout, format!("line {i:05}")))
            .unwrap();
    }
    logger.close().unwrap();
    let names = dir.names();
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(names[0], "0.log");
    for name in &names[1..] {
        let stamp = name.strip_prefix("0.log.").unwrap();
        let (time, n) = stamp.split_once('_').unwrap_or((stamp, "0"));
        assert!(n.parse::<u32>().is_ok(), "{name}");
        assert_eq!(time.len(), 15, "{name}");
        assert_eq!(&time[8..9], "-", "{name}");
        assert!(
            time.bytes()
                .enumerate()
                .all(|(i, b)| i == 8 || b.is_ascii_digit()),
            "{name}"
        );
    }
    // What is kept reads back as the newest lines, in order, none missing.
    let lines: Vec<String> = k8sfile::read_logs(dir.log(), &ReadConfig::default())
        .unwrap()
        .map(|m| String::from_utf8(m.unwrap().line.to_vec()).unwrap())
        .collect();
    let first: usize = lines[0]["line ".len()..].parse().unwrap();
    let want: Vec<String> = (first..3000).map(|i| format!("line {i:05}")).collect();
    assert_eq!(lines, want);
    // Each file holds about max-size: three rotated files and the live one.
    assert!(lines.len() > 3 * 20_000 / 52, "{} lines kept", lines.len());
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn compress_gzips_every_rotated_file_but_the_newest() {
    let dir = temp_dir();
    let opts = [("max-size", "10k"), ("max-file", "5"), ("compress", "true")];
    let logger = K8sFileLogger::new(&info(&dir.log(), &opts)).unwrap();
    for i in 0..2000 {
        logger
            .log(Message::new(Source::Stderr, format!("line {i:05}")))
            .unwrap();
    }
    logger.close().unwrap();
    let names = dir.names();
    assert_eq!(names.len(), 5, "{names:?}");
    let rotated = &names[1..];
    // Oldest first: three compressed, the newest plain; no .tmp left.
    assert!(rotated[..3].iter().all(|n| n.ends_with(".gz")), "{names:?}");
    assert!(
        !rotated[3].ends_with(".gz") && !rotated[3].ends_with(".tmp"),
        "{names:?}"
    );
    let text = String::from_utf8(gunzip(&dir.0.join(&rotated[0]))).unwrap();
    assert!(
        text.lines().all(|l| l.contains(" stderr F line ")),
        "{text}"
    );
    let lines: Vec<Message> = k8sfile::read_logs(dir.log(), &ReadConfig::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(&lines.last().unwrap().line[..], b"line 01999");
    let first: usize = std::str::from_utf8(&lines[0].line[5..])
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(lines.len(), 2000 - first);
}

#[test]
fn rotation_never_falls_between_the_chunks_of_a_line() {
    let dir = temp_dir();
    let opts = [("max-size", "200k"), ("max-file", "100")];
    let logger = registry().create(NAME, &info(&dir.log(), &opts)).unwrap();
    // No stream is left in a line at its end: a stream stopped in a line
    // would hold rotation off until twice max-size.
    let whole_lines = |mut text: Vec<u8>| -> &'static [u8] {
        text.truncate(text.iter().rposition(|&b| b == b'\n').unwrap() + 1);
        text.leak()
    };
    let out = whole_lines(output("out", 4000));
    let err = whole_lines(output("err", 4000));
    copy(Arc::clone(&logger), out, err);
    logger.close().unwrap();
    let names = dir.names();
    assert!(names.len() >= 4, "{names:?}");
    // Every rotated file ends with a whole line, so none begins in the
    // middle of one; unless the two streams' long lines overlapped all the
    // way to twice max-size, where rotation is forced (as documented).
    let mut whole = 0;
    for name in names.iter().filter(|n| *n != "0.log") {
        let text = fs::read(dir.0.join(name)).unwrap();
        let last = text[..text.len() - 1]
            .rsplit(|&b| b == b'\n')
            .next()
            .unwrap();
        let tag = &last[31..40];
        if tag == b"stdout F " || tag == b"stderr F " {
            whole += 1;
        } else {
            assert!(
                text.len() >= 400_000,
                "{name}: {} bytes, ends in a line",
                text.len()
            );
        }
    }
    assert!(whole > 0, "{names:?}");
    let (got_out, got_err) =
        streams(k8sfile::read_logs(dir.log(), &ReadConfig::default()).unwrap());
    assert_eq!((got_out.as_slice(), got_err.as_slice()), (out, err));
}

#[test]
fn reopen_after_a_kubelet_rename_loses_nothing_and_a_follower_goes_on() {
    let dir = temp_dir();
    let logger = Arc::new(K8sFileLogger::new(&info(&dir.log(), &[])).unwrap());
    logger.log(Message::new(Source::Stdout, "one")).unwrap();
    let follow = ReadConfig {
        follow: true,
        ..ReadConfig::default()
    };
    let mut follower = logger.read_logs(&follow).unwrap();
    assert_eq!(&follower.next().unwrap().unwrap().line[..], b"one");

    logger.log(Message::new(Source::Stdout, "two")).unwrap();
    fs::rename(dir.log(), dir.0.join("0.log.20261130-110001")).unwrap();
    // Written after the rename and before the reopen: still the old file.
    logger.log(Message::new(Source::Stdout, "three")).unwrap();
    logger.reopen().unwrap();
    logger.log(Message::new(Source::Stdout, "four")).unwrap();
    let reader = std::thread::spawn(move || {
        follower
            .map(|m| String::from_utf8(m.unwrap().line.to_vec()).unwrap())
            .collect::<Vec<_>>()
    });
    logger.log(Message::new(Source::Stdout, "five")).unwrap();
    logger.close().unwrap();
    assert_eq!(reader.join().unwrap(), ["two", "three", "four", "five"]);

    assert_eq!(dir.names(), ["0.log", "0.log.20261130-110001"]);
    let renamed = fs::read_to_string(dir.0.join("0.log.20261130-110001")).unwrap();
    assert_eq!(renamed.lines().count(), 3);
    let all: Vec<String> = k8sfile::read_logs(dir.log(), &ReadConfig::default())
        .unwrap()
        .map(|m| String::from_utf8(m.unwrap().line.to_vec()).unwrap())
        .collect();
    assert_eq!(all, ["one", "two", "three", "four", "five"]);
    assert!(matches!(logger.reopen(), Err(Error::Closed { driver }) if driver == NAME));
}

#[test]
fn a_reopen_that_finds_the_same_file_is_no_rotation() {
    let dir = temp_dir();
    let logger = Arc::new(K8sFileLogger::new(&info(&dir.log(), &[])).unwrap());
    logger.log(Message::new(Source::Stdout, "a")).unwrap();
    logger.log(Message::new(Source::Stdout, "b")).unwrap();
    let follow = ReadConfig {
        follow: true,
        ..ReadConfig::default()
    };
    let mut follower = logger.read_logs(&follow).unwrap();
    assert_eq!(&follower.next().unwrap().unwrap().line[..], b"a");
    assert_eq!(&follower.next().unwrap().unwrap().line[..], b"b");
    // Nothing renamed the file: the path is the file still open.
    logger.reopen().unwrap();
    logger.log(Message::new(Source::Stdout, "c")).unwrap();
    logger.close().unwrap();
    let rest: Vec<String> = follower
        .map(|m| String::from_utf8(m.unwrap().line.to_vec()).unwrap())
        .collect();
    assert_eq!(rest, ["c"]);
    assert_eq!(dir.names(), ["0.log"]);
}

#[test]
fn follow_goes_on_across_the_drivers_own_rotations() {
    let dir = temp_dir();
    let opts = [
        ("max-size", "1k"),
        ("max-file", "100"),
        ("compress", "true"),
    ];
    let logger = Arc::new(K8sFileLogger::new(&info(&dir.log(), &opts)).unwrap());
    let follow = ReadConfig {
        follow: true,
        ..ReadConfig::default()
    };
    let follower = logger.read_logs(&follow).unwrap();
    let reader = std::thread::spawn(move || {
        follower
            .map(|m| String::from_utf8(m.unwrap().line.to_vec()).unwrap())
            .collect::<Vec<_>>()
    });
    for i in 0..500 {
        logger
            .log(Message::new(Source::Stdout, format!("line {i}")))
            .unwrap();
    }
    logger.close().unwrap();
    let want: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
    assert_eq!(reader.join().unwrap(), want);
}

#[test]
fn tail_since_and_until_count_records() {
    let dir = temp_dir();
    let logger =
        K8sFileLogger::new(&info(&dir.log(), &[("max-size", "1k"), ("max-file", "50")])).unwrap();
    for i in 0..100u32 {
        let msg = Message {
            timestamp: at(1_000 + u64::from(i), 0),
            ..Message::new(Source::Stdout, format!("{i}"))
        };
        logger.log(msg).unwrap();
    }
    let read = |config: ReadConfig| -> Vec<String> {
        logger
            .read_logs(&config)
            .unwrap()
            .map(|m| String::from_utf8(m.unwrap().line.to_vec()).unwrap())
            .collect()
    };
    assert_eq!(
        read(ReadConfig {
            tail: Some(3),
            ..Default::default()
        }),
        ["97", "98", "99"]
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
            since: Some(at(1_050, 0)),
            until: Some(at(1_052, 0)),
            ..Default::default()
        }),
        ["50", "51", "52"]
    );
    logger.close().unwrap();
}

#[test]
fn containerd_and_conmon_files_read_back_as_whole_lines() {
    let dir = temp_dir();
    let path = dir.log();
    // containerd: trimmed times, a P group, a final P; then conmon: local
    // time with an offset, a line cut per read into P records of 8 KiB.
    let mut text = String::new();
    text.push_str("2025-11-30T11:00:01.5Z stdout F hello\n");
    text.push_str("2025-11-30T11:00:01.5Z stdout P abc\n");
    text.push_str("2025-11-30T11:00:01Z stderr F err line\n");
    text.push_str("2025-11-30T11:00:01.51Z stdout F def\n");
    text.push_str("not a record\n");
    let cut = "y".repeat(8192);
    for _ in 0..3 {
        text.push_str(&format!(
            "2025-11-30T12:00:02.000000001+01:00 stdout P {cut}\n"
        ));
    }
    text.push_str("2025-11-30T12:00:02.000000002+01:00 stdout F:extra tail\n");
    text.push_str("2025-11-30T11:00:03Z stdout P no newline");
    fs::write(&path, text).unwrap();

    let (mut good, mut corrupt) = (Vec::new(), 0);
    for item in k8sfile::read_logs(&path, &ReadConfig::default()).unwrap() {
        match item {
            Ok(msg) => good.push(msg),
            Err(Error::CorruptEntry { line: 5, .. }) => corrupt += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(corrupt, 1);
    let (out, err) = streams(good.into_iter().map(Ok));
    let want = format!("hello\nabcdef\n{}tail\nno newline", cut.repeat(3));
    assert_eq!(String::from_utf8(out).unwrap(), want);
    assert_eq!(err, b"err line\n");
}

#[test]
fn every_validation_error_names_driver_key_and_value() {
    let check = |pairs: &[(&str, &str)], key: &str, value: &str| {
        let opts: HashMap<String, String> =
            pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect();
        match K8sFileLogger::validate(&opts) {
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
        }
    };
    check(&[("max-size", "lots")], "max-size", "lots");
    check(&[("max-size", "0")], "max-size", "0");
    check(&[("max-size", "2t")], "max-size", "2t");
    check(&[("max-file", "0")], "max-file", "0");
    check(&[("max-file", "101")], "max-file", "101");
    check(
        &[("compress", "yes"), ("max-size", "1m")],
        "compress",
        "yes",
    );
    check(&[("compress", "true")], "compress", "true");
    let unknown = HashMap::from([("labels".to_string(), "a".to_string())]);
    assert!(matches!(
        K8sFileLogger::validate(&unknown),
        Err(Error::UnknownOption { driver, key }) if driver == NAME && key == "labels"
    ));
    assert!(matches!(
        registry().create(NAME, &Info::new("x")),
        Err(Error::MissingLogPath { driver }) if driver == NAME
    ));
    let ok = HashMap::from([
        ("max-size".to_string(), "10m".to_string()),
        ("max-file".to_string(), "1".to_string()),
        ("compress".to_string(), "true".to_string()),
    ]);
    K8sFileLogger::validate(&ok).unwrap();
}

#[test]
fn conmon_style_pushes_write_the_file_a_copier_writes_from_a_pipe() {
    // Lines short and long (past the 16 KiB chunk), and a last one with
    // no newline; conmon-rs reads its pipes 4 KiB at a time.
    let mut input = Vec::new();
    for i in 0..300 {
        let len = [3, 100, 4096, 16_384, 40_000][i % 5];
        input.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
        input.push(b'\n');
    }
    input.extend_from_slice(b"no newline at the end");

    let pushed = temp_dir();
    let logger = Arc::new(K8sFileLogger::new(&info(&pushed.log(), &[])).unwrap());
    let mut writer = logdriver::LineWriter::new(logger.clone(), Source::Stdout);
    for piece in input.chunks(4096) {
        writer.push(bytes::Bytes::copy_from_slice(piece));
    }
    writer.finish();
    logger.close().unwrap();

    let piped = temp_dir();
    let logger = Arc::new(K8sFileLogger::new(&info(&piped.log(), &[])).unwrap());
    let (reader, mut w) = std::io::pipe().unwrap();
    let feeder = {
        let input = input.clone();
        std::thread::spawn(move || std::io::Write::write_all(&mut w, &input))
    };
    Copier::new(logger.clone())
        .source(Source::Stdout, reader)
        .run()
        .unwrap()
        .wait();
    feeder.join().unwrap().unwrap();
    logger.close().unwrap();

    // Record for record the same, but for the times the two runs took.
    let records = |dir: &TempDir| -> Vec<Vec<u8>> {
        fs::read(dir.log())
            .unwrap()
            .split(|&b| b == b'\n')
            .map(|r| {
                r.splitn(2, |&b| b == b' ')
                    .nth(1)
                    .unwrap_or_default()
                    .to_vec()
            })
            .collect()
    };
    let (a, b) = (records(&pushed), records(&piped));
    assert_eq!(a.len(), b.len());
    assert!(a == b, "the files differ beyond their times");
    assert!(a.len() > 300);
}
