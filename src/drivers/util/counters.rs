//! [`Counters`]: what a driver counts, read as [`LoggerStats`].

use std::sync::atomic::{AtomicU64, Ordering};

use crate::logger::LoggerStats;

/// A driver's counts, shared by `log`, its worker and `close`, each bumped
/// with one relaxed add: they are read as totals, never to order events.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    lines: AtomicU64,
    bytes: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
    truncated: AtomicU64,
    resent: AtomicU64,
    dropped_full: AtomicU64,
    dropped_rejected: AtomicU64,
}

impl Counters {
    /// `lines` lines of `bytes` bytes went out.
    pub(crate) fn sent(&self, lines: u64, bytes: u64) {
        self.lines.fetch_add(lines, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `lines` lines were dropped.
    pub(crate) fn dropped(&self, lines: u64) {
        self.dropped.fetch_add(lines, Ordering::Relaxed);
    }

    /// `lines` lines were dropped because a full queue had no room.
    pub(crate) fn dropped_full(&self, lines: u64) {
        self.dropped(lines);
        self.dropped_full.fetch_add(lines, Ordering::Relaxed);
    }

    /// `lines` lines were dropped because the peer refused them.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn rejected(&self, lines: u64) {
        self.dropped(lines);
        self.dropped_rejected.fetch_add(lines, Ordering::Relaxed);
    }

    /// `lines` lines failed in another way than a drop.
    pub(crate) fn failed(&self, lines: u64) {
        self.errors.fetch_add(lines, Ordering::Relaxed);
    }

    /// `lines` lines went out cut short.
    pub(crate) fn truncated(&self, lines: u64) {
        self.truncated.fetch_add(lines, Ordering::Relaxed);
    }

    /// `frames` frames were sent again.
    pub(crate) fn resent(&self, frames: u64) {
        self.resent.fetch_add(frames, Ordering::Relaxed);
    }

    /// The lines dropped so far: `close` reports those it adds.
    pub(crate) fn dropped_so_far(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The counts, as [`Logger::stats`](crate::Logger::stats) gives them.
    pub(crate) fn stats(&self) -> LoggerStats {
        LoggerStats {
            lines: self.lines.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            truncated: self.truncated.load(Ordering::Relaxed),
            resent: self.resent.load(Ordering::Relaxed),
            dropped_full: self.dropped_full.load(Ordering::Relaxed),
            dropped_rejected: self.dropped_rejected.load(Ordering::Relaxed),
            ..LoggerStats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_count_lands_in_its_own_field() {
        let c = Counters::default();
        c.sent(2, 10);
        c.sent(1, 5);
        c.dropped(3);
        c.failed(4);
        c.resent(6);
        c.truncated(7);
        assert_eq!(
            c.stats(),
            LoggerStats {
                lines: 3,
                bytes: 15,
                dropped: 3,
                errors: 4,
                truncated: 7,
                resent: 6,
                ..LoggerStats::default()
            }
        );
        assert_eq!(c.dropped_so_far(), 3);
    }
}
