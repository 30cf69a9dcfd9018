//! The shim's side of `binary://`: [`Launcher`] and [`LaunchedLogger`].

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use nix::spawn::{posix_spawn, PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::uri::BinaryUri;

/// Why a logger could not be launched, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The URI is not a `binary://` URI the launcher can run.
    #[error("{uri:?} is not a binary logger URI: {reason}")]
    Uri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The logger could not be started.
    #[error("cannot start the binary logger {logger}: {source}")]
    Spawn {
        /// The logger's path.
        logger: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The logger neither signalled ready nor closed the ready pipe in
    /// time; it was killed.
    #[error("the binary logger {logger} was not ready within {timeout:?}; it was killed")]
    NotReady {
        /// The logger's path.
        logger: PathBuf,
        /// The ready timeout.
        timeout: Duration,
    },
    /// The logger exited before it signalled ready.
    #[error("the binary logger {logger} exited before it was ready: {status}")]
    ExitedBeforeReady {
        /// The logger's path.
        logger: PathBuf,
        /// How it exited.
        status: ExitStatus,
    },
    /// Making the pipes, or waiting for the logger, failed.
    #[error("binary logger {logger}: {source}")]
    Io {
        /// The logger's path.
        logger: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Starts binary loggers for containers, as containerd's shim does; each
/// [`LaunchedLogger`] is one running, with the write ends for its
/// container's stdout and stderr, and its bounded stop.
///
/// What the logger gets is containerd's contract (see the [module
/// docs](super)): the URI's query as `key value` arguments, only
/// `CONTAINER_ID` and `CONTAINER_NAMESPACE` in its environment, fd 3 and 4
/// reading the container's stdout and stderr, fd 5 the ready pipe's write
/// end, `/dev/null` as its stdin, stdout and stderr, and no other
/// descriptor of the launching process. Where containerd's shim leaves a
/// container hanging or its output nowhere, the launcher does not:
///
/// - **Ready within a timeout** ([`Launcher::ready_timeout`], 10 s by
///   default). A logger that neither writes a byte to fd 5 nor closes it
///   is killed, and [`LaunchError::NotReady`] names it; containerd's shim
///   waits for ever.
/// - **A logger that exits before it is ready** is
///   [`LaunchError::ExitedBeforeReady`]. containerd takes the end of the
///   ready pipe as ready, and starts the container with its output going
///   nowhere. The end of the pipe from a logger that still runs is ready,
///   as in containerd.
/// - **A stop that drains first**: [`LaunchedLogger::stop`] closes the
///   write ends, gives the logger [`Launcher::drain_timeout`] (5 s) to read
///   what is left and exit, then sends `SIGTERM`, waits
///   [`Launcher::term_timeout`] (12 s, containerd's), then `SIGKILL`.
///   containerd sends `SIGTERM` as soon as it closes the pipes.
/// - **Arguments in the URI's order.** containerd's come in Go's map
///   order, a new one each time; a key given twice comes once, with its
///   first value, in both.
/// - **Signals as a new program expects them:** an empty signal mask and
///   default dispositions, whatever the launching process blocks or
///   ignores (a Rust program ignores `SIGPIPE`).
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use logdriver::containerd::{Launcher, StoppedBy};
///
/// // A logger in one line of sh: ready, then it reads stdout to its end.
/// // (The query is its arguments: `-c "printf x >&5; exec …"`.)
/// let uri = "binary:///bin/sh?-c=printf+x+>%265%3B+exec+/bin/cat+<%263+>/dev/null";
/// let mut logger = Launcher::new(uri)?.launch("f00d5eed01", "default")?;
/// let (mut stdout, stderr) = logger.take_stdio().expect("not taken yet");
/// // These go to the container's process; here, one line.
/// writeln!(stdout, "hello")?;
/// drop((stdout, stderr));
/// let stopped = logger.stop()?;
/// assert_eq!(stopped.by, StoppedBy::Drained);
/// assert!(stopped.status.success());
///
/// let err = Launcher::new("fifo:///run/stdout").unwrap_err();
/// assert!(err.to_string().contains("only binary:// URIs start a logger"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Launcher {
    uri: BinaryUri,
    ready_timeout: Duration,
    drain_timeout: Duration,
    term_timeout: Duration,
}

/// The running logger of one container.
pub struct LaunchedLogger {
    logger: PathBuf,
    pid: Pid,
    /// The write ends for the container's stdout and stderr.
    stdio: Option<(File, File)>,
    drain_timeout: Duration,
    term_timeout: Duration,
    /// Set once reaped.
    status: Option<ExitStatus>,
}

/// How [`LaunchedLogger::stop`] ended the logger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoppedBy {
    /// It exited by itself once its pipes were closed.
    Drained,
    /// It exited on `SIGTERM`.
    Term,
    /// It was killed.
    Kill,
}

/// A stopped logger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Its exit status.
    pub status: ExitStatus,
    /// What ended it.
    pub by: StoppedBy,
}

impl Launcher {
    /// How long [`launch`](Launcher::launch) waits for ready by default.
    pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long [`LaunchedLogger::stop`] waits for the logger to drain and
    /// exit by itself, by default.
    pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
    /// How long [`LaunchedLogger::stop`] waits after `SIGTERM` before
    /// `SIGKILL`, by default: containerd's twelve seconds.
    pub const DEFAULT_TERM_TIMEOUT: Duration = Duration::from_secs(12);

    /// A launcher for the logger `uri` names, parsed as containerd parses
    /// it: `binary://` and an absolute path, then the query, its keys and
    /// values percent-decoded.
    ///
    /// # Errors
    ///
    /// [`LaunchError::Uri`] for any other scheme (`fifo`, `file`, none)
    /// or a path that is not absolute.
    pub fn new(uri: &str) -> Result<Launcher, LaunchError> {
        Ok(Launcher {
            uri: BinaryUri::parse(uri)?,
            ready_timeout: Self::DEFAULT_READY_TIMEOUT,
            drain_timeout: Self::DEFAULT_DRAIN_TIMEOUT,
            term_timeout: Self::DEFAULT_TERM_TIMEOUT,
        })
    }

    /// Sets how long to wait for the logger to be ready.
    pub fn ready_timeout(mut self, timeout: Duration) -> Launcher {
        self.ready_timeout = timeout;
        self
    }

    /// Sets how long a stop waits for the logger to exit by itself.
    pub fn drain_timeout(mut self, timeout: Duration) -> Launcher {
        self.drain_timeout = timeout;
        self
    }

    /// Sets how long a stop waits after `SIGTERM`.
    pub fn term_timeout(mut self, timeout: Duration) -> Launcher {
        self.term_timeout = timeout;
        self
    }

    /// The logger's path.
    pub fn logger(&self) -> &Path {
        &self.uri.path
    }

    /// The logger's arguments, after its path: the query's `key value`
    /// pairs, in the URI's order.
    pub fn args(&self) -> &[String] {
        &self.uri.args
    }

    /// Starts the logger for container `id` in `namespace`, and waits until
    /// it is ready.
    ///
    /// # Errors
    ///
    /// [`LaunchError::Spawn`] when it cannot start (no such file, not
    /// executable), [`LaunchError::NotReady`] and
    /// [`LaunchError::ExitedBeforeReady`] as the [type's docs](Launcher) say,
    /// [`LaunchError::Io`] when the pipes cannot be made.
    pub fn launch(&self, id: &str, namespace: &str) -> Result<LaunchedLogger, LaunchError> {
        let logger = self.uri.path.clone();
        let io_error = |source| LaunchError::Io {
            logger: logger.clone(),
            source,
        };
        let (out_r, out_w) = pipe().map_err(io_error)?;
        let (err_r, err_w) = pipe().map_err(io_error)?;
        let (ready_r, ready_w) = pipe().map_err(io_error)?;
        let pid = self
            .spawn(id, namespace, [&out_r, &err_r, &ready_w])
            .map_err(|source| LaunchError::Spawn {
                logger: logger.clone(),
                source,
            })?;
        // Only the logger holds these now.
        drop((out_r, err_r, ready_w));
        let mut launched = LaunchedLogger {
            logger: logger.clone(),
            pid,
            stdio: Some((File::from(out_w), File::from(err_w))),
            drain_timeout: self.drain_timeout,
            term_timeout: self.term_timeout,
            status: None,
        };
        match wait_ready(ready_r, self.ready_timeout) {
            Ready::Yes => {}
            Ready::Ended => {
                // The end of the pipe is ready, unless the logger is gone.
                if let Some(status) = launched.reap_within(Duration::from_millis(200)) {
                    return Err(LaunchError::ExitedBeforeReady { logger, status });
                }
            }
            Ready::TimedOut => {
                let _ = kill(pid, Signal::SIGKILL);
                launched.reap_blocking();
                return Err(LaunchError::NotReady {
                    logger,
                    timeout: self.ready_timeout,
                });
            }
        }
        Ok(launched)
    }

    /// `posix_spawn` with `fds` as 3, 4 and 5, `/dev/null` as 0, 1 and 2,
    /// no other descriptor, containerd's two variables as the
    /// environment, and signals reset.
    fn spawn(&self, id: &str, namespace: &str, fds: [&OwnedFd; 3]) -> io::Result<Pid> {
        let c = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| io::Error::other("a NUL byte in an argument"))
        };
        let path = c(self.uri.path.as_os_str().as_bytes())?;
        let mut argv = vec![path.clone()];
        for arg in &self.uri.args {
            argv.push(c(arg.as_bytes())?);
        }
        let env = [
            c(format!("CONTAINER_ID={id}").as_bytes())?,
            c(format!("CONTAINER_NAMESPACE={namespace}").as_bytes())?,
        ];
        let sources = fds.map(|fd| fd.as_raw_fd());
        let dev_null = File::options().read(true).write(true).open("/dev/null")?;
        let null = dev_null.as_raw_fd();
        let mut actions = PosixSpawnFileActions::init()?;
        // Descriptors the launching process left inheritable are not the
        // logger's: closed in it. (One closed meanwhile is no error.)
        for fd in open_fds()? {
            if fd > 2 && fd != null && !sources.contains(&fd) {
                actions.add_close(fd)?;
            }
        }
        for to in 0..3 {
            actions.add_dup2(null, to)?;
        }
        // Through numbers above every source, so that no move to 3, 4 or
        // 5 overwrites a source not yet moved.
        let above = sources.iter().copied().chain([null, 5]).max().unwrap_or(5) + 1;
        for (i, &fd) in sources.iter().enumerate() {
            actions.add_dup2(fd, above + i as i32)?;
        }
        for i in 0..3 {
            actions.add_dup2(above + i, 3 + i)?;
            actions.add_close(above + i)?;
        }
        let mut attr = PosixSpawnAttr::init()?;
        attr.set_sigmask(&SigSet::empty())?;
        attr.set_sigdefault(&SigSet::all())?;
        attr.set_flags(
            PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
        )?;
        Ok(posix_spawn(path.as_c_str(), &actions, &attr, &argv, &env)?)
    }
}

/// A pipe, both ends close-on-exec.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = std::io::pipe()?;
    Ok((r.into(), w.into()))
}

/// This process's open descriptors.
fn open_fds() -> io::Result<Vec<i32>> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if let Some(fd) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
            fds.push(fd);
        }
    }
    Ok(fds)
}

/// What the ready pipe said.
enum Ready {
    /// A byte.
    Yes,
    /// Its end: the logger closed it, or exited.
    Ended,
    TimedOut,
}

/// Waits for a byte, or the end, on the ready pipe, at most `timeout`: a
/// thread reads it, and is left to end by itself (the logger's end closes
/// when it exits, or is killed).
fn wait_ready(ready: OwnedFd, timeout: Duration) -> Ready {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("logdriver-ready".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            let _ = tx.send(File::from(ready).read(&mut byte));
        });
    if spawned.is_err() {
        return Ready::Ended;
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(1)) => Ready::Yes,
        Ok(_) => Ready::Ended,
        Err(_) => Ready::TimedOut,
    }
}

impl LaunchedLogger {
    /// The logger's process id.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// The write ends of the container's stdout and stderr, to hand to
    /// the container; `None` once taken. The logger sees the end of the
    /// container's output when both are closed.
    pub fn take_stdio(&mut self) -> Option<(File, File)> {
        self.stdio.take()
    }

    /// Stops the logger: closes the write ends still held, waits for it
    /// to drain and exit by itself (the drain timeout), then sends
    /// `SIGTERM` and waits (the term timeout), then `SIGKILL`. Returns
    /// its exit status and what ended it; never waits longer than the two
    /// timeouts, and a moment for the kill.
    ///
    /// The container's own copies of the write ends must be closed too
    /// (its process has exited) for the logger to see the end.
    ///
    /// # Errors
    ///
    /// [`LaunchError::Io`] when the logger cannot be waited for.
    pub fn stop(mut self) -> Result<Stopped, LaunchError> {
        self.stop_now()
    }

    fn stop_now(&mut self) -> Result<Stopped, LaunchError> {
        drop(self.stdio.take());
        if let Some(status) = self.reap_within(self.drain_timeout) {
            return Ok(Stopped {
                status,
                by: StoppedBy::Drained,
            });
        }
        let _ = kill(self.pid, Signal::SIGTERM);
        if let Some(status) = self.reap_within(self.term_timeout) {
            return Ok(Stopped {
                status,
                by: StoppedBy::Term,
            });
        }
        let _ = kill(self.pid, Signal::SIGKILL);
        match self.reap_blocking() {
            Some(status) => Ok(Stopped {
                status,
                by: StoppedBy::Kill,
            }),
            None => Err(LaunchError::Io {
                logger: self.logger.clone(),
                source: io::Error::other("cannot wait for the killed logger"),
            }),
        }
    }

    /// Its status, once it has exited within `timeout`.
    fn reap_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_reap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn reap_blocking(&mut self) -> Option<ExitStatus> {
        while self.status.is_none() {
            match waitpid(self.pid, None) {
                Ok(status) => self.record(status),
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        self.status
    }

    fn try_reap(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(status) => self.record(status),
                Err(_) => return None,
            }
        }
        self.status
    }

    fn record(&mut self, status: WaitStatus) {
        self.status = match status {
            WaitStatus::Exited(_, code) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
            WaitStatus::Signaled(_, signal, _) => Some(ExitStatus::from_raw(signal as i32)),
            _ => None,
        };
    }
}

impl fmt::Debug for LaunchedLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaunchedLogger")
            .field("logger", &self.logger)
            .field("pid", &self.pid)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Drop for LaunchedLogger {
    /// A logger not stopped is stopped, with its timeouts.
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.stop_now();
        }
    }
}
