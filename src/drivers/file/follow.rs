//! Following a live log across rotations, as `docker logs -f`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::segment::{first_entry, io_error, newest_rotated, next_in, Framing, RawEntry, Segment};
use super::LogFile;
use crate::error::{Error, Result};

/// Where a follower is in the live file.
pub(crate) struct Follow {
    log: Arc<LogFile>,
    file: File,
    pos: u64,
    rotations: u64,
    path: PathBuf,
    pending: VecDeque<u8>,
    framing: Framing,
    line: u64,
    /// Files rotated away before the follower got to them, oldest first.
    missed: VecDeque<Segment>,
    /// Set by the consumer when it is gone: the follower ends at its next
    /// wake-up, within [`CANCEL_CHECK`].
    cancel: Option<Arc<AtomicBool>>,
    /// How long to wait before trying again after an error: zero while
    /// all is well, then doubling up to a second, so that an error that
    /// repeats (no file descriptors, say) is not retried in a busy loop.
    backoff: Duration,
}

/// The most bytes a follower reads from the live file at once.
const FOLLOW_READ: u64 = 1 << 20;

/// How often a follower with a cancel flag looks at it while it waits.
const CANCEL_CHECK: Duration = Duration::from_millis(100);

/// The longest a follower waits before it tries again after an error.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl Follow {
    /// A follower of `log` from `pos` in `file`, its live file after
    /// `rotations` rotations.
    pub(crate) fn new(
        log: Arc<LogFile>,
        file: File,
        pos: u64,
        rotations: u64,
        framing: Framing,
    ) -> Follow {
        Follow {
            path: log.path.clone(),
            log,
            file,
            pos,
            rotations,
            pending: VecDeque::new(),
            framing,
            line: 0,
            missed: VecDeque::new(),
            cancel: None,
            backoff: Duration::ZERO,
        }
    }

    pub(crate) fn cancel_on(&mut self, cancel: Arc<AtomicBool>) {
        self.cancel = Some(cancel);
    }

    /// The next entry, waiting for it while the logger is open and `until`
    /// has not passed; after an error, only once the back-off has passed.
    pub(crate) fn next(&mut self, until: Option<SystemTime>) -> Option<Result<RawEntry>> {
        if !self.backoff.is_zero() {
            let now = self.log.snapshot();
            if !now.closed {
                self.log.wait_change(now, Some(self.backoff));
            }
        }
        let next = self.next_entry(until);
        match &next {
            None => {}
            Some(Ok(_)) => self.backoff = Duration::ZERO,
            Some(Err(_)) => {
                self.backoff = (self.backoff * 2).clamp(Duration::from_millis(10), MAX_BACKOFF);
            }
        }
        next
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
    }

    /// The next entry of the live file, waiting for it while the logger is
    /// open and `until` has not passed; `None` at the end.
    fn next_entry(&mut self, until: Option<SystemTime>) -> Option<Result<RawEntry>> {
        loop {
            if let Some(len) = first_entry(&self.pending, self.framing) {
                let raw: Vec<u8> = self.pending.drain(..len).collect();
                self.line += 1;
                return Some(Ok((self.path.clone(), self.line, raw)));
            }
            if let Some(raw) = next_in(&mut self.missed, self.framing) {
                return Some(raw);
            }
            let log = Arc::clone(&self.log);
            let now = log.snapshot();
            if now.rotations == self.rotations && self.pos == now.size {
                if now.closed || self.cancelled() {
                    return None;
                }
                let left = match until.map(|until| until.duration_since(SystemTime::now())) {
                    None => None,
                    Some(Ok(left)) => Some(left),
                    // `docker logs -f --until` ends once `until` has passed.
                    Some(Err(_)) => return None,
                };
                let check = self.cancel.as_ref().map(|_| CANCEL_CHECK);
                log.wait_change(now, left.into_iter().chain(check).min());
                continue;
            }
            if now.rotations == self.rotations {
                // New complete entries in the file we have open, a slice at
                // a time.
                let end = now.size.min(self.pos + FOLLOW_READ);
                if let Err(e) = read_range(&self.file, self.pos, end, &mut self.pending) {
                    return Some(Err(io_error(&self.path, e)));
                }
                self.pos = end;
                continue;
            }
            // Our file was rotated away: it is final, so finish it. Files
            // rotated after it are read next, from their new names, then
            // the new current file from its start.
            let seen = self.rotations;
            let opened = log.hold_still(|now| {
                let after_ours = (now.rotations - seen - 1) as usize;
                let (missed, lost) = newest_rotated(&log.path, log.naming, after_ours)?;
                let new = File::open(&log.path).map_err(|e| io_error(&log.path, e))?;
                Ok::<_, Error>((missed, lost, new, now.rotations))
            });
            let (missed, lost, new, rotations) = match opened {
                Ok(opened) => opened,
                Err(e) => return Some(Err(e)),
            };
            self.rotations = rotations;
            let old = std::mem::replace(&mut self.file, new);
            let started = Vec::from(std::mem::take(&mut self.pending));
            let rest = Segment::rest_of(self.path.clone(), old, self.pos, started, self.line);
            self.pos = 0;
            self.line = 0;
            let failed = match rest {
                Ok(rest) => {
                    self.missed.push_back(rest);
                    None
                }
                Err(e) => Some(e),
            };
            self.missed.extend(missed);
            if let Some(e) = failed {
                return Some(Err(e));
            }
            if lost > 0 {
                return Some(Err(Error::FollowLost {
                    path: log.path.clone(),
                    files: lost as u64,
                }));
            }
        }
    }
}

/// Appends the bytes of `file` from `from` to `to` (or its end) to `out`.
fn read_range(file: &File, from: u64, to: u64, out: &mut VecDeque<u8>) -> io::Result<()> {
    let mut reader = io::BufReader::new(file);
    io::Seek::seek(&mut reader, io::SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    reader
        .take(to.saturating_sub(from))
        .read_to_end(&mut bytes)?;
    out.extend(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::file::read::FileReader;
    use crate::drivers::file::test_support::{open, Plain};
    use crate::drivers::file::Naming;
    use crate::read::ReadConfig;
    use std::time::Instant;

    #[test]
    fn a_follower_backs_off_on_an_error_that_repeats() {
        let dir = std::env::temp_dir().join(format!("logdriver-backoff-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c-json.log");
        let log = open(path.clone(), None, 1, false, Naming::Numbered);
        let follow = ReadConfig {
            follow: true,
            ..ReadConfig::default()
        };
        let mut reader = FileReader::live(&log, &follow, Plain).unwrap();
        // The file is rotated away and no new one can be opened: every
        // attempt fails the same way.
        std::fs::remove_file(&path).unwrap();
        log.pretend_rotated();
        let start = Instant::now();
        for _ in 0..5 {
            assert!(matches!(reader.next(), Some(Err(Error::Io { .. }))));
        }
        // 10 + 20 + 40 + 80 ms of back-off before the 2nd to 5th attempts.
        assert!(start.elapsed() >= Duration::from_millis(150));
        log.close();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
