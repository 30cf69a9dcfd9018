//! [`Delivery`]: where one source's messages go once cut: counted, batched
//! for a driver that prefers batches, and handed to the driver through the
//! crate's one delivery function, which survives its errors and panics.
//! The Copier's threads and [`LineWriter`](super::LineWriter) share it.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{CopyStats, ErrorHook, MAX_BATCH};
use crate::error::Error;
use crate::line_run::LineRun;
use crate::logger::{self, Logger};
use crate::message::{Message, Source};

/// One source's way to its driver, and its counts.
pub(super) struct Delivery {
    pub(super) source: Source,
    pub(super) dst: Arc<dyn Logger>,
    on_error: Option<Arc<ErrorHook>>,
    pub(super) stats: CopyStats,
    /// The messages cut so far, for a driver that prefers batches; `None`
    /// for one that takes lines one by one.
    batch: Option<VecDeque<Message>>,
    /// Whether the driver takes the short whole lines of a read as one
    /// [`LineRun`].
    pub(super) runs: bool,
}

impl Delivery {
    pub(super) fn new(
        source: Source,
        dst: Arc<dyn Logger>,
        on_error: Option<Arc<ErrorHook>>,
    ) -> Delivery {
        Delivery {
            source,
            batch: dst.prefers_batches().then(VecDeque::new),
            runs: dst.prefers_runs(),
            dst,
            on_error,
            stats: CopyStats::default(),
        }
    }

    /// Counts one message, and sends it or adds it to the batch. A panic in
    /// `log` unwinds to the caller, whose guard covers a whole read.
    #[inline]
    pub(super) fn send(&mut self, msg: Message) {
        self.count(&msg);
        if let Some(batch) = &mut self.batch {
            batch.push_back(msg);
            if batch.len() >= MAX_BATCH {
                self.deliver();
            }
        } else if let Err(err) = self.dst.log(msg) {
            self.failed(err);
        }
    }

    /// As [`send`](Delivery::send), with a panic in `log` caught and
    /// counted here, for a caller that cannot resume a cut.
    #[inline]
    pub(super) fn send_guarded(&mut self, msg: Message) {
        if self.batch.is_some() {
            return self.send(msg);
        }
        self.count(&msg);
        let dst = &self.dst;
        if let Err(err) = Error::guard(dst.name(), || dst.log(msg)) {
            self.failed(err);
        }
    }

    fn count(&mut self, msg: &Message) {
        self.stats.lines += 1;
        self.stats.complete_lines += u64::from(msg.ends_line());
        self.stats.partials += u64::from(msg.partial.is_some());
    }

    /// Counts the lines of `run` and hands it to the driver, after the
    /// batch so far. A panic in `log_run` is caught here: which lines the
    /// driver took is not known, so each line it did not report counts
    /// as failed, the panic as one of them.
    pub(super) fn send_run(&mut self, run: LineRun) {
        self.deliver();
        let n = run.len() as u64;
        self.stats.lines += n;
        self.stats.complete_lines += n;
        let (stats, hook, source) = (&mut self.stats, &self.on_error, self.source);
        let mut reported = 0;
        let dst = &self.dst;
        let sent = Error::guard(dst.name(), || {
            dst.log_run(run, &mut |err| {
                reported += 1;
                count_failure(stats, hook.as_deref(), source, err);
            });
            Ok(())
        });
        if let Err(panic) = sent {
            count_failure(stats, hook.as_deref(), source, panic);
            stats.log_errors += n.saturating_sub(reported + 1);
        }
    }

    /// Hands the batch to the driver, if it takes batches, surviving its
    /// errors and panics as [`logger::deliver`] says.
    pub(super) fn deliver(&mut self) {
        let Some(batch) = &mut self.batch else {
            return;
        };
        let (stats, hook, source) = (&mut self.stats, &self.on_error, self.source);
        let mut failed = |err: Error| count_failure(stats, hook.as_deref(), source, err);
        logger::deliver(&*self.dst, batch, &mut failed);
    }

    /// Counts a failed `log` and shows it to the hook.
    pub(super) fn failed(&mut self, err: Error) {
        count_failure(&mut self.stats, self.on_error.as_deref(), self.source, err);
    }
}

/// Counts a failed `log` and shows it to the hook, if there is one.
fn count_failure(stats: &mut CopyStats, hook: Option<&ErrorHook>, source: Source, err: Error) {
    stats.log_errors += 1;
    if let Some(hook) = hook {
        // A panicking hook must not stop the copy either.
        let _ = Error::guard("on_error hook", || {
            hook(source, &err);
            Ok(())
        });
    }
}
