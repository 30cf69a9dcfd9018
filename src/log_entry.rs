//! Docker's `LogEntry` protobuf, the one copy in the crate: the codec, the
//! mapping to and from a [`Message`], and the `[u32 big-endian length]`
//! framing that both the `local` driver's files and dockerd's plugin FIFOs
//! put before each entry.
//!
//! Written as gogoproto writes it (fields in tag order, zero values left
//! out) and read back leniently (unknown fields skipped), by hand: six
//! fields need no code generator, and the `local` driver needs no
//! optional dependency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::message::{Message, PartialMeta, Source};
use crate::time::YearOutOfRange;

/// Appends `v` as a base-128 varint.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends field `tag` as length-delimited bytes.
fn bytes_field(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag << 3 | 2);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// The message's time as Go's `UnixNano`, when it fits in an `i64`.
fn unix_nanos(t: SystemTime) -> Result<i64, YearOutOfRange> {
    let nanos = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).map_err(|_| YearOutOfRange)?,
        Err(e) => -i128::try_from(e.duration().as_nanos()).map_err(|_| YearOutOfRange)?,
    };
    i64::try_from(nanos).map_err(|_| YearOutOfRange)
}

/// Appends `msg` as a `LogEntry`, with `attrs` (already sorted).
pub(crate) fn encode_entry(
    out: &mut Vec<u8>,
    msg: &Message,
    attrs: &[(String, String)],
) -> Result<(), YearOutOfRange> {
    let time_nano = unix_nanos(msg.timestamp)?;
    bytes_field(out, 1, msg.source.as_str().as_bytes());
    if time_nano != 0 {
        out.push(2 << 3);
        varint(out, time_nano as u64);
    }
    if !msg.line.is_empty() {
        bytes_field(out, 3, &msg.line);
    }
    if let Some(p) = &msg.partial {
        out.extend_from_slice(&[4 << 3, 1]);
        let mut meta = Vec::with_capacity(p.id.len() + 8);
        if p.last {
            meta.extend_from_slice(&[1 << 3, 1]);
        }
        if !p.id.is_empty() {
            bytes_field(&mut meta, 2, p.id.as_bytes());
        }
        if p.ordinal != 0 {
            meta.push(3 << 3);
            // int32, as Go writes it: sign-extended to 64 bits.
            varint(&mut meta, i64::from(p.ordinal as i32) as u64);
        }
        bytes_field(out, 5, &meta);
    }
    for (key, value) in attrs {
        let mut attr = Vec::with_capacity(key.len() + value.len() + 4);
        if !key.is_empty() {
            bytes_field(&mut attr, 1, key.as_bytes());
        }
        if !value.is_empty() {
            bytes_field(&mut attr, 2, value.as_bytes());
        }
        bytes_field(out, 6, &attr);
    }
    Ok(())
}

/// Appends `msg` as one frame, `[u32 big-endian length][LogEntry]`, and
/// returns the length.
pub(crate) fn put_framed(
    out: &mut Vec<u8>,
    msg: &Message,
    attrs: &[(String, String)],
) -> Result<u32, YearOutOfRange> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let written = encode_entry(out, msg, attrs)
        .and_then(|()| u32::try_from(out.len() - start - 4).map_err(|_| YearOutOfRange));
    match written {
        Ok(len) => {
            out[start..start + 4].copy_from_slice(&len.to_be_bytes());
            Ok(len)
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// A protobuf reader over one message's bytes.
struct Fields<'a>(&'a [u8]);

/// A field's value.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A fixed 32- or 64-bit value, which `LogEntry` does not use.
    Fixed,
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first().ok_or("truncated varint")?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint longer than ten bytes".into())
    }

    /// The next field's number and value; `None` at the end.
    fn next(&mut self) -> Result<Option<(u64, Value<'a>)>, String> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                if len > self.0.len() {
                    return Err(format!("field {} runs past the entry", key >> 3));
                }
                let (value, rest) = self.0.split_at(len);
                self.0 = rest;
                Value::Bytes(value)
            }
            wire @ (1 | 5) => {
                let len = if wire == 1 { 8 } else { 4 };
                self.0 = self.0.get(len..).ok_or("truncated fixed field")?;
                Value::Fixed
            }
            wire => return Err(format!("wire type {wire} of field {}", key >> 3)),
        };
        Ok(Some((key >> 3, value)))
    }
}

/// A decoded `LogEntry`: the message, with the partial metadata it
/// carried, and its `partial` flag as written. The two can disagree, and
/// each reader has its rule for that.
pub(crate) struct Decoded {
    pub(crate) msg: Message,
    /// `partial` was set, whatever the metadata says.
    pub(crate) partial: bool,
}

/// Decodes one `LogEntry`; its line is a slice of `raw`, not a copy.
pub(crate) fn decode_entry(raw: &Bytes) -> Result<Decoded, String> {
    let mut fields = Fields(raw);
    let (mut source, mut nanos, mut line, mut partial) = (None, 0i64, Bytes::new(), false);
    let mut meta: Option<PartialMeta> = None;
    while let Some((number, value)) = fields.next()? {
        match (number, value) {
            (1, Value::Bytes(s)) => {
                source = Some(match s {
                    b"stdout" => Source::Stdout,
                    b"stderr" => Source::Stderr,
                    other => {
                        return Err(format!("bad source {:?}", String::from_utf8_lossy(other)))
                    }
                })
            }
            (2, Value::Varint(v)) => nanos = v as i64,
            (3, Value::Bytes(b)) => line = raw.slice_ref(b),
            (4, Value::Varint(v)) => partial = v != 0,
            (5, Value::Bytes(b)) => meta = Some(decode_meta(b)?),
            (1..=5, _) => return Err(format!("field {number} has the wrong type")),
            _ => {} // attrs (6) and unknown fields
        }
    }
    let source = source.ok_or("no source")?;
    let timestamp = if nanos >= 0 {
        UNIX_EPOCH + Duration::from_nanos(nanos as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(nanos.unsigned_abs())
    };
    Ok(Decoded {
        msg: Message {
            line,
            source,
            timestamp,
            partial: meta,
        },
        partial,
    })
}

fn decode_meta(raw: &[u8]) -> Result<PartialMeta, String> {
    let mut fields = Fields(raw);
    let mut meta = PartialMeta {
        id: String::new(),
        ordinal: 0,
        last: false,
    };
    while let Some((number, value)) = fields.next()? {
        match (number, value) {
            (1, Value::Varint(v)) => meta.last = v != 0,
            (2, Value::Bytes(b)) => meta.id = String::from_utf8_lossy(b).into_owned(),
            // int32: the low 32 bits, as Go reads it.
            (3, Value::Varint(v)) => meta.ordinal = v as u32,
            (1..=3, _) => {
                return Err(format!(
                    "partial metadata field {number} has the wrong type"
                ))
            }
            _ => {}
        }
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(msg: &Message, attrs: &[(String, String)]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_entry(&mut out, msg, attrs).unwrap();
        out
    }

    #[test]
    fn bytes_as_gogoproto_writes_them() {
        let msg = Message {
            timestamp: UNIX_EPOCH + Duration::new(1, 5),
            ..Message::new(Source::Stdout, "hi")
        };
        // source, time_nano 1000000005, line; no partial.
        assert_eq!(
            entry(&msg, &[]),
            b"\x0a\x06stdout\x10\x85\x94\xeb\xdc\x03\x1a\x02hi".to_vec()
        );
        // The epoch and an empty line: both left out.
        let zero = Message {
            timestamp: UNIX_EPOCH,
            ..Message::new(Source::Stderr, "")
        };
        assert_eq!(entry(&zero, &[]), b"\x0a\x06stderr".to_vec());
        let chunk = Message {
            partial: Some(PartialMeta {
                id: "ab".into(),
                ordinal: 2,
                last: true,
            }),
            ..zero.clone()
        };
        assert_eq!(
            entry(&chunk, &[("k".into(), "v".into())]),
            b"\x0a\x06stderr\x20\x01\x2a\x08\x08\x01\x12\x02ab\x18\x02\x32\x06\x0a\x01k\x12\x01v"
                .to_vec()
        );
    }

    #[test]
    fn entries_decode_back_and_negative_times_survive() {
        for msg in [
            Message::new(Source::Stdout, "hello"),
            Message {
                timestamp: UNIX_EPOCH - Duration::new(3, 7),
                partial: Some(PartialMeta {
                    id: "f".repeat(64),
                    ordinal: 7,
                    last: false,
                }),
                ..Message::new(Source::Stderr, vec![0u8, 255, 10])
            },
        ] {
            let decoded = decode_entry(&entry(&msg, &[("a".into(), "b".into())]).into()).unwrap();
            assert_eq!(decoded.msg, msg);
            assert_eq!(decoded.partial, msg.partial.is_some());
        }
    }

    #[test]
    fn bad_entries_are_errors() {
        assert_eq!(
            decode_entry(&Bytes::from_static(b"")).err().unwrap(),
            "no source"
        );
        assert_eq!(
            decode_entry(&Bytes::from_static(b"\x0a\x09stdout"))
                .err()
                .unwrap(),
            "field 1 runs past the entry"
        );
        assert_eq!(
            decode_entry(&Bytes::from_static(b"\x0a\x03bad"))
                .err()
                .unwrap(),
            "bad source \"bad\""
        );
        assert_eq!(
            decode_entry(&Bytes::from_static(b"\x10\xff"))
                .err()
                .unwrap(),
            "truncated varint"
        );
        assert_eq!(
            decode_entry(&Bytes::from_static(b"\x08\x01"))
                .err()
                .unwrap(),
            "field 1 has the wrong type"
        );
        assert_eq!(
            decode_entry(&Bytes::from_static(b"\x0f")).err().unwrap(),
            "wire type 7 of field 1"
        );
    }

    /// The hand-written codec against prost's, from moby's `entry.proto`
    /// field for field: each reads what the other writes.
    #[cfg(feature = "plugin")]
    mod against_prost {
        use super::*;
        use crate::plugin::{LogAttr, LogEntry, PartialLogEntryMetadata};
        use proptest::prelude::*;

        fn message() -> impl Strategy<Value = (Message, Vec<(String, String)>)> {
            let meta = proptest::option::of((".{0,8}", 0u32..=i32::MAX as u32, any::<bool>()));
            (
                any::<bool>(),
                any::<i64>(),
                proptest::collection::vec(any::<u8>(), 0..40),
                meta,
                proptest::collection::vec((".{0,4}", ".{0,4}"), 0..3),
            )
                .prop_map(|(stderr, nanos, line, meta, attrs)| {
                    let timestamp = if nanos >= 0 {
                        UNIX_EPOCH + Duration::from_nanos(nanos as u64)
                    } else {
                        UNIX_EPOCH - Duration::from_nanos(nanos.unsigned_abs())
                    };
                    let source = if stderr {
                        Source::Stderr
                    } else {
                        Source::Stdout
                    };
                    let msg = Message {
                        timestamp,
                        partial: meta.map(|(id, ordinal, last)| PartialMeta { id, ordinal, last }),
                        ..Message::new(source, line)
                    };
                    (msg, attrs)
                })
        }

        proptest! {
            #[test]
            fn prost_reads_what_this_writes_and_back((msg, attrs) in message()) {
                let ours = entry(&msg, &attrs);
                let theirs: LogEntry = prost::Message::decode(&ours[..]).unwrap();
                let nanos = unix_nanos(msg.timestamp).unwrap();
                let want = LogEntry {
                    source: msg.source.as_str().into(),
                    time_nano: nanos,
                    line: msg.line.clone(),
                    partial: msg.partial.is_some(),
                    partial_log_metadata: msg.partial.as_ref().map(|p| PartialLogEntryMetadata {
                        last: p.last,
                        id: p.id.clone(),
                        ordinal: p.ordinal as i32,
                    }),
                    attrs: attrs
                        .iter()
                        .map(|(key, value)| LogAttr { key: key.clone(), value: value.clone() })
                        .collect(),
                };
                prop_assert_eq!(&theirs, &want);
                // Byte for byte: the same fields in the same order.
                prop_assert_eq!(prost::Message::encode_to_vec(&want), ours.clone());
                let back = decode_entry(&Bytes::from(prost::Message::encode_to_vec(&want))).unwrap();
                prop_assert_eq!(back.msg, msg);
            }
        }
    }
}
