//! The records: each line as `time ‖ record` in MessagePack, and the
//! chunk ids that acks answer.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{msgpack, FluentdLogger, Message};

impl FluentdLogger {
    /// `time ‖ record` for `msg`.
    pub(super) fn entry(&self, msg: &Message) -> Vec<u8> {
        let source = msg.source.as_str();
        let mut fields: Vec<(&str, &[u8])> = vec![
            (self.fields[0].0.as_str(), self.fields[0].1.as_bytes()),
            (self.fields[1].0.as_str(), self.fields[1].1.as_bytes()),
            ("source", source.as_bytes()),
            ("log", &msg.line),
        ];
        let ordinal;
        if let Some(p) = &msg.partial {
            ordinal = p.ordinal.to_string();
            fields.push(("partial_message", b"true"));
            fields.push(("partial_id", p.id.as_bytes()));
            fields.push(("partial_ordinal", ordinal.as_bytes()));
            fields.push(("partial_last", if p.last { b"true" } else { b"false" }));
        }
        // Attrs come after, and override, as Docker's do.
        for (key, value) in &self.fields[2..] {
            match fields.iter_mut().find(|(k, _)| k == key) {
                Some(field) => field.1 = value.as_bytes(),
                None => fields.push((key, value.as_bytes())),
            }
        }
        let mut out = Vec::with_capacity(msg.line.len() + 200);
        msgpack::time(&mut out, msg.timestamp, self.shared.config.sub_second);
        msgpack::map(&mut out, fields.len());
        for (key, value) in fields {
            msgpack::str(&mut out, key.as_bytes());
            msgpack::str(&mut out, value);
        }
        out
    }
}

/// A chunk id: base64 of the time in seconds and 8 random bytes, both
/// little-endian, as the Go client makes it.
pub(super) fn chunk_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&secs.to_le_bytes());
    raw[8..].copy_from_slice(&hasher.finish().to_le_bytes());
    base64(&raw)
}

/// Standard base64, with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ids_are_base64_of_16_bytes_and_differ() {
        let (a, b) = (chunk_id(), chunk_id());
        assert_eq!(a.len(), 24);
        assert!(a.ends_with("=="));
        assert_ne!(a, b);
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hell"), "aGVsbA==");
        assert_eq!(base64(b"hel"), "aGVs");
    }
}
