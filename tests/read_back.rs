//! One read-back harness for every driver that reads back: each scenario
//! (all, tail, since and until, rotation, follow, long lines) runs over
//! json-file, k8s-file and local alike, through the [`LogReader`] that
//! `Logger::reader` gives, as `docker logs` reaches it through the plugin.
//!
//! A driver joins by adding a [`Subject`] to [`SUBJECTS`]; a scenario is a
//! function of one [`Tester`].

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::TempDir;
use logdriver::{registry, Copier, Info, LogReader, Logger, Message, ReadConfig, Source};

mod common;

/// A driver under test: how to make one at a path with options.
struct Subject {
    name: &'static str,
    /// Options every scenario's options go with.
    base: &'static [(&'static str, &'static str)],
}

const SUBJECTS: &[Subject] = &[
    Subject {
        name: "json-file",
        base: &[],
    },
    Subject {
        name: "k8s-file",
        base: &[],
    },
    Subject {
        name: "local",
        base: &[],
    },
];

/// What a scenario compares: a message's line, stream and time.
type Seen = (Vec<u8>, Source, SystemTime);

fn at(i: usize) -> SystemTime {
    UNIX_EPOCH + Duration::new(1_700_000_000 + i as u64, 123_456_789)
}

/// One driver, one directory, and what was written to it.
struct Tester {
    driver: &'static str,
    dir: TempDir,
    logger: Arc<dyn Logger>,
    written: Vec<Seen>,
}

impl Tester {
    fn new(subject: &Subject, opts: &[(&str, &str)]) -> Tester {
        let dir = TempDir::new(&format!("read-back-{}", subject.name), "c.log");
        let mut info = Info::new("0123456789abcdef").with_log_path(dir.log());
        for (key, value) in subject.base.iter().chain(opts) {
            info = info.with_option(*key, *value);
        }
        let logger = registry().create(subject.name, &info).unwrap();
        Tester {
            driver: subject.name,
            dir,
            logger,
            written: Vec::new(),
        }
    }

    /// Writes `n` more lines, `line-0000`…, stdout and stderr in turn, one
    /// second apart.
    fn write(&mut self, n: usize) {
        for _ in 0..n {
            let i = self.written.len();
            let source = if i.is_multiple_of(2) {
                Source::Stdout
            } else {
                Source::Stderr
            };
            let line = format!("line-{i:04}").into_bytes();
            let msg = Message {
                timestamp: at(i),
                ..Message::new(source, line.clone())
            };
            self.logger.log(msg).unwrap();
            self.written.push((line, source, at(i)));
        }
    }

    fn reader(&self) -> &dyn LogReader {
        self.logger.reader().expect("a driver that reads back")
    }

    fn read(&self, config: &ReadConfig) -> Vec<Seen> {
        self.reader()
            .read_logs(config)
            .unwrap()
            .map(|m| {
                let m = m.unwrap();
                (m.line.to_vec(), m.source, m.timestamp)
            })
            .collect()
    }

    /// Asserts that reading with `config` gives `want`, naming the driver.
    fn expect(&self, config: &ReadConfig, want: &[Seen], what: &str) {
        let got = self.read(config);
        assert_eq!(
            got.iter().map(|s| &s.0).collect::<Vec<_>>(),
            want.iter().map(|s| &s.0).collect::<Vec<_>>(),
            "{}: {what}",
            self.driver
        );
        assert_eq!(got, want, "{}: {what} (streams and times)", self.driver);
    }
}

/// Runs `scenario` over every subject.
fn each(scenario: impl Fn(&Subject)) {
    for subject in SUBJECTS {
        scenario(subject);
    }
}

fn config(f: impl FnOnce(&mut ReadConfig)) -> ReadConfig {
    let mut config = ReadConfig::default();
    f(&mut config);
    config
}

#[test]
fn everything_comes_back_in_order_with_its_stream_and_time() {
    each(|subject| {
        let mut t = Tester::new(subject, &[]);
        t.write(25);
        t.expect(&ReadConfig::default(), &t.written, "all");
        t.logger.close().unwrap();
        t.expect(&ReadConfig::default(), &t.written, "all, after close");
    });
}

#[test]
fn tail_gives_the_last_entries() {
    each(|subject| {
        let mut t = Tester::new(subject, &[]);
        t.write(20);
        for n in [0, 1, 7, 20, 23] {
            let want = &t.written[t.written.len().saturating_sub(n)..];
            t.expect(&config(|c| c.tail = Some(n)), want, &format!("tail {n}"));
        }
    });
}

#[test]
fn since_and_until_bound_by_time_inclusively() {
    each(|subject| {
        let mut t = Tester::new(subject, &[]);
        t.write(30);
        let w = &t.written;
        t.expect(&config(|c| c.since = Some(at(10))), &w[10..], "since");
        t.expect(&config(|c| c.until = Some(at(20))), &w[..=20], "until");
        let both = config(|c| {
            c.since = Some(at(5));
            c.until = Some(at(8));
        });
        t.expect(&both, &w[5..=8], "since and until");
        let with_tail = config(|c| {
            c.tail = Some(3);
            c.until = Some(at(20));
        });
        // Docker's order: tail first, then the time bounds.
        t.expect(
            &with_tail,
            &w[27..27],
            "tail 3 until 20: the tail is past it",
        );
    });
}

#[test]
fn rotated_files_read_back_oldest_first_and_tail_crosses_them() {
    each(|subject| {
        let rotation = [("max-size", "1k"), ("max-file", "3"), ("compress", "true")];
        let mut t = Tester::new(subject, &rotation);
        t.write(200);
        // Compression runs off the write path; close waits for it.
        t.logger.close().unwrap();
        assert!(
            t.dir.names().iter().any(|n| n.ends_with(".gz")),
            "{}: compressed {:?}",
            t.driver,
            t.dir.names()
        );
        let got = t.read(&ReadConfig::default());
        // What is kept: the newest entries, a run that ends at the last
        // one written, longer than one file holds.
        let kept = &t.written[t.written.len() - got.len()..];
        assert_eq!(got, kept, "{}: the kept files, in order", t.driver);
        assert!(
            (20..200).contains(&got.len()),
            "{}: {} entries kept",
            t.driver,
            got.len()
        );
        let n = got.len() - 1;
        t.expect(
            &config(|c| c.tail = Some(n)),
            &kept[1..],
            "tail across files",
        );
    });
}

#[test]
fn a_follower_gets_what_comes_and_ends_at_close() {
    each(|subject| {
        // Enough files that the follower, read only after the writing,
        // is never more rotations behind than are kept.
        let mut t = Tester::new(subject, &[("max-size", "1k"), ("max-file", "5")]);
        t.write(3);
        let follow = config(|c| {
            c.follow = true;
            c.tail = Some(1);
        });
        let mut follower = t.reader().read_logs(&follow).unwrap();
        // Enough to rotate while following.
        t.write(30);
        assert!(t.dir.names().len() > 1, "{}: rotated", t.driver);
        let mut got = Vec::new();
        for _ in 0..31 {
            let m = follower.next().unwrap().unwrap();
            got.push((m.line.to_vec(), m.source, m.timestamp));
        }
        assert_eq!(got, t.written[2..], "{}: followed", t.driver);
        t.logger.close().unwrap();
        assert!(follower.next().is_none(), "{}: ends at close", t.driver);
    });
}

#[test]
fn long_lines_come_back_as_chunks_that_join_to_the_line() {
    each(|subject| {
        let t = Tester::new(subject, &[]);
        let mut input = vec![b'x'; 40_000];
        input.push(b'\n');
        input.extend_from_slice(b"short\nno newline");
        let stats = Copier::new(Arc::clone(&t.logger))
            .source(Source::Stdout, std::io::Cursor::new(input.clone()))
            .run()
            .unwrap()
            .wait();
        let msgs: Vec<Message> = t
            .reader()
            .read_logs(&ReadConfig::default())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            msgs.len() as u64,
            stats.lines,
            "{}: one entry each",
            t.driver
        );
        let mut joined = Vec::new();
        for m in &msgs {
            joined.extend_from_slice(&m.line);
            if m.ends_line() {
                joined.push(b'\n');
            }
        }
        assert_eq!(joined, input, "{}: joined", t.driver);
        let partials: Vec<bool> = msgs.iter().map(|m| m.partial.is_some()).collect();
        assert_eq!(
            partials,
            [true, true, true, false, true],
            "{}: which are chunks",
            t.driver
        );
    });
}
