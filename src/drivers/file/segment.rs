//! Segments: the files of a log as sources of entries, and what reads
//! them: framing (lines or lengths), one entry at a time, and walking back
//! from the end for `tail`. The follower and the reader build on this;
//! it knows neither.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::{rotated_path, stamped_files, Naming};
use crate::error::{Error, Result};

/// How the entries of a file are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// One entry per line, its newline included (json-file, k8s-file).
    Lines,
    /// `[u32 big-endian length][entry][the same length]` (local): the
    /// trailing length lets `tail` walk backwards.
    Lengths,
}

/// The longest entry a `Lengths` file may hold: Docker's `maxMsgLen`,
/// 1 MB. A length beyond it is corruption.
pub(crate) const MAX_RECORD_BYTES: usize = 1_000_000;

/// A source of entries: a rotated file, or the current one up to a size.
pub(crate) struct Segment {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line: u64,
    /// For a plain file, the file and where its entries end, so that
    /// `tail` can walk back from there.
    file: Option<(File, u64)>,
}

/// The longest entry a reader accepts: 8 MiB. A longer one is corrupt: it
/// is reported and skipped, never held in memory. (The Copier's largest
/// chunk is 1 MiB, and JSON escaping can make it six times longer.)
pub const MAX_ENTRY_BYTES: usize = 8 << 20;

pub(crate) fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Opens the file `name`, gzipped or not; `None` if there is none.
fn open_segment(name: PathBuf, gz: bool) -> Result<Option<Segment>> {
    let file = match File::open(&name) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(&name, e)),
    };
    if gz {
        let reader = BufReader::new(MultiGzDecoder::new(BufReader::new(file)));
        return Ok(Some(Segment::new(name, Box::new(reader), None)));
    }
    let len = file.metadata().map_err(|e| io_error(&name, e))?.len();
    Segment::plain(name, file, len).map(Some)
}

impl Segment {
    fn new(path: PathBuf, reader: Box<dyn BufRead + Send>, file: Option<(File, u64)>) -> Segment {
        Segment {
            path,
            reader,
            line: 0,
            file,
        }
    }

    /// The rest of a file a follower was reading when it was rotated
    /// away: the bytes it had read of an entry not yet whole, then `file`
    /// from `from` to its end, read an entry at a time as any segment is,
    /// so that a follower far behind holds one entry, not the file.
    /// `line` entries of it were read before.
    pub(crate) fn rest_of(
        path: PathBuf,
        mut file: File,
        from: u64,
        started: Vec<u8>,
        line: u64,
    ) -> Result<Segment> {
        io::Seek::seek(&mut file, io::SeekFrom::Start(from)).map_err(|e| io_error(&path, e))?;
        let reader = Box::new(BufReader::new(io::Cursor::new(started).chain(file)));
        let mut segment = Segment::new(path, reader, None);
        segment.line = line;
        Ok(segment)
    }

    /// The entries of plain `file` up to `end`.
    pub(crate) fn plain(path: PathBuf, file: File, end: u64) -> Result<Segment> {
        let reader = file.try_clone().map_err(|e| io_error(&path, e))?;
        let reader = Box::new(BufReader::new(reader.take(end)));
        Ok(Segment::new(path, reader, Some((file, end))))
    }
}

/// Opens rotated file `index`, compressed or not; `None` if there is none.
fn open_rotated(path: &Path, index: usize) -> Result<Option<Segment>> {
    for gz in [true, false] {
        if let Some(segment) = open_segment(rotated_path(path, index, gz), gz)? {
            return Ok(Some(segment));
        }
    }
    Ok(None)
}

/// Opens the rotated files of `path`, oldest first: `Numbered` ones up to
/// the first index missing, or to `max_file - 1` when given.
pub(crate) fn rotated_segments(
    path: &Path,
    naming: Naming,
    max_file: Option<usize>,
) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    match naming {
        Naming::Numbered => {
            let mut index = 1;
            while max_file.is_none_or(|max| index < max) {
                match open_rotated(path, index)? {
                    Some(segment) => segments.push(segment),
                    None if max_file.is_none() => break,
                    None => {}
                }
                index += 1;
            }
            segments.reverse();
        }
        Naming::Stamped => {
            for file in stamped_files(path).map_err(|e| io_error(path, e))? {
                segments.extend(open_segment(file.name(), file.gz)?);
            }
        }
    }
    Ok(segments)
}

/// Opens the `count` newest rotated files of `path`, oldest first, and
/// counts those that are gone.
pub(crate) fn newest_rotated(
    path: &Path,
    naming: Naming,
    count: usize,
) -> Result<(Vec<Segment>, usize)> {
    let mut segments = Vec::new();
    match naming {
        Naming::Numbered => {
            for index in (1..=count).rev() {
                segments.extend(open_rotated(path, index)?);
            }
        }
        Naming::Stamped => {
            let files = stamped_files(path).map_err(|e| io_error(path, e))?;
            for file in &files[files.len().saturating_sub(count)..] {
                segments.extend(open_segment(file.name(), file.gz)?);
            }
        }
    }
    let lost = count - segments.len();
    Ok((segments, lost))
}

/// An entry's bytes, with the file and line it came from.
pub(crate) type RawEntry = (PathBuf, u64, Vec<u8>);

/// The next raw entry of `segments`, dropping those that are read out.
pub(crate) fn next_in(
    segments: &mut VecDeque<Segment>,
    framing: Framing,
) -> Option<Result<RawEntry>> {
    while let Some(segment) = segments.front_mut() {
        let mut raw = Vec::new();
        let read = match framing {
            Framing::Lines => read_entry(&mut segment.reader, &mut raw).map(|n| match n {
                0 => Framed::End,
                _ if raw.len() > MAX_ENTRY_BYTES => Framed::Corrupt {
                    reason: format!("longer than {MAX_ENTRY_BYTES} bytes"),
                    rest_lost: false,
                },
                _ => Framed::Entry,
            }),
            Framing::Lengths => read_record(&mut segment.reader, &mut raw),
        };
        match read {
            Ok(Framed::End) => {
                segments.pop_front();
            }
            Ok(Framed::Entry) => {
                segment.line += 1;
                return Some(Ok((segment.path.clone(), segment.line, raw)));
            }
            Ok(Framed::Corrupt { reason, rest_lost }) => {
                segment.line += 1;
                let err = Error::CorruptEntry {
                    path: segment.path.clone(),
                    line: segment.line,
                    reason,
                };
                if rest_lost {
                    segments.pop_front();
                }
                return Some(Err(err));
            }
            Err(e) => {
                let segment = segments.pop_front().expect("front exists");
                return Some(Err(io_error(&segment.path, e)));
            }
        }
    }
    None
}

/// What reading one entry came to.
enum Framed {
    /// A whole entry, in `raw`.
    Entry,
    /// The end of the file, or an entry cut short by it (a writer that
    /// died in the middle of it, as Docker reads such a file).
    End,
    /// An entry that cannot be right; with `rest_lost`, nothing after it
    /// in this file can be found either.
    Corrupt { reason: String, rest_lost: bool },
}

/// Reads up to `buf.len()` bytes; fewer only at the end of the input.
fn read_full(reader: &mut dyn BufRead, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads one `Lengths` record, its lengths included, into `raw`.
fn read_record(reader: &mut dyn BufRead, raw: &mut Vec<u8>) -> io::Result<Framed> {
    let mut head = [0u8; 4];
    if read_full(reader, &mut head)? < 4 {
        return Ok(Framed::End);
    }
    let len = u32::from_be_bytes(head) as usize;
    if len > MAX_RECORD_BYTES {
        return Ok(Framed::Corrupt {
            reason: format!("a length of {len} bytes, more than {MAX_RECORD_BYTES}: the rest of the file cannot be found"),
            rest_lost: true,
        });
    }
    raw.resize(len + 8, 0);
    raw[..4].copy_from_slice(&head);
    if read_full(reader, &mut raw[4..])? < len + 4 {
        return Ok(Framed::End);
    }
    let tail = u32::from_be_bytes(raw[len + 4..].try_into().expect("4 bytes"));
    if tail as usize != len {
        return Ok(Framed::Corrupt {
            reason: format!("its lengths disagree ({len} before it, {tail} after)"),
            rest_lost: false,
        });
    }
    Ok(Framed::Entry)
}

/// The length of the first whole entry at the front of `pending`.
pub(crate) fn first_entry(pending: &VecDeque<u8>, framing: Framing) -> Option<usize> {
    match framing {
        Framing::Lines => pending.iter().position(|&b| b == b'\n').map(|i| i + 1),
        Framing::Lengths => {
            let head: Vec<u8> = pending.iter().take(4).copied().collect();
            let len = u32::from_be_bytes(head.try_into().ok()?) as usize;
            // A writer of this process wrote it: a bad length cannot be
            // resolved by waiting, so hand over what there is.
            let whole = if len > MAX_RECORD_BYTES {
                pending.len()
            } else {
                len + 8
            };
            (pending.len() >= whole).then_some(whole)
        }
    }
}

/// The bytes of a raw entry that its decoder reads.
pub(crate) fn body(raw: &[u8], framing: Framing) -> &[u8] {
    match framing {
        Framing::Lines => raw,
        Framing::Lengths => raw.get(4..raw.len().saturating_sub(4)).unwrap_or_default(),
    }
}

/// Reads `segments` to their end and keeps their last `n` entries. A
/// corrupt entry is skipped: `tail` counts entries that can be read.
pub(crate) fn last_entries(
    segments: &mut VecDeque<Segment>,
    framing: Framing,
    n: usize,
) -> Result<VecDeque<RawEntry>> {
    let mut last = VecDeque::with_capacity(n.min(4096));
    while let Some(raw) = next_in(segments, framing) {
        let raw = match raw {
            Ok(raw) => raw,
            Err(Error::CorruptEntry { .. }) => continue,
            Err(e) => return Err(e),
        };
        if n > 0 {
            if last.len() == n {
                last.pop_front();
            }
            last.push_back(raw);
        }
    }
    Ok(last)
}

/// Leaves in `segments` only what holds their last `n` entries, so that
/// `tail` costs what it returns, not the size of the files: plain files
/// are entered from the end, walking back over the trailing lengths
/// (`Lengths`) or newlines (`Lines`); compressed ones (and a plain file
/// whose lengths do not hold together) are read forward.
pub(crate) fn tail_backwards(
    segments: &mut VecDeque<Segment>,
    n: usize,
    framing: Framing,
) -> Result<()> {
    let mut kept = VecDeque::new();
    let mut need = n;
    while need > 0 {
        let Some(mut segment) = segments.pop_back() else {
            break;
        };
        let walked = match (&segment.file, framing) {
            (Some((file, end)), Framing::Lengths) => {
                walk_back(file, *end, need).map_err(|e| io_error(&segment.path, e))?
            }
            (Some((file, end)), Framing::Lines) => {
                Some(walk_back_lines(file, *end, need).map_err(|e| io_error(&segment.path, e))?)
            }
            (None, _) => None,
        };
        match (walked, segment.file.take()) {
            (Some((start, found)), Some((file, end))) => {
                let reader = file.try_clone().map_err(|e| io_error(&segment.path, e))?;
                let mut reader = BufReader::new(reader);
                io::Seek::seek(&mut reader, io::SeekFrom::Start(start))
                    .map_err(|e| io_error(&segment.path, e))?;
                segment.reader = Box::new(reader.take(end - start));
                // Line numbers are not known from the end; count records
                // from the first one kept.
                need -= found;
            }
            _ => {
                let path = segment.path.clone();
                let last = last_entries(&mut VecDeque::from([segment]), framing, need)?;
                need -= last.len();
                let bytes: Vec<u8> = last.into_iter().flat_map(|(_, _, raw)| raw).collect();
                segment = Segment::new(path, Box::new(io::Cursor::new(bytes)), None);
            }
        }
        kept.push_front(segment);
    }
    *segments = kept;
    Ok(())
}

/// Walks back from `end` over up to `n` records of `file`; returns where
/// the first of them starts and how many there are, or `None` when a
/// length does not hold together.
fn walk_back(file: &File, end: u64, n: usize) -> io::Result<Option<(u64, usize)>> {
    use std::os::unix::fs::FileExt;
    let (mut pos, mut found) = (end, 0);
    let mut len = [0u8; 4];
    while found < n && pos > 0 {
        if pos < 8 {
            return Ok(None);
        }
        file.read_exact_at(&mut len, pos - 4)?;
        let size = u64::from(u32::from_be_bytes(len));
        if size > MAX_RECORD_BYTES as u64 || size + 8 > pos {
            return Ok(None);
        }
        file.read_exact_at(&mut len, pos - 8 - size)?;
        if u64::from(u32::from_be_bytes(len)) != size {
            return Ok(None);
        }
        pos -= size + 8;
        found += 1;
    }
    Ok(Some((pos, found)))
}

/// Walks back from `end` over up to `n` lines of `file`; returns where the
/// first of them starts and how many there are. Bytes after the last
/// newline (an entry its writer never finished) are no line.
fn walk_back_lines(file: &File, end: u64, n: usize) -> io::Result<(u64, usize)> {
    use std::os::unix::fs::FileExt;
    const BLOCK: u64 = 64 << 10;
    if end == 0 || n == 0 {
        return Ok((end, 0));
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, end - 1)?;
    // Each newline before the one that ends the file starts a line; a
    // file that does not end in one has a first newline that starts none.
    let mut uncounted = usize::from(last[0] != b'\n');
    let mut found = 0;
    let mut buf = vec![0u8; BLOCK as usize];
    let mut scan = end - 1;
    while scan > 0 {
        let from = scan.saturating_sub(BLOCK);
        let block = &mut buf[..(scan - from) as usize];
        file.read_exact_at(block, from)?;
        for i in memchr::memrchr_iter(b'\n', block) {
            if uncounted > 0 {
                uncounted -= 1;
                continue;
            }
            found += 1;
            if found == n {
                return Ok((from + i as u64 + 1, n));
            }
        }
        scan = from;
    }
    Ok((0, found + usize::from(uncounted == 0)))
}

/// Reads one entry, its newline included, into `raw`; returns the bytes
/// the entry took. An entry longer than [`MAX_ENTRY_BYTES`] is read to
/// its end but not kept: `raw` then holds one byte more than the limit.
fn read_entry(reader: &mut dyn BufRead, raw: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let (done, used) = {
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(total);
            }
            let (done, used) = match memchr::memchr(b'\n', buf) {
                Some(i) => (true, i + 1),
                None => (false, buf.len()),
            };
            let room = (MAX_ENTRY_BYTES + 1).saturating_sub(raw.len());
            raw.extend_from_slice(&buf[..used.min(room)]);
            (done, used)
        };
        reader.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests;
