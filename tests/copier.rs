//! The Copier: the reassembly law under any chunking, and draining a pipe
//! through a broken driver.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use logdriver::{
    Copier, CopierHandle, CopyStats, Error, LineRun, LineWriter, Logger, Message, NonBlocking,
    Result, Source,
};
use parking_lot::Mutex;
use proptest::prelude::*;

mod common;
use common::law::{input, reference, rejoin, Expected};
use common::{silence_panics_on, Batches, Broken, Collect};

/// Returns `data` in reads of the given sizes, in turn.
struct ShortReads {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl ShortReads {
    fn new(data: Vec<u8>, sizes: Vec<usize>) -> ShortReads {
        ShortReads {
            data,
            pos: 0,
            sizes,
            turn: 0,
        }
    }
}

impl Read for ShortReads {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = self.sizes[self.turn % self.sizes.len()];
        self.turn += 1;
        let n = want.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Copies `reader` as stdout into `dst`, to its end.
fn copy_stdout(dst: Arc<dyn Logger>, reader: impl Read + Send + 'static) -> CopyStats {
    Copier::new(dst)
        .source(Source::Stdout, reader)
        .run()
        .unwrap()
        .wait()
}

/// [`Collect`], taking the lines of each read at once if `batched`, and
/// the short whole lines of each read as one run if `runs`.
#[derive(Default)]
struct MaybeBatches {
    collect: Collect,
    batched: bool,
    runs: bool,
}

impl Logger for MaybeBatches {
    fn log(&self, msg: Message) -> Result<()> {
        self.collect.log(msg)
    }
    fn prefers_batches(&self) -> bool {
        self.batched
    }
    fn prefers_runs(&self) -> bool {
        self.runs
    }
    fn name(&self) -> &str {
        "collect-batches"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// How the driver of [`run_copier`] takes lines.
#[derive(Debug, Clone, Copy)]
enum Takes {
    Lines,
    Batches,
    Runs,
    BatchesAndRuns,
    /// Through a [`NonBlocking`] (batches and runs), whose worker makes
    /// the messages of each run.
    NonBlocking,
}

fn run_copier(
    input: Vec<u8>,
    sizes: Vec<usize>,
    chunk: usize,
    takes: Takes,
) -> (Vec<Message>, CopyStats) {
    let (batched, runs) = match takes {
        Takes::Lines | Takes::NonBlocking => (false, false),
        Takes::Batches => (true, false),
        Takes::Runs => (false, true),
        Takes::BatchesAndRuns => (true, true),
    };
    let logger = Arc::new(MaybeBatches {
        collect: Collect::default(),
        batched,
        runs,
    });
    let dst: Arc<dyn Logger> = match takes {
        Takes::NonBlocking => Arc::new(NonBlocking::new(logger.clone(), 1 << 20)),
        _ => logger.clone(),
    };
    let reader = ShortReads::new(input, sizes);
    let stats = Copier::new(dst.clone())
        .buffer_size(chunk)
        .source(Source::Stdout, reader)
        .run()
        .unwrap()
        .wait();
    dst.close().unwrap();
    let msgs = std::mem::take(&mut *logger.collect.0.lock());
    (msgs, stats)
}

fn takes() -> impl Strategy<Value = Takes> {
    prop_oneof![
        Just(Takes::Lines),
        Just(Takes::Batches),
        Just(Takes::Runs),
        Just(Takes::BatchesAndRuns),
        Just(Takes::NonBlocking),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_chunking_reassembles_and_matches_the_reference(
        input in input(600),
        sizes in proptest::collection::vec(1usize..70, 1..8),
        chunk in prop::sample::select(vec![1usize, 2, 3, 7, 16, 64, 1024]),
        takes in takes(),
    ) {
        let (msgs, stats) = run_copier(input.clone(), sizes, chunk, takes);

        // The law: lines, plus "\n" after each that ends its line, are the input.
        let mut joined = Vec::with_capacity(input.len());
        for m in &msgs {
            rejoin(&mut joined, m);
        }
        prop_assert_eq!(&joined, &input);

        // Message for message, the same as splitting the whole input at once.
        let got: Expected = msgs
            .iter()
            .map(|m| (m.line.to_vec(), m.partial.as_ref().map(|p| (p.ordinal, p.last))))
            .collect();
        prop_assert_eq!(&got, &reference(&input, chunk));

        // Groups share an id and a timestamp; ids differ between groups;
        // every chunk that does not end the group is exactly `chunk` long.
        let mut ids = std::collections::HashSet::new();
        let mut group: Option<&Message> = None;
        for m in &msgs {
            let Some(p) = &m.partial else {
                group = None;
                continue;
            };
            if p.ordinal == 1 {
                prop_assert!(ids.insert(p.id.clone()), "id reused: {}", p.id);
                group = Some(m);
            }
            let first = group.expect("ordinal 1 opens every group");
            let first_meta = first.partial.as_ref().unwrap();
            prop_assert_eq!(&p.id, &first_meta.id);
            prop_assert_eq!(m.timestamp, first.timestamp);
            prop_assert_eq!(p.id.len(), 64);
        }
        for (i, m) in msgs.iter().enumerate() {
            let continues = msgs.get(i + 1).and_then(|n| n.partial.as_ref()).is_some_and(|p| p.ordinal > 1);
            if continues {
                prop_assert_eq!(m.line.len(), chunk);
            }
        }

        prop_assert_eq!(stats.bytes, input.len() as u64);
        prop_assert_eq!(stats.lines, msgs.len() as u64);
        prop_assert_eq!(stats.partials, msgs.iter().filter(|m| m.partial.is_some()).count() as u64);
        prop_assert_eq!(stats.log_errors, 0);
    }
}

/// `input` through a [`LineWriter`]: pushed as `Bytes` in pieces of the
/// given sizes, or written as `&[u8]` in them, in turn.
fn run_writer(
    input: &[u8],
    sizes: &[usize],
    chunk: usize,
    batched: bool,
    write: bool,
) -> (Vec<Message>, CopyStats) {
    let logger = Arc::new(MaybeBatches {
        collect: Collect::default(),
        batched,
        runs: false,
    });
    let mut writer = LineWriter::with_buffer_size(logger.clone(), Source::Stdout, chunk);
    let (mut at, mut turn) = (0, 0);
    while at < input.len() {
        let n = sizes[turn % sizes.len()].min(input.len() - at);
        turn += 1;
        if write {
            writer.write_all(&input[at..at + n]).unwrap();
        } else {
            writer.push(bytes::Bytes::copy_from_slice(&input[at..at + n]));
        }
        at += n;
    }
    let stats = writer.finish();
    let msgs = std::mem::take(&mut *logger.collect.0.lock());
    (msgs, stats)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The Copier's law for a LineWriter: any input, in any pushes or
    /// writes, gives the same messages as splitting it at once, with the
    /// same counts.
    #[test]
    fn any_pushes_or_writes_give_the_copiers_messages(
        input in input(600),
        sizes in proptest::collection::vec(1usize..70, 1..8),
        chunk in prop::sample::select(vec![1usize, 2, 3, 7, 16, 64, 1024]),
        batched in any::<bool>(),
        write in any::<bool>(),
    ) {
        let (msgs, stats) = run_writer(&input, &sizes, chunk, batched, write);
        let mut joined = Vec::with_capacity(input.len());
        for m in &msgs {
            rejoin(&mut joined, m);
        }
        prop_assert_eq!(&joined, &input);
        let got: Expected = msgs
            .iter()
            .map(|m| (m.line.to_vec(), m.partial.as_ref().map(|p| (p.ordinal, p.last))))
            .collect();
        prop_assert_eq!(&got, &reference(&input, chunk));
        let takes = if batched { Takes::Batches } else { Takes::Lines };
        let (_, copied) = run_copier(input.clone(), sizes, chunk, takes);
        prop_assert_eq!(stats, copied);
    }
}

#[test]
fn a_push_hands_out_slices_of_the_pushed_bytes() {
    let logger = Arc::new(Collect::default());
    let mut writer = LineWriter::new(logger.clone(), Source::Stderr);
    let pushed = bytes::Bytes::from_static(b"one\ntwo\nthr");
    writer.push(pushed.clone());
    writer.push(bytes::Bytes::from_static(b"ee\n"));
    let stats = writer.finish();
    let msgs = logger.0.lock();
    let range = pushed.as_ptr_range();
    // Lines wholly inside a push are that push's bytes, not copies.
    for m in &msgs[..2] {
        assert!(range.contains(&m.line.as_ptr()), "{:?} was copied", m.line);
    }
    assert_eq!(&msgs[2].line[..], b"three");
    assert_eq!((stats.lines, stats.bytes, stats.complete_lines), (3, 14, 3));
}

#[test]
fn a_writer_survives_a_driver_that_fails_or_panics() {
    silence_panics_on("driver exploded");
    for panics in [false, true] {
        let driver = Arc::new(Broken::new(panics));
        let mut writer = LineWriter::new(driver.clone(), Source::Stdout);
        writer.push(bytes::Bytes::from_static(b"a\nb\nc"));
        writer.write_all(b"\nd\n").unwrap();
        let stats = writer.finish();
        assert_eq!((stats.lines, stats.log_errors), (4, 4));
        assert_eq!(driver.calls.load(Ordering::Relaxed), 4);
    }
}

const PIPE_BYTES: usize = 50 * 1024 * 1024;
const PIPE_LINE: usize = 1024;

/// Writes 50 MiB of 1 KiB lines into an OS pipe drained by a Copier into
/// `driver`; returns the Copier's counts once the writer has finished.
fn drain_pipe_through(driver: Arc<dyn Logger>) -> CopyStats {
    let (reader, mut writer) = io::pipe().unwrap();
    let handle: CopierHandle = Copier::new(driver)
        .source(Source::Stderr, reader)
        .run()
        .unwrap();
    let written = thread::spawn(move || {
        let mut line = vec![b'x'; PIPE_LINE];
        line[PIPE_LINE - 1] = b'\n';
        for _ in 0..PIPE_BYTES / PIPE_LINE {
            writer.write_all(&line)?;
        }
        io::Result::Ok(PIPE_BYTES)
    });
    assert_eq!(written.join().unwrap().unwrap(), PIPE_BYTES);
    handle.wait()
}

/// 50 MiB through a pipe into a driver that fails on every line: the
/// writer finishes, and every line was offered and counted.
fn assert_pipe_drains_through_broken_driver(panics: bool) {
    let driver = Arc::new(Broken::new(panics));
    let stats = drain_pipe_through(driver.clone());
    let lines = (PIPE_BYTES / PIPE_LINE) as u64;
    assert_eq!(stats.bytes, PIPE_BYTES as u64);
    assert_eq!(stats.lines, lines);
    assert_eq!(stats.log_errors, lines);
    assert_eq!(driver.calls.load(Ordering::Relaxed), lines);
}

#[test]
fn failing_driver_never_stops_the_pipe_draining() {
    assert_pipe_drains_through_broken_driver(false);
}

#[test]
fn panicking_driver_never_stops_the_pipe_draining() {
    silence_panics_on("logdriver-copier");
    assert_pipe_drains_through_broken_driver(true);
}

#[test]
fn a_panic_costs_exactly_its_own_line() {
    /// Panics on lines that start with "boom"; keeps the others.
    struct Picky(Mutex<Vec<Vec<u8>>>);
    impl Logger for Picky {
        fn log(&self, msg: Message) -> Result<()> {
            assert!(!msg.line.starts_with(b"boom"), "boom");
            self.0.lock().push(msg.line.to_vec());
            Ok(())
        }
        fn name(&self) -> &str {
            "picky"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
    }
    silence_panics_on("logdriver-copier");
    // Whole lines, and a long line whose second chunk panics.
    let mut input = b"a\nboom 1\nb\nboom 2\nboom 3\nc\n".to_vec();
    input.extend_from_slice(b"0123456789abcdefboom456789abcdef!!\nd\n");
    let driver = Arc::new(Picky(Mutex::new(Vec::new())));
    let stats = Copier::new(driver.clone())
        .buffer_size(16)
        .source(Source::Stdout, ShortReads::new(input, vec![7, 3, 50]))
        .run()
        .unwrap()
        .wait();
    let got = driver.0.lock().clone();
    let want: Vec<&[u8]> = vec![b"a", b"b", b"c", b"0123456789abcdef", b"!!", b"d"];
    assert_eq!(got, want);
    assert_eq!((stats.lines, stats.log_errors, stats.partials), (10, 4, 3));
}

#[test]
fn errors_reach_the_hook_with_their_source() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let driver = Arc::new(Broken {
        panics: false,
        calls: AtomicU64::new(0),
    });
    let stats = Copier::new(driver)
        .on_error(move |source, err| sink.lock().push(format!("{source}: {err}")))
        .source(Source::Stdout, &b"a\nb\n"[..])
        .run()
        .unwrap()
        .wait();
    assert_eq!(stats.log_errors, 2);
    assert_eq!(
        *seen.lock(),
        [
            "stdout: log driver \"broken\" failed: hub unreachable",
            "stdout: log driver \"broken\" failed: hub unreachable",
        ]
    );
}

#[test]
fn both_sources_are_copied_in_order_on_their_own_threads() {
    let logger = Arc::new(Collect::default());
    let out: Vec<u8> = (0..1000)
        .flat_map(|i| format!("out {i}\n").into_bytes())
        .collect();
    let err: Vec<u8> = (0..1000)
        .flat_map(|i| format!("err {i}\n").into_bytes())
        .collect();
    let stats = Copier::new(logger.clone())
        .source(Source::Stdout, io::Cursor::new(out))
        .source(Source::Stderr, io::Cursor::new(err))
        .run()
        .unwrap()
        .wait();
    assert_eq!(stats.lines, 2000);
    let msgs = logger.0.lock();
    for (source, prefix) in [(Source::Stdout, "out"), (Source::Stderr, "err")] {
        let lines: Vec<String> = msgs
            .iter()
            .filter(|m| m.source == source)
            .map(|m| String::from_utf8(m.line.to_vec()).unwrap())
            .collect();
        let want: Vec<String> = (0..1000).map(|i| format!("{prefix} {i}")).collect();
        assert_eq!(lines, want);
    }
}

/// Passes every message on to a channel.
struct Forward(crossbeam_channel::Sender<Message>);

impl Logger for Forward {
    fn log(&self, msg: Message) -> Result<()> {
        self.0
            .send(msg)
            .map_err(|e| Error::driver("forward", e.to_string()))
    }
    fn name(&self) -> &str {
        "forward"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

#[test]
fn close_stops_after_the_current_read_and_keeps_what_was_read() {
    let (reader, mut writer) = io::pipe().unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let handle = Copier::new(Arc::new(Forward(tx)))
        .source(Source::Stdout, reader)
        .run()
        .unwrap();
    writer.write_all(b"one\ntwo\nthr").unwrap();
    assert_eq!(&rx.recv().unwrap().line[..], b"one");
    assert_eq!(&rx.recv().unwrap().line[..], b"two");
    handle.close();
    // The thread may already be blocked in its next read: this write ends
    // that read, and the thread must not read again after it.
    writer.write_all(b"ee\n").unwrap();
    let stats = handle.wait();
    let rest: Vec<Message> = rx.try_iter().collect();
    match rest.as_slice() {
        // Closed before the second read: the held-back bytes come out as
        // a partial that does not end its line.
        [m] if !m.ends_line() => {
            assert_eq!(stats.bytes, 11);
            assert_eq!(&m.line[..], b"thr");
        }
        // Closed during the second read: its line is delivered whole.
        [m] => {
            assert_eq!(stats.bytes, 14);
            assert_eq!(&m.line[..], b"three");
        }
        other => panic!("unexpected messages after close: {other:?}"),
    }
    assert_eq!(stats.lines, 3);
    drop(writer);
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Message>();
    send_sync::<CopierHandle>();
    send_sync::<CopyStats>();
    send_sync::<logdriver::Registry>();
    send_sync::<logdriver::NonBlocking>();
    send_sync::<logdriver::Info>();
    send_sync::<Error>();
    send::<Copier>();
}

#[test]
fn a_driver_that_holds_lines_for_a_while_gets_them_right() {
    /// Holds up to 300 messages, then lets go of them all at once, so that
    /// the Copier's buffers go from held to free and back again.
    #[derive(Default)]
    struct Holds300 {
        held: Mutex<Vec<Message>>,
        seen: Mutex<Vec<u8>>,
    }
    impl Logger for Holds300 {
        fn log(&self, msg: Message) -> Result<()> {
            rejoin(&mut self.seen.lock(), &msg);
            let mut held = self.held.lock();
            held.push(msg);
            if held.len() == 300 {
                held.clear();
            }
            Ok(())
        }
        fn name(&self) -> &str {
            "batches"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
    }
    let input: Vec<u8> = (0..20_000u32)
        .flat_map(|i| format!("line {i} {}\n", "z".repeat((i % 97) as usize)).into_bytes())
        .collect();
    let driver = Arc::new(Holds300::default());
    let reader = ShortReads::new(input.clone(), vec![100, 4000, 70_000, 9]);
    let stats = copy_stdout(driver.clone(), reader);
    assert_eq!(stats.lines, 20_000);
    assert_eq!(*driver.seen.lock(), input);
}

#[test]
fn lines_a_driver_keeps_stay_intact_while_spent_buffers_are_reused() {
    /// Keeps the last 5,000 lines (a few read buffers' worth), with a copy
    /// of each taken when it arrived, and checks each one against its copy
    /// when it lets go of it.
    #[derive(Default)]
    struct Window {
        kept: Mutex<VecDeque<(Message, Vec<u8>)>>,
        seen: Mutex<Vec<u8>>,
        checked: AtomicU64,
    }
    impl Window {
        fn check(&self, (msg, copy): (Message, Vec<u8>)) {
            assert_eq!(msg.line, copy, "a kept line changed under the driver");
            self.checked.fetch_add(1, Ordering::Relaxed);
        }
    }
    impl Logger for Window {
        fn log(&self, msg: Message) -> Result<()> {
            rejoin(&mut self.seen.lock(), &msg);
            let mut kept = self.kept.lock();
            let copy = msg.line.to_vec();
            kept.push_back((msg, copy));
            if kept.len() > 5_000 {
                self.check(kept.pop_front().unwrap());
            }
            Ok(())
        }
        fn name(&self) -> &str {
            "window"
        }
        fn close(&self) -> Result<()> {
            for entry in self.kept.lock().drain(..) {
                self.check(entry);
            }
            Ok(())
        }
    }
    // 60,000 lines of 30 to 126 bytes: about 4.6 MB, some 60 buffers,
    // read at least 16 KiB at a time, so that spent buffers are kept.
    let input: Vec<u8> = (0..60_000u32)
        .flat_map(|i| format!("line {i:05} {}\n", "w".repeat((i % 97) as usize + 19)).into_bytes())
        .collect();
    let driver = Arc::new(Window::default());
    let reader = ShortReads::new(input.clone(), vec![65_536, 30_000, 65_536, 20_000]);
    let stats = copy_stdout(driver.clone(), reader);
    driver.close().unwrap();
    assert_eq!(stats.lines, 60_000);
    assert_eq!(driver.checked.load(Ordering::Relaxed), 60_000);
    assert_eq!(*driver.seen.lock(), input);
}

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_driver_that_prefers_batches_gets_each_read_as_one() {
    let driver = Arc::new(Batches::default());
    let reader = ShortReads::new(b"a\nb\nc\nd\ne".to_vec(), vec![6, 4]);
    let stats = copy_stdout(driver.clone(), reader);
    assert_eq!(stats.lines, 5);
    // Read 1: "a\nb\nc\n". Read 2: "d\ne", whose "e" waits for a newline
    // until the end of input, and then goes out alone.
    let want = [strings(&["a", "b", "c"]), strings(&["d"]), strings(&["e"])];
    assert_eq!(*driver.0.lock(), want);
}

/// Records what it is handed: each run as `"run:a,b"`, each message as
/// its line; `log_run` fails on its first line, then panics, if `breaks`.
#[derive(Default)]
struct Runs {
    got: Mutex<Vec<String>>,
    breaks: bool,
}

impl Logger for Runs {
    fn log(&self, msg: Message) -> Result<()> {
        self.got
            .lock()
            .push(String::from_utf8(msg.line.to_vec()).unwrap());
        Ok(())
    }
    fn log_run(&self, run: LineRun, failed: &mut dyn FnMut(Error)) {
        if self.breaks {
            failed(Error::driver("runs", io::Error::other("first line lost")));
            panic!("run exploded");
        }
        let lines: Vec<String> = run
            .messages()
            .map(|m| String::from_utf8(m.line.to_vec()).unwrap())
            .collect();
        self.got.lock().push(format!("run:{}", lines.join(",")));
    }
    fn prefers_runs(&self) -> bool {
        true
    }
    fn name(&self) -> &str {
        "runs"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_driver_that_prefers_runs_gets_the_short_whole_lines_in_front_of_each_read() {
    let driver = Arc::new(Runs::default());
    // Chunks of 4: "long-" is a line of chunks, which ends the run; the
    // lines after it in that read come as messages.
    let input = b"a\nbb\nlong-\nc\nd\ne".to_vec();
    let reader = ShortReads::new(input, vec![13, 5]);
    let stats = Copier::new(driver.clone())
        .buffer_size(4)
        .source(Source::Stdout, reader)
        .run()
        .unwrap()
        .wait();
    let got = driver.got.lock().clone();
    assert_eq!(got, ["run:a,bb", "long", "-", "c", "run:d", "e"]);
    assert_eq!(
        (stats.lines, stats.complete_lines, stats.partials),
        (7, 5, 3)
    );
    assert_eq!(stats.log_errors, 0);
}

#[test]
fn a_run_driver_that_fails_and_panics_costs_the_runs_lines_once_each() {
    let driver = Arc::new(Runs {
        breaks: true,
        ..Runs::default()
    });
    silence_panics_on("logdriver-copier");
    let stats = copy_stdout(driver.clone(), io::Cursor::new(b"1\n2\n3\n4".to_vec()));
    // The run of 3: one reported, the panic, and one more not known to
    // have been taken. The last line comes at the end, as a message.
    assert_eq!((stats.lines, stats.log_errors), (4, 3));
    assert_eq!(*driver.got.lock(), ["4"]);
}

#[test]
fn a_read_of_many_lines_goes_out_in_batches_of_at_most_1024() {
    let driver = Arc::new(Batches::default());
    let input = b"x\n".repeat(3000);
    Copier::new(driver.clone())
        .source(Source::Stdout, io::Cursor::new(input))
        .buffer_size(1 << 20)
        .run()
        .unwrap()
        .wait();
    // One read of 6000 bytes holds all 3000 lines.
    assert_eq!(driver.sizes(), [1024, 1024, 952]);
}

#[test]
fn a_batch_driver_that_fails_or_panics_costs_only_those_lines() {
    silence_panics_on("logdriver-copier");
    let driver = Arc::new(Batches::default());
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&errors);
    let stats = Copier::new(driver.clone())
        .source(Source::Stdout, &b"a\nboom-b\nc\nfail-d\ne\n"[..])
        .on_error(move |_, err| seen.lock().push(err.to_string()))
        .run()
        .unwrap()
        .wait();
    assert_eq!(stats.lines, 5);
    assert_eq!(stats.log_errors, 2);
    // The panic ended the first call after "a"; the rest came again.
    let want = [strings(&["a"]), strings(&["c", "e"])];
    assert_eq!(*driver.0.lock(), want);
    let errors = errors.lock();
    assert_eq!(errors.len(), 2);
    assert!(
        errors[0].contains("batches") && errors[0].contains("boom at boom-b"),
        "{errors:?}"
    );
    assert!(errors[1].contains("cannot take fail-d"), "{errors:?}");
}

#[test]
fn lines_a_batch_driver_leaves_behind_go_through_log() {
    /// Takes one message per `log_batch` call and leaves the rest.
    #[derive(Default)]
    struct TakesOne(Collect);
    impl Logger for TakesOne {
        fn log(&self, msg: Message) -> Result<()> {
            self.0.log(msg)
        }
        fn log_batch(&self, batch: &mut VecDeque<Message>, _: &mut dyn FnMut(Error)) {
            if let Some(msg) = batch.pop_front() {
                let _ = self.0.log(msg);
            }
        }
        fn prefers_batches(&self) -> bool {
            true
        }
        fn name(&self) -> &str {
            "takes-one"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
    }
    let driver = Arc::new(TakesOne::default());
    let stats = copy_stdout(driver.clone(), &b"a\nb\nc\n"[..]);
    assert_eq!(stats.lines, 3);
    assert_eq!(stats.log_errors, 0);
    let lines: Vec<_> = driver.0 .0.lock().iter().map(|m| m.line.clone()).collect();
    assert_eq!(lines, ["a", "b", "c"]);
}

/// Runs `f` on a thread of its own and returns its result, or panics if it
/// has not finished within `limit`: a regression must fail, not hang.
fn within<T: Send + 'static>(
    limit: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("did not finish in time")
}

#[test]
fn a_batch_driver_that_panics_without_taking_anything_costs_one_line_per_panic() {
    silence_panics_on("logdriver-copier");
    /// Panics on every `log_batch` call before taking anything; counts calls.
    #[derive(Default)]
    struct PanicsFirst(AtomicU64);
    impl Logger for PanicsFirst {
        fn log(&self, _: Message) -> Result<()> {
            Ok(())
        }
        fn log_batch(&self, _: &mut VecDeque<Message>, _: &mut dyn FnMut(Error)) {
            self.0.fetch_add(1, Ordering::Relaxed);
            panic!("nothing taken");
        }
        fn prefers_batches(&self) -> bool {
            true
        }
        fn name(&self) -> &str {
            "panics-first"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
    }
    let driver = Arc::new(PanicsFirst::default());
    let dst = driver.clone();
    let stats = within(std::time::Duration::from_secs(30), move || {
        copy_stdout(dst, &b"a\nb\nc\n"[..])
    });
    assert_eq!((stats.lines, stats.log_errors), (3, 3));
    assert_eq!(driver.0.load(Ordering::Relaxed), 3);
}

#[test]
fn a_huge_driver_buffer_size_is_clamped_and_the_pipe_drains() {
    /// Asks for an absurd chunk size.
    struct Greedy(Collect);
    impl Logger for Greedy {
        fn log(&self, msg: Message) -> Result<()> {
            self.0.log(msg)
        }
        fn name(&self) -> &str {
            "greedy"
        }
        fn close(&self) -> Result<()> {
            Ok(())
        }
        fn buf_size(&self) -> Option<usize> {
            Some(usize::MAX)
        }
    }
    let driver = Arc::new(Greedy(Collect::default()));
    let line = vec![b'x'; logdriver::Copier::MAX_CHUNK_SIZE + 10];
    let input = [&line[..], b"\n", &[b'y'; 70_000][..], b"\nend\n"].concat();
    let dst = driver.clone();
    let stats = within(std::time::Duration::from_secs(30), move || {
        copy_stdout(dst, io::Cursor::new(input))
    });
    let msgs = driver.0 .0.lock();
    let lens: Vec<usize> = msgs.iter().map(|m| m.line.len()).collect();
    assert_eq!(lens, [logdriver::Copier::MAX_CHUNK_SIZE, 10, 70_000, 3]);
    assert_eq!(stats.lines, 4);
}
