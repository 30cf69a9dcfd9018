//! [`FileLogger`]: the one file driver, over a [`Format`]. json-file,
//! k8s-file and local are each a format: a name, a way to name rotated
//! files, an encoder and a decoder, and their options. Appending,
//! rotation, compression, counting, tail, since, until and follow are the
//! engine's, once.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::driver::{live_file, stoppable, FileDriver};
use super::read::{Decode, FileReader};
use super::{Encode, Naming, Rotation};
use crate::error::Result;
use crate::info::Info;
use crate::logger::{Logger, LoggerStats};
use crate::message::Message;
use crate::read::{LogReader, LogStream, ReadConfig};

/// A file format the engine writes and reads: [`JsonFile`], [`K8sFile`]
/// or [`Local`]. Sealed: what a format must say is crate-private for now.
///
/// [`JsonFile`]: crate::drivers::jsonfile::JsonFile
/// [`K8sFile`]: crate::drivers::k8sfile::K8sFile
/// [`Local`]: crate::drivers::local::Local
pub trait Format: sealed::Format {}

pub(crate) mod sealed {
    // Its items name the engine's crate-private types: outside the crate
    // the trait can be neither named nor implemented, and its items not
    // used. They become public when the format API settles.
    #![allow(private_interfaces, private_bounds)]
    use super::*;

    /// What a format brings to the engine.
    pub trait Format: Send + Sync + 'static {
        /// The driver's name.
        const NAME: &'static str;
        /// How its rotated files are named.
        const NAMING: Naming;
        /// Its entries back to messages.
        type Decoder: Decode + Default + 'static;
        /// Whether [`Logger::reopen_log`] reopens the file: for a format whose
        /// files someone else rotates (the kubelet, k8s-file's).
        const REOPENS: bool = false;

        /// Checks `info`'s options; the rotation and the encoder they ask for.
        fn open(info: &Info) -> Result<(Rotation, Box<dyn Encode>)>;

        /// Checks options alone, as at `docker run --log-opt`.
        fn validate(opts: &HashMap<String, String>) -> Result<()>;
    }
}

/// A file driver: entries of format `F` appended to `info.log_path`, in
/// one `write` each (one per batch), rotated, compressed off the write
/// path, and read back with [`read_logs`](FileLogger::read_logs).
///
/// Known by its format's name: [`JsonFileLogger`], [`K8sFileLogger`],
/// [`LocalLogger`]. See each format's module for its bytes and options.
///
/// [`JsonFileLogger`]: crate::drivers::jsonfile::JsonFileLogger
/// [`K8sFileLogger`]: crate::drivers::k8sfile::K8sFileLogger
/// [`LocalLogger`]: crate::drivers::local::LocalLogger
pub struct FileLogger<F: Format> {
    pub(crate) file: FileDriver,
    format: PhantomData<F>,
}

impl<F: Format> fmt::Debug for FileLogger<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileLogger")
            .field("format", &F::NAME)
            .field("path", &self.file.log.path)
            .finish()
    }
}

impl<F: Format> FileLogger<F> {
    /// Opens (or creates) the log file at `info.log_path` for appending.
    ///
    /// # Errors
    ///
    /// Whatever [`validate`](FileLogger::validate) finds in `info.config`;
    /// [`Error::MissingLogPath`](crate::Error::MissingLogPath) without a
    /// log path; [`Error::Io`](crate::Error::Io) when the file cannot be
    /// opened.
    pub fn new(info: &Info) -> Result<FileLogger<F>> {
        let (rotation, encoder) = F::open(info)?;
        Ok(FileLogger {
            file: FileDriver::open(F::NAME, info, rotation, encoder)?,
            format: PhantomData,
        })
    }

    /// Checks the format's options: known keys only, sizes, counts,
    /// booleans, and the rules between them.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownOption`](crate::Error::UnknownOption) for a key the
    /// driver does not know, and
    /// [`Error::InvalidOption`](crate::Error::InvalidOption) for a value
    /// it cannot use.
    pub fn validate(opts: &HashMap<String, String>) -> Result<()> {
        F::validate(opts)
    }

    /// Reads the log back: rotated files oldest first, then the live file,
    /// with `tail`, `since` and `until`; with `follow`, the entries written
    /// from then on, across rotations, until `close`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when a file cannot be opened, or
    /// (with `tail`) read.
    pub fn read_logs(&self, config: &ReadConfig) -> Result<FileLogReader<F>> {
        FileReader::live(&self.file.log, config, F::Decoder::default()).map(FileLogReader)
    }

    /// Opens the path again: what was written is in the renamed file,
    /// what comes next in the one at the path.
    pub(crate) fn reopen_file(&self) -> Result<()> {
        let log = &self.file.log;
        if log.snapshot().closed {
            return Err(crate::Error::closed(F::NAME));
        }
        log.reopen().map_err(|source| crate::Error::Io {
            path: log.path.clone(),
            source,
        })
    }
}

/// Reads the log of format `F` at `path` and its rotated files.
///
/// If a [`FileLogger`] of this process is writing `path`, this is its
/// [`read_logs`](FileLogger::read_logs), [`ReadConfig::follow`] included.
/// Otherwise it reads the files as they are (as a stopped container left
/// them, whoever wrote them), and `follow` is ignored: the reader ends at
/// the end of the current file.
///
/// # Errors
///
/// [`Error::Io`](crate::Error::Io) when a file cannot be opened, or (with
/// `tail`) read.
pub fn read_logs<F: Format>(path: &Path, config: &ReadConfig) -> Result<FileLogReader<F>> {
    let decoder = F::Decoder::default();
    match live_file(path) {
        Some(log) => FileReader::live(&log, config, decoder),
        None => FileReader::stopped(path, F::NAMING, config, decoder),
    }
    .map(FileLogReader)
}

impl<F: Format> Logger for FileLogger<F> {
    /// Encodes `msg` and appends it to the file in one `write`.
    ///
    /// # Errors
    ///
    /// [`Error::Driver`](crate::Error::Driver) when the time cannot be
    /// written in the driver's format, or when the write or a rotation
    /// fails; [`Error::Closed`](crate::Error::Closed) after `close`.
    fn log(&self, msg: Message) -> Result<()> {
        self.file.log(msg)
    }

    /// Encodes the batch and appends it in one `write` (one per file when
    /// it rotates), with the same entries and rotations as `log` one by
    /// one.
    fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(crate::Error)) {
        self.file.log_batch(batch, failed)
    }

    /// Entries written, their lines' bytes, and entries that failed.
    fn stats(&self) -> LoggerStats {
        self.file.stats()
    }

    /// The driver's own reader: see [`read_logs`](FileLogger::read_logs).
    fn reader(&self) -> Option<&dyn LogReader> {
        Some(self)
    }

    /// For k8s-file: the file at the path again, after a kubelet renamed
    /// it (see [`K8sFileLogger::reopen`]). `None` for the others, whose
    /// rotation is their own.
    ///
    /// [`K8sFileLogger::reopen`]: crate::drivers::k8sfile::K8sFileLogger
    fn reopen_log(&self) -> Option<Result<()>> {
        F::REOPENS.then(|| self.reopen_file())
    }

    /// `true`: a batch costs one lock and one `write`, where each `log`
    /// costs one of each.
    fn prefers_batches(&self) -> bool {
        true
    }

    fn name(&self) -> &str {
        F::NAME
    }

    /// Stops writing and waits for running compressions, so that the files
    /// are final when it returns. A second call returns `Ok(())`.
    fn close(&self) -> Result<()> {
        self.file.log.close();
        Ok(())
    }
}

/// Reads through [`read_logs`](FileLogger::read_logs); stopping the stream
/// ends a follower within 100 ms.
impl<F: Format> LogReader for FileLogger<F> {
    fn read_logs(&self, config: &ReadConfig) -> Result<LogStream> {
        stoppable(|stop| Ok(FileLogger::read_logs(self, config)?.cancel_on(stop)))
    }
}

/// An iterator over the entries of a file driver's log, oldest first.
///
/// Each item is a [`Message`] or the error of one entry: a corrupt entry is
/// reported once and skipped, and reading goes on with the next. With
/// [`ReadConfig::follow`], `next` blocks until a new entry is written or
/// the logger is closed.
pub struct FileLogReader<F: Format>(FileReader<F::Decoder>);

impl<F: Format> fmt::Debug for FileLogReader<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FileLogReader").field(&self.0).finish()
    }
}

impl<F: Format> FileLogReader<F> {
    /// Ends a following reader soon after `cancel` is set (within 100 ms),
    /// even while no entry is written: for a consumer that can go away,
    /// such as a `docker logs -f` client. A reader that does not follow
    /// ignores it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{atomic::AtomicBool, Arc};
    /// use logdriver::drivers::jsonfile::{JsonFileLogger, ReadConfig};
    /// use logdriver::Info;
    ///
    /// # let path = std::env::temp_dir().join(format!("cancel-doc-{}.log", std::process::id()));
    /// let logger = JsonFileLogger::new(&Info { log_path: Some(path.clone()), ..Info::default() })?;
    /// let gone = Arc::new(AtomicBool::new(true));
    /// let follow = ReadConfig { follow: true, ..ReadConfig::default() };
    /// let mut reader = logger.read_logs(&follow)?.cancel_on(gone);
    /// assert!(reader.next().is_none()); // the consumer is gone: no waiting
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    #[must_use]
    pub fn cancel_on(mut self, cancel: Arc<AtomicBool>) -> FileLogReader<F> {
        self.0.cancel_on(cancel);
        self
    }
}

impl<F: Format> Iterator for FileLogReader<F> {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Result<Message>> {
        self.0.next()
    }
}

#[cfg(test)]
mod tests {
    //! A format of a few lines gets rotation, compression, tail and follow
    //! from the engine.
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::error::Error;
    use crate::message::Source;
    use crate::time::YearOutOfRange;

    /// `<nanoseconds> <stream> <line>\n`.
    struct Plain;

    struct PlainEncoder;

    impl Encode for PlainEncoder {
        fn encode(
            &mut self,
            out: &mut Vec<u8>,
            msg: &Message,
        ) -> std::result::Result<(), YearOutOfRange> {
            let nanos = msg
                .timestamp
                .duration_since(UNIX_EPOCH)
                .map_err(|_| YearOutOfRange)?;
            out.extend_from_slice(format!("{} {} ", nanos.as_nanos(), msg.source).as_bytes());
            out.extend_from_slice(&msg.line);
            out.push(b'\n');
            Ok(())
        }
    }

    #[derive(Default)]
    struct PlainDecoder;

    impl Decode for PlainDecoder {
        fn decode(&mut self, path: &Path, line: u64, raw: &[u8]) -> Result<Message> {
            let corrupt = || Error::CorruptEntry {
                path: path.to_owned(),
                line,
                reason: "not <nanos> <stream> <line>".into(),
            };
            let text = std::str::from_utf8(raw).map_err(|_| corrupt())?;
            let mut parts = text.trim_end_matches('\n').splitn(3, ' ');
            let nanos: u64 = parts
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(corrupt)?;
            let source: Source = parts
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(corrupt)?;
            Ok(Message {
                timestamp: UNIX_EPOCH + Duration::from_nanos(nanos),
                ..Message::new(source, parts.next().unwrap_or("").to_owned())
            })
        }
    }

    impl Format for Plain {}

    impl sealed::Format for Plain {
        const NAME: &'static str = "plain";
        const NAMING: Naming = Naming::Numbered;
        type Decoder = PlainDecoder;

        fn open(_: &Info) -> Result<(Rotation, Box<dyn Encode>)> {
            let rotation = Rotation {
                max_size: Some(200),
                max_file: 3,
                compress: true,
                naming: Naming::Numbered,
            };
            Ok((rotation, Box::new(PlainEncoder)))
        }

        fn validate(_: &HashMap<String, String>) -> Result<()> {
            Ok(())
        }
    }

    fn text(reader: FileLogReader<Plain>) -> Vec<String> {
        reader
            .map(|m| String::from_utf8(m.unwrap().line.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn a_format_of_a_few_lines_rotates_compresses_tails_and_follows() {
        let dir = std::env::temp_dir().join(format!("logdriver-plain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.log");
        let logger = FileLogger::<Plain>::new(&Info::new("c").with_log_path(&path)).unwrap();
        let at = |i: u64| UNIX_EPOCH + Duration::from_secs(1_000 + i);
        for i in 0..30 {
            let msg = Message {
                timestamp: at(i),
                ..Message::new(Source::Stdout, format!("line {i:02}"))
            };
            logger.log(msg).unwrap();
        }
        let tail = ReadConfig {
            tail: Some(3),
            ..ReadConfig::default()
        };
        assert_eq!(
            text(logger.read_logs(&tail).unwrap()),
            ["line 27", "line 28", "line 29"]
        );
        let since = ReadConfig {
            since: Some(at(28)),
            ..ReadConfig::default()
        };
        assert_eq!(
            text(logger.read_logs(&since).unwrap()),
            ["line 28", "line 29"]
        );
        // Every entry the three files keep, oldest first, across .gz.
        let all = text(read_logs::<Plain>(&path, &ReadConfig::default()).unwrap());
        assert_eq!(all.last().map(String::as_str), Some("line 29"));
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");

        let follow = ReadConfig {
            follow: true,
            tail: Some(0),
            ..ReadConfig::default()
        };
        let mut follower = logger.read_logs(&follow).unwrap();
        logger.log(Message::new(Source::Stderr, "later")).unwrap();
        let later = follower.next().unwrap().unwrap();
        assert_eq!(
            (&later.line[..], later.source),
            (&b"later"[..], Source::Stderr)
        );
        logger.close().unwrap();
        assert!(follower.next().is_none());
        // About 30 bytes an entry, 200 bytes a file: rotated, each rotated
        // file compressed (Docker's naming) once `close` has waited for
        // them, three files kept.
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["c.log", "c.log.1.gz", "c.log.2.gz"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
