//! `copy_async`: the Copier's law over a tokio `AsyncRead`, and a slow
//! driver that never stalls the caller's runtime.
#![cfg(feature = "tokio")]

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use logdriver::{copy_async, Logger, Message, Result, Source};
use proptest::prelude::*;
use tokio::io::{AsyncRead, ReadBuf};

mod common;
use common::law::{input, reference, rejoin, Expected};
use common::{silence_panics_on, Broken};

/// Gives `data` in reads of the given sizes, in turn.
struct ShortReads {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl AsyncRead for ShortReads {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let want = self.sizes[self.turn % self.sizes.len()];
        self.turn += 1;
        let n = want.min(buf.remaining()).min(self.data.len() - self.pos);
        let pos = self.pos;
        buf.put_slice(&self.data[pos..pos + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Keeps every message; takes the lines of each read at once if `batched`.
#[derive(Default)]
struct Keep {
    got: parking_lot::Mutex<Vec<Message>>,
    batched: bool,
}

impl Keep {
    fn new(batched: bool) -> Arc<Keep> {
        Arc::new(Keep {
            got: Default::default(),
            batched,
        })
    }

    fn take(&self) -> Vec<Message> {
        std::mem::take(&mut *self.got.lock())
    }
}

impl Logger for Keep {
    fn log(&self, msg: Message) -> Result<()> {
        self.got.lock().push(msg);
        Ok(())
    }
    fn prefers_batches(&self) -> bool {
        self.batched
    }
    fn name(&self) -> &str {
        "keep"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any input, in any reads: the Copier's messages, and its counts.
    #[test]
    fn any_reads_give_the_copiers_messages(
        input in input(600),
        sizes in proptest::collection::vec(1usize..70, 1..8),
        batched in any::<bool>(),
    ) {
        let keep = Keep::new(batched);
        let reader = ShortReads { data: input.clone(), pos: 0, sizes, turn: 0 };
        let stats = runtime().block_on(copy_async(reader, Source::Stdout, keep.clone()));
        let msgs = keep.take();
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

#[test]
fn long_lines_keep_their_groups_across_reads() {
    let mut input = vec![b'x'; 40_000];
    input.push(b'\n');
    input.extend_from_slice(b"tail");
    let keep = Keep::new(false);
    let reader = ShortReads {
        data: input.clone(),
        pos: 0,
        sizes: vec![4096, 1, 7000],
        turn: 0,
    };
    let stats = runtime().block_on(copy_async(reader, Source::Stderr, keep.clone()));
    let got: Expected = keep
        .take()
        .iter()
        .map(|m| {
            (
                m.line.to_vec(),
                m.partial.as_ref().map(|p| (p.ordinal, p.last)),
            )
        })
        .collect();
    assert_eq!(
        got,
        reference(&input, logdriver::Copier::DEFAULT_CHUNK_SIZE)
    );
    assert_eq!(
        (stats.lines, stats.partials, stats.complete_lines),
        (4, 4, 1)
    );
}

/// A driver that takes 1 s per line.
struct Slow;

impl Logger for Slow {
    fn log(&self, _: Message) -> Result<()> {
        std::thread::sleep(Duration::from_secs(1));
        Ok(())
    }
    fn name(&self) -> &str {
        "slow"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_slow_driver_never_stalls_the_callers_runtime() {
    let rt = runtime();
    let late = rt.block_on(async {
        let copy = tokio::spawn(copy_async(
            &b"a\nb\nc\n"[..],
            Source::Stdout,
            Arc::new(Slow),
        ));
        // A task on the same current-thread runtime, ticking every 5 ms
        // while the driver takes its 3 s.
        let mut most = Duration::ZERO;
        let mut at = Instant::now();
        for _ in 0..300 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now = Instant::now();
            most = most.max(now - at - Duration::from_millis(5).min(now - at));
            at = now;
        }
        let stats = copy.await.unwrap();
        assert_eq!(stats.lines, 3);
        most
    });
    assert!(
        late <= Duration::from_millis(10),
        "a tick came {late:?} late"
    );
}

#[test]
fn a_driver_that_fails_or_panics_is_counted_and_the_copy_goes_on() {
    silence_panics_on("driver exploded");
    for panics in [false, true] {
        let stats = runtime().block_on(copy_async(
            &b"a\nb\nc"[..],
            Source::Stdout,
            Arc::new(Broken::new(panics)),
        ));
        assert_eq!((stats.lines, stats.log_errors), (3, 3));
    }
}

/// Gives `total` bytes of `"x\n"` lines, counting what it gave.
struct Endless {
    given: Arc<std::sync::atomic::AtomicUsize>,
    total: usize,
}

impl AsyncRead for Endless {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        use std::sync::atomic::Ordering;
        let given = self.given.load(Ordering::Relaxed);
        let n = buf.remaining().min(self.total - given) & !1;
        buf.put_slice(&b"x\n".repeat(n / 2));
        self.given.fetch_add(n, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

/// Holds every line until the gate opens, and counts them.
#[derive(Default)]
struct Gated(parking_lot::Mutex<()>, std::sync::atomic::AtomicUsize);

impl Logger for Gated {
    fn log(&self, _: Message) -> Result<()> {
        drop(self.0.lock());
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
    fn name(&self) -> &str {
        "gated"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// Spawns a copy of 8 MiB of `"x\n"` lines into `gated` on a runtime of
/// its own; the count is of the bytes the reader gave.
fn copy_endless(
    gated: &Arc<Gated>,
) -> (
    tokio::runtime::Runtime,
    tokio::task::JoinHandle<logdriver::CopyStats>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    let given = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rt = runtime();
    let copy = rt.spawn(copy_async(
        Endless {
            given: Arc::clone(&given),
            total: 8 << 20,
        },
        Source::Stdout,
        gated.clone(),
    ));
    (rt, copy, given)
}

#[test]
fn a_stuck_driver_stops_the_reading_at_the_read_it_is_in() {
    let gated = Arc::new(Gated::default());
    let gate = gated.0.lock();
    let (rt, copy, given) = copy_endless(&gated);
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(300)).await });
    let ahead = given.load(std::sync::atomic::Ordering::Relaxed);
    // One read of 64 KiB, whose first line the driver is stuck on: as
    // with a Copier, the container's pipe fills and it waits.
    assert_eq!(ahead, 64 << 10, "read ahead of a stuck driver");
    drop(gate);
    let stats = rt.block_on(copy).unwrap();
    assert_eq!((stats.lines, stats.bytes), (4 << 20, 8 << 20));
}

#[test]
fn dropping_the_future_stops_the_reading_and_delivers_what_was_read() {
    use std::sync::atomic::Ordering;
    let gated = Arc::new(Gated::default());
    let gate = gated.0.lock();
    let (rt, copy, given) = copy_endless(&gated);
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
    copy.abort();
    drop(gate);
    // The blocking pool's task ends when the runtime does.
    drop(rt);
    assert_eq!(given.load(Ordering::Relaxed), 64 << 10);
    assert_eq!(gated.1.load(Ordering::Relaxed), 32 << 10);
}

/// Gives one line, then panics.
struct PanicsOnSecondRead(bool);

impl AsyncRead for PanicsOnSecondRead {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        assert!(!self.0, "reader exploded");
        self.0 = true;
        buf.put_slice(b"one\n");
        Poll::Ready(Ok(()))
    }
}

#[test]
fn a_panic_in_the_reader_comes_out_of_the_future() {
    let keep = Keep::new(false);
    let copy = copy_async(PanicsOnSecondRead(false), Source::Stdout, keep.clone());
    let rt = runtime();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(copy)))
        .expect_err("the reader's panic");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"reader exploded"));
    assert_eq!(keep.take().len(), 1);
}
