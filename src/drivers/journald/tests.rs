//! The driver against a stand-in for journald's socket: exact entries,
//! the memfd for big ones, and what a journald that is absent, gone or
//! stuck costs.

use std::io::{IoSliceMut, Read};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};

use super::*;
use crate::message::{PartialMeta, Source};

/// A socket path of its own for each test.
fn path(name: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("logdriver-journal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A stand-in for journald: a datagram socket bound at `path`.
fn journal(path: &Path) -> UnixDatagram {
    let journal = UnixDatagram::bind(path).unwrap();
    journal
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    journal
}

fn info(path: &Path, options: &[(&str, &str)]) -> Info {
    let mut info = Info::new("0123456789abcdef0123456789abcdef")
        .with_option("journald-socket", path.to_str().unwrap());
    info.container_name = "/web".into();
    info.container_image_name = "nginx:1.27".into();
    for &(key, value) in options {
        info = info.with_option(key, value);
    }
    info
}

fn recv(journal: &UnixDatagram) -> Vec<u8> {
    let mut buf = vec![0; 1 << 20];
    let n = journal.recv(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn message_field(line: &[u8]) -> Vec<u8> {
    let mut out = b"MESSAGE\n".to_vec();
    out.extend_from_slice(&(line.len() as u64).to_le_bytes());
    out.extend_from_slice(line);
    out.push(b'\n');
    out
}

#[test]
fn an_entry_holds_dockers_fields_and_the_line_byte_for_byte() {
    let path = path("fields");
    let journal = journal(&path);
    let mut info = info(
        &path,
        &[
            ("tag", "{{.Name}}/{{.ID}}"),
            ("labels", "com.example.rack"),
            ("env", "_TEAM"),
        ],
    );
    info.container_labels
        .insert("com.example.rack".into(), "r1\nr2".into());
    info.container_env = vec!["_TEAM=ops".into()];
    let logger = JournaldLogger::new(&info).unwrap();

    logger
        .log(Message::new(
            Source::Stdout,
            &b"caf\xc3\xa9 \x1b[1m\r \xff"[..],
        ))
        .unwrap();
    let mut want = b"PRIORITY=6\n".to_vec();
    want.extend(message_field(b"caf\xc3\xa9 \x1b[1m\r \xff"));
    want.extend_from_slice(
        b"CONTAINER_ID=0123456789ab\n\
          CONTAINER_ID_FULL=0123456789abcdef0123456789abcdef\n\
          CONTAINER_NAME=web\n\
          CONTAINER_TAG=web/0123456789ab\n\
          IMAGE_NAME=nginx:1.27\n\
          SYSLOG_IDENTIFIER=web/0123456789ab\n\
          TEAM=ops\n\
          COM_EXAMPLE_RACK\n",
    );
    want.extend_from_slice(&5u64.to_le_bytes());
    want.extend_from_slice(b"r1\nr2\n");
    assert_eq!(recv(&journal), want);

    let mut chunk = Message::new(Source::Stderr, "part");
    chunk.partial = Some(PartialMeta {
        id: "f00d".into(),
        ordinal: 1,
        last: false,
    });
    logger.log(chunk).unwrap();
    let entry = recv(&journal);
    let mut head = b"PRIORITY=3\n".to_vec();
    head.extend(message_field(b"part"));
    head.extend_from_slice(
        b"CONTAINER_PARTIAL_ID=f00d\nCONTAINER_PARTIAL_ORDINAL=1\n\
          CONTAINER_PARTIAL_LAST=false\nCONTAINER_PARTIAL_MESSAGE=true\nCONTAINER_ID=",
    );
    assert_eq!(&entry[..head.len()], &head[..]);

    assert_eq!(
        logger.stats(),
        LoggerStats {
            lines: 2,
            bytes: 17,
            ..LoggerStats::default()
        }
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn an_entry_too_big_for_a_datagram_goes_in_a_sealed_memfd() {
    let path = path("memfd");
    let journal = journal(&path);
    let logger = JournaldLogger::new(&info(&path, &[])).unwrap();
    // Past any send buffer the kernel grants (at most 2 × wmem_max).
    let line = b"0123456789\n\xff".repeat(3 << 20);
    let sent = std::thread::spawn({
        let line = line.clone();
        move || {
            logger
                .log(Message::new(Source::Stdout, line))
                .map(|()| logger)
        }
    });

    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let msg = recvmsg::<UnixAddr>(
        std::os::fd::AsRawFd::as_raw_fd(&journal),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    assert_eq!(msg.bytes, 0, "the datagram carries only the descriptor");
    let fds: Vec<_> = msg
        .cmsgs()
        .unwrap()
        .filter_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => Some(fds),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(fds.len(), 1);
    // The memfd again, by path: seals belong to the file, not the descriptor.
    let mut memfd = std::fs::File::open(format!("/proc/self/fd/{}", fds[0])).unwrap();
    nix::unistd::close(fds[0]).unwrap();
    let seals = SealFlag::from_bits_truncate(fcntl(&memfd, FcntlArg::F_GET_SEALS).unwrap());
    assert!(
        seals.contains(SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW)
    );
    let mut entry = Vec::new();
    memfd.read_to_end(&mut entry).unwrap();
    let mut want = b"PRIORITY=6\n".to_vec();
    want.extend(message_field(&line));
    assert_eq!(&entry[..want.len()], &want[..]);
    assert!(entry[want.len()..].starts_with(b"CONTAINER_ID=0123456789ab\n"));

    let logger = sent.join().unwrap().unwrap();
    assert_eq!(logger.stats().lines, 1);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_journald_that_is_not_running_fails_the_creation_naming_the_socket() {
    let path = path("absent");
    let err = JournaldLogger::new(&info(&path, &[])).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::Driver { ref driver, .. } if driver == NAME),
        "{err:?}"
    );
    assert!(text.contains("journald is not running"), "{text}");
    assert!(text.contains(path.to_str().unwrap()), "{text}");
}

#[test]
fn a_journald_that_goes_away_costs_counted_drops_and_one_that_returns_is_used() {
    let path = path("restart");
    let journal = journal(&path);
    let logger = JournaldLogger::new(&info(&path, &[])).unwrap();
    logger.log(Message::new(Source::Stdout, "one")).unwrap();
    drop(journal);
    for _ in 0..3 {
        let err = logger
            .log(Message::new(Source::Stdout, "lost"))
            .unwrap_err();
        assert!(matches!(err, Error::Dropped { .. }), "{err:?}");
    }
    // journald restarts: a new socket at the same path.
    std::fs::remove_file(&path).unwrap();
    let journal = self::journal(&path);
    logger.log(Message::new(Source::Stdout, "two")).unwrap();
    assert!(recv(&journal).starts_with(&[&b"PRIORITY=6\n"[..], &message_field(b"two")].concat()));
    let stats = logger.stats();
    assert_eq!((stats.lines, stats.dropped, stats.errors), (2, 3, 0));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_journald_that_takes_nothing_holds_one_line_then_drops_until_it_takes_again() {
    let path = path("stuck");
    let journal = journal(&path);
    let logger = JournaldLogger::new(&info(&path, &[("journald-write-timeout", "20ms")])).unwrap();
    // Fill journald's queue until a send waits the whole timeout.
    let mut sent = 0;
    let first = loop {
        match logger.log(Message::new(Source::Stdout, "x")) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 100_000, "the queue never filled");
    };
    assert!(
        matches!(first, Error::Dropped { ref reason, .. } if reason.contains("took nothing")),
        "{first:?}"
    );
    assert!(logger.socket.stalled(), "the next sends do not wait");
    for _ in 0..5 {
        assert!(matches!(
            logger.log(Message::new(Source::Stdout, "x")),
            Err(Error::Dropped { .. })
        ));
    }
    // journald reads again: the next line goes through, and ends the stall.
    for _ in 0..sent {
        recv(&journal);
    }
    logger.log(Message::new(Source::Stdout, "back")).unwrap();
    assert!(!logger.socket.stalled());
    let stats = logger.stats();
    assert_eq!((stats.lines, stats.dropped), (sent + 1, 6));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn close_ends_logging_and_the_registry_knows_the_driver_reads_back() {
    let path = path("close");
    let _journal = journal(&path);
    let logger = JournaldLogger::new(&info(&path, &[])).unwrap();
    logger.close().unwrap();
    assert!(matches!(
        logger.log(Message::new(Source::Stdout, "late")),
        Err(Error::Closed { .. })
    ));
    assert!(logger.reader().is_some());
    assert_eq!(crate::registry().reads_logs(NAME), Some(true));
    let err = crate::registry()
        .validate(
            NAME,
            &crate::testing::opts(&[("journald-write-timeout", "-1s")]),
        )
        .unwrap_err();
    assert_eq!(
        crate::testing::invalid_option(NAME, err).0,
        "journald-write-timeout"
    );
    let _ = std::fs::remove_file(&path);
}
