//! [`Backoff`]: when to try a peer again after it failed.

use std::time::{Duration, Instant};

/// Waits that grow by half after each failure, up to a cap, and start again
/// from the first once the peer answers.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    /// The wait after the next failure.
    wait: Duration,
    /// No attempt before this.
    next: Instant,
}

impl Backoff {
    /// Starts with `first`, never more than `max`; the first attempt may
    /// come at once.
    pub(crate) fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            wait: first.min(max),
            next: Instant::now(),
        }
    }

    /// How long until the next attempt may be made: zero when it may now.
    pub(crate) fn remaining(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// An attempt failed: the next waits, and the one after waits longer.
    pub(crate) fn failed(&mut self) {
        self.next = Instant::now() + self.wait;
        self.wait = self.wait.mul_f64(1.5).min(self.max);
    }

    /// No attempt before `at`, as a peer asked (HTTP's `Retry-After`).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn not_before(&mut self, at: Instant) {
        self.next = self.next.max(at);
    }

    /// The peer answered: the next failure waits the first wait again.
    pub(crate) fn reset(&mut self) {
        self.wait = self.first.min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_by_half_to_the_cap_and_start_again_after_a_success() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(1000), ms(2000));
        assert_eq!(b.remaining(), Duration::ZERO);
        let mut waits = Vec::new();
        for _ in 0..4 {
            waits.push(b.wait);
            b.failed();
        }
        assert_eq!(waits, [ms(1000), ms(1500), ms(2000), ms(2000)]);
        assert!(b.remaining() > ms(1900));
        b.reset();
        assert_eq!(b.wait, ms(1000));
    }
}
