//! Docker's json-file line format, byte for byte.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Message;

/// How a string is escaped: Docker's hand-written log encoder, or Go's
/// `encoding/json` (used for `attrs`), which differ only for `\t`, `\b`
/// and `\f`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Escape {
    Log,
    Json,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes that go into a JSON string as they are: printable ASCII but for
/// `"`, `\\`, `<`, `>` and `&`.
const PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = 0x20;
    while b < 0x80 {
        plain[b] = !matches!(b as u8, b'"' | b'\\' | b'<' | b'>' | b'&');
        b += 1;
    }
    plain
};

/// Whether all eight bytes of `w` are [`PLAIN`], tested all at once.
fn plain_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Nonzero if some byte of `v` is below `n` (exact while all bytes < 0x80).
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH;
    let has = |b: u8| below(w ^ (ONES * u64::from(b)), 1);
    w & HIGH == 0
        && below(w, 0x20) == 0
        && has(b'"') | has(b'\\') | has(b'<') | has(b'>') | has(b'&') == 0
}

/// The length of the UTF-8 sequence that starts with `b`, if `b` can start one.
fn utf8_width(b: u8) -> Option<usize> {
    match b {
        0xc2..=0xdf => Some(2),
        0xe0..=0xef => Some(3),
        0xf0..=0xf4 => Some(4),
        _ => None,
    }
}

/// Appends `s` as a JSON string, quotes included, escaped as Docker does:
/// `<`, `>` and `&` as `\u003c`…, control bytes as `\u00XX` (but `\n` and
/// `\r` as themselves), U+2028 and U+2029 escaped, and every byte of
/// invalid UTF-8 as `\ufffd`, as Go's `utf8.DecodeRune` sees them.
pub(super) fn write_string(out: &mut Vec<u8>, s: &[u8], escape: Escape) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut copied = 0;
    let mut i = 0;
    while i < s.len() {
        // Most log text is plain ASCII: skip it eight bytes at a time.
        if let Some(word) = s.get(i..i + 8) {
            if plain_word(u64::from_le_bytes(word.try_into().expect("8 bytes"))) {
                i += 8;
                continue;
            }
        }
        let b = s[i];
        if PLAIN[usize::from(b)] {
            i += 1;
            continue;
        }
        if b >= 0x80 {
            let valid = utf8_width(b)
                .and_then(|w| s.get(i..i + w))
                .filter(|seq| std::str::from_utf8(seq).is_ok());
            match valid {
                // U+2028 and U+2029: E2 80 A8 and E2 80 A9.
                Some([0xe2, 0x80, last @ (0xa8 | 0xa9)]) => {
                    out.extend_from_slice(&s[copied..i]);
                    out.extend_from_slice(if *last == 0xa8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    });
                    i += 3;
                    copied = i;
                }
                Some(seq) => i += seq.len(),
                None => {
                    out.extend_from_slice(&s[copied..i]);
                    out.extend_from_slice(b"\\ufffd");
                    i += 1;
                    copied = i;
                }
            }
            continue;
        }
        out.extend_from_slice(&s[copied..i]);
        let short = match b {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'\n' => Some(b'n'),
            b'\r' => Some(b'r'),
            b'\t' if escape == Escape::Json => Some(b't'),
            0x08 if escape == Escape::Json => Some(b'b'),
            0x0c if escape == Escape::Json => Some(b'f'),
            _ => None,
        };
        match short {
            Some(c) => out.extend_from_slice(&[b'\\', c]),
            None => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        i += 1;
        copied = i;
    }
    out.extend_from_slice(&s[copied..]);
    out.push(b'"');
}

/// `{"k":"v",…}` with the keys sorted, as Go's `json.Marshal` of a map.
pub(super) fn encode_attrs(attrs: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(b'{');
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(&mut out, k.as_bytes(), Escape::Json);
        out.push(b':');
        write_string(&mut out, v.as_bytes(), Escape::Json);
    }
    out.push(b'}');
    out
}

/// A time outside years 0 to 9999, which RFC 3339 cannot write.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct YearOutOfRange;

/// The last time written, kept formatted: the Copier stamps every line of
/// one read with the same time.
#[derive(Default)]
pub(super) struct TimeCache {
    at: Option<SystemTime>,
    text: Vec<u8>,
}

impl TimeCache {
    fn get(&mut self, t: SystemTime) -> Result<&[u8], YearOutOfRange> {
        if self.at != Some(t) {
            self.text.clear();
            self.at = None;
            write_time(&mut self.text, t)?;
            self.at = Some(t);
        }
        Ok(&self.text)
    }
}

/// Appends one entry and its newline:
/// `{"log":…,"stream":…,"attrs":{…},"time":…}`.
///
/// `log` is the line plus `"\n"`, except for a chunk that does not end its
/// line; it is left out when empty. `attrs` is already encoded, and left
/// out when `None`.
pub(super) fn write_entry(
    out: &mut Vec<u8>,
    msg: &Message,
    attrs: Option<&[u8]>,
    times: &mut TimeCache,
) -> Result<(), YearOutOfRange> {
    out.push(b'{');
    let newline = msg.ends_line();
    if !msg.line.is_empty() || newline {
        out.extend_from_slice(b"\"log\":");
        write_string(out, &msg.line, Escape::Log);
        if newline {
            // Turn the closing quote into `\n"`.
            out.pop();
            out.extend_from_slice(b"\\n\"");
        }
        out.push(b',');
    }
    out.extend_from_slice(b"\"stream\":\"");
    out.extend_from_slice(msg.source.as_str().as_bytes());
    out.extend_from_slice(b"\",");
    if let Some(attrs) = attrs {
        out.extend_from_slice(b"\"attrs\":");
        out.extend_from_slice(attrs);
        out.push(b',');
    }
    out.extend_from_slice(b"\"time\":\"");
    out.extend_from_slice(times.get(msg.timestamp)?);
    out.extend_from_slice(b"\"}\n");
    Ok(())
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm, in eras of 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01; the inverse of `civil_from_days`.
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds and nanoseconds since the Unix epoch, negative before it.
fn unix_parts(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (secs, nanos) = (d.as_secs() as i64, d.subsec_nanos());
            if nanos == 0 {
                (-secs, 0)
            } else {
                (-secs - 1, 1_000_000_000 - nanos)
            }
        }
    }
}

/// Appends `t` in UTC as Go's `RFC3339Nano`: trailing zeros of the
/// fraction trimmed, no fraction at all when it is zero.
pub(super) fn write_time(out: &mut Vec<u8>, t: SystemTime) -> Result<(), YearOutOfRange> {
    let (secs, nanos) = unix_parts(t);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&year) {
        return Err(YearOutOfRange);
    }
    let sod = secs.rem_euclid(86_400);
    let push2 = |out: &mut Vec<u8>, n: i64| {
        out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8])
    };
    push2(out, year / 100);
    push2(out, year % 100);
    out.push(b'-');
    push2(out, i64::from(month));
    out.push(b'-');
    push2(out, i64::from(day));
    out.push(b'T');
    push2(out, sod / 3600);
    out.push(b':');
    push2(out, sod / 60 % 60);
    out.push(b':');
    push2(out, sod % 60);
    if nanos > 0 {
        let mut digits = [0u8; 9];
        let mut n = nanos;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let len = 9 - digits.iter().rev().take_while(|&&d| d == b'0').count();
        out.push(b'.');
        out.extend_from_slice(&digits[..len]);
    }
    out.push(b'Z');
    Ok(())
}

/// Parses an RFC 3339 time as written by Docker: `Z` or a `±hh:mm` offset,
/// an optional fraction of up to nine digits.
pub(super) fn parse_time(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = frac[..digits].parse::<u32>().ok()? * 10u32.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let minutes = (digit(h1)? * 10 + digit(h2)?) * 60 + digit(m1)? * 10 + digit(m2)?;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset;
    let since = Duration::new(secs.unsigned_abs(), 0);
    let whole = if secs >= 0 {
        UNIX_EPOCH + since
    } else {
        UNIX_EPOCH - since
    };
    Some(whole + Duration::from_nanos(u64::from(nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PartialMeta, Source};

    fn esc(s: &[u8], escape: Escape) -> String {
        let mut out = Vec::new();
        write_string(&mut out, s, escape);
        String::from_utf8(out).unwrap()
    }

    /// The escaping rules, one character at a time, the obvious way.
    fn naive_escape(s: &[u8]) -> String {
        let mut out = String::from("\"");
        let mut i = 0;
        while i < s.len() {
            let width = utf8_width(s[i]).unwrap_or(1);
            match std::str::from_utf8(s.get(i..i + width).unwrap_or(&s[i..i + 1])) {
                Ok(ch) if ch.len() == width => {
                    for c in ch.chars() {
                        match c {
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            '\n' => out.push_str("\\n"),
                            '\r' => out.push_str("\\r"),
                            '<' | '>' | '&' | '\u{0}'..='\u{1f}' | '\u{2028}' | '\u{2029}' => {
                                out.push_str(&format!("\\u{:04x}", c as u32))
                            }
                            c => out.push(c),
                        }
                    }
                    i += width;
                }
                _ => {
                    out.push_str("\\ufffd");
                    i += 1;
                }
            }
        }
        out.push('"');
        out
    }

    proptest::proptest! {
        #[test]
        fn escaping_matches_the_naive_rules(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            proptest::prop_assert_eq!(esc(&bytes, Escape::Log), naive_escape(&bytes));
        }

        #[test]
        fn escaping_mostly_text_matches_the_naive_rules(text in "[ -~é\u{2028}\u{2029}\t\n]{0,64}") {
            proptest::prop_assert_eq!(esc(text.as_bytes(), Escape::Log), naive_escape(text.as_bytes()));
        }
    }

    #[test]
    fn plain_words_agree_with_the_table() {
        // Every byte value, at every position of a word of plain bytes.
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut word = *b"abcdefgh";
                word[pos] = b;
                assert_eq!(
                    plain_word(u64::from_le_bytes(word)),
                    PLAIN[usize::from(b)],
                    "byte {b:#x} at {pos}"
                );
            }
        }
    }

    #[test]
    fn escaping_like_docker() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain", r#""plain""#),
            (b"quote\" back\\", r#""quote\" back\\""#),
            (b"nl\n cr\r tab\t", r#""nl\n cr\r tab\u0009""#),
            (b"\x00\x01\x1f\x7f", "\"\\u0000\\u0001\\u001f\x7f\""),
            (
                b"<a href=\"x\">&amp;</a>",
                r#""\u003ca href=\"x\"\u003e\u0026amp;\u003c/a\u003e""#,
            ),
            ("é中😀".as_bytes(), "\"é中😀\""),
            ("a\u{2028}b\u{2029}c".as_bytes(), r#""a\u2028b\u2029c""#),
            (b"bad \xff\xfe end", r#""bad \ufffd\ufffd end""#),
            (b"cut \xe2\x82", r#""cut \ufffd\ufffd""#),
            (b"", r#""""#),
        ];
        for (input, want) in cases {
            assert_eq!(esc(input, Escape::Log), *want, "{input:?}");
        }
        assert_eq!(esc(b"t\tb\x08f\x0c", Escape::Json), r#""t\tb\bf\f""#);
    }

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    fn time(t: SystemTime) -> String {
        let mut out = Vec::new();
        write_time(&mut out, t).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn times_like_go_rfc3339nano() {
        assert_eq!(time(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(time(at(1_504_227_661, 1)), "2017-09-01T01:01:01.000000001Z");
        assert_eq!(
            time(at(1_504_227_661, 120_000_000)),
            "2017-09-01T01:01:01.12Z"
        );
        assert_eq!(time(at(951_782_400, 0)), "2000-02-29T00:00:00Z");
        assert_eq!(
            time(at(253_402_300_799, 999_999_999)),
            "9999-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            time(UNIX_EPOCH - Duration::new(62_135_596_800, 0)),
            "0001-01-01T00:00:00Z"
        );
        assert_eq!(
            time(UNIX_EPOCH - Duration::new(0, 500_000_000)),
            "1969-12-31T23:59:59.5Z"
        );
        assert_eq!(
            write_time(&mut Vec::new(), at(253_402_300_800, 0)),
            Err(YearOutOfRange)
        );
    }

    #[test]
    fn times_parse_back() {
        for t in [
            UNIX_EPOCH,
            at(1_504_227_661, 1),
            at(1_800_000_000, 123_456_789),
            UNIX_EPOCH - Duration::new(1, 5),
        ] {
            assert_eq!(parse_time(&time(t)), Some(t));
        }
        assert_eq!(
            parse_time("2017-09-01T03:01:01.000000003+02:00"),
            Some(at(1_504_227_661, 3))
        );
        assert_eq!(
            parse_time("2017-09-01T00:31:01.5-00:30"),
            Some(at(1_504_227_661, 500_000_000))
        );
        for bad in [
            "",
            "2017-09-01",
            "2017-13-01T00:00:00Z",
            "2017-09-01T00:00:00",
            "2017-09-01T00:00:00.Z",
            "2017-09-01T00:00:00.1234567890Z",
            "2017-09-01 00:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }

    fn entry(msg: &Message, attrs: Option<&[u8]>) -> String {
        let mut out = Vec::new();
        write_entry(&mut out, msg, attrs, &mut TimeCache::default()).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn msg(line: &str, source: Source, partial: Option<bool>) -> Message {
        Message {
            line: line.to_owned().into(),
            source,
            timestamp: at(1_504_227_661, 1),
            partial: partial.map(|last| PartialMeta {
                id: "0".repeat(64),
                ordinal: 1,
                last,
            }),
        }
    }

    #[test]
    fn entries_like_docker() {
        let t = "\"time\":\"2017-09-01T01:01:01.000000001Z\"}\n";
        assert_eq!(
            entry(&msg("line1", Source::Stdout, None), None),
            format!("{{\"log\":\"line1\\n\",\"stream\":\"stdout\",{t}")
        );
        assert_eq!(
            entry(&msg("chunk", Source::Stderr, Some(false)), None),
            format!("{{\"log\":\"chunk\",\"stream\":\"stderr\",{t}")
        );
        assert_eq!(
            entry(&msg("end", Source::Stdout, Some(true)), None),
            format!("{{\"log\":\"end\\n\",\"stream\":\"stdout\",{t}")
        );
        assert_eq!(
            entry(&msg("", Source::Stdout, Some(false)), None),
            format!("{{\"stream\":\"stdout\",{t}")
        );
        assert_eq!(
            entry(&msg("", Source::Stdout, None), None),
            format!("{{\"log\":\"\\n\",\"stream\":\"stdout\",{t}")
        );
        let attrs =
            encode_attrs(&[("tag".to_string(), "a7317399f3f8/test-container".to_string())].into());
        assert_eq!(
            entry(&msg("line1", Source::Stdout, None), Some(&attrs)),
            format!("{{\"log\":\"line1\\n\",\"stream\":\"stdout\",\"attrs\":{{\"tag\":\"a7317399f3f8/test-container\"}},{t}")
        );
    }

    #[test]
    fn attrs_are_sorted_and_escaped() {
        let attrs: BTreeMap<String, String> = [("z", "1"), ("a<", "x\ty"), ("m", "")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert_eq!(
            String::from_utf8(encode_attrs(&attrs)).unwrap(),
            r#"{"a\u003c":"x\ty","m":"","z":"1"}"#
        );
    }
}
