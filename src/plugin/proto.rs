//! The FIFO's wire format: `[u32 big-endian length][LogEntry protobuf]`.
//!
//! The message types are declared here with `prost`'s derive, field for
//! field as in moby's `entry.proto`, so no `protoc` is needed: they are
//! for callers that build or read frames themselves. The plugin's own
//! reading and writing goes through the crate's one codec, which a
//! property test holds to these types byte for byte.

use bytes::Bytes;

/// One log line as dockerd sends it to a logging plugin.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogEntry {
    /// `"stdout"` or `"stderr"`.
    #[prost(string, tag = "1")]
    pub source: String,
    /// The line's time, in nanoseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub time_nano: i64,
    /// The line, without its newline.
    #[prost(bytes = "bytes", tag = "3")]
    pub line: Bytes,
    /// Whether this is a chunk of a longer line.
    #[prost(bool, tag = "4")]
    pub partial: bool,
    /// Which chunk, for a partial entry.
    #[prost(message, optional, tag = "5")]
    pub partial_log_metadata: Option<PartialLogEntryMetadata>,
    /// Attributes (sent by the `local` driver only, not to plugins).
    #[prost(message, repeated, tag = "6")]
    pub attrs: Vec<LogAttr>,
}

/// Which chunk of a long line an entry is.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PartialLogEntryMetadata {
    /// Whether this chunk ends the line.
    #[prost(bool, tag = "1")]
    pub last: bool,
    /// The line's id, shared by its chunks.
    #[prost(string, tag = "2")]
    pub id: String,
    /// The chunk's position, from 1.
    #[prost(int32, tag = "3")]
    pub ordinal: i32,
}

/// A key and value attached to an entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogAttr {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// Appends `entry` as one frame: its length, big-endian, then its bytes.
///
/// # Examples
///
/// ```
/// use logdriver::plugin::{encode_frame, LogEntry};
///
/// let entry = LogEntry { source: "stdout".into(), line: "hi".into(), ..Default::default() };
/// let mut frame = Vec::new();
/// encode_frame(&entry, &mut frame);
/// assert_eq!(&frame[..4], &[0, 0, 0, 12]);
/// ```
pub fn encode_frame(entry: &LogEntry, out: &mut Vec<u8>) {
    let len = prost::Message::encoded_len(entry);
    out.reserve(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    prost::Message::encode(entry, out).expect("a Vec grows to fit");
}
