//! Compression of rotated files, on a thread of its own, so that gzip never
//! holds up the writer.

use std::fs::{self, File};
use std::io;
use std::sync::Arc;
use std::thread;
use std::time::SystemTime;

use flate2::{Compression, GzBuilder};

use super::{open_new, remove, CompressJob, LogFile, Naming};

impl LogFile {
    /// Hands a rotated file to the compressor thread, starting it if needed.
    pub(crate) fn compress_later(
        self: &Arc<Self>,
        id: u64,
        last_time: Option<SystemTime>,
    ) -> io::Result<()> {
        let mut compressor = self.compressor.lock();
        #[cfg(test)]
        if self.fail_spawn.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(io::Error::other("no thread, for a test"));
        }
        if compressor.is_none() {
            let (tx, rx) = crossbeam_channel::unbounded::<CompressJob>();
            // The thread holds a weak handle: it must not keep the file open.
            let file = Arc::downgrade(self);
            let thread = thread::Builder::new()
                .name("logdriver-gzip".into())
                .spawn(move || {
                    for (id, last_time) in rx {
                        if let Some(file) = file.upgrade() {
                            // A failed compression leaves the plain file in place.
                            let _ = file.compress(id, last_time);
                        }
                    }
                })?;
            *compressor = Some((tx, thread));
        }
        let (tx, _) = compressor.as_ref().expect("started above");
        let _ = tx.send((id, last_time));
        Ok(())
    }

    /// Compresses the rotated file of job `id` into `.N.gz`, then removes
    /// the plain file. Only the final renames hold the names lock.
    fn compress(&self, id: u64, last_time: Option<SystemTime>) -> io::Result<()> {
        let (source, tmp) = {
            let names = self.names.lock();
            let Some(job) = names.jobs.iter().find(|j| j.id == id) else {
                return Ok(());
            };
            let source = File::open(self.slot_path(&job.slot, false))?;
            (source, self.slot_tmp_path(id, &job.slot))
        };
        let written = (|| {
            let mut gz = GzBuilder::new();
            if self.naming == Naming::Numbered {
                let mut extra = b"{\"lastTime\":\"".to_vec();
                if let Some(t) = last_time {
                    crate::time::write_time(&mut extra, t)
                        .map_err(|_| io::Error::other("time out of range"))?;
                }
                extra.extend_from_slice(b"\"}");
                gz = gz.extra(extra);
            }
            let mut gz = gz.write(open_new(&tmp)?, Compression::default());
            io::copy(&mut io::BufReader::new(source), &mut gz)?;
            gz.finish()?.sync_all()
        })();
        let mut names = self.names.lock();
        let job = names
            .jobs
            .iter()
            .position(|j| j.id == id)
            .map(|i| names.jobs.remove(i));
        match (written, job) {
            (Ok(()), Some(job)) => {
                fs::rename(&tmp, self.slot_path(&job.slot, true))?;
                remove(&self.slot_path(&job.slot, false))
            }
            (written, _) => {
                remove(&tmp)?;
                written
            }
        }
    }
}
