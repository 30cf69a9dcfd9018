//! The few MessagePack forms the forward protocol needs, written as Go's
//! `msgp` writes them, and a reader for the server's `{"ack": …}`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Appends a string: raw bytes, as Go sends `string(line)` whatever it
/// holds.
pub(super) fn str(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    match len {
        0..=31 => out.push(0xa0 | len as u8),
        32..=0xff => out.extend_from_slice(&[0xd9, len as u8]),
        0x100..=0xffff => {
            out.push(0xda);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(s);
}

/// Appends a map header for `len` pairs.
pub(super) fn map(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=15 => out.push(0x80 | len as u8),
        16..=0xffff => {
            out.push(0xde);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdf);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

/// Appends an array header for `len` items.
pub(super) fn array(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=15 => out.push(0x90 | len as u8),
        16..=0xffff => {
            out.push(0xdc);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdd);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

/// Appends an integer as `msgp.AppendInt64` does: the smallest signed form.
pub(super) fn int(out: &mut Vec<u8>, i: i64) {
    match i {
        0..=0x7f => out.push(i as u8),
        -32..=-1 => out.push(i as i8 as u8),
        _ if i8::try_from(i).is_ok() => out.extend_from_slice(&[0xd0, i as i8 as u8]),
        _ if i16::try_from(i).is_ok() => {
            out.push(0xd1);
            out.extend_from_slice(&(i as i16).to_be_bytes());
        }
        _ if i32::try_from(i).is_ok() => {
            out.push(0xd2);
            out.extend_from_slice(&(i as i32).to_be_bytes());
        }
        _ => {
            out.push(0xd3);
            out.extend_from_slice(&i.to_be_bytes());
        }
    }
}

/// Seconds and nanoseconds since the epoch; before it, the seconds are
/// negative and the nanoseconds count up from them.
fn unix(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            match d.subsec_nanos() {
                0 => (-(d.as_secs() as i64), 0),
                n => (-(d.as_secs() as i64) - 1, 1_000_000_000 - n),
            }
        }
    }
}

/// Appends the event time: whole seconds as an integer, or with
/// `sub_second` an EventTime (ext type 0: u32 seconds, u32 nanoseconds),
/// which holds until 2106 where Go's wraps in 2038.
pub(super) fn time(out: &mut Vec<u8>, t: SystemTime, sub_second: bool) {
    let (secs, nanos) = unix(t);
    if sub_second {
        out.extend_from_slice(&[0xd7, 0x00]);
        out.extend_from_slice(&(secs.clamp(0, u32::MAX.into()) as u32).to_be_bytes());
        out.extend_from_slice(&nanos.to_be_bytes());
    } else {
        int(out, secs);
    }
}

/// How much of `buf` one complete MessagePack value takes, if `buf`
/// holds one; `Err` for bytes that are not MessagePack.
pub(super) fn value_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut pos = 0;
    let mut pending = 1usize; // values still to read
    while pending > 0 {
        pending -= 1;
        let Some(&b) = buf.get(pos) else {
            return Ok(None);
        };
        pos += 1;
        let be = |n: usize, at: usize| -> Option<usize> {
            let bytes = buf.get(at..at + n)?;
            Some(
                bytes
                    .iter()
                    .fold(0usize, |acc, &b| acc << 8 | usize::from(b)),
            )
        };
        // (bytes of length field, then that many payload bytes), or a
        // fixed payload, or child values.
        let (skip, children) = match b {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, usize::from(b & 0x0f) * 2),
            0x90..=0x9f => (0, usize::from(b & 0x0f)),
            0xa0..=0xbf => (usize::from(b & 0x1f), 0),
            0xc4 | 0xd9 => match be(1, pos) {
                Some(n) => (1 + n, 0),
                None => return Ok(None),
            },
            0xc5 | 0xda => match be(2, pos) {
                Some(n) => (2 + n, 0),
                None => return Ok(None),
            },
            0xc6 | 0xdb => match be(4, pos) {
                Some(n) => (4 + n, 0),
                None => return Ok(None),
            },
            0xc7 => match be(1, pos) {
                Some(n) => (2 + n, 0),
                None => return Ok(None),
            },
            0xc8 => match be(2, pos) {
                Some(n) => (3 + n, 0),
                None => return Ok(None),
            },
            0xc9 => match be(4, pos) {
                Some(n) => (5 + n, 0),
                None => return Ok(None),
            },
            0xca | 0xd2 | 0xce => (4, 0),
            0xcb | 0xd3 | 0xcf => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => match be(2, pos) {
                Some(n) => (2, n),
                None => return Ok(None),
            },
            0xdd => match be(4, pos) {
                Some(n) => (4, n),
                None => return Ok(None),
            },
            0xde => match be(2, pos) {
                Some(n) => (2, n * 2),
                None => return Ok(None),
            },
            0xdf => match be(4, pos) {
                Some(n) => (4, n * 2),
                None => return Ok(None),
            },
            0xc1 => return Err("the never-used byte 0xc1".into()),
        };
        pos += skip;
        if pos > buf.len() {
            return Ok(None);
        }
        pending = pending
            .checked_add(children)
            .ok_or("a value with too many children")?;
        if pending > 1 << 20 {
            return Err("a value with too many children".into());
        }
    }
    Ok(Some(pos))
}

/// The `ack` of a server's `{"ack": "<chunk>"}`, if that is what `value` is.
pub(super) fn ack(value: &[u8]) -> Option<&[u8]> {
    let rest = value.strip_prefix(&[0x81, 0xa3, b'a', b'c', b'k'])?;
    match rest.split_first()? {
        (&b, s) if b & 0xe0 == 0xa0 => s.get(..usize::from(b & 0x1f)),
        (0xd9, s) => {
            let (&n, s) = s.split_first()?;
            s.get(..usize::from(n))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut out);
        out
    }

    #[test]
    fn forms_as_go_msgp_writes_them() {
        assert_eq!(enc(|o| str(o, b"log")), b"\xa3log");
        assert_eq!(enc(|o| str(o, &[b'x'; 32]))[..2], [0xd9, 32]);
        assert_eq!(enc(|o| str(o, &[b'x'; 256]))[..3], [0xda, 1, 0]);
        assert_eq!(enc(|o| str(o, &[b'x'; 65536]))[..5], [0xdb, 0, 1, 0, 0]);
        assert_eq!(enc(|o| map(o, 4)), [0x84]);
        assert_eq!(enc(|o| map(o, 16)), [0xde, 0, 16]);
        assert_eq!(enc(|o| array(o, 4)), [0x94]);
        assert_eq!(enc(|o| int(o, 5)), [5]);
        assert_eq!(enc(|o| int(o, 200)), [0xd1, 0, 200]);
        assert_eq!(
            enc(|o| int(o, 1_764_500_401)),
            [0xd2, 0x69, 0x2c, 0x23, 0xb1]
        );
        assert_eq!(enc(|o| int(o, 1 << 40)), [0xd3, 0, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(enc(|o| int(o, -5)), [0xfb]);
        assert_eq!(enc(|o| int(o, -100)), [0xd0, 0x9c]);
    }

    #[test]
    fn event_time_does_not_wrap_in_2038() {
        let t = UNIX_EPOCH + Duration::new(3_000_000_000, 7); // 2065
        assert_eq!(
            enc(|o| time(o, t, true)),
            [0xd7, 0, 0xb2, 0xd0, 0x5e, 0x00, 0, 0, 0, 7]
        );
        assert_eq!(
            enc(|o| time(o, t, false)),
            [0xd3, 0, 0, 0, 0, 0xb2, 0xd0, 0x5e, 0x00]
        );
    }

    #[test]
    fn value_lengths_and_acks() {
        let ack_msg = b"\x81\xa3ack\xb8AAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(value_len(ack_msg), Ok(Some(ack_msg.len())));
        assert_eq!(value_len(&ack_msg[..10]), Ok(None));
        assert_eq!(ack(ack_msg), Some(&b"AAAAAAAAAAAAAAAAAAAAAAAA"[..]));
        assert_eq!(ack(b"\x81\xa3nak\xa1x"), None);
        let nested = b"\x92\x91\xc0\x82\xa1a\x01\xa1b\xd7\x00\x00\x00\x00\x00\x00\x00\x00\x00";
        assert_eq!(value_len(nested), Ok(Some(nested.len())));
        assert!(value_len(b"\xc1").is_err());
        assert_eq!(
            value_len(b"\xdd\xff\xff\xff\xff"),
            Err("a value with too many children".into())
        );
    }
}
