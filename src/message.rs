//! One line of a container's output, as handed to a [`Logger`](crate::Logger).

use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
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

/// Parses Docker's stream names, `"stdout"` and `"stderr"`, exactly.
///
/// # Examples
///
/// ```
/// use logdriver::Source;
///
/// assert_eq!("stderr".parse::<Source>(), Ok(Source::Stderr));
/// assert!("stdin".parse::<Source>().is_err());
/// ```
impl FromStr for Source {
    type Err = ParseSourceError;

    fn from_str(s: &str) -> Result<Source, ParseSourceError> {
        match s {
            "stdout" => Ok(Source::Stdout),
            "stderr" => Ok(Source::Stderr),
            other => Err(ParseSourceError(other.to_owned())),
        }
    }
}

/// The error of parsing a [`Source`] from a name other than `stdout` or
/// `stderr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSourceError(String);

impl fmt::Display for ParseSourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown stream {:?}", self.0)
    }
}

impl std::error::Error for ParseSourceError {}

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

impl PartialMeta {
    /// A fresh group id: 64 lowercase hex characters.
    ///
    /// The bits come from SipHash keyed with the process's random
    /// `RandomState` keys over a process-wide counter, so ids are
    /// unpredictable across runs and never repeat within one.
    ///
    /// # Examples
    ///
    /// ```
    /// use logdriver::PartialMeta;
    ///
    /// let (a, b) = (PartialMeta::new_id(), PartialMeta::new_id());
    /// assert_eq!(a.len(), 64);
    /// assert_ne!(a, b);
    /// ```
    pub fn new_id() -> String {
        static KEYS: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let keys = KEYS.get_or_init(Default::default);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(64);
        for word in 0..4u64 {
            let mut h = keys.build_hasher();
            h.write_u64(n);
            h.write_u64(word);
            // Into the id itself: no string per word.
            let _ = write!(id, "{:016x}", h.finish());
        }
        id
    }
}

/// The partial group open on each stream, for readers that rebuild groups
/// from chunks that carry no metadata (json-file's entries, old dockerd
/// frames).
#[derive(Debug, Default)]
pub(crate) struct PartialGroups {
    open: [Option<(String, u32)>; 2],
}

impl PartialGroups {
    /// The next chunk of `source`'s group, starting one if none is open;
    /// `last` ends it.
    pub(crate) fn next(&mut self, source: Source, last: bool) -> PartialMeta {
        let slot = &mut self.open[source as usize];
        let (id, ordinal) = slot.get_or_insert_with(|| (PartialMeta::new_id(), 0));
        *ordinal += 1;
        let meta = PartialMeta {
            id: id.clone(),
            ordinal: *ordinal,
            last,
        };
        if last {
            *slot = None;
        }
        meta
    }

    /// The last chunk of `source`'s open group, if one is open: a whole
    /// entry after chunks ends their line.
    pub(crate) fn end(&mut self, source: Source) -> Option<PartialMeta> {
        self.open[source as usize]
            .is_some()
            .then(|| self.next(source, true))
    }
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
