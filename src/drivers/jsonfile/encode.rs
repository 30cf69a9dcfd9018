//! Docker's json-file line format, byte for byte.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::message::Message;
use crate::time::{write_time, YearOutOfRange};

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

/// json-file's entries, with the container's `attrs` encoded once.
pub(super) struct JsonEncoder {
    attrs: Option<Vec<u8>>,
    times: TimeCache,
}

impl JsonEncoder {
    pub(super) fn new(attrs: Option<Vec<u8>>) -> JsonEncoder {
        JsonEncoder {
            attrs,
            times: TimeCache::default(),
        }
    }
}

impl crate::drivers::file::Encode for JsonEncoder {
    fn encode(&mut self, out: &mut Vec<u8>, msg: &Message) -> Result<(), YearOutOfRange> {
        write_entry(out, msg, self.attrs.as_deref(), &mut self.times)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{PartialMeta, Source};

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
        std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos)
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
