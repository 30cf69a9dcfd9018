//! [`RateLimited`]: a container's lines held to a rate before any driver
//! sees them.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::logger::{Logger, LoggerStats};
use crate::message::{Message, Source};
use crate::read::LogReader;

/// The rates a [`RateLimited`] holds a container to: lines per second,
/// bytes per second, or both, each a token bucket that holds `burst`
/// worth of its rate.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use logdriver::RateLimit;
///
/// let limit = RateLimit::new()
///     .lines_per_second(1_000)
///     .bytes_per_second(1 << 20)
///     .burst(Duration::from_secs(2));
/// assert_eq!(limit.lines(), Some(1_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    lines: Option<u64>,
    bytes: Option<u64>,
    burst: Duration,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit::new()
    }
}

impl RateLimit {
    /// The burst when none is set: one second's worth.
    pub const DEFAULT_BURST: Duration = Duration::from_secs(1);

    /// No limit yet, and a burst of [`DEFAULT_BURST`](Self::DEFAULT_BURST).
    pub fn new() -> RateLimit {
        RateLimit {
            lines: None,
            bytes: None,
            burst: Self::DEFAULT_BURST,
        }
    }

    /// At most `n` lines a second (a long line's chunks are one line).
    pub fn lines_per_second(mut self, n: u64) -> RateLimit {
        self.lines = Some(n.max(1));
        self
    }

    /// At most `n` bytes of lines a second.
    pub fn bytes_per_second(mut self, n: u64) -> RateLimit {
        self.bytes = Some(n.max(1));
        self
    }

    /// How much a bucket holds, as time at its rate: a container quiet for
    /// that long may then write that much at once. At least 1 ms.
    pub fn burst(mut self, burst: Duration) -> RateLimit {
        self.burst = burst.max(Duration::from_millis(1));
        self
    }

    /// The lines a second, if limited.
    pub fn lines(&self) -> Option<u64> {
        self.lines
    }

    /// The bytes a second, if limited.
    pub fn bytes(&self) -> Option<u64> {
        self.bytes
    }

    /// The burst.
    pub fn burst_time(&self) -> Duration {
        self.burst
    }
}

/// A token bucket: `rate` tokens a second, at most `cap`. A line passes
/// when the bucket holds its cost; one bigger than the bucket passes when
/// the bucket is full, and a long line's later chunks pass whatever the
/// bucket holds: both take it below zero, a debt paid back in time.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    rate: f64,
    cap: f64,
    tokens: f64,
}

impl Bucket {
    fn new(rate: u64, burst: Duration) -> Bucket {
        let cap = (rate as f64 * burst.as_secs_f64()).max(1.0);
        Bucket {
            rate: rate as f64,
            cap,
            tokens: cap,
        }
    }

    fn refill(&mut self, secs: f64) {
        self.tokens = (self.tokens + self.rate * secs).min(self.cap);
    }
}

/// The buckets, the groups in flight, and what was suppressed.
#[derive(Debug)]
struct State {
    lines: Option<Bucket>,
    bytes: Option<Bucket>,
    refilled: Instant,
    /// Whether each stream's open partial group passes; `None` when no
    /// group is open.
    groups: [Option<bool>; 2],
    /// Suppressed since the last notice: lines, bytes, since when.
    pending: (u64, u64, Option<Instant>),
    last_notice: Option<Instant>,
    suppressed: u64,
    suppressed_bytes: u64,
}

impl State {
    /// Whether `msg` passes, its tokens taken if so, or its counts added
    /// to what is suppressed if not. A long line's chunks go as its first
    /// one does.
    fn admit(&mut self, msg: &Message, now: Instant) -> bool {
        let secs = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        for bucket in [&mut self.lines, &mut self.bytes].into_iter().flatten() {
            bucket.refill(secs);
        }
        let stream = msg.source as usize;
        let (first, pass) = match self.groups[stream] {
            Some(pass) if msg.partial.is_some() => (false, pass),
            _ => {
                // Enough tokens for the line, or a full bucket for a line
                // bigger than the bucket.
                let has =
                    |b: &Option<Bucket>, cost: f64| b.is_none_or(|b| b.tokens >= cost.min(b.cap));
                let len = msg.line.len() as f64;
                (true, has(&self.lines, 1.0) && has(&self.bytes, len))
            }
        };
        self.groups[stream] = match &msg.partial {
            Some(p) if !p.last => Some(pass),
            _ => None,
        };
        let len = msg.line.len() as u64;
        if pass {
            if let (true, Some(b)) = (first, &mut self.lines) {
                b.tokens -= 1.0;
            }
            if let Some(b) = &mut self.bytes {
                b.tokens -= len as f64;
            }
        } else {
            let lines = u64::from(first);
            self.pending.0 += lines;
            self.pending.1 += len;
            self.pending.2.get_or_insert(now);
            self.suppressed += lines;
            self.suppressed_bytes += len;
        }
        pass
    }

    /// The notice of what was suppressed, when one is due: something was,
    /// the last notice is [`RateLimited::NOTICE_INTERVAL`] old, and no stderr group is
    /// passing (a notice in its middle would cut it). `force` at close.
    fn notice(&mut self, now: Instant, force: bool) -> Option<Message> {
        let (lines, bytes, since) = self.pending;
        let since = since?;
        let due = self
            .last_notice
            .is_none_or(|at| now.saturating_duration_since(at) >= RateLimited::NOTICE_INTERVAL);
        if !(force || due) || self.groups[Source::Stderr as usize] == Some(true) {
            return None;
        }
        self.pending = (0, 0, None);
        self.last_notice = Some(now);
        let secs = now.saturating_duration_since(since).as_secs_f64();
        let text = format!(
            "{}suppressed {lines} lines, {bytes} bytes in {secs:.1} s",
            RateLimited::NOTICE_PREFIX
        );
        Some(Message {
            line: text.into(),
            source: Source::Stderr,
            timestamp: SystemTime::now(),
            partial: None,
        })
    }
}

/// A driver behind a rate limit: lines over it never reach the driver,
/// and never wait.
///
/// The limit is a token bucket of lines a second and one of bytes a
/// second (see [`RateLimit`]), checked as each line comes, before the
/// driver and before any non-blocking buffer, so a noisy container's
/// excess costs neither its driver nor its neighbours anything. A line
/// passes when every bucket holds its cost (one line; its bytes); a long
/// line's chunks go as its first chunk went, so no line is cut.
///
/// What is held back is counted ([`LoggerStats::suppressed`] in lines and
/// [`LoggerStats::suppressed_bytes`]), and said in the log itself: once
/// lines were suppressed, the next line that passes (at most once each
/// [`NOTICE_INTERVAL`](Self::NOTICE_INTERVAL)), or `close`, is followed by a line on stderr such
/// as `logdriver rate-limit: suppressed 9000 lines, 918000 bytes in 1.0 s`,
/// beginning with [`NOTICE_PREFIX`](Self::NOTICE_PREFIX). `log` returns `Ok(())` for a
/// suppressed line: a limit is a policy, not a failure.
///
/// Through the [`Registry`](crate::Registry), any driver takes the
/// options `rate-limit-lines`, `rate-limit-bytes` and `rate-limit-burst`
/// ([`options::RATE_LIMIT_LINES`](crate::options::RATE_LIMIT_LINES) and its
/// neighbours).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use logdriver::{Logger, Message, RateLimit, RateLimited, Result, Source};
///
/// // A driver that keeps every line.
/// #[derive(Default)]
/// struct Keep(Mutex<Vec<String>>);
/// impl Logger for Keep {
///     fn log(&self, msg: Message) -> Result<()> {
///         self.0.lock().unwrap().push(String::from_utf8_lossy(&msg.line).into());
///         Ok(())
///     }
///     fn name(&self) -> &str { "keep" }
///     fn close(&self) -> Result<()> { Ok(()) }
/// }
///
/// let kept = Arc::new(Keep::default());
/// let limited = RateLimited::new(kept.clone(), RateLimit::new().lines_per_second(2));
/// for i in 0..5 {
///     limited.log(Message::new(Source::Stdout, format!("line {i}")))?;
/// }
/// limited.close()?;
/// let lines = kept.0.lock().unwrap();
/// assert_eq!(lines[..2], ["line 0", "line 1"]);
/// assert!(lines[2].starts_with("logdriver rate-limit: suppressed 3 lines, 18 bytes in "));
/// assert_eq!(lines.len(), 3);
/// assert_eq!(limited.stats().suppressed, 3);
/// # Ok::<(), logdriver::Error>(())
/// ```
pub struct RateLimited {
    inner: Arc<dyn Logger>,
    limit: RateLimit,
    state: Mutex<State>,
}

impl fmt::Debug for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("driver", &self.inner.name())
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl RateLimited {
    /// How the notices that say what was suppressed begin: a program
    /// reading the log tells them from the container's own lines by it
    /// (and by their stream, stderr). A container could print the same
    /// bytes; the exact counts are in [`LoggerStats::suppressed`], which it
    /// cannot forge.
    pub const NOTICE_PREFIX: &'static str = "logdriver rate-limit: ";

    /// The shortest time between two notices.
    pub const NOTICE_INTERVAL: Duration = Duration::from_secs(1);

    /// `inner` behind `limit`, its buckets full.
    pub fn new(inner: Arc<dyn Logger>, limit: RateLimit) -> RateLimited {
        let state = State {
            lines: limit.lines.map(|n| Bucket::new(n, limit.burst)),
            bytes: limit.bytes.map(|n| Bucket::new(n, limit.burst)),
            refilled: Instant::now(),
            groups: [None; 2],
            pending: (0, 0, None),
            last_notice: None,
            suppressed: 0,
            suppressed_bytes: 0,
        };
        RateLimited {
            inner,
            limit,
            state: Mutex::new(state),
        }
    }

    /// The limit.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// The driver behind the limit.
    pub fn inner(&self) -> &Arc<dyn Logger> {
        &self.inner
    }
}

impl Logger for RateLimited {
    /// Passes `msg` to the driver if the limit allows, and then a notice
    /// if one is due.
    ///
    /// # Errors
    ///
    /// The driver's, for a line that passed; never one for a suppressed
    /// line, nor for a notice.
    fn log(&self, msg: Message) -> Result<()> {
        let now = Instant::now();
        let (pass, notice) = {
            let mut state = self.state.lock();
            let pass = state.admit(&msg, now);
            (pass, if pass { state.notice(now, false) } else { None })
        };
        let result = if pass { self.inner.log(msg) } else { Ok(()) };
        if let Some(notice) = notice {
            let _ = self.inner.log(notice);
        }
        result
    }

    /// Keeps what the limit allows of one read, with the notice due after
    /// it, and hands that to the driver as one batch.
    fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
        let now = Instant::now();
        {
            let mut state = self.state.lock();
            batch.retain(|msg| state.admit(msg, now));
            if !batch.is_empty() {
                if let Some(notice) = state.notice(now, false) {
                    batch.push_back(notice);
                }
            }
        }
        if !batch.is_empty() {
            self.inner.log_batch(batch, failed);
        }
    }

    fn prefers_batches(&self) -> bool {
        self.inner.prefers_batches()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    /// Logs the notice of what is still unsaid, then closes the driver.
    fn close(&self) -> Result<()> {
        let notice = self.state.lock().notice(Instant::now(), true);
        if let Some(notice) = notice {
            let _ = self.inner.log(notice);
        }
        self.inner.close()
    }

    /// The driver's counts (notices among its lines), with what the limit
    /// suppressed.
    fn stats(&self) -> LoggerStats {
        let mut stats = self.inner.stats();
        let state = self.state.lock();
        stats.suppressed += state.suppressed;
        stats.suppressed_bytes += state.suppressed_bytes;
        stats
    }

    fn reader(&self) -> Option<&dyn LogReader> {
        self.inner.reader()
    }

    fn branch_stats(&self) -> Vec<(String, String, LoggerStats)> {
        self.inner.branch_stats()
    }

    fn reopen_log(&self) -> Option<Result<()>> {
        self.inner.reopen_log()
    }

    fn buf_size(&self) -> Option<usize> {
        self.inner.buf_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::PartialMeta;
    use crate::testing::Collect;

    fn line(source: Source, len: usize) -> Message {
        Message::new(source, vec![b'x'; len])
    }

    fn chunk(source: Source, len: usize, ordinal: u32, last: bool) -> Message {
        let mut msg = line(source, len);
        msg.partial = Some(PartialMeta {
            id: "a".repeat(64),
            ordinal,
            last,
        });
        msg
    }

    fn state(limit: RateLimit) -> (State, Instant) {
        let limited = RateLimited::new(Arc::new(Collect::default()), limit);
        let state = limited.state.into_inner();
        let start = state.refilled;
        (state, start)
    }

    /// `n` lines of `len` bytes, evenly over `secs` seconds from `start`;
    /// how many passed.
    fn feed(state: &mut State, start: Instant, n: u32, secs: f64, len: usize) -> u64 {
        (0..n)
            .filter(|&i| {
                let at = start + Duration::from_secs_f64(secs * f64::from(i) / f64::from(n));
                state.admit(&line(Source::Stdout, len), at)
            })
            .count() as u64
    }

    #[test]
    fn lines_are_held_to_their_rate_and_every_suppressed_one_is_counted() {
        let (mut state, start) = state(RateLimit::new().lines_per_second(100));
        // 1,000 lines a second for 10 s: the rate's 1,000, and the full
        // bucket's 100 at the start.
        let passed = feed(&mut state, start, 10_000, 10.0, 50);
        assert!((1_099..=1_100).contains(&passed), "{passed}");
        assert_eq!(state.suppressed, 10_000 - passed);
        assert_eq!(state.suppressed_bytes, 50 * (10_000 - passed));
    }

    #[test]
    fn bytes_are_held_to_their_rate() {
        let (mut state, start) = state(
            RateLimit::new()
                .bytes_per_second(1_000)
                .burst(Duration::from_millis(100)),
        );
        // 100-byte lines, 100 a second for 10 s: 10,000 bytes' worth, plus
        // the bucket's 100, pass.
        let passed = feed(&mut state, start, 1_000, 10.0, 100);
        assert!((100..=102).contains(&passed), "{passed}");
        assert_eq!(state.suppressed_bytes, 100 * (1_000 - passed));
    }

    #[test]
    fn a_quiet_container_is_never_suppressed() {
        let (mut state, start) = state(RateLimit::new().lines_per_second(100));
        assert_eq!(feed(&mut state, start, 500, 10.0, 20), 500);
        assert_eq!(state.suppressed, 0);
        assert!(state
            .notice(start + Duration::from_secs(11), true)
            .is_none());
    }

    #[test]
    fn a_long_line_passes_or_is_suppressed_whole() {
        let (mut state, start) = state(
            RateLimit::new()
                .lines_per_second(1)
                .burst(Duration::from_secs(2)),
        );
        let at = start;
        // Two tokens: a whole line, then a group that takes the second
        // and passes whole though the bucket is empty after its first chunk.
        assert!(state.admit(&line(Source::Stdout, 10), at));
        assert!(state.admit(&chunk(Source::Stdout, 16, 1, false), at));
        assert!(!state.admit(&line(Source::Stderr, 10), at));
        assert!(state.admit(&chunk(Source::Stdout, 16, 2, false), at));
        assert!(state.admit(&chunk(Source::Stdout, 4, 3, true), at));
        // No token: the next group is suppressed whole, as one line.
        for (i, msg) in [
            chunk(Source::Stdout, 16, 1, false),
            chunk(Source::Stdout, 16, 2, false),
            chunk(Source::Stdout, 5, 3, true),
        ]
        .iter()
        .enumerate()
        {
            assert!(!state.admit(msg, at), "chunk {i}");
        }
        assert_eq!((state.suppressed, state.suppressed_bytes), (2, 10 + 37));
    }

    #[test]
    fn one_notice_a_second_says_what_was_suppressed_since_the_last() {
        let (mut state, start) = state(RateLimit::new().lines_per_second(10));
        let mut said = (0, 0);
        let mut notices = 0;
        for i in 0..3_000u32 {
            let at = start + Duration::from_millis(u64::from(i));
            if state.admit(&line(Source::Stdout, 7), at) {
                if let Some(notice) = state.notice(at, false) {
                    notices += 1;
                    let text = String::from_utf8(notice.line.to_vec()).unwrap();
                    assert_eq!(notice.source, Source::Stderr);
                    let rest = text.strip_prefix(RateLimited::NOTICE_PREFIX).unwrap();
                    let words: Vec<&str> = rest.split(' ').collect();
                    assert_eq!(
                        (words[0], words[2], words[4], words[7]),
                        ("suppressed", "lines,", "bytes", "s"),
                        "{text}"
                    );
                    said.0 += words[1].parse::<u64>().unwrap();
                    said.1 += words[3].parse::<u64>().unwrap();
                }
            }
        }
        if let Some(last) = state.notice(start + Duration::from_secs(3), true) {
            notices += 1;
            let text = String::from_utf8(last.line.to_vec()).unwrap();
            let words: Vec<&str> = text.split(' ').collect();
            said.0 += words[3].parse::<u64>().unwrap();
            said.1 += words[5].parse::<u64>().unwrap();
        }
        // 3 s: at most one notice a second, and the one at close.
        assert!((3..=4).contains(&notices), "{notices}");
        assert_eq!(said, (state.suppressed, state.suppressed_bytes));
    }

    #[test]
    fn no_notice_cuts_a_passing_stderr_group() {
        let (mut state, start) = state(RateLimit::new().lines_per_second(1));
        let at = start + Duration::from_secs(5);
        assert!(state.admit(&line(Source::Stdout, 1), start));
        assert!(!state.admit(&line(Source::Stdout, 1), start));
        assert!(state.admit(&chunk(Source::Stderr, 16, 1, false), at));
        assert!(state.notice(at, false).is_none());
        assert!(state.admit(&chunk(Source::Stderr, 3, 2, true), at));
        assert!(state.notice(at, false).is_some());
    }

    #[test]
    fn through_the_registry_the_driver_sees_what_passed_and_the_notice() {
        let path = std::env::temp_dir().join(format!("rate-limit-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let info = crate::Info::new("noisy")
            .with_log_path(&path)
            .with_option("rate-limit-lines", "3");
        let logger = crate::registry().create("json-file", &info).unwrap();
        let mut batch: VecDeque<Message> = (0..10)
            .map(|i| Message::new(Source::Stdout, format!("l{i}")))
            .collect();
        logger.log_batch(&mut batch, &mut |e| panic!("{e}"));
        logger.log(Message::new(Source::Stdout, "late")).unwrap();
        logger.close().unwrap();
        let stats = logger.stats();
        assert_eq!((stats.suppressed, stats.suppressed_bytes), (8, 7 * 2 + 4));
        // Three lines; the notice after the read that passed them, of the
        // seven it did not; and the one at close, of `late`.
        assert_eq!(stats.lines, 5);
        let text = std::fs::read_to_string(&path).unwrap();
        let logs: Vec<&str> = text.lines().map(|l| l.split('"').nth(3).unwrap()).collect();
        assert_eq!(logs[..3], ["l0\\n", "l1\\n", "l2\\n"]);
        assert!(
            logs[3].starts_with("logdriver rate-limit: suppressed 7 lines, 14 bytes in "),
            "{}",
            logs[3]
        );
        assert!(
            logs[4].starts_with("logdriver rate-limit: suppressed 1 lines, 4 bytes in "),
            "{}",
            logs[4]
        );
        assert_eq!(logs.len(), 5);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_registry_rejects_bad_limits_naming_the_driver() {
        let opts =
            |k: &str, v: &str| std::collections::HashMap::from([(k.to_owned(), v.to_owned())]);
        let e = crate::registry()
            .validate("json-file", &opts("rate-limit-lines", "none"))
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidOption { driver, key, value, .. } if driver == "json-file" && key == "rate-limit-lines" && value == "none"),
            "{e:?}"
        );
        // A driver's own validator never sees them.
        crate::registry()
            .validate("json-file", &opts("rate-limit-bytes", "1m"))
            .unwrap();
    }
}
