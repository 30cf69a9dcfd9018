//! A follower that is behind at a rotation holds one read, not the
//! rotated file: measured by the process's peak resident size (Linux's
//! `VmHWM`, reset through `/proc/self/clear_refs`), for each file driver.
//!
//! One test binary of its own, so that nothing else allocates meanwhile.

use logdriver::{registry, Info, Logger, Message, ReadConfig, Source};

mod common;
use common::TempDir;

/// A field of `/proc/self/status`, in bytes.
fn status(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// Resets the process's peak resident size (`VmHWM`) to what it uses now.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// The most a follower may grow by in one `next()`: its 1 MiB read and
/// buffers, far below the 16 MiB file rotated under it.
const BOUND: usize = 4 << 20;

#[test]
fn a_follower_behind_a_rotation_reads_the_old_file_an_entry_at_a_time() {
    for (driver, name) in [
        ("json-file", "c-json.log"),
        ("k8s-file", "c.log"),
        ("local", "container.log"),
    ] {
        let dir = TempDir::new("follow-memory", name);
        let info = Info {
            config: [("max-size", "16m"), ("max-file", "2")]
                .iter()
                .map(|&(k, v)| (k.into(), v.into()))
                .collect(),
            container_id: "a7317399f3f857173c6179d44823594f8294678dea9999662e5c625b5a1c7657".into(),
            log_path: Some(dir.log()),
            ..Info::default()
        };
        let logger = registry().create(driver, &info).unwrap();
        logger.log(Message::new(Source::Stdout, "first")).unwrap();
        let follow = ReadConfig {
            follow: true,
            ..ReadConfig::default()
        };
        let mut stream = logger.reader().unwrap().read_logs(&follow).unwrap();
        assert_eq!(&stream.next().unwrap().unwrap().line[..], b"first");
        // 17 MiB while the follower waits: the file rotates under it.
        let line = vec![b'x'; 1024];
        for _ in 0..17 << 10 {
            logger
                .log(Message::new(Source::Stdout, line.clone()))
                .unwrap();
        }
        logger.log(Message::new(Source::Stdout, "after")).unwrap();
        assert!(
            dir.names().len() > 1,
            "{driver}: no rotation: {:?}",
            dir.names()
        );
        reset_peak();
        let base = status("VmRSS:");
        let next = stream.next().unwrap().unwrap();
        let grew = status("VmHWM:").saturating_sub(base);
        assert_eq!(next.line.len(), 1024, "{driver}");
        assert!(grew < BOUND, "{driver}: one next() grew by {grew} bytes");
        let mut rest = 1;
        for entry in stream.by_ref() {
            let entry = entry.unwrap();
            if &entry.line[..] == b"after" {
                break;
            }
            rest += 1;
        }
        assert_eq!(rest, 17 << 10, "{driver}: every entry once");
        logger.close().unwrap();
    }
}
