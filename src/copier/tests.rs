//! The Copier's unit tests: boundaries of lines and chunks, end to end.

use super::*;
use crate::message::Message;
use crate::testing::Collect;

/// A message as `(line, Some((ordinal, last)))`, or `(line, None)`.
type Sent = (Vec<u8>, Option<(u32, bool)>);

/// Copies `input` with buffer size `chunk`; returns what was sent, and the stats.
fn copy(input: &[u8], chunk: usize) -> (Vec<Sent>, CopyStats) {
    let logger = Arc::new(Collect::default());
    let stats = Copier::new(logger.clone())
        .buffer_size(chunk)
        .source(Source::Stdout, io::Cursor::new(input.to_vec()))
        .run()
        .unwrap()
        .wait();
    let msgs = logger.0.lock();
    let out = msgs
        .iter()
        .map(|m| {
            (
                m.line.to_vec(),
                m.partial.as_ref().map(|p| (p.ordinal, p.last)),
            )
        })
        .collect();
    (out, stats)
}

fn whole(s: &[u8]) -> Sent {
    (s.to_vec(), None)
}

fn part(s: &[u8], ordinal: u32, last: bool) -> Sent {
    (s.to_vec(), Some((ordinal, last)))
}

#[test]
fn empty_input_sends_nothing() {
    let (msgs, stats) = copy(b"", 16);
    assert!(msgs.is_empty());
    assert_eq!(stats, CopyStats::default());
}

#[test]
fn lone_newline_is_one_empty_line() {
    let (msgs, stats) = copy(b"\n", 16);
    assert_eq!(msgs, [whole(b"")]);
    assert_eq!((stats.lines, stats.bytes, stats.partials), (1, 1, 0));
}

#[test]
fn line_of_buffer_minus_one_is_whole() {
    let line = [b'a'; 15];
    let (msgs, _) = copy(&[&line[..], b"\n"].concat(), 16);
    assert_eq!(msgs, [whole(&line)]);
}

#[test]
fn line_of_exactly_buffer_size_ends_with_empty_last_chunk() {
    let line = [b'a'; 16];
    let (msgs, stats) = copy(&[&line[..], b"\n"].concat(), 16);
    assert_eq!(msgs, [part(&line, 1, false), part(b"", 2, true)]);
    assert_eq!(stats.partials, 2);
}

#[test]
fn line_of_buffer_plus_one() {
    let line = [b'a'; 17];
    let (msgs, _) = copy(&[&line[..], b"\n", b"ok\n"].concat(), 16);
    assert_eq!(
        msgs,
        [
            part(&line[..16], 1, false),
            part(b"a", 2, true),
            whole(b"ok")
        ]
    );
}

#[test]
fn complete_lines_count_lines_as_a_reader_of_the_stream_does() {
    let line = [b'a'; 40];
    let (msgs, stats) = copy(&[&line[..], b"\nok\ntail"].concat(), 16);
    // 40 bytes at 16: three chunks; then a whole line; then a tail.
    assert_eq!(msgs.len(), 5);
    assert_eq!(
        (stats.lines, stats.complete_lines, stats.partials),
        (5, 2, 4)
    );
}

#[test]
fn one_mebibyte_line_at_default_size() {
    let line: Vec<u8> = (0..1 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    let (msgs, stats) = copy(&[&line[..], b"\n"].concat(), DEFAULT_BUFFER_SIZE);
    // 1 MiB is exactly 64 chunks, so an empty 65th ends the line.
    assert_eq!(msgs.len(), 65);
    for (i, (bytes, partial)) in msgs[..64].iter().enumerate() {
        assert_eq!(
            bytes[..],
            line[i * DEFAULT_BUFFER_SIZE..(i + 1) * DEFAULT_BUFFER_SIZE]
        );
        assert_eq!(*partial, Some((i as u32 + 1, false)));
    }
    assert_eq!(msgs[64], part(b"", 65, true));
    assert_eq!(stats.bytes, (1 << 20) + 1);
}

#[test]
fn carriage_return_is_kept() {
    let (msgs, _) = copy(b"a\r\nb\r\n\r\n", 16);
    assert_eq!(msgs, [whole(b"a\r"), whole(b"b\r"), whole(b"\r")]);
}

#[test]
fn invalid_utf8_and_nul_are_kept() {
    let (msgs, _) = copy(b"\xff\x00\xfe\n\x00\n", 16);
    assert_eq!(msgs, [whole(b"\xff\x00\xfe"), whole(b"\x00")]);
}

#[test]
fn trailing_line_without_newline_is_a_non_final_partial() {
    let (msgs, _) = copy(b"abc\ndef", 16);
    assert_eq!(msgs, [whole(b"abc"), part(b"def", 1, false)]);
}

#[test]
fn long_trailing_line_without_newline_never_gets_last() {
    let input = [b'a'; 21];
    let (msgs, _) = copy(&input, 16);
    assert_eq!(
        msgs,
        [part(&input[..16], 1, false), part(b"aaaaa", 2, false)]
    );
}

#[test]
fn exact_multiple_at_end_of_input_sends_no_empty_chunk() {
    let input = [b'a'; 32];
    let (msgs, _) = copy(&input, 16);
    assert_eq!(
        msgs,
        [part(&input[..16], 1, false), part(&input[16..], 2, false)]
    );
}

#[test]
fn docker_copier_with_partial_table() {
    // Docker's TestCopierWithPartial: 3 full buffers, then a tail.
    let mut input = vec![b'x'; 3 * 16];
    input.extend_from_slice(b"tail\n");
    let (msgs, _) = copy(&input, 16);
    let ords: Vec<_> = msgs.iter().map(|m| m.1).collect();
    assert_eq!(
        ords,
        [
            Some((1, false)),
            Some((2, false)),
            Some((3, false)),
            Some((4, true))
        ]
    );
    assert_eq!(msgs[3].0, b"tail");
}

#[test]
fn groups_share_id_and_timestamp_and_ids_differ_between_lines() {
    let logger = Arc::new(Collect::default());
    let input = [
        vec![b'a'; 40],
        b"\n".to_vec(),
        vec![b'b'; 20],
        b"\n".to_vec(),
    ]
    .concat();
    Copier::new(logger.clone())
        .buffer_size(16)
        .source(Source::Stderr, io::Cursor::new(input))
        .run()
        .unwrap()
        .wait();
    let msgs = logger.0.lock();
    let ids: Vec<&str> = msgs
        .iter()
        .map(|m| m.partial.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(ids[..3].iter().all(|id| *id == ids[0]));
    assert_eq!(ids[3], ids[4]);
    assert_ne!(ids[0], ids[3]);
    assert!(msgs[..3].iter().all(|m| m.timestamp == msgs[0].timestamp));
    assert!(msgs.iter().all(|m| m.source == Source::Stderr));
    for id in ids {
        assert_eq!(id.len(), 64);
        assert!(
            id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{id}"
        );
    }
}

#[test]
fn driver_buf_size_is_used_and_explicit_size_wins() {
    struct Sized(Collect);
    impl Logger for Sized {
        fn log(&self, msg: Message) -> Result<()> {
            self.0.log(msg)
        }
        fn name(&self) -> &str {
            "sized"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
        fn buf_size(&self) -> Option<usize> {
            Some(4)
        }
    }
    let logger = Arc::new(Sized(Collect::default()));
    Copier::new(logger.clone())
        .source(Source::Stdout, &b"abcdef\n"[..])
        .run()
        .unwrap()
        .wait();
    let lens: Vec<usize> = logger.0 .0.lock().iter().map(|m| m.line.len()).collect();
    assert_eq!(lens, [4, 2]);

    let logger = Arc::new(Sized(Collect::default()));
    Copier::new(logger.clone())
        .buffer_size(3)
        .source(Source::Stdout, &b"abcdef\n"[..])
        .run()
        .unwrap()
        .wait();
    let lens: Vec<usize> = logger.0 .0.lock().iter().map(|m| m.line.len()).collect();
    assert_eq!(lens, [3, 3, 0]);
}

#[test]
fn read_error_is_counted_and_held_bytes_are_sent() {
    struct FailAfter(Option<&'static [u8]>);
    impl Read for FailAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.take() {
                Some(data) => {
                    buf[..data.len()].copy_from_slice(data);
                    Ok(data.len())
                }
                None => Err(io::Error::other("disk on fire")),
            }
        }
    }
    let logger = Arc::new(Collect::default());
    let stats = Copier::new(logger.clone())
        .source(Source::Stdout, FailAfter(Some(b"one\ntw")))
        .run()
        .unwrap()
        .wait();
    assert_eq!(stats.read_errors, 1);
    let lines: Vec<Vec<u8>> = logger.0.lock().iter().map(|m| m.line.to_vec()).collect();
    assert_eq!(lines, [b"one".to_vec(), b"tw".to_vec()]);
}
