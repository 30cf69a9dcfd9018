//! Rotation: the live file renamed away (Docker's `.1`, `.2`… shifted,
//! or the kubelet's stamped name), what is over `max-file` set aside, and
//! the rotated file handed to the compressor, all or nothing.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use super::moves::Moves;
use super::{
    naming, open_new, remove, rotated_path, stamped_files, with_suffix, LogFile, Naming, State,
};

/// A rotated file waiting to be compressed, found by its id wherever
/// rotations have moved it since. A job whose file is removed before its
/// turn is dropped from the list, so the list never holds more jobs than
/// there are rotated files.
pub(super) struct Job {
    pub(super) id: u64,
    pub(super) slot: Slot,
}

/// Where a rotated file is: `Numbered` files move at every rotation,
/// `Stamped` ones keep their name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Slot {
    Index(usize),
    Stamped(PathBuf),
}

/// What a rotation's renames did, for the compression jobs.
pub(super) enum Renamed {
    /// Nothing was kept (`max-file=1`).
    Nothing,
    /// `Numbered`: every `.N` moved to `.N+1`, the live file to `.1`,
    /// which is to be compressed with `compress`.
    Shifted { compress: bool },
    /// `Stamped`: the live file took a stamped name; `removed` files (by
    /// plain name) went, and `compress` is to be compressed.
    Stamped {
        removed: Vec<PathBuf>,
        compress: Option<PathBuf>,
    },
}

/// The rotated files' names, and the compressions running on them.
#[derive(Default)]
pub(super) struct Names {
    pub(super) jobs: Vec<Job>,
    pub(super) next_id: u64,
}

impl LogFile {
    /// Moves the full file aside and starts a new one.
    ///
    /// A failed rotation deletes and renames nothing, whatever step fails:
    /// the new file is created first, under a temporary name; the renames
    /// are undone if a later one fails; the files the rotation pushes out
    /// are only set aside until every rename has succeeded; and a
    /// compressor that cannot start leaves the rotated file plain. The
    /// history is kept and the next write tries again.
    pub(super) fn rotate(self: &Arc<Self>, state: &mut State) -> io::Result<()> {
        let next = self.rotating_path();
        let file = open_new(&next)?;
        let mut names = self.names.lock();
        let mut moves = Moves::default();
        #[cfg(test)]
        {
            moves.fail_at = self.fail_rename_at.lock().take();
        }
        let moved = match self.naming {
            Naming::Numbered => self.shift_rotated(&mut moves),
            Naming::Stamped => self.stamp_rotated(&mut moves),
        }
        .and_then(|compress| moves.rename(&next, &self.path).map(|()| compress));
        let compress = match moved {
            Ok(compress) => compress,
            Err(e) => {
                moves.undo();
                let _ = remove(&next);
                return Err(e);
            }
        };
        moves.commit();
        self.renamed(&mut names, compress, state.last_time);
        drop(names);
        state.file = Some(file);
        state.size = 0;
        state.rotations += 1;
        state.last_time = None;
        for bytes in state.open_lines.iter_mut().flatten() {
            *bytes = 0;
        }
        Ok(())
    }

    /// After a rotation's renames: moves the compression jobs with their
    /// files, and queues the compression of `compress`, if any. A job
    /// that cannot be queued leaves its file plain.
    fn renamed(self: &Arc<Self>, names: &mut Names, compress: Renamed, last: Option<SystemTime>) {
        let slot = match compress {
            Renamed::Nothing => return,
            Renamed::Shifted { compress } => {
                let last_index = self.max_file - 1;
                // A compression of the file pushed out has nothing to do.
                names.jobs.retain(|j| j.slot != Slot::Index(last_index));
                for job in &mut names.jobs {
                    if let Slot::Index(index) = &mut job.slot {
                        *index += 1;
                    }
                }
                compress.then_some((Slot::Index(1), last))
            }
            Renamed::Stamped { removed, compress } => {
                names.jobs.retain(|j| match &j.slot {
                    Slot::Stamped(plain) => !removed.contains(plain),
                    Slot::Index(_) => true,
                });
                // The kubelet's gzip carries no time: the entries have theirs.
                compress.map(|plain| (Slot::Stamped(plain), None))
            }
        };
        let Some((slot, last)) = slot else { return };
        let id = names.next_id;
        names.next_id += 1;
        names.jobs.push(Job { id, slot });
        if self.compress_later(id, last).is_err() {
            names.jobs.retain(|j| j.id != id);
        }
    }

    /// Where the next file is created before it takes the path's name.
    fn rotating_path(&self) -> PathBuf {
        with_suffix(&self.path, ".rotating")
    }

    /// Renames `.N` to `.N+1` (setting the oldest aside) and the live file
    /// to `.1`; with `max-file=1`, nothing is kept.
    fn shift_rotated(&self, moves: &mut Moves) -> io::Result<Renamed> {
        if self.max_file < 2 {
            // Nowhere to keep it: Docker drops the file's contents, and the
            // new file's rename replaces it.
            return Ok(Renamed::Nothing);
        }
        let last = self.max_file - 1;
        for gz in [false, true] {
            let oldest = rotated_path(&self.path, last, gz);
            moves.doom(&oldest, &with_suffix(&oldest, ".removing"))?;
        }
        for index in (1..last).rev() {
            for gz in [false, true] {
                moves.rename(
                    &rotated_path(&self.path, index, gz),
                    &rotated_path(&self.path, index + 1, gz),
                )?;
            }
        }
        moves.rename(&self.path, &rotated_path(&self.path, 1, false))?;
        Ok(Renamed::Shifted {
            compress: self.compress,
        })
    }

    /// Renames the live file to `<path>.<stamp>`, and sets aside what is
    /// over `max-file - 1` rotated files; with `compress`, the one that was
    /// the newest until now is to be compressed. With `max-file=1`,
    /// nothing is kept.
    fn stamp_rotated(&self, moves: &mut Moves) -> io::Result<Renamed> {
        if self.max_file < 2 {
            return Ok(Renamed::Nothing);
        }
        let mut rotated = stamped_files(&self.path)?;
        let target = naming::next_stamped(&self.path, &rotated, SystemTime::now());
        let excess = rotated.len().saturating_sub(self.max_file - 2);
        let mut removed = Vec::new();
        for old in rotated.drain(..excess) {
            let name = old.name();
            moves.doom(&name, &with_suffix(&name, ".removing"))?;
            removed.push(old.plain);
        }
        moves.rename(&self.path, &target)?;
        let compress = match rotated.pop() {
            Some(newest) if self.compress && !newest.gz => Some(newest.plain),
            _ => None,
        };
        Ok(Renamed::Stamped { removed, compress })
    }

    /// Where a job's file is, plain or compressed.
    pub(super) fn slot_path(&self, slot: &Slot, gz: bool) -> PathBuf {
        match slot {
            Slot::Index(index) => rotated_path(&self.path, *index, gz),
            Slot::Stamped(plain) if gz => with_suffix(plain, ".gz"),
            Slot::Stamped(plain) => plain.clone(),
        }
    }

    /// Where a job's compressed file is written before it takes its name.
    pub(super) fn slot_tmp_path(&self, id: u64, slot: &Slot) -> PathBuf {
        match slot {
            Slot::Index(_) => with_suffix(&self.path, &format!(".compressing-{id}")),
            Slot::Stamped(plain) => with_suffix(plain, ".tmp"),
        }
    }
}
