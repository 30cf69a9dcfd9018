//! `Pump`: the Copier's law over many pipes at once, and a stuck driver
//! that slows only its own container.
#![cfg(feature = "pump")]

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use logdriver::{Logger, Message, Pump, Result, Source};
use parking_lot::Mutex;
use proptest::prelude::*;

mod common;
use common::law::{input, reference, rejoin, Expected};
use common::{silence_panics_on, Broken, Collect};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any input, written into a pipe in any pieces: the Copier's messages.
    #[test]
    fn any_writes_into_a_pipe_give_the_copiers_messages(
        input in input(3000),
        sizes in proptest::collection::vec(1usize..700, 1..8),
    ) {
        let pump = Pump::new().unwrap();
        let keep = Arc::new(Collect::default());
        let (reader, mut writer) = std::io::pipe().unwrap();
        let source = pump.add(Source::Stdout, reader.into(), keep.clone()).unwrap();
        let (mut at, mut turn) = (0, 0);
        while at < input.len() {
            let n = sizes[turn % sizes.len()].min(input.len() - at);
            writer.write_all(&input[at..at + n]).unwrap();
            at += n;
            turn += 1;
        }
        drop(writer);
        let stats = source.wait();
        pump.shutdown();
        let msgs = std::mem::take(&mut *keep.0.lock());
        let mut joined = Vec::new();
        for m in &msgs {
            rejoin(&mut joined, m);
        }
        prop_assert_eq!(&joined, &input);
        let got: Expected = msgs
            .iter()
            .map(|m| (m.line.to_vec(), m.partial.as_ref().map(|p| (p.ordinal, p.last))))
            .collect();
        prop_assert_eq!(&got, &reference(&input, logdriver::Copier::DEFAULT_CHUNK_SIZE));
        prop_assert_eq!((stats.lines, stats.bytes), (msgs.len() as u64, input.len() as u64));
    }
}

/// Says when each line arrived.
struct Arrivals(Sender<Instant>);

impl Logger for Arrivals {
    fn log(&self, _: Message) -> Result<()> {
        let _ = self.0.send(Instant::now());
        Ok(())
    }
    fn name(&self) -> &str {
        "arrivals"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// Holds every line until its gate opens.
struct Stuck(Receiver<()>, Mutex<u64>);

impl Logger for Stuck {
    fn log(&self, _: Message) -> Result<()> {
        let _ = self.0.recv();
        *self.1.lock() += 1;
        Ok(())
    }
    fn name(&self) -> &str {
        "stuck"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_stuck_driver_slows_only_its_own_container() {
    let pump = Pump::new().unwrap();
    let (gate, stuck_gate) = unbounded::<()>();
    let stuck = Arc::new(Stuck(stuck_gate, Mutex::new(0)));
    let (reader, mut stuck_writer) = std::io::pipe().unwrap();
    let stuck_source = pump
        .add(Source::Stdout, reader.into(), stuck.clone())
        .unwrap();
    stuck_writer.write_all(b"held\nback\n").unwrap();
    let mut others = Vec::new();
    for _ in 0..100 {
        let (tx, rx) = unbounded();
        let (reader, writer) = std::io::pipe().unwrap();
        let source = pump
            .add(Source::Stdout, reader.into(), Arc::new(Arrivals(tx)))
            .unwrap();
        others.push((writer, rx, source));
    }
    // Each of the 100 writes a line while the stuck one is stuck; each
    // line is with its driver within 10 ms.
    let mut most = Duration::ZERO;
    for (writer, arrivals, _) in &mut others {
        let wrote = Instant::now();
        writer.write_all(b"hello\n").unwrap();
        let arrived = arrivals
            .recv_timeout(Duration::from_secs(5))
            .expect("a line reached its driver");
        most = most.max(arrived - wrote);
    }
    assert_eq!(*stuck.1.lock(), 0, "the stuck driver was stuck throughout");
    assert!(most <= Duration::from_millis(10), "a line took {most:?}");
    drop(gate);
    drop(stuck_writer);
    assert_eq!(stuck_source.wait().lines, 2);
    for (writer, _, source) in others {
        drop(writer);
        assert_eq!(source.wait().lines, 1);
    }
    pump.shutdown();
}

#[test]
fn close_delivers_what_was_held_back_and_closes_the_fd() {
    let pump = Pump::new().unwrap();
    let keep = Arc::new(Collect::default());
    let (reader, mut writer) = std::io::pipe().unwrap();
    let source = pump
        .add(Source::Stderr, reader.into(), keep.clone())
        .unwrap();
    writer.write_all(b"whole\nno newline").unwrap();
    // Wait for the whole line, so that the rest is held back, not unread.
    let deadline = Instant::now() + Duration::from_secs(5);
    while source.stats().lines < 1 {
        assert!(Instant::now() < deadline);
        std::thread::yield_now();
    }
    source.close();
    let stats = source.wait();
    assert!(source.is_ended());
    let got: Vec<(Vec<u8>, Option<bool>)> = keep
        .0
        .lock()
        .iter()
        .map(|m| (m.line.to_vec(), m.partial.as_ref().map(|p| p.last)))
        .collect();
    assert_eq!(
        got,
        [
            (b"whole".to_vec(), None),
            (b"no newline".to_vec(), Some(false))
        ]
    );
    assert_eq!((stats.lines, stats.bytes), (2, 16));
    // The pump closed its end: the container's writes now fail.
    assert_eq!(
        writer.write_all(b"more\n").unwrap_err().kind(),
        std::io::ErrorKind::BrokenPipe
    );
    pump.shutdown();
}

#[test]
fn a_driver_that_fails_or_panics_is_counted_and_its_pipe_drains() {
    silence_panics_on("driver exploded");
    let pump = Pump::new().unwrap();
    for panics in [false, true] {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let source = pump
            .add(Source::Stdout, reader.into(), Arc::new(Broken::new(panics)))
            .unwrap();
        // More than a pipe holds: the pipe must keep draining.
        let line = [b"x".repeat(99), b"\n".to_vec()].concat();
        for _ in 0..10_000 {
            writer.write_all(&line).unwrap();
        }
        drop(writer);
        let stats = source.wait();
        assert_eq!((stats.lines, stats.log_errors), (10_000, 10_000));
    }
    pump.shutdown();
}
