//! The line law, as the tests of every entry (Copier, LineWriter,
//! copy_async) check it: a naive reference splitter, and how a stream is
//! rejoined from its messages.

use logdriver::Message;
use proptest::prelude::*;

/// Any bytes up to `max` long, with newlines common enough to make short,
/// long and empty lines.
pub fn input(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![3 => Just(b'\n'), 1 => Just(b'\r'), 10 => any::<u8>()];
    proptest::collection::vec(byte, 0..max)
}

/// Appends `msg` as the stream had it: its line, and the newline if the
/// message ends one.
pub fn rejoin(out: &mut Vec<u8>, msg: &Message) {
    out.extend_from_slice(&msg.line);
    if msg.ends_line() {
        out.push(b'\n');
    }
}

pub type Expected = Vec<(Vec<u8>, Option<(u32, bool)>)>;

/// The naive reference: split the whole input at once.
pub fn reference(input: &[u8], chunk: usize) -> Expected {
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (line, terminated) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], true),
            None => (rest, false),
        };
        rest = &rest[line.len() + usize::from(terminated)..];
        if terminated && line.len() < chunk {
            out.push((line.to_vec(), None));
            continue;
        }
        let mut ordinal = 0;
        let full = if terminated {
            line.len() / chunk
        } else {
            line.len().div_ceil(chunk)
        };
        for piece in line.chunks(chunk).take(full) {
            ordinal += 1;
            out.push((piece.to_vec(), Some((ordinal, false))));
        }
        if terminated {
            out.push((line[full * chunk..].to_vec(), Some((ordinal + 1, true))));
        }
    }
    out
}
