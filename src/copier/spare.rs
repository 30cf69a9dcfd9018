//! [`SpareBuffers`]: read buffers that ended streams left, for the next
//! streams to read into.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

/// The most buffers kept: as many as one stream keeps while its driver is
/// behind (a few MiB at the default chunk size).
const MAX_SPARE: usize = 64;

/// How many of the oldest buffers [`SpareBuffers::take`] looks at: if
/// those are still held, the newer ones most likely are too, and each
/// look is a cache miss.
const LOOK_AT: usize = 8;

/// Buffers of streams that ended, oldest first, some perhaps still held
/// by a driver that has not let go of their lines yet.
///
/// A new buffer costs a zeroing and, once the allocator has given the
/// memory back to the system, a page fault per 4 KiB: a runtime that runs
/// short-lived containers one after another, into a driver that keeps
/// lines for a while (`NonBlocking`), would pay that for every read its
/// worker lags behind, in every container. Buffers kept here are reused
/// as they are, initialized.
pub(super) struct SpareBuffers {
    buffers: Mutex<VecDeque<Bytes>>,
}

/// The buffers every stream of the process shares.
pub(super) static SPARE: SpareBuffers = SpareBuffers::new();

impl SpareBuffers {
    pub(super) const fn new() -> SpareBuffers {
        SpareBuffers {
            buffers: Mutex::new(VecDeque::new()),
        }
    }

    /// Keeps `buffers` for a later stream; the oldest go once more than
    /// [`MAX_SPARE`] are kept.
    pub(super) fn keep(&self, buffers: impl IntoIterator<Item = Bytes>) {
        let mut kept = self.buffers.lock();
        kept.extend(buffers);
        let over = kept.len().saturating_sub(MAX_SPARE);
        kept.drain(..over);
    }

    /// A buffer of `size` bytes that no driver holds any more, if one of
    /// the [`LOOK_AT`] oldest kept is.
    pub(super) fn take(&self, size: usize) -> Option<BytesMut> {
        let mut kept = self.buffers.lock();
        for at in 0..kept.len().min(LOOK_AT) {
            if kept[at].len() != size || !kept[at].is_unique() {
                continue;
            }
            let buffer = kept.remove(at).expect("an index below the length");
            return buffer.try_into_mut().ok();
        }
        None
    }

    /// How many buffers are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.buffers.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(size: usize) -> Bytes {
        BytesMut::zeroed(size).freeze()
    }

    #[test]
    fn a_buffer_still_held_is_passed_over_until_let_go_of() {
        let spare = SpareBuffers::new();
        let held = buffer(8);
        let line = held.slice(0..2);
        spare.keep([held, buffer(4), buffer(8)]);
        // The held one and the one of another size are passed over.
        assert!(spare.take(8).is_some());
        assert_eq!(spare.len(), 2);
        assert!(spare.take(8).is_none());
        drop(line);
        let reused = spare.take(8).expect("let go of");
        assert_eq!(reused.len(), 8);
        assert_eq!(spare.len(), 1);
        assert_eq!(spare.take(4).map(|b| b.len()), Some(4));
    }

    #[test]
    fn the_oldest_go_beyond_the_bound() {
        let spare = SpareBuffers::new();
        spare.keep((0..MAX_SPARE + 3).map(|i| buffer(i + 1)));
        assert_eq!(spare.len(), MAX_SPARE);
        assert!(spare.take(1).is_none());
        assert!(spare.take(3).is_none());
        assert!(spare.take(4).is_some());
    }
}
