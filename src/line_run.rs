//! [`LineRun`]: the whole lines of one read, still in the buffer they were
//! read into, for a driver that hands lines to another thread.

use std::time::SystemTime;

use bytes::Bytes;

use crate::message::{Message, Source};

/// The whole lines of one read, in the buffer they were read into: the
/// buffer once, and where each line ends.
///
/// A [`Copier`](crate::Copier) (and `copy_async`) cuts each read into
/// lines. A driver that
/// does its work on another thread (a queue, as [`NonBlocking`] is) would
/// rather not have a [`Message`] made on the Copier's thread for each
/// line and moved across to its own: a driver whose
/// [`Logger::prefers_runs`](crate::Logger::prefers_runs) is `true` gets
/// the short whole lines of each read as one `LineRun` instead, through
/// [`Logger::log_run`](crate::Logger::log_run), and makes the messages
/// where it delivers them. Long lines, chunks of them and the bytes of a
/// line not yet ended still come as messages, in order around the runs.
///
/// Every line of a run is a whole line (no [`partial`](Message::partial)),
/// shorter than the Copier's chunk size, from one [`Source`], with the
/// time of the read; [`messages`](LineRun::messages) gives each as the
/// `Message` the Copier would have made, its `line` a slice of the one
/// buffer.
///
/// [`NonBlocking`]: crate::NonBlocking
///
/// # Examples
///
/// ```
/// use logdriver::{LineRun, Source};
///
/// let run = LineRun::new(Source::Stdout, "one\n\nthree\nno newline yet");
/// assert_eq!(run.len(), 3);
/// let lines: Vec<_> = run.messages().map(|m| m.line).collect();
/// assert_eq!(lines, ["one", "", "three"]);
/// // What the lines cost in a byte-bounded buffer: an empty line counts one.
/// assert_eq!(run.cost(), 3 + 1 + 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRun {
    data: Bytes,
    /// Where the first line starts in `data`.
    start: usize,
    /// Where each line's `'\n'` is in `data`, in order.
    ends: Vec<u32>,
    source: Source,
    timestamp: SystemTime,
    /// See [`cost`](LineRun::cost).
    cost: usize,
}

impl LineRun {
    /// The whole lines of `data`, from `source`, timed now. Bytes after the
    /// last `'\n'` are not part of the run. A line of any length is taken,
    /// and `data` longer than 4 GiB is taken only up to there.
    pub fn new(source: Source, data: impl Into<Bytes>) -> LineRun {
        let data = data.into();
        let ends = memchr::memchr_iter(b'\n', &data)
            .map_while(|nl| u32::try_from(nl).ok())
            .collect();
        LineRun::from_parts(data, 0, ends, source, SystemTime::now())
    }

    /// A run of the lines of `data` that start at `start` and end at
    /// `ends`, each at a `'\n'`.
    pub(crate) fn from_parts(
        data: Bytes,
        start: usize,
        ends: Vec<u32>,
        source: Source,
        timestamp: SystemTime,
    ) -> LineRun {
        let (mut from, mut cost) = (start, 0);
        for &nl in &ends {
            let nl = nl as usize;
            cost += (nl - from).max(1);
            from = nl + 1;
        }
        LineRun {
            data,
            start,
            ends,
            source,
            timestamp,
            cost,
        }
    }

    /// How many lines the run holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the run holds no line.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The stream the lines came from.
    pub fn source(&self) -> Source {
        self.source
    }

    /// When the lines were read: every line of the run has this time.
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }

    /// The bytes of the lines, without their newlines, with an empty line
    /// counted as one: what they cost in a buffer bounded as
    /// [`NonBlocking`](crate::NonBlocking)'s is.
    pub fn cost(&self) -> usize {
        self.cost
    }

    /// Each line as the [`Message`] the Copier would have made of it, in
    /// order. No byte is copied: each `line` is a slice of the run's
    /// buffer.
    pub fn messages(&self) -> impl ExactSizeIterator<Item = Message> + '_ {
        let mut from = self.start;
        self.ends.iter().map(move |&nl| {
            let nl = nl as usize;
            let line = self.data.slice(std::mem::replace(&mut from, nl + 1)..nl);
            Message {
                line,
                source: self.source,
                timestamp: self.timestamp,
                partial: None,
            }
        })
    }

    /// Splits the run in two: `self` keeps its first `at` lines, and the
    /// rest are returned, in a run of their own.
    ///
    /// # Panics
    ///
    /// If `at` is more than [`len`](LineRun::len).
    pub fn split_off(&mut self, at: usize) -> LineRun {
        let start = match at {
            0 => self.start,
            _ => self.ends[at - 1] as usize + 1,
        };
        let ends = self.ends.split_off(at);
        let rest = LineRun::from_parts(self.data.clone(), start, ends, self.source, self.timestamp);
        self.cost -= rest.cost;
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(run: &LineRun) -> Vec<Bytes> {
        run.messages().map(|m| m.line).collect()
    }

    #[test]
    fn a_run_starts_where_it_is_told_and_keeps_the_lines_whole() {
        let data = Bytes::from_static(b"held,one\ntwo\n\nrest");
        let run = LineRun::from_parts(
            data,
            5,
            vec![8, 12, 13],
            Source::Stderr,
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(lines(&run), ["one", "two", ""]);
        assert_eq!(run.cost(), 3 + 3 + 1);
        let msg = run.messages().next().unwrap();
        assert_eq!(
            (msg.source, msg.timestamp, msg.partial),
            (Source::Stderr, SystemTime::UNIX_EPOCH, None)
        );
    }

    #[test]
    fn split_off_divides_the_lines_and_their_cost() {
        let mut run = LineRun::new(Source::Stdout, "a\nbb\n\nccc\n");
        let rest = run.split_off(2);
        assert_eq!(lines(&run), ["a", "bb"]);
        assert_eq!(run.cost(), 3);
        assert_eq!(lines(&rest), ["", "ccc"]);
        assert_eq!(rest.cost(), 4);
        let mut all = LineRun::new(Source::Stdout, "a\nb\n");
        assert!(all.split_off(2).is_empty());
        assert_eq!(all.split_off(0).len(), 2);
        assert!(all.is_empty());
    }

    #[test]
    fn bytes_after_the_last_newline_are_not_in_the_run() {
        assert!(LineRun::new(Source::Stdout, "no newline").is_empty());
        assert_eq!(LineRun::new(Source::Stdout, "x\ny").len(), 1);
    }
}
