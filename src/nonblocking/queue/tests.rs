use super::*;

fn whole(source: Source, text: &str) -> Message {
    Message::new(source, text.to_owned())
}

fn chunk(text: &str, ordinal: u32, last: bool) -> Message {
    Message {
        partial: Some(PartialMeta {
            id: "g".repeat(64),
            ordinal,
            last,
        }),
        ..whole(Source::Stdout, text)
    }
}

/// The messages of `entries`, in order, runs made into messages.
fn messages<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Vec<Message> {
    entries
        .into_iter()
        .flat_map(|entry| match entry {
            Entry::Messages(batch) => batch.iter().cloned().collect(),
            Entry::Run(run) => run.messages().collect::<Vec<_>>(),
        })
        .collect()
}

/// What the worker would get, as (line, Some((ordinal, last))).
fn drain(q: &mut Queue) -> Vec<(String, Option<(u32, bool)>)> {
    let mut out = VecDeque::new();
    q.take(usize::MAX, &mut out);
    messages(&out)
        .iter()
        .map(|m| {
            let line = String::from_utf8(m.line.to_vec()).unwrap();
            (line, m.partial.as_ref().map(|p| (p.ordinal, p.last)))
        })
        .collect()
}

/// The worker handed `msgs` messages of `bytes` to the driver.
fn hand_over(q: &mut Queue, msgs: usize, bytes: usize) {
    q.delivered(&Handed {
        msgs,
        bytes,
        delivered: msgs as u64,
        ..Handed::default()
    });
}

fn w(s: &str) -> (String, Option<(u32, bool)>) {
    (s.to_owned(), None)
}

fn c(s: &str, ordinal: u32, last: bool) -> (String, Option<(u32, bool)>) {
    (s.to_owned(), Some((ordinal, last)))
}

#[test]
fn admits_into_an_empty_buffer_and_up_to_the_limit() {
    let mut q = Queue::new(10, Overflow::DropNewest);
    q.push(whole(Source::Stdout, "0123456789abc")); // over the limit, but empty
    q.push(whole(Source::Stdout, "x")); // does not fit
    assert_eq!(q.counts.dropped, 1);
    assert_eq!(drain(&mut q), [w("0123456789abc")]);
    hand_over(&mut q, 1, 13);
    q.push(whole(Source::Stdout, "12345"));
    q.push(whole(Source::Stderr, "12345"));
    q.push(whole(Source::Stdout, "1"));
    assert_eq!(q.counts.dropped, 2);
    assert_eq!(drain(&mut q), [w("12345"), w("12345")]);
}

#[test]
fn arrival_order_is_kept_across_streams() {
    let mut q = Queue::new(100, Overflow::DropNewest);
    for (i, source) in [
        Source::Stdout,
        Source::Stderr,
        Source::Stdout,
        Source::Stderr,
    ]
    .into_iter()
    .enumerate()
    {
        q.push(whole(source, &i.to_string()));
    }
    let mut out = VecDeque::new();
    q.take(usize::MAX, &mut out);
    let msgs = messages(&out);
    let order: Vec<(Source, &[u8])> = msgs.iter().map(|m| (m.source, &m.line[..])).collect();
    assert_eq!(
        order,
        [
            (Source::Stdout, &b"0"[..]),
            (Source::Stderr, b"1"),
            (Source::Stdout, b"2"),
            (Source::Stderr, b"3")
        ]
    );
}

#[test]
fn drop_oldest_evicts_only_when_that_makes_room() {
    let mut q = Queue::new(1000, Overflow::DropOldest);
    for _ in 0..5 {
        q.push(whole(Source::Stdout, &"a".repeat(10)));
    }
    let mut held = VecDeque::new();
    q.take(10, &mut held); // the worker holds one line of 10 bytes
                           // 995 bytes cannot fit beside the 10 the worker holds, whatever is
                           // evicted: only the new line is dropped.
    q.push(whole(Source::Stdout, &"b".repeat(995)));
    assert_eq!((q.counts.dropped, q.len()), (1, 4));
    // 975 bytes fit once 3 of the 4 queued lines go: exactly 3 go.
    q.push(whole(Source::Stdout, &"c".repeat(975)));
    assert_eq!((q.counts.dropped, q.len()), (4, 2));
    assert_eq!(q.counts.lines_dropped, 4);
}

#[test]
fn the_worker_takes_at_most_its_budget_and_at_least_one() {
    let mut q = Queue::new(1000, Overflow::DropNewest);
    for _ in 0..10 {
        q.push(whole(Source::Stdout, &"a".repeat(100)));
    }
    let mut out = VecDeque::new();
    q.take(250, &mut out);
    assert_eq!(messages(&out).len(), 2);
    q.take(50, &mut out);
    assert_eq!(messages(&out).len(), 3);
    assert_eq!((q.held, q.queued), (300, 700));
}

#[test]
fn a_message_over_the_budget_is_taken_alone_and_leaves_no_empty_batch() {
    let mut q = Queue::new(1000, Overflow::DropNewest);
    q.push(whole(Source::Stdout, &"a".repeat(600)));
    let mut out = VecDeque::new();
    q.take(250, &mut out);
    assert_eq!(messages(&out).len(), 1);
    assert!(q.is_empty());
}

#[test]
fn a_refused_chunk_drops_the_rest_of_its_line_and_closes_the_group() {
    let mut q = Queue::new(11, Overflow::DropNewest);
    q.push(chunk("aaaa", 1, false));
    q.push(chunk("bbbb", 2, false));
    q.push(chunk("cccc", 3, false)); // does not fit
    q.push(whole(Source::Stderr, "x")); // another stream goes on
    q.push(chunk("dd", 4, false)); // the rest of the line is dropped...
    q.push(chunk("ee", 5, true)); // ...and its end becomes an empty last chunk
    q.push(whole(Source::Stdout, "n"));
    assert_eq!(
        drain(&mut q),
        [
            c("aaaa", 1, false),
            c("bbbb", 2, false),
            w("x"),
            c("", 3, true),
            w("n")
        ]
    );
    // Chunk 3 goes out emptied, as the closing chunk: it is the line's
    // cut, not a drop. Chunks 4 and 5 are dropped.
    let c = q.counts;
    assert_eq!(
        (c.lines_dropped, c.truncated, c.chunks_dropped, c.dropped),
        (1, 1, 2, 2)
    );
}

#[test]
fn a_line_refused_from_its_first_chunk_leaves_nothing() {
    let mut q = Queue::new(4, Overflow::DropNewest);
    q.push(whole(Source::Stdout, "full"));
    q.push(chunk("aaaa", 1, false));
    q.push(chunk("bbbb", 2, true));
    assert_eq!(drain(&mut q), [w("full")]);
    assert_eq!((q.counts.lines_dropped, q.counts.chunks_dropped), (1, 2));
}

#[test]
fn evicting_a_chunk_evicts_its_line_and_ends_what_went_before() {
    let mut q = Queue::new(12, Overflow::DropOldest);
    q.push(chunk("aaaa", 1, false));
    let mut held = VecDeque::new();
    q.take(4, &mut held); // chunk 1 went to the worker...
    hand_over(&mut q, 1, 4); // ...and the driver has it
    q.push(chunk("bbbb", 2, false));
    q.push(chunk("cccc", 3, false));
    q.push(whole(Source::Stderr, "x"));
    // 8 bytes must go: chunk 2 is the oldest, so its whole line goes,
    // and an empty last chunk ends it in its place.
    q.push(whole(Source::Stderr, "yyyyyyyy"));
    q.push(chunk("dddd", 4, true)); // the line's end, dropped
    assert_eq!(drain(&mut q), [c("", 2, true), w("x"), w("yyyyyyyy")]);
    let c = q.counts;
    assert_eq!((c.lines_dropped, c.truncated, c.chunks_dropped), (1, 1, 2));
}

#[test]
fn a_group_that_never_ends_is_closed_when_its_stream_moves_on() {
    let mut q = Queue::new(4, Overflow::DropNewest);
    q.push(chunk("aaaa", 1, false));
    q.push(chunk("bbbb", 2, false)); // refused
    let mut out = VecDeque::new();
    q.take(usize::MAX, &mut out);
    hand_over(&mut q, 1, 4);
    q.push(whole(Source::Stdout, "new"));
    assert_eq!(drain(&mut q), [c("", 2, true), w("new")]);
}

#[test]
fn a_closing_chunk_in_front_is_passed_over_and_eviction_ends() {
    // The shape that once spun forever: the worker holds chunk 1 of a
    // long stdout line, its last chunk and three stderr lines fill the
    // buffer, and a fourth stderr line comes.
    let mut q = Queue::new(64, Overflow::DropOldest);
    q.push(chunk(&"a".repeat(16), 1, false));
    let mut held = VecDeque::new();
    q.take(16, &mut held);
    q.push(chunk("bb", 2, true));
    for line in ["c", "d", "e"] {
        q.push(whole(Source::Stderr, &line.repeat(15)));
    }
    q.push(whole(Source::Stderr, &"f".repeat(15)));
    // Chunk 2 becomes the closing chunk, and then "c" has to go too:
    // the closing chunk itself is never evicted.
    assert_eq!(
        drain(&mut q),
        [
            c("", 2, true),
            w(&"d".repeat(15)),
            w(&"e".repeat(15)),
            w(&"f".repeat(15))
        ]
    );
    let c = q.counts;
    assert_eq!((c.dropped, c.truncated, c.lines_dropped), (1, 1, 2));
}

#[test]
fn eviction_that_cannot_make_room_evicts_nothing() {
    let mut q = Queue::new(10, Overflow::DropOldest);
    q.push(chunk("aaaa", 1, false));
    let mut held = VecDeque::new();
    q.take(4, &mut held); // the worker holds 4 bytes
    q.push(chunk("bbbb", 2, true)); // evictable, but its closing chunk stays
    q.push(whole(Source::Stderr, "x"));
    // 4 held + 1 closing + 6 > 10: no eviction can make room.
    q.push(whole(Source::Stderr, "yyyyyy"));
    assert_eq!(drain(&mut q), [c("bbbb", 2, true), w("x")]);
    assert_eq!((q.counts.dropped, q.counts.truncated), (1, 0));
}

#[test]
fn a_batch_into_an_empty_buffer_keeps_to_the_limit() {
    let mut q = Queue::new(1024, Overflow::DropNewest);
    let mut batch: Batch = (0..50)
        .map(|i| whole(Source::Stdout, &format!("{i:0>1000}")))
        .collect();
    q.push_batch(&mut batch);
    assert_eq!((q.len(), q.counts.dropped), (1, 49));
    assert_eq!(q.queued, 1000);
}

/// The whole lines `msgs` as one run, as the Copier would cut them.
fn run_of(source: Source, msgs: impl IntoIterator<Item = Message>) -> LineRun {
    let mut data = Vec::new();
    for msg in msgs {
        assert!(msg.partial.is_none(), "a run holds whole lines");
        data.extend_from_slice(&msg.line);
        data.push(b'\n');
    }
    let run = LineRun::new(source, data);
    assert!(!run.is_empty());
    run
}

#[test]
fn a_run_that_fits_goes_in_as_one_entry_and_out_in_order() {
    let mut q = Queue::new(100, Overflow::DropNewest);
    q.push(whole(Source::Stderr, "before"));
    q.push_run(run_of(
        Source::Stdout,
        ["a", "", "ccc"].map(|s| whole(Source::Stdout, s)),
    ));
    q.push(whole(Source::Stderr, "after"));
    assert_eq!(q.entries.len(), 3);
    assert_eq!(
        (q.queued, q.counts.offered, q.unflushed()),
        (6 + 1 + 1 + 3 + 5, 5, 5)
    );
    assert_eq!(
        drain(&mut q),
        [w("before"), w("a"), w(""), w("ccc"), w("after")]
    );
}

#[test]
fn a_run_that_does_not_fit_goes_in_line_by_line() {
    let mut q = Queue::new(10, Overflow::DropNewest);
    q.push_run(run_of(
        Source::Stdout,
        ["12345", "67890", "x"].map(|s| whole(Source::Stdout, s)),
    ));
    assert_eq!((q.counts.offered, q.counts.dropped), (3, 1));
    assert_eq!(drain(&mut q), [w("12345"), w("67890")]);
}

#[test]
fn drop_oldest_evicts_lines_out_of_a_run() {
    let mut q = Queue::new(10, Overflow::DropOldest);
    q.push_run(run_of(
        Source::Stdout,
        ["111", "222", "333"].map(|s| whole(Source::Stdout, s)),
    ));
    q.push(whole(Source::Stderr, "4444"));
    assert_eq!((q.counts.dropped, q.counts.lines_dropped), (1, 1));
    assert_eq!(drain(&mut q), [w("222"), w("333"), w("4444")]);
}

#[test]
fn a_run_over_the_budget_is_split() {
    let mut q = Queue::new(1000, Overflow::DropNewest);
    q.push_run(run_of(
        Source::Stdout,
        ["aaaa", "bbbb", "cccc"].map(|s| whole(Source::Stdout, s)),
    ));
    let mut out = VecDeque::new();
    q.take(9, &mut out);
    assert_eq!(messages(&out).len(), 2);
    assert_eq!((q.held, q.queued, q.unflushed()), (8, 4, 3));
    assert_eq!(drain(&mut q), [w("cccc")]);
}

#[test]
fn close_giving_up_counts_a_queued_run_as_dropped() {
    let mut q = Queue::new(100, Overflow::DropNewest);
    q.push_run(run_of(
        Source::Stdout,
        ["a", "b"].map(|s| whole(Source::Stdout, s)),
    ));
    assert_eq!(q.settle(), 2);
    let c = q.counts;
    assert_eq!((c.dropped, c.lines_dropped, c.abandoned), (2, 2, 2));
    assert_eq!(q.bytes(), 0);
}

/// One step of the property test below.
#[derive(Debug, Clone)]
enum Step {
    /// The next message of a stream, through `push`.
    Push(Source),
    /// The next `n` messages of a stream, through `push_batch`.
    Batch(Source, usize),
    /// The next whole lines of a stream, up to `n`, as one run through
    /// `push_run` (nothing if the next message is a chunk).
    Run(Source, usize),
    /// The worker takes up to this many bytes.
    Take(usize),
    /// The worker hands its oldest taken batch to the driver.
    Hand,
}

/// A stream's messages: whole lines and chunk groups (which end with
/// a `last` chunk, possibly empty), as the Copier cuts them.
fn stream(source: Source, lines: &[Vec<usize>]) -> VecDeque<Message> {
    let mut out = VecDeque::new();
    for (n, sizes) in lines.iter().enumerate() {
        let id = format!("{source}-{n}");
        for (k, &size) in sizes.iter().enumerate() {
            let text = format!("{id}/{k}:").repeat(size + 1)[..size].to_owned();
            let mut msg = whole(source, &text);
            if sizes.len() > 1 {
                msg.partial = Some(PartialMeta {
                    id: id.clone(),
                    ordinal: k as u32 + 1,
                    last: k + 1 == sizes.len(),
                });
            }
            out.push_back(msg);
        }
    }
    out
}

fn lines() -> impl proptest::strategy::Strategy<Value = Vec<Vec<usize>>> {
    use proptest::prelude::*;
    let line = prop_oneof![
        (0usize..40).prop_map(|n| vec![n]),
        (prop::collection::vec(1usize..40, 1..5), 0usize..40).prop_map(|(mut chunks, last)| {
            chunks.push(last);
            chunks
        }),
    ];
    prop::collection::vec(line, 0..12)
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let source = prop_oneof![Just(Source::Stdout), Just(Source::Stderr)];
    prop_oneof![
        3 => source.clone().prop_map(Step::Push),
        1 => (source.clone(), 1usize..6).prop_map(|(s, n)| Step::Batch(s, n)),
        1 => (source, 1usize..6).prop_map(|(s, n)| Step::Run(s, n)),
        1 => (1usize..60).prop_map(Step::Take),
        2 => Just(Step::Hand),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(
        std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    /// Any messages, limits, policy and worker: the queue keeps its
    /// bound, ends every line it cuts, glues none, and accounts for
    /// every message exactly once.
    #[test]
    fn fuzz_the_queue_keeps_its_bound_its_lines_and_its_counts(
        out_lines in lines(),
        err_lines in lines(),
        steps in proptest::collection::vec(step(), 0..120),
        max in 1usize..120,
        oldest in proptest::bool::ANY,
    ) {
        use proptest::{prop_assert, prop_assert_eq};
        let overflow = if oldest { Overflow::DropOldest } else { Overflow::DropNewest };
        let mut q = Queue::new(max, overflow);
        let offered = [stream(Source::Stdout, &out_lines), stream(Source::Stderr, &err_lines)];
        let mut next = offered.clone();
        let mut held: VecDeque<Entry> = VecDeque::new();
        let mut got: Vec<Message> = Vec::new();
        let hand = |q: &mut Queue, entry: Entry, got: &mut Vec<Message>| {
            hand_over(q, entry.len(), entry.cost());
            got.extend(messages([&entry]));
        };
        for step in &steps {
            match step {
                Step::Push(s) => {
                    if let Some(msg) = next[*s as usize].pop_front() {
                        q.push(msg);
                    }
                }
                Step::Batch(s, k) => {
                    let from = &mut next[*s as usize];
                    let mut batch: Batch = from.drain(..(*k).min(from.len())).collect();
                    q.push_batch(&mut batch);
                    prop_assert!(batch.is_empty());
                }
                Step::Run(s, k) => {
                    let from = &mut next[*s as usize];
                    let n = from.iter().take(*k).take_while(|m| m.partial.is_none()).count();
                    if n > 0 {
                        let run = run_of(*s, from.drain(..n));
                        q.push_run(run);
                    }
                }
                Step::Take(budget) => q.take(*budget, &mut held),
                Step::Hand => {
                    if let Some(batch) = held.pop_front() {
                        hand(&mut q, batch, &mut got);
                    }
                }
            }
            // The bound: the limit, or one message alone over it, and
            // a closing chunk per stream.
            let queued = messages(q.entries.iter().chain(&held));
            let largest = queued.iter().map(cost).max().unwrap_or(0);
            prop_assert!(q.queued + q.held <= max.max(largest) + 2,
                "{} queued + {} held over {max} (largest {largest})", q.queued, q.held);
            let msgs: usize = q.entries.iter().chain(&held).map(Entry::len).sum();
            prop_assert_eq!(msgs, queued.len());
            prop_assert_eq!(q.queued + q.held, queued.iter().map(cost).sum::<usize>());
            prop_assert_eq!(q.unflushed() as usize, msgs);
        }
        // The rest of both streams, then close and drain.
        for s in [Source::Stdout, Source::Stderr] {
            while let Some(msg) = next[s as usize].pop_front() {
                q.push(msg);
            }
        }
        q.close_pending_lines();
        while let Some(batch) = held.pop_front() {
            hand(&mut q, batch, &mut got);
        }
        q.take(usize::MAX, &mut held);
        while let Some(batch) = held.pop_front() {
            hand(&mut q, batch, &mut got);
        }
        prop_assert!(q.is_empty());
        prop_assert_eq!((q.queued, q.held), (0, 0));
        let c = q.counts;
        let total = (offered[0].len() + offered[1].len()) as u64;
        prop_assert_eq!(c.offered, total);
        prop_assert_eq!(c.delivered, got.len() as u64);
        prop_assert_eq!(c.delivered + c.dropped, total, "{:?}", c);
        // Per stream: what arrived is what was offered, in order, with
        // each line whole, or its first chunks and then a closing chunk
        // at the next ordinal; nothing else between them.
        let mut cut = 0;
        for s in [Source::Stdout, Source::Stderr] {
            let mine: Vec<&Message> = got.iter().filter(|m| m.source == s).collect();
            let sent = &offered[s as usize];
            let mut at = 0; // in `sent`
            let mut i = 0;
            while i < mine.len() {
                let m = mine[i];
                // Find it among what was sent, from `at` on.
                let Some(p) = &m.partial else {
                    let k = (at..sent.len()).find(|&k| sent[k].partial.is_none() && sent[k].line == m.line);
                    prop_assert!(k.is_some(), "a whole line that was not sent");
                    at = k.unwrap() + 1;
                    i += 1;
                    continue;
                };
                prop_assert_eq!(p.ordinal, 1, "a line delivered without its start");
                let first = (at..sent.len()).find(|&k| sent[k].partial.as_ref().is_some_and(|q| q.id == p.id));
                prop_assert!(first.is_some());
                let first = first.unwrap();
                let mut ordinal = 1;
                loop {
                    let m = mine[i];
                    let q = m.partial.as_ref();
                    prop_assert!(q.is_some_and(|q| q.id == p.id && q.ordinal == ordinal),
                        "a line with a hole, or glued to the next: {:?}", q);
                    let q = q.unwrap();
                    let orig = &sent[first + ordinal as usize - 1];
                    let last = q.last;
                    if m.line != orig.line || last != orig.partial.as_ref().unwrap().last {
                        prop_assert!(m.line.is_empty() && last, "a chunk changed but not cut");
                        cut += 1;
                    }
                    i += 1;
                    ordinal += 1;
                    if last {
                        break;
                    }
                    prop_assert!(i < mine.len(), "a line left open");
                }
                at = first + 1;
            }
        }
        prop_assert_eq!(c.truncated, cut);
    }
}

impl Queue {
    /// Messages queued.
    fn len(&self) -> usize {
        self.entries.iter().map(Entry::len).sum()
    }
}
