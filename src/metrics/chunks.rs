//! [`CountChunks`]: the partial chunks a container's driver is handed,
//! counted where every line enters (the plugin and the containerd logger)
//! so that each driver need not.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::logger::{Logger, LoggerStats};
use crate::message::Message;
use crate::read::LogReader;

/// A driver whose [`LoggerStats::partial_chunks`] counts the messages with
/// [`Message::partial`] set that went through it; all else is the
/// driver's.
pub(crate) struct CountChunks {
    inner: Arc<dyn Logger>,
    chunks: AtomicU64,
}

impl CountChunks {
    pub(crate) fn wrap(inner: Arc<dyn Logger>) -> Arc<dyn Logger> {
        Arc::new(CountChunks {
            inner,
            chunks: AtomicU64::new(0),
        })
    }
}

impl Logger for CountChunks {
    fn log(&self, msg: Message) -> Result<()> {
        if msg.partial.is_some() {
            self.chunks.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.log(msg)
    }

    fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
        let chunks = batch.iter().filter(|m| m.partial.is_some()).count();
        self.chunks.fetch_add(chunks as u64, Ordering::Relaxed);
        self.inner.log_batch(batch, failed)
    }

    fn prefers_batches(&self) -> bool {
        self.inner.prefers_batches()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn close(&self) -> Result<()> {
        self.inner.close()
    }

    fn buf_size(&self) -> Option<usize> {
        self.inner.buf_size()
    }

    fn stats(&self) -> LoggerStats {
        let mut stats = self.inner.stats();
        stats.partial_chunks += self.chunks.load(Ordering::Relaxed);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{PartialMeta, Source};
    use crate::testing::Collect;

    #[test]
    fn counts_the_chunks_and_hands_on_every_message() {
        let inner = Arc::new(Collect::default());
        let logger = CountChunks::wrap(inner.clone());
        let chunk = |last| {
            let mut msg = Message::new(Source::Stdout, "part");
            msg.partial = Some(PartialMeta {
                id: "g".into(),
                ordinal: 1,
                last,
            });
            msg
        };
        logger.log(Message::new(Source::Stdout, "whole")).unwrap();
        logger.log(chunk(false)).unwrap();
        let mut batch: VecDeque<Message> = [chunk(true), Message::new(Source::Stderr, "x")].into();
        logger.log_batch(&mut batch, &mut |e| panic!("{e}"));
        assert_eq!(logger.stats().partial_chunks, 2);
        assert_eq!(inner.0.lock().len(), 4);
        assert_eq!(logger.name(), "collect");
    }
}
