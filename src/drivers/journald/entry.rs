//! A journal entry in journald's native protocol: fields of `NAME=value\n`,
//! or `NAME\n`, the value's length as a little-endian u64, the value and
//! `\n` for a value of any bytes.
//!
//! An entry is a handful of slices: the priority and the message's name,
//! the line's length, the line, its partial fields, and the container's
//! fields, encoded once per driver. A short entry is copied into one
//! buffer first: the kernel takes one slice faster than five (about 20%
//! at 100-byte lines, in `benches/journald.rs`); a long line is sent from
//! where it is.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::IoSlice;

use crate::message::{Message, PartialMeta, Source};

/// The longest line copied into one buffer before it is sent.
const COPY_UP_TO: usize = 4096;

thread_local! {
    /// Each logging thread's buffer for short entries.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What starts an entry of each stream: the priority (6, info, for
/// stdout; 3, err, for stderr, as in Docker) and `MESSAGE` in the
/// length-prefixed form, whose length and value come next.
const HEAD: [&[u8]; 2] = [b"PRIORITY=6\nMESSAGE\n", b"PRIORITY=3\nMESSAGE\n"];

/// Appends the field `name` with `value`: on one line when the value has
/// no newline, else length-prefixed, which carries any bytes.
pub(crate) fn push_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    if memchr::memchr(b'\n', value).is_none() {
        out.push(b'=');
    } else {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// `key` as a journal field name, as Docker's journald driver makes it:
/// lower-case letters upper-cased, any other character but `A`-`Z` and
/// `0`-`9` turned into `_`, and leading `_` dropped (they mark the fields
/// only journald may write).
pub(crate) fn field_name(key: &str) -> String {
    let mut name = String::with_capacity(key.len());
    for c in key.chars() {
        let c = match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' | '0'..='9' => c,
            _ => '_',
        };
        if !(name.is_empty() && c == '_') {
            name.push(c);
        }
    }
    name
}

/// The fields of a chunk of a long line, as Docker writes them:
/// `CONTAINER_PARTIAL_MESSAGE=true` on every chunk but the group's last.
/// A whole line has none, and its tail is just the newline that ends
/// `MESSAGE`.
fn partial_fields(partial: Option<&PartialMeta>) -> Cow<'static, [u8]> {
    let Some(p) = partial else {
        return Cow::Borrowed(b"\n");
    };
    let mut out = Vec::with_capacity(160);
    out.push(b'\n');
    push_field(&mut out, "CONTAINER_PARTIAL_ID", p.id.as_bytes());
    push_field(
        &mut out,
        "CONTAINER_PARTIAL_ORDINAL",
        p.ordinal.to_string().as_bytes(),
    );
    let last: &[u8] = if p.last { b"true" } else { b"false" };
    push_field(&mut out, "CONTAINER_PARTIAL_LAST", last);
    if !p.last {
        push_field(&mut out, "CONTAINER_PARTIAL_MESSAGE", b"true");
    }
    Cow::Owned(out)
}

/// One message's entry, borrowing the line and the container's fields.
pub(crate) struct Entry<'a> {
    head: &'static [u8],
    len: [u8; 8],
    line: &'a [u8],
    tail: Cow<'static, [u8]>,
    container: &'a [u8],
}

impl<'a> Entry<'a> {
    /// `msg`'s entry, with `container` (fields encoded by [`push_field`]).
    pub(crate) fn new(msg: &'a Message, container: &'a [u8]) -> Entry<'a> {
        Entry {
            head: HEAD[(msg.source == Source::Stderr) as usize],
            len: (msg.line.len() as u64).to_le_bytes(),
            line: &msg.line,
            tail: partial_fields(msg.partial.as_ref()),
            container,
        }
    }

    /// Calls `send` with the entry as the slices of one `sendmsg`: one
    /// slice for a short line, five for a long one.
    pub(crate) fn send_with<R>(&self, send: impl FnOnce(&[IoSlice<'_>]) -> R) -> R {
        let slices = self.slices();
        if self.line.len() > COPY_UP_TO {
            return send(&slices);
        }
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            for slice in &slices {
                buf.extend_from_slice(slice);
            }
            send(&[IoSlice::new(buf)])
        })
    }

    /// The entry as the slices of one `sendmsg`.
    fn slices(&self) -> [IoSlice<'_>; 5] {
        [
            IoSlice::new(self.head),
            IoSlice::new(&self.len),
            IoSlice::new(self.line),
            IoSlice::new(&self.tail),
            IoSlice::new(self.container),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(entry: &Entry<'_>) -> Vec<u8> {
        let joined: Vec<u8> = entry.slices().iter().flat_map(|s| s.to_vec()).collect();
        let sent =
            entry.send_with(|slices| slices.iter().flat_map(|s| s.to_vec()).collect::<Vec<u8>>());
        assert_eq!(sent, joined);
        joined
    }

    #[test]
    fn a_value_with_a_newline_is_length_prefixed() {
        let mut out = Vec::new();
        push_field(&mut out, "A", b"plain \x01 \xff");
        push_field(&mut out, "B", b"two\nlines");
        let mut want = b"A=plain \x01 \xff\nB\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\n");
        assert_eq!(out, want);
    }

    #[test]
    fn field_names_are_mangled_as_docker_does() {
        assert_eq!(field_name("com.example.rack"), "COM_EXAMPLE_RACK");
        assert_eq!(field_name("_private"), "PRIVATE");
        assert_eq!(field_name("__a-b"), "A_B");
        assert_eq!(field_name("Été9"), "T_9");
        assert_eq!(field_name("___"), "");
    }

    #[test]
    fn an_entry_is_the_priority_the_message_and_the_container() {
        let msg = Message::new(Source::Stderr, &b"oops\n\xfe"[..]);
        let entry = Entry::new(&msg, b"CONTAINER_ID=abc\n");
        let mut want = b"PRIORITY=3\nMESSAGE\n".to_vec();
        want.extend_from_slice(&6u64.to_le_bytes());
        want.extend_from_slice(b"oops\n\xfe\nCONTAINER_ID=abc\n");
        assert_eq!(bytes(&entry), want);
    }

    #[test]
    fn a_chunk_carries_dockers_partial_fields() {
        let mut msg = Message::new(Source::Stdout, "ab");
        msg.partial = Some(PartialMeta {
            id: "p1".into(),
            ordinal: 2,
            last: false,
        });
        let mut want = b"PRIORITY=6\nMESSAGE\n".to_vec();
        want.extend_from_slice(&2u64.to_le_bytes());
        want.extend_from_slice(
            b"ab\nCONTAINER_PARTIAL_ID=p1\nCONTAINER_PARTIAL_ORDINAL=2\n\
              CONTAINER_PARTIAL_LAST=false\nCONTAINER_PARTIAL_MESSAGE=true\n",
        );
        assert_eq!(bytes(&Entry::new(&msg, b"")), want);

        msg.partial.as_mut().unwrap().last = true;
        let tail = &bytes(&Entry::new(&msg, b""))[29..];
        assert_eq!(
            tail,
            b"\nCONTAINER_PARTIAL_ID=p1\nCONTAINER_PARTIAL_ORDINAL=2\nCONTAINER_PARTIAL_LAST=true\n"
        );
    }
}
