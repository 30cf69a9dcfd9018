//! [`Permits`]: the bound on publishes in flight, that any thread can wait
//! on, inside a tokio runtime or not.
//!
//! tokio's semaphore needs a runtime to wait with a timeout, and
//! `Handle::block_on` panics on a runtime's own threads: `log` is called
//! from the caller's threads, which may be anybody's runtime. A permit is
//! given back from the driver's runtime when its publish settles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// A counting semaphore whose permits return themselves when dropped.
#[derive(Debug)]
pub(super) struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

/// One publish's room; dropping it gives the room back.
#[derive(Debug)]
pub(super) struct Permit(Arc<Permits>);

impl Permits {
    pub(super) fn new(n: usize) -> Arc<Permits> {
        Arc::new(Permits {
            free: Mutex::new(n),
            freed: Condvar::new(),
        })
    }

    /// A permit, waiting at most `timeout` for one.
    pub(super) fn acquire(self: &Arc<Self>, timeout: Duration) -> Option<Permit> {
        let deadline = Instant::now() + timeout;
        let mut free = self.free.lock();
        while *free == 0 {
            if self.freed.wait_until(&mut free, deadline).timed_out() && *free == 0 {
                return None;
            }
        }
        *free -= 1;
        Some(Permit(Arc::clone(self)))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permit_waits_for_one_given_back_and_times_out_without() {
        let permits = Permits::new(1);
        let held = permits.acquire(Duration::ZERO).unwrap();
        assert!(permits.acquire(Duration::from_millis(20)).is_none());
        let waiter = {
            let permits = Arc::clone(&permits);
            std::thread::spawn(move || permits.acquire(Duration::from_secs(30)).is_some())
        };
        drop(held);
        assert!(waiter.join().unwrap());
        assert_eq!(*permits.free.lock(), 1);
    }
}
