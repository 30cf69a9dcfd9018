//! Any registered driver as a containerd *binary logger*.
//!
//! `ctr run --log-uri "binary:///path/to/program?key=value&…"` (and
//! nerdctl's `--log-driver binary:///…`) has containerd's shim start that
//! program for the container and hand it the container's output. [`run`]
//! is everything such a program needs: it creates the driver named in the
//! URI through a [`Registry`], with its validation, copies the container's
//! stdout and stderr into it with a [`Copier`], and closes it at the end.
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! fn main() -> ExitCode {
//!     logdriver::containerd::run(logdriver::registry())
//! }
//! ```
//!
//! ```text
//! ctr run --log-uri "binary:///usr/local/bin/containerd_logger?driver=zmq&zmq-address=tcp://127.0.0.1:5555" \
//!     docker.io/library/busybox:latest web sh -c 'echo hello'
//! nerdctl run --log-driver "binary:///usr/local/bin/containerd_logger?driver=json-file&log-dir=/var/log/ctr" …
//! ```
//!
//! # The shim's side: [`Launcher`]
//!
//! A shim or runtime of your own that should start binary loggers, as
//! containerd's shim does, has [`Launcher`]: it parses the URI as
//! containerd does, starts the logger with the contract below, waits for
//! ready within a bound, and stops the logger with one; see its docs for
//! where it differs from containerd's shim, and `examples/binary_launcher.rs`.
//!
//! # Why the Copier and not `Pump`
//!
//! containerd starts one logger process per container, so the process
//! serves two pipes: the Copier's two threads cost less than a `Pump`'s
//! poll thread and four delivery threads. A process that serves many
//! containers' descriptors at once (a shim or runtime of your own) should
//! choose `Pump` (feature `pump`) instead.
//!
//! # The shim's contract
//!
//! As containerd 1.6 keeps it (its `NewBinaryIO`), checked against a real
//! containerd by `tests/containerd_e2e.sh`:
//!
//! - The URI's query arrives as arguments, `key value` pairs in no fixed
//!   order; a key given twice arrives once, with its first value.
//! - `CONTAINER_ID` and `CONTAINER_NAMESPACE` are in the environment.
//! - File descriptor 3 reads the container's stdout, 4 its stderr, and 5 is
//!   the write end of the *ready* pipe: the shim starts the container once
//!   it reads a byte, or the end of the pipe, from it.
//! - The working directory is the task's bundle: its `config.json` holds
//!   the container's process, and `log` is the shim's own log, which
//!   containerd copies into its log.
//! - The program's stdout and stderr are `/dev/null`, and its exit status
//!   is not looked at.
//! - When the task is deleted, the shim closes its ends of the pipes, sends
//!   `SIGTERM`, and `SIGKILL` twelve seconds later.
//!
//! # What `run` decides
//!
//! - **The driver** is the URI's `driver` (by default [`DEFAULT_DRIVER`],
//!   `json-file`); every other key but `log-dir` is one of its options, so
//!   `mode=non-blocking` works as with `--log-opt`.
//! - **Files** go to `<log-dir>/<namespace>/<container id>.log`
//!   ([`Config::log_path`]); `log-dir` defaults to [`DEFAULT_LOG_DIR`]. The
//!   id and the namespace must be containerd identifiers, so neither can
//!   lead the path out of `log-dir`.
//! - **The [`Info`]** has the container's id (also as its name), the
//!   namespace as the label [`NAMESPACE_LABEL`], `daemon_name`
//!   `containerd`, and, read from the bundle's `config.json` when there is
//!   one, the container's command and environment: a `TENANT_ID` set with
//!   `ctr run --env` reaches the `zmq` driver as it does under Docker.
//! - **Ready** is one byte written to fd 5, once the driver exists and the
//!   Copier runs, so not a line is read before there is somewhere to put it.
//! - **A bad option** cannot fail the start the way the shim's contract
//!   suggests: the end of the ready pipe, which is all an exiting program
//!   leaves behind, also means ready, and the container would run with its
//!   output going nowhere. So `run` writes the error to the shim's log
//!   (where `journalctl -u containerd` shows it) and to stderr, then kills
//!   the shim, but only a shim whose command line says it serves this
//!   container alone. The start fails: `ctr: failed to create shim task:
//!   ttrpc: closed`. Nothing else is left running.
//! - **`SIGTERM`** is blocked: the shim closes the pipes before sending it,
//!   so the lines still in them are drained, and the driver closes within
//!   its own linger, well inside the shim's twelve seconds.
//! - **`SIGUSR1`** reopens the driver's file, for `k8s-file` (what a
//!   kubelet's `ReopenContainerLog` asks): rename the log, then
//!   `kill -USR1` the logger; records written after that go to a new file
//!   at the path. For a driver with nothing to reopen it is reported to
//!   the shim's log and otherwise ignored.
//! - **Metrics**: with `metrics-address=unix:/run/logdriver/<id>.sock`
//!   (or a loopback `127.0.0.1:PORT`), the driver's counts are served
//!   there as Prometheus text while the container runs, labelled
//!   `container`, `namespace` and `driver`; one logger serves one
//!   container, so each needs its own address. A bad address fails the
//!   start as a bad option does; one that cannot be bound is reported and
//!   the logging goes on.
//! - **The exit status** says what happened: 0, every line delivered; 1,
//!   lines were lost (see the report on stderr and in the shim's log); 2,
//!   the driver could not start.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

mod config;
mod launcher;
mod uri;

use config::add_bundle;
pub use config::Config;
pub use launcher::{LaunchError, LaunchedLogger, Launcher, Stopped, StoppedBy};

use crate::copier::{Copier, CopyStats};
use crate::info::Info;
use crate::logger::{Logger, LoggerStats};
use crate::message::Source;
use crate::metrics::{render_prometheus, CountChunks, MetricsAddress, StatsSample};
use crate::registry::Registry;

/// The driver when the URI names none: `json-file`, which needs no options.
pub const DEFAULT_DRIVER: &str = "json-file";
/// Where file drivers write when the URI gives no `log-dir`.
pub const DEFAULT_LOG_DIR: &str = "/var/lib/logdriver/containerd";
/// The [`Info::container_labels`] key that holds the container's namespace.
pub const NAMESPACE_LABEL: &str = "io.containerd.namespace";

/// Why a binary logger could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The shim sets this variable; without it, this is not a shim's child.
    #[error(
        "{0} is not set: start this program as a containerd binary logger (--log-uri binary:///…)"
    )]
    MissingEnv(&'static str),

    /// An id or namespace that is not a containerd identifier.
    #[error("{what} {value:?} is not a containerd identifier")]
    InvalidIdentifier {
        /// `CONTAINER_ID` or `CONTAINER_NAMESPACE`.
        what: &'static str,
        /// The value, as given.
        value: String,
    },

    /// An argument without its value: the shim passes `key value` pairs.
    #[error("argument {key:?} has no value: expected the URI's query as key value pairs")]
    MissingValue {
        /// The last argument.
        key: String,
    },

    /// One of the descriptors the shim passes could not be opened.
    #[error("file descriptor {fd} ({what}) from the shim: {source}")]
    Descriptor {
        /// 3, 4 or 5.
        fd: u8,
        /// `stdout`, `stderr` or `ready`.
        what: &'static str,
        /// Why it could not be opened.
        #[source]
        source: io::Error,
    },

    /// A `metrics-address` that is neither a unix socket nor a loopback
    /// address.
    #[error("metrics-address {0}")]
    MetricsAddress(String),

    /// The driver refused its options, or could not be created.
    #[error(transparent)]
    Driver(#[from] crate::Error),
}

/// The descriptors the shim passes: the container's output, and the ready pipe.
#[derive(Debug)]
pub struct ShimIo {
    /// The container's stdout (fd 3).
    pub stdout: File,
    /// The container's stderr (fd 4).
    pub stderr: File,
    /// The ready pipe (fd 5): one byte, or its end, starts the container.
    pub ready: File,
}

impl ShimIo {
    /// Opens fds 3, 4 and 5 of this process.
    ///
    /// Through `/proc/self/fd`, which opens the same pipes again without
    /// taking ownership of descriptors nothing here created.
    ///
    /// # Errors
    ///
    /// [`StartError::Descriptor`] when one is not open, or not a pipe.
    pub fn inherited() -> Result<ShimIo, StartError> {
        let open = |fd: u8, what: &'static str, write: bool| {
            let path = format!("/proc/self/fd/{fd}");
            let descriptor = |source| StartError::Descriptor { fd, what, source };
            // Non-blocking, so that the open itself never waits for the
            // other end; the reads and the write then block as usual.
            let file = OpenOptions::new()
                .read(!write)
                .write(write)
                .custom_flags(nix::libc::O_NONBLOCK)
                .open(path)
                .map_err(descriptor)?;
            if !file.metadata().map_err(descriptor)?.file_type().is_fifo() {
                return Err(descriptor(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a pipe",
                )));
            }
            nix::fcntl::fcntl(
                &file,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
            )
            .map_err(|e| descriptor(e.into()))?;
            Ok(file)
        };
        Ok(ShimIo {
            stdout: open(3, "stdout", false)?,
            stderr: open(4, "stderr", false)?,
            ready: open(5, "ready", true)?,
        })
    }
}

/// What [`serve`] did, once the container's output ended.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// What the Copier read and handed over.
    pub copied: CopyStats,
    /// What the driver says it delivered and dropped.
    pub delivered: LoggerStats,
    /// The driver's error from `close`, if it had one.
    pub close_error: Option<crate::Error>,
}

impl Outcome {
    /// Whether any line may not have reached its destination.
    pub fn lost_lines(&self) -> bool {
        self.copied.log_errors > 0
            || self.copied.read_errors > 0
            || self.delivered.dropped > 0
            || self.delivered.errors > 0
            || self.close_error.is_some()
    }

    /// 0 when nothing was lost, else 1.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(u8::from(self.lost_lines()))
    }
}

/// Creates the driver for `info`, signals ready, and copies `io` into it.
///
/// The driver is `config.driver` from `registry`, created with `info`,
/// which is usually [`Config::info`]. Ready is signalled only once the
/// driver exists and the Copier runs. Returns at the end of both streams,
/// after closing the driver.
///
/// # Errors
///
/// [`StartError::Driver`] when the driver refuses its options or cannot be
/// created, or the Copier cannot start; ready is not signalled then.
///
/// # Examples
///
/// A shim's part played with pipes:
///
/// ```
/// use std::fs::File;
/// use std::io::{Read, Write};
/// use std::os::fd::OwnedFd;
/// use logdriver::containerd::{self, Config, ShimIo};
///
/// let pipe = |(r, w): (std::io::PipeReader, std::io::PipeWriter)| {
///     (File::from(OwnedFd::from(r)), File::from(OwnedFd::from(w)))
/// };
/// let (stdout, mut container_stdout) = pipe(std::io::pipe()?);
/// let (stderr, container_stderr) = pipe(std::io::pipe()?);
/// let (mut shim_ready, ready) = pipe(std::io::pipe()?);
///
/// let config = Config::parse(["driver", "none"], "web", "default")?;
/// let io = ShimIo { stdout, stderr, ready };
/// let logger = std::thread::spawn(move || {
///     containerd::serve(logdriver::registry(), &config, config.info(), io)
/// });
///
/// let mut byte = [0];
/// assert_eq!(shim_ready.read(&mut byte)?, 1); // ready: start the container
/// writeln!(container_stdout, "hello")?;
/// drop((container_stdout, container_stderr)); // the container ends
///
/// let outcome = logger.join().unwrap()?;
/// assert_eq!(outcome.copied.lines, 1);
/// assert!(!outcome.lost_lines());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve(
    registry: &Registry,
    config: &Config,
    info: Info,
    io: ShimIo,
) -> Result<Outcome, StartError> {
    serve_with(registry, config, info, io, |_| {})
}

/// [`serve`], with `started` called once the driver runs and ready is
/// signalled.
fn serve_with(
    registry: &Registry,
    config: &Config,
    info: Info,
    io: ShimIo,
    started: impl FnOnce(&Arc<dyn Logger>),
) -> Result<Outcome, StartError> {
    registry.validate(&config.driver, &info.config)?;
    if let Some(dir) = info.log_path.as_deref().and_then(Path::parent) {
        // Only a driver that writes files needs it, and only it can say so:
        // a directory that cannot be made is its error, at creation.
        let _ = std::fs::create_dir_all(dir);
    }
    let logger = CountChunks::wrap(registry.create(&config.driver, &info)?);
    let copier = Copier::new(Arc::clone(&logger))
        .source(Source::Stdout, io.stdout)
        .source(Source::Stderr, io.stderr)
        .run();
    let copier = match copier {
        Ok(copier) => copier,
        Err(err) => {
            let _ = logger.close();
            return Err(err.into());
        }
    };
    // Ready. A shim that went away meanwhile has nothing left to start.
    let mut ready = io.ready;
    let _ = ready.write_all(&[0]);
    drop(ready);
    started(&logger);

    let copied = copier.wait();
    let close_error = logger.close().err();
    Ok(Outcome {
        copied,
        delivered: logger.stats(),
        close_error,
    })
}

/// Serves the driver named in the shim's arguments; returns the exit status.
///
/// Call it first thing in `main`, before any thread starts: it blocks
/// `SIGTERM` for the threads that follow (see the [module docs](self)).
/// Errors go to stderr and to the shim's log.
pub fn run(registry: &Registry) -> ExitCode {
    let mut blocked = nix::sys::signal::SigSet::empty();
    blocked.add(nix::sys::signal::Signal::SIGTERM);
    blocked.add(nix::sys::signal::Signal::SIGUSR1);
    let _ = blocked.thread_block();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            report(None, &err);
            return ExitCode::from(2);
        }
    };
    let mut info = config.info();
    add_bundle(&mut info, Path::new("."));
    let served = ShimIo::inherited().and_then(|io| {
        serve_with(registry, &config, info, io, |l| {
            reopen_on_usr1(l, &config);
            serve_metrics(l, &config);
        })
    });
    match served {
        Ok(outcome) => {
            if outcome.lost_lines() {
                report(Some(&config), &lost_report(&outcome));
            }
            outcome.exit_code()
        }
        Err(err) => {
            report(Some(&config), &err);
            fail_start(&config.container_id);
            ExitCode::from(2)
        }
    }
}

/// Serves the driver's counts at `metrics-address`, if there is one,
/// labelled `container`, `namespace` and `driver`. An address that cannot
/// be bound is reported; the container's logging goes on without it.
fn serve_metrics(logger: &Arc<dyn Logger>, config: &Config) {
    let Some(address) = &config.metrics else {
        return;
    };
    if let MetricsAddress::Unix(path) = address {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
    }
    let logger = Arc::clone(logger);
    let (id, namespace) = (config.container_id.clone(), config.namespace.clone());
    let served = crate::metrics::serve(address, move || {
        let labels = [
            ("container", id.as_str()),
            ("namespace", namespace.as_str()),
            ("driver", logger.name()),
        ];
        render_prometheus(&[StatsSample {
            labels: &labels,
            stats: logger.stats(),
        }])
    });
    if let Err(err) = served {
        report(
            Some(config),
            &format!("metrics-address {address}: {err}; not serving metrics"),
        );
    }
}

/// Reopens the driver's file at each `SIGUSR1`, which every thread blocks
/// and this one takes with `sigwait`.
fn reopen_on_usr1(logger: &Arc<dyn Logger>, config: &Config) {
    let (logger, config) = (Arc::clone(logger), config.clone());
    let _ = std::thread::Builder::new()
        .name("logdriver-usr1".into())
        .spawn(move || {
            let mut usr1 = nix::sys::signal::SigSet::empty();
            usr1.add(nix::sys::signal::Signal::SIGUSR1);
            while usr1.wait().is_ok() {
                match logger.reopen_log() {
                    Some(Ok(())) => {}
                    Some(Err(err)) => report(Some(&config), &format!("SIGUSR1: {err}")),
                    None => report(
                        Some(&config),
                        &"SIGUSR1: the driver has no file to reopen; ignored",
                    ),
                }
            }
        });
}

fn lost_report(outcome: &Outcome) -> String {
    let Outcome {
        copied,
        delivered,
        close_error,
    } = outcome;
    let mut report = format!(
        "lines may be lost: {} of {} messages failed in the driver, {} reads failed, \
         the driver dropped {} and failed {}",
        copied.log_errors, copied.lines, copied.read_errors, delivered.dropped, delivered.errors
    );
    if let Some(err) = close_error {
        report.push_str(&format!("; close: {err}"));
    }
    report
}

/// Writes `what` to stderr and, as the shim discards stderr, to the shim's log.
fn report(config: Option<&Config>, what: &dyn std::fmt::Display) {
    let line = match config {
        Some(c) => format!(
            "logdriver containerd logger: container {} (namespace {}), driver {}: {what}\n",
            c.container_id, c.namespace, c.driver
        ),
        None => format!("logdriver containerd logger: {what}\n"),
    };
    let _ = io::stderr().write_all(line.as_bytes());
    // The shim's log is a FIFO in the bundle, the working directory. Never
    // wait for it: without a reader the open fails at once.
    let shim_log = OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open("log");
    if let Ok(mut log) = shim_log {
        if log.metadata().is_ok_and(|m| m.file_type().is_fifo()) {
            let _ = log.write_all(line.as_bytes());
        }
    }
}

/// Kills the parent, if it is a containerd shim that serves only
/// `container_id`, so that the container's start fails rather than runs
/// with its output going nowhere. Returns whether it did.
fn fail_start(container_id: &str) -> bool {
    let parent = std::os::unix::process::parent_id();
    let Ok(cmdline) = std::fs::read(format!("/proc/{parent}/cmdline")) else {
        return false;
    };
    if !is_own_shim(&cmdline, container_id) {
        return false;
    }
    let parent = nix::unistd::Pid::from_raw(parent as i32);
    nix::sys::signal::kill(parent, nix::sys::signal::Signal::SIGKILL).is_ok()
}

/// Whether `cmdline` (NUL-separated) runs a containerd shim with
/// `-id <container_id>`: a shim that groups containers (as for a pod) has
/// the group's id there, and is left alone.
fn is_own_shim(cmdline: &[u8], container_id: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let is_shim = args.first().is_some_and(|program| {
        let name = program.rsplit(|&b| b == b'/').next().unwrap_or(program);
        name.starts_with(b"containerd-shim")
    });
    is_shim
        && args
            .windows(2)
            .any(|w| w[0] == b"-id" && w[1] == container_id.as_bytes())
}

#[cfg(test)]
mod tests;
