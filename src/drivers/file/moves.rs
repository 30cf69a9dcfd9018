//! [`Moves`]: the renames of one rotation, undone if a later step fails,
//! so that a failed rotation deletes and renames nothing.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The renames done so far, and the files to delete once all succeed.
#[derive(Debug, Default)]
pub(super) struct Moves {
    done: Vec<(PathBuf, PathBuf)>,
    /// Files set aside (renamed) to be deleted at [`commit`](Moves::commit).
    doomed: Vec<PathBuf>,
    /// For tests: the rename that fails, counting from 0.
    #[cfg(test)]
    pub(super) fail_at: Option<usize>,
}

impl Moves {
    /// Renames `from` to `to`, if `from` exists.
    pub(super) fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_at == Some(self.done.len()) {
            return Err(io::Error::other("a rename that fails, for a test"));
        }
        match fs::rename(from, to) {
            Ok(()) => {
                self.done.push((from.to_owned(), to.to_owned()));
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sets `path` aside under `aside`, to be deleted at commit; kept if
    /// the rotation fails.
    pub(super) fn doom(&mut self, path: &Path, aside: &Path) -> io::Result<()> {
        let before = self.done.len();
        self.rename(path, aside)?;
        if self.done.len() > before {
            self.doomed.push(aside.to_owned());
        }
        Ok(())
    }

    /// Puts every file back where it was, newest rename first.
    pub(super) fn undo(self) {
        for (from, to) in self.done.into_iter().rev() {
            let _ = fs::rename(to, from);
        }
    }

    /// Every step succeeded: deletes the files set aside.
    pub(super) fn commit(self) {
        for path in self.doomed {
            let _ = fs::remove_file(path);
        }
    }
}
