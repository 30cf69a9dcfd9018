//! One line of a container's output, as handed to a [`Logger`](crate::Logger).

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;

/// The stream a line came from.
///
/// # Examples
///
/// ```
/// use logdriver::Source;
///
/// assert_eq!(Source::Stderr.as_str(), "stderr");
/// assert_eq!(Source::Stdout.to_string(), "stdout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The container's standard output.
    Stdout,
    /// The container's standard error.
    Stderr,
}

impl Source {
    /// The name Docker uses for this stream: `"stdout"` or `"stderr"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Stdout => "stdout",
            Source::Stderr => "stderr",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Marks a message as one chunk of a line that was too long for one message.
///
/// The [`Copier`](crate::Copier) cuts a line of at least its buffer size
/// into chunks of exactly the buffer size. All chunks of one line share an
/// `id` and the first chunk's timestamp; `ordinal` counts them from 1; the
/// chunk that ends with the line's newline has `last: true` (it may be
/// empty). A group cut short by the end of input never gets `last: true`,
/// exactly as in Docker, so consumers must not wait for it forever.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartialMeta {
    /// The group's id: 64 random lowercase hex characters, unique per line.
    pub id: String,
    /// The chunk's position in its group, starting at 1.
    pub ordinal: u32,
    /// Whether this chunk ends the line.
    pub last: bool,
}

/// One line of output, without its `'\n'`.
///
/// `line` is a [`Bytes`]: the [`Copier`](crate::Copier) slices it out of its
/// read buffer without copying, and a driver that keeps it (to queue or
/// batch it) keeps only a reference count. It holds the raw bytes of the
/// stream, which need not be UTF-8; a `'\r'` before the newline is kept.
///
/// # Examples
///
/// ```
/// use logdriver::{Message, Source};
///
/// let msg = Message::new(Source::Stdout, "hello");
/// assert_eq!(&msg.line[..], b"hello");
/// assert_eq!(msg.source, Source::Stdout);
/// assert!(msg.partial.is_none());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The line's bytes, without the `'\n'` that ended it.
    pub line: Bytes,
    /// The stream the line came from.
    pub source: Source,
    /// When the line was read from the stream.
    pub timestamp: SystemTime,
    /// `Some` when this message is one chunk of a longer line; `None` for a
    /// whole line.
    pub partial: Option<PartialMeta>,
}

impl Message {
    /// A whole line from `source`, stamped with the current time.
    pub fn new(source: Source, line: impl Into<Bytes>) -> Message {
        Message {
            line: line.into(),
            source,
            timestamp: SystemTime::now(),
            partial: None,
        }
    }

    /// Whether a `'\n'` followed this message in the stream.
    ///
    /// That is every message except a chunk that does not end its line.
    /// Concatenating each message's `line`, plus `"\n"` where this is
    /// `true`, gives back the stream byte for byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use logdriver::{Message, PartialMeta, Source};
    ///
    /// let mut msg = Message::new(Source::Stdout, "abc");
    /// assert!(msg.ends_line());
    /// msg.partial = Some(PartialMeta { id: "0".repeat(64), ordinal: 1, last: false });
    /// assert!(!msg.ends_line());
    /// ```
    pub fn ends_line(&self) -> bool {
        self.partial.as_ref().is_none_or(|p| p.last)
    }
}

/// Shows the line as (lossy) text, so that a `{:?}` stays readable.
impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("line", &String::from_utf8_lossy(&self.line))
            .field("source", &self.source)
            .field("timestamp", &self.timestamp)
            .field("partial", &self.partial)
            .finish()
    }
}
