//! NonBlocking: never waits, counts every drop, flushes on close, bounded.
//!
//! Threads are ordered with gates and channels, never with sleeps.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use logdriver::{Copier, Error, Logger, Message, NonBlocking, Overflow, Result, Source};
use parking_lot::Mutex;

mod common;
use common::{silence_panics_on, Batches, Collect};

/// A driver that holds every `log` call until the test opens its gate, and
/// reports each call as it starts.
struct Gated {
    started: Sender<()>,
    gate: Receiver<()>,
    got: Mutex<Vec<Message>>,
    closes: Sender<()>,
    closed: Receiver<()>,
}

impl Gated {
    /// The driver, a receiver of "a call started", and the gate's key:
    /// each `()` sent lets one call through; dropping it opens the gate.
    fn new() -> (Arc<Gated>, Receiver<()>, Sender<()>) {
        let (started_tx, started_rx) = unbounded();
        let (key, gate) = unbounded();
        let (closes, closed) = unbounded();
        let driver = Arc::new(Gated {
            started: started_tx,
            gate,
            got: Mutex::new(Vec::new()),
            closes,
            closed,
        });
        (driver, started_rx, key)
    }

    /// Whether `close` was called, waiting up to `wait` for it.
    fn was_closed(&self, wait: Duration) -> bool {
        self.closed.recv_timeout(wait).is_ok()
    }

    /// The number each line starts with (see [`line`]), in order.
    fn numbers(&self) -> Vec<usize> {
        self.lines()
            .iter()
            .map(|l| l[..8].parse().unwrap())
            .collect()
    }

    fn lines(&self) -> Vec<String> {
        let got = self.got.lock();
        got.iter()
            .map(|m| String::from_utf8(m.line.to_vec()).unwrap())
            .collect()
    }
}

impl Logger for Gated {
    fn log(&self, msg: Message) -> Result<()> {
        let _ = self.started.send(());
        let _ = self.gate.recv(); // Ok: one pass; Err: gate opened for good.
        self.got.lock().push(msg);
        Ok(())
    }
    fn name(&self) -> &str {
        "gated"
    }
    fn close(&self) -> Result<()> {
        let _ = self.closes.send(());
        Ok(())
    }
    fn buf_size(&self) -> Option<usize> {
        Some(1234)
    }
}

/// A buffer of `max` bytes in front of `driver` that drops the oldest lines.
fn drop_oldest(driver: Arc<Gated>, max: usize) -> NonBlocking {
    NonBlocking::builder(driver)
        .max_buffer_bytes(max)
        .overflow(Overflow::DropOldest)
        .build()
        .unwrap()
}

fn line(i: usize, len: usize) -> Message {
    let mut text = format!("{i:08}").into_bytes();
    text.resize(len, b'.');
    Message::new(Source::Stdout, text)
}

#[test]
fn a_stuck_driver_never_blocks_log_and_drops_are_counted() {
    let (driver, started, key) = Gated::new();
    let logger = NonBlocking::new(driver.clone(), 64 * 1024);
    // The first message reaches the driver and sticks there.
    logger.log(line(0, 1000)).unwrap();
    started.recv().unwrap();
    // 1 MB more into a 64 KiB buffer: every call returns at once.
    let sent = 1000;
    for i in 1..=sent {
        logger.log(line(i, 1000)).unwrap();
    }
    // The stuck message still counts: 64 more of 1000 bytes fit in 65,536.
    assert_eq!(logger.dropped(), sent as u64 - 64);
    drop(key);
    logger.close().unwrap();
    assert_eq!(logger.delivered(), 65);
    assert_eq!(logger.delivered() + logger.dropped(), sent as u64 + 1);
    // Docker's behaviour: the oldest survive, in order.
    let want: Vec<usize> = (0..=64).collect();
    let got = driver.numbers();
    assert_eq!(got, want);
    assert!(driver.was_closed(Duration::ZERO));
}

#[test]
fn stats_say_how_many_bytes_wait_in_the_buffer() {
    let (driver, started, key) = Gated::new();
    let logger = NonBlocking::new(driver.clone(), 64 * 1024);
    assert_eq!(logger.stats().queued_bytes, 0);
    // One line stuck in the driver, two behind it: all three wait.
    logger.log(line(0, 100)).unwrap();
    started.recv().unwrap();
    logger.log(line(1, 100)).unwrap();
    logger.log(line(2, 50)).unwrap();
    assert_eq!(logger.stats().queued_bytes, 250);
    drop(key);
    logger.close().unwrap();
    assert_eq!(logger.stats().queued_bytes, 0);
    assert_eq!(driver.numbers(), [0, 1, 2]);
}

#[test]
fn both_streams_share_one_budget() {
    let (driver, started, key) = Gated::new();
    let max = 64 * 1000;
    let grain = 1000; // max / 64
    let logger = NonBlocking::new(driver.clone(), max);
    logger.log(line(0, 1000)).unwrap();
    started.recv().unwrap();
    for i in 1..=40 {
        logger.log(line(i, 1000)).unwrap();
    }
    for i in 41..=200 {
        let mut msg = line(i, 1000);
        msg.source = Source::Stderr;
        logger.log(msg).unwrap();
    }
    let kept = 201 - logger.dropped();
    // 64 lines of 1000 bytes fit; the streams may each be a grain off.
    assert!((64..=64 + 2 * grain / 1000).contains(&kept), "kept {kept}");
    // Stdout came first and was never over the limit: all of it is kept,
    // in order. (The order between streams is not kept, as in Docker.)
    drop(key);
    logger.close().unwrap();
    let got = driver.got.lock();
    assert_eq!(got.len() as u64, kept);
    let stdout: Vec<&[u8]> = got
        .iter()
        .filter(|m| m.source == Source::Stdout)
        .map(|m| &m.line[..8])
        .collect();
    let want: Vec<Vec<u8>> = (0..=40).map(|i| format!("{i:08}").into_bytes()).collect();
    assert_eq!(stdout, want);
}

#[test]
fn drop_oldest_keeps_the_newest() {
    let (driver, started, key) = Gated::new();
    let logger = drop_oldest(driver.clone(), 10 * 100);
    logger.log(line(0, 100)).unwrap();
    started.recv().unwrap();
    for i in 1..=500 {
        logger.log(line(i, 100)).unwrap();
    }
    // The message the driver holds still counts: 9 more fit beside it.
    assert_eq!(logger.dropped(), 491);
    drop(key);
    logger.close().unwrap();
    let got = driver.numbers();
    let want: Vec<usize> = std::iter::once(0).chain(492..=500).collect();
    assert_eq!(got, want);
    assert_eq!(logger.delivered() + logger.dropped(), 501);
}

#[test]
fn delivered_plus_dropped_is_sent_and_delivery_is_in_order() {
    let driver = Arc::new(Collect::default());
    let logger = Arc::new(NonBlocking::new(driver.clone(), 4096));
    let writers: Vec<_> = [Source::Stdout, Source::Stderr]
        .into_iter()
        .map(|source| {
            let logger = logger.clone();
            std::thread::spawn(move || {
                for i in 0..20_000 {
                    let mut msg = line(i, 64);
                    msg.source = source;
                    logger.log(msg).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    logger.close().unwrap();
    let got = driver.0.lock();
    assert_eq!(got.len() as u64, logger.delivered());
    assert_eq!(logger.delivered() + logger.dropped(), 40_000);
    for source in [Source::Stdout, Source::Stderr] {
        let seq: Vec<usize> = got
            .iter()
            .filter(|m| m.source == source)
            .map(|m| std::str::from_utf8(&m.line[..8]).unwrap().parse().unwrap())
            .collect();
        assert!(seq.windows(2).all(|w| w[0] < w[1]), "{source} out of order");
    }
}

#[test]
fn close_flushes_everything_buffered() {
    let (driver, started, key) = Gated::new();
    let logger = NonBlocking::new(driver.clone(), 1 << 20);
    for i in 0..100 {
        logger.log(line(i, 10)).unwrap();
    }
    started.recv().unwrap();
    drop(key);
    logger.close().unwrap();
    assert_eq!(driver.lines().len(), 100);
    assert_eq!((logger.delivered(), logger.dropped()), (100, 0));
    assert!(driver.was_closed(Duration::ZERO));
    assert!(matches!(logger.log(line(0, 1)), Err(Error::Closed { driver }) if driver == "gated"));
    logger.close().unwrap();
}

#[test]
fn close_with_a_stuck_driver_returns_within_its_timeout() {
    let (driver, started, key) = Gated::new();
    let timeout = Duration::from_millis(200);
    let logger = NonBlocking::builder(driver.clone())
        .close_timeout(timeout)
        .build()
        .unwrap();
    for i in 0..10 {
        logger.log(line(i, 10)).unwrap();
    }
    started.recv().unwrap();
    let t = Instant::now();
    let err = logger.close().unwrap_err();
    let waited = t.elapsed();
    assert!(waited >= timeout, "returned before its timeout: {waited:?}");
    match err {
        Error::FlushTimeout {
            driver,
            unflushed,
            timeout: t,
        } => {
            assert_eq!((driver.as_str(), unflushed, t), ("gated", 10, timeout));
        }
        other => panic!("{other:?}"),
    }
    // The counts are final when `close` returns: the 10 lines it gave up
    // on, the one the driver is on included, are dropped.
    let at_close = logger.stats();
    assert_eq!((at_close.lines, at_close.dropped), (0, 10));
    // Given up at close, not refused by a full buffer.
    assert_eq!(at_close.dropped_full, 0);
    assert_eq!((logger.delivered(), logger.dropped()), (0, 10));
    // Unstick the driver: the worker lets the one in-flight line through,
    // calls the driver no more, and closes it itself. No count changes.
    drop(key);
    assert!(
        driver.was_closed(Duration::from_secs(10)),
        "the worker never closed the driver"
    );
    assert_eq!(driver.lines().len(), 1);
    assert_eq!(logger.stats(), at_close);
    assert_eq!((logger.delivered(), logger.dropped()), (0, 10));
}

#[test]
fn an_oversize_message_is_admitted_into_an_empty_buffer() {
    let (driver, started, key) = Gated::new();
    let logger = NonBlocking::new(driver.clone(), 5);
    logger.log(line(0, 100)).unwrap(); // empty buffer: admitted
    started.recv().unwrap();
    assert_eq!(logger.dropped(), 0);
    logger.log(line(1, 1)).unwrap(); // the driver still holds 100 bytes: dropped
    logger.log(Message::new(Source::Stdout, "")).unwrap(); // an empty line costs a byte: dropped
    assert_eq!(logger.dropped(), 2);
    drop(key);
    logger.close().unwrap();
    assert_eq!(driver.lines().len(), 1);
    assert_eq!(logger.delivered(), 1);
}

#[test]
fn driver_errors_and_panics_are_counted_and_the_worker_goes_on() {
    struct Flaky(Mutex<u32>);
    impl Logger for Flaky {
        fn log(&self, _: Message) -> Result<()> {
            let mut n = self.0.lock();
            *n += 1;
            match *n % 3 {
                0 => Err(Error::driver("flaky", "no")),
                1 => Ok(()),
                _ => {
                    drop(n);
                    panic!("flaky driver panicked")
                }
            }
        }
        fn name(&self) -> &str {
            "flaky"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
    }
    silence_panics_on("logdriver-");
    let logger = NonBlocking::new(Arc::new(Flaky(Mutex::new(0))), 1 << 20);
    for i in 0..9 {
        logger.log(line(i, 10)).unwrap();
    }
    logger.close().unwrap();
    assert_eq!(
        (logger.delivered(), logger.log_errors(), logger.dropped()),
        (3, 6, 0)
    );
}

#[test]
fn name_and_buf_size_are_the_drivers() {
    let (driver, _started, _key) = Gated::new();
    let logger = NonBlocking::new(driver, 10);
    assert_eq!(logger.name(), "gated");
    assert_eq!(logger.buf_size(), Some(1234));
}

#[test]
fn lines_racing_close_are_delivered_or_refused_never_lost() {
    for _ in 0..20 {
        let driver = Arc::new(Collect::default());
        let logger = Arc::new(NonBlocking::new(driver.clone(), 1 << 20));
        let barrier = Arc::new(std::sync::Barrier::new(3));
        let writers: Vec<_> = [Source::Stdout, Source::Stderr]
            .into_iter()
            .map(|source| {
                let (logger, barrier) = (logger.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut accepted = 0u64;
                    for i in 0..2000 {
                        let mut msg = line(i, 16);
                        msg.source = source;
                        match logger.log(msg) {
                            Ok(()) => accepted += 1,
                            Err(Error::Closed { .. }) => break,
                            Err(other) => panic!("{other:?}"),
                        }
                    }
                    accepted
                })
            })
            .collect();
        barrier.wait();
        logger.close().unwrap();
        let accepted: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        // Once close returns, the driver has every line that was accepted.
        assert_eq!(driver.0.lock().len() as u64 + logger.dropped(), accepted);
    }
}

fn batch(range: std::ops::RangeInclusive<usize>, len: usize) -> VecDeque<Message> {
    range.map(|i| line(i, len)).collect()
}

#[test]
fn batches_and_single_lines_keep_their_order() {
    let (driver, started, key) = Gated::new();
    let logger = NonBlocking::new(driver.clone(), 1 << 20);
    assert!(logger.prefers_batches());
    let mut no_errors = |err: Error| panic!("unexpected error: {err}");
    logger.log(line(0, 10)).unwrap();
    started.recv().unwrap(); // The worker holds line 0: the rest queue up.
    logger.log(line(1, 10)).unwrap();
    let mut first = batch(2..=4, 10);
    logger.log_batch(&mut first, &mut no_errors);
    assert!(first.is_empty());
    logger.log(line(5, 10)).unwrap();
    logger.log_batch(&mut batch(6..=7, 10), &mut no_errors);
    drop(key);
    logger.close().unwrap();
    assert_eq!(driver.numbers(), (0..=7).collect::<Vec<_>>());
    assert_eq!(logger.dropped(), 0);
}

#[test]
fn a_batch_that_does_not_fit_is_taken_line_by_line() {
    let (driver, started, key) = Gated::new();
    let logger = NonBlocking::new(driver.clone(), 10 * 100);
    logger.log(line(0, 100)).unwrap();
    started.recv().unwrap();
    // 20 lines of 100 bytes beside the held one: 9 fit, 11 are dropped,
    // exactly as if each had been logged alone.
    let mut whole = batch(1..=20, 100);
    logger.log_batch(&mut whole, &mut |err| panic!("unexpected error: {err}"));
    assert!(whole.is_empty());
    assert_eq!(logger.dropped(), 11);
    drop(key);
    logger.close().unwrap();
    assert_eq!(driver.numbers(), (0..=9).collect::<Vec<_>>());
}

#[test]
fn drop_oldest_evicts_across_batches() {
    let (driver, started, key) = Gated::new();
    let logger = drop_oldest(driver.clone(), 10 * 100);
    let mut no_errors = |err: Error| panic!("unexpected error: {err}");
    logger.log(line(0, 100)).unwrap();
    started.recv().unwrap();
    logger.log_batch(&mut batch(1..=4, 100), &mut no_errors);
    logger.log_batch(&mut batch(5..=9, 100), &mut no_errors);
    // Full: each of these evicts the oldest queued line, batch or not.
    logger.log_batch(&mut batch(10..=15, 100), &mut no_errors);
    assert_eq!(logger.dropped(), 6);
    drop(key);
    logger.close().unwrap();
    let want: Vec<usize> = std::iter::once(0).chain(7..=15).collect();
    assert_eq!(driver.numbers(), want);
}

#[test]
fn a_batch_after_close_fails_line_by_line() {
    let logger = NonBlocking::new(Arc::new(Collect::default()), 1 << 20);
    logger.close().unwrap();
    let mut errors = Vec::new();
    logger.log_batch(&mut batch(1..=3, 10), &mut |err| errors.push(err));
    assert_eq!(errors.len(), 3);
    assert!(errors.iter().all(|e| matches!(e, Error::Closed { .. })));
}

#[test]
fn lines_the_copier_hands_over_in_batches_arrive_whole_and_in_order() {
    let driver = Arc::new(Collect::default());
    let logger = Arc::new(NonBlocking::new(driver.clone(), 1 << 20));
    let input: Vec<u8> = (0..10_000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let stats = Copier::new(logger.clone())
        .source(Source::Stdout, io::Cursor::new(input.clone()))
        .run()
        .unwrap()
        .wait();
    logger.close().unwrap();
    assert_eq!(stats.lines, 10_000);
    assert_eq!(logger.delivered(), 10_000);
    let got: Vec<u8> = driver
        .0
        .lock()
        .iter()
        .flat_map(|m| [&m.line[..], b"\n"].concat())
        .collect();
    assert_eq!(got, input);
}

#[test]
fn a_driver_that_prefers_batches_gets_them_from_the_worker() {
    let driver = Arc::new(Batches::default());
    let logger = NonBlocking::new(driver.clone(), 1 << 20);
    let want: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let want_refs: Vec<&str> = want.iter().map(String::as_str).collect();
    logger.log_batch(&mut batch_of(&want_refs), &mut |err| {
        panic!("unexpected error: {err}")
    });
    logger.close().unwrap();
    assert_eq!(logger.delivered(), 1000);
    assert_eq!(driver.lines(), want);
    // Never more than 256 at once, so that room comes back as it goes.
    let sizes = driver.sizes();
    assert!(sizes.iter().all(|&n| n <= 256), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 1000);
}

#[test]
fn a_batch_driver_that_fails_or_panics_is_counted_and_the_rest_delivered() {
    silence_panics_on("logdriver-");
    let driver = Arc::new(Batches::default());
    let logger = NonBlocking::new(driver.clone(), 1 << 20);
    let lines = ["a", "fail-b", "c", "boom-d", "e", "fail-f", "g"];
    logger.log_batch(&mut batch_of(&lines), &mut |err| {
        panic!("unexpected error: {err}")
    });
    logger.close().unwrap();
    assert_eq!(driver.lines(), ["a", "c", "e", "g"]);
    assert_eq!(logger.log_errors(), 3);
    assert_eq!(logger.delivered(), 4);
    assert_eq!(logger.dropped(), 0);
}

#[test]
fn a_batch_driver_that_reports_a_line_and_panics_on_it_keeps_the_counts_whole() {
    silence_panics_on("logdriver-");
    let driver = Arc::new(Batches::default());
    let logger = NonBlocking::new(driver.clone(), 1 << 20);
    let mut no_errors = |err: Error| panic!("unexpected error: {err}");
    // Reported failed, then panicked on: two errors for one line.
    logger.log_batch(&mut batch_of(&["both-a"]), &mut no_errors);
    logger.log_batch(&mut batch_of(&["b"]), &mut no_errors);
    // The counts still add up to what was sent, and the worker, still
    // there, delivers the next line and closes in time.
    logger.close().unwrap();
    assert_eq!(driver.lines(), ["b"]);
    assert_eq!((logger.delivered(), logger.log_errors()), (1, 1));
    assert_eq!(logger.dropped(), 0);
}

fn batch_of(lines: &[&str]) -> VecDeque<Message> {
    lines
        .iter()
        .map(|l| Message::new(Source::Stdout, l.to_string()))
        .collect()
}

#[test]
fn drop_oldest_evicts_nothing_for_a_line_that_cannot_fit_anyway() {
    let (driver, started, key) = Gated::new();
    let logger = drop_oldest(driver.clone(), 1000);
    logger.log(line(0, 100)).unwrap();
    started.recv().unwrap(); // the driver holds 100 bytes
    for i in 1..=5 {
        logger.log(line(i, 100)).unwrap();
    }
    // 950 bytes cannot fit beside the 100 the driver holds, whatever goes:
    // it alone is dropped.
    logger.log(line(6, 950)).unwrap();
    assert_eq!(logger.dropped(), 1);
    drop(key);
    logger.close().unwrap();
    assert_eq!(driver.numbers(), (0..=5).collect::<Vec<_>>());
}

#[test]
fn drop_oldest_keeps_the_newest_while_the_driver_is_stalled() {
    let (driver, started, key) = Gated::new();
    let logger = drop_oldest(driver.clone(), 1000);
    logger.log(line(0, 100)).unwrap();
    started.recv().unwrap();
    for i in 1..=9 {
        logger.log(line(i, 100)).unwrap(); // full: 1000 bytes
    }
    // Line 0 goes through; the worker takes its next slice (a quarter of
    // the buffer: lines 1 and 2) and stalls on line 1.
    key.send(()).unwrap();
    started.recv().unwrap();
    for i in 10..=19 {
        logger.log(line(i, 100)).unwrap();
    }
    drop(key);
    logger.close().unwrap();
    let want: Vec<usize> = [0, 1, 2].into_iter().chain(12..=19).collect();
    assert_eq!(driver.numbers(), want);
    assert_eq!(logger.dropped(), 9);
}

#[test]
fn lines_of_both_streams_reach_the_driver_in_arrival_order() {
    let (driver, started, key) = Gated::new();
    let logger = NonBlocking::new(driver.clone(), 1 << 20);
    logger.log(line(0, 10)).unwrap();
    started.recv().unwrap();
    for i in 1..=10 {
        let mut msg = line(i, 10);
        msg.source = if i % 2 == 0 {
            Source::Stdout
        } else {
            Source::Stderr
        };
        logger.log(msg).unwrap();
    }
    drop(key);
    logger.close().unwrap();
    assert_eq!(driver.numbers(), (0..=10).collect::<Vec<_>>());
}

#[test]
fn long_lines_through_a_full_buffer_stay_whole_or_end_cleanly() {
    /// Takes its time over each message; keeps them all.
    struct Slow(Mutex<Vec<Message>>);
    impl Logger for Slow {
        fn log(&self, msg: Message) -> Result<()> {
            std::thread::sleep(Duration::from_micros(300));
            self.0.lock().push(msg);
            Ok(())
        }
        fn name(&self) -> &str {
            "slow"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
    }
    let driver = Arc::new(Slow(Mutex::new(Vec::new())));
    let logger = Arc::new(NonBlocking::new(driver.clone(), 100_000));
    let originals: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            let mut l = format!("{i}:").into_bytes();
            l.resize(40_000, b'a' + (i % 26) as u8);
            l
        })
        .collect();
    let input: Vec<u8> = originals
        .iter()
        .flat_map(|l| [&l[..], b"\n"].concat())
        .collect();
    Copier::new(logger.clone())
        .source(Source::Stdout, io::Cursor::new(input))
        .run()
        .unwrap()
        .wait();
    logger.close().unwrap();

    // Rejoin the messages as the law says, checking each group on the way.
    let msgs = driver.0.lock();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut open: Option<(String, u32)> = None;
    let mut current = Vec::new();
    for m in msgs.iter() {
        match (&m.partial, &mut open) {
            (Some(p), Some((id, ordinal))) => {
                assert_eq!(&p.id, id, "a chunk of another line inside a group");
                assert_eq!(p.ordinal, *ordinal + 1, "a gap inside a group");
                *ordinal = p.ordinal;
            }
            (Some(p), None) => {
                assert_eq!(p.ordinal, 1, "a group that starts in its middle");
                open = Some((p.id.clone(), 1));
            }
            (None, Some(_)) => panic!("a whole line inside a group"),
            (None, None) => {}
        }
        current.extend_from_slice(&m.line);
        if m.ends_line() {
            open = None;
            lines.push(std::mem::take(&mut current));
        }
    }
    assert!(open.is_none() && current.is_empty(), "a group never ended");
    let (mut whole, mut cut) = (0, 0);
    let mut last_index = None;
    for l in &lines {
        let index: usize = std::str::from_utf8(&l[..l.iter().position(|&b| b == b':').unwrap()])
            .unwrap()
            .parse()
            .unwrap();
        assert!(last_index < Some(index), "lines out of order or repeated");
        last_index = Some(index);
        if *l == originals[index] {
            whole += 1;
        } else {
            assert!(
                originals[index].starts_with(l),
                "line {index} was glued to another"
            );
            cut += 1;
        }
    }
    assert_eq!(whole + logger.dropped_lines(), 200);
    assert!(logger.dropped_lines() >= cut);
    // A line cut short is told from a whole one by the counts.
    assert_eq!(logger.truncated_lines(), cut);
    assert_eq!(logger.stats().truncated, cut);
    let s = logger.stats();
    assert_eq!(s.lines + s.dropped, msgs.len() as u64 + s.dropped);
    assert!(
        logger.dropped() > 0,
        "the buffer never filled: the test proves nothing"
    );
    assert!(logger.dropped_chunks() >= logger.dropped_lines());
}

/// A registry whose driver `user` is `driver`, created with `opts`.
fn through_registry(driver: Arc<dyn Logger>, opts: &[(&str, &str)]) -> Arc<dyn Logger> {
    let registry = logdriver::Registry::new();
    registry
        .register("user", move |_: &logdriver::Info| {
            Ok(Box::new(driver.clone()) as Box<dyn Logger>)
        })
        .unwrap();
    let info = logdriver::Info {
        config: opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..logdriver::Info::default()
    };
    registry.create("user", &info).unwrap()
}

/// Runs `f` on a thread of its own, and fails if it has not returned
/// within `wait`: a wedged buffer is a failure, never a hung test.
fn returns_within<T: Send + 'static>(wait: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(wait)
        .expect("the call did not return: the buffer is wedged")
}

#[test]
fn drop_oldest_with_a_cut_line_in_front_never_wedges() {
    // Registry options only, as a user would meet it: one stdout line of
    // 16,484 bytes (a chunk and its 100-byte end) and four stderr lines of
    // 16,000 behind a driver that holds its first line.
    let (driver, started, key) = Gated::new();
    let logger = through_registry(
        driver.clone(),
        &[
            ("mode", "non-blocking"),
            ("max-buffer-size", "64k"),
            ("non-blocking-drop", "oldest"),
        ],
    );
    // The driver holds chunk 1 of the stdout line...
    let id = "x".repeat(64);
    let chunk = |len: usize, ordinal: u32, last: bool| Message {
        partial: Some(logdriver::PartialMeta {
            id: id.clone(),
            ordinal,
            last,
        }),
        ..Message::new(Source::Stdout, vec![b'o'; len])
    };
    logger.log(chunk(16_384, 1, false)).unwrap();
    started.recv().unwrap();
    // ...while its end and the stderr lines come.
    let mut rest = vec![chunk(100, 2, true)];
    rest.extend((0..4).map(|i| Message::new(Source::Stderr, vec![b'a' + i; 16_000])));
    let other = logger.clone();
    returns_within(Duration::from_secs(20), move || {
        for msg in rest {
            other.log(msg).unwrap();
        }
    });
    drop(key);
    returns_within(Duration::from_secs(20), move || logger.close()).unwrap();
    // Chunk 1, the line's end cut to a closing chunk, and the newest
    // three stderr lines: the oldest one made room.
    let got = driver.got.lock();
    let shape: Vec<(usize, Option<(u32, bool)>)> = got
        .iter()
        .map(|m| {
            (
                m.line.len(),
                m.partial.as_ref().map(|p| (p.ordinal, p.last)),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (16_384, Some((1, false))),
            (0, Some((2, true))),
            (16_000, None),
            (16_000, None),
            (16_000, None)
        ]
    );
    assert_eq!(&got[2].line[..1], b"b");
}

#[test]
fn drop_oldest_under_a_slow_driver_and_long_lines_returns() {
    // 1 ms per line, 100 lines of 40,000 bytes through the Copier into a
    // 1 MiB buffer that drops the oldest: once never returned.
    struct Slow(Mutex<u64>);
    impl Logger for Slow {
        fn log(&self, _: Message) -> Result<()> {
            std::thread::sleep(Duration::from_millis(1));
            *self.0.lock() += 1;
            Ok(())
        }
        fn name(&self) -> &str {
            "slow"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
    }
    let driver = Arc::new(Slow(Mutex::new(0)));
    let logger = through_registry(
        driver.clone(),
        &[
            ("mode", "non-blocking"),
            ("max-buffer-size", "1m"),
            ("non-blocking-drop", "oldest"),
            ("non-blocking-close-timeout", "30s"),
        ],
    );
    let input: Vec<u8> = (0..100)
        .flat_map(|_| [vec![b'z'; 40_000], b"\n".to_vec()].concat())
        .collect();
    let copier_logger = logger.clone();
    let stats = returns_within(Duration::from_secs(60), move || {
        Copier::new(copier_logger)
            .source(Source::Stdout, io::Cursor::new(input))
            .run()
            .unwrap()
            .wait()
    });
    assert_eq!(stats.lines, 300, "100 lines of 3 chunks each");
    let closer = logger.clone();
    returns_within(Duration::from_secs(60), move || closer.close()).unwrap();
    let s = logger.stats();
    assert_eq!(s.lines + s.dropped, 300, "{s:?}");
    assert_eq!(s.lines, *driver.0.lock());
}

#[test]
fn a_batch_into_an_empty_buffer_keeps_to_the_limit() {
    let (driver, started, key) = Gated::new();
    let logger = NonBlocking::new(driver.clone(), 1024);
    let mut batch = batch(1..=50, 1000);
    let mut failed = 0;
    logger.log_batch(&mut batch, &mut |_| failed += 1);
    assert_eq!((failed, logger.dropped()), (0, 49));
    started.recv().unwrap();
    drop(key);
    logger.close().unwrap();
    assert_eq!(driver.numbers(), [1]);
}

#[test]
fn a_users_driver_behind_non_blocking_is_counted_through_the_registry() {
    struct Failing;
    impl Logger for Failing {
        fn log(&self, _: Message) -> Result<()> {
            Err(Error::driver("failing", "down"))
        }
        fn name(&self) -> &str {
            "failing"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
    }
    let opts = [("mode", "non-blocking")];
    let failing = through_registry(Arc::new(Failing), &opts);
    let working = through_registry(Arc::new(Collect::default()), &opts);
    for logger in [&failing, &working] {
        Copier::new(logger.clone())
            .source(
                Source::Stdout,
                io::Cursor::new(b"one\ntwo\nthree\n".to_vec()),
            )
            .run()
            .unwrap()
            .wait();
        logger.close().unwrap();
    }
    let (f, w) = (failing.stats(), working.stats());
    assert_eq!((f.lines, f.bytes, f.errors, f.dropped), (0, 0, 3, 0));
    assert_eq!((w.lines, w.bytes, w.errors, w.dropped), (3, 11, 0, 0));
}

#[test]
fn close_waits_for_the_drivers_own_close_once_everything_reached_it() {
    /// Takes lines at once; counts them as sent only in its close, which
    /// takes a while (a linger, as nats has).
    struct Lingering(Mutex<u64>, Mutex<u64>);
    impl Logger for Lingering {
        fn log(&self, _: Message) -> Result<()> {
            *self.0.lock() += 1;
            Ok(())
        }
        fn name(&self) -> &str {
            "lingering"
        }
        fn close(&self) -> Result<()> {
            // Longer than the close timeout, within two of them.
            std::thread::sleep(Duration::from_millis(1_500));
            *self.1.lock() = *self.0.lock();
            Ok(())
        }
        fn stats(&self) -> logdriver::LoggerStats {
            let mut stats = logdriver::LoggerStats::default();
            stats.lines = *self.1.lock();
            stats
        }
    }
    let driver = Arc::new(Lingering(Mutex::new(0), Mutex::new(0)));
    let logger = NonBlocking::builder(driver)
        .close_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    for i in 0..10 {
        logger.log(line(i, 10)).unwrap();
    }
    logger.close().unwrap();
    assert_eq!(logger.stats().lines, 10);
}
