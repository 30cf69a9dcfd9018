//! Container log-driver primitives: what Docker's daemon does with a
//! container's stdout and stderr, as an embeddable library.
//!
//! # A tour
//!
//! A [`Logger`] is a log driver: it takes one [`Message`] (a line, its
//! [`Source`] stream, a timestamp and, for a long line cut into chunks,
//! its [`PartialMeta`]) and sends it somewhere. Implement it for your own
//! transport, or use a built-in driver from [`drivers`].
//!
//! A [`Registry`] maps driver names to the functions that create them and
//! check their options, the way `--log-driver` and `--log-opt` pick and
//! configure a driver in Docker. [`registry()`] is the process-wide one,
//! with the built-in drivers in it. [`Registry::create`] builds a driver
//! for one container, described by an [`Info`].
//!
//! A [`Copier`] reads a child process's pipes, one thread per stream, cuts
//! them into lines without copying them, and calls the driver for each.
//! A driver that fails or panics is counted and skipped, never allowed to
//! stop the pipe from draining, so a broken logger cannot wedge a
//! container.
//!
//! A caller that owns its read loop (a tokio program, a shim that shares
//! the bytes with attach) pushes them through a [`LineWriter`] instead:
//! the same law, the same counts, no thread. Which entry to use:
//!
//! | you have | use |
//! |---|---|
//! | a `std::io::Read` per stream, and a thread each to spare | [`Copier`] |
//! | the bytes already, in a loop of your own (`Bytes` or `&[u8]`) | [`LineWriter`]: `push` without copying, or `impl Write` |
//! | a tokio `AsyncRead` (a child's pipe, a ttrpc stream) on your runtime | `copy_async` (feature `tokio`): a future you spawn; the driver runs on the blocking pool, so a slow one never stalls the runtime. The `asynchronous` page shows closing and following too |
//! | file descriptors of many containers (a runtime, a shim serving thousands) | `Pump` (feature `pump`): one epoll thread and four delivery threads for all of them; no buffer for an idle pipe; a stuck driver slows only its own container |
//!
//! In blocking mode (the default) a slow driver slows the container, and
//! no line is lost. With `mode=non-blocking`, [`Registry::create`] puts a
//! [`NonBlocking`] buffer in front of the driver: the container never
//! waits, and every line the buffer cannot hold is counted. Whatever the
//! driver and the mode, [`Logger::stats`] on what `create` returns tells
//! how many lines went out and how many were dropped or failed.
//!
//! Built-in drivers: `json-file` ([`drivers::jsonfile`]) writes Docker's
//! JSON lines byte for byte, rotates and compresses them, and reads them
//! back; `k8s-file` ([`drivers::k8sfile`]) writes the Kubernetes (CRI)
//! format that the kubelet and podman read, rotates it the kubelet's way
//! or reopens it on request, and reads back CRI files of any writer;
//! `local` ([`drivers::local`]) writes Docker's compact protobuf records,
//! rotated and compressed by default, and tails them from the end;
//! `fluentd` ([`drivers::fluentd`]) sends Docker's forward-protocol
//! records, connecting lazily, bounded in time, and with acks resending
//! what a reconnection could have lost;
//! `journald` (feature `journald`, on by default; Linux) writes Docker's
//! journal fields over journald's native protocol, binary-safe, and reads
//! them back through `journalctl`;
//! `none` ([`drivers::none`]) discards everything;
//! `zmq` (feature `zmq`, on by default) publishes each line to ZeroMQ log
//! hubs as `[tenant_id, service_id, "<container id>: <line>"]`, losing
//! nothing while a hub listens; `nats` (feature `nats`) publishes each
//! line into a NATS JetStream stream, at least once, deduplicated by
//! message id, on subjects `logs.<tenant>.<service>`; `otlp` (feature
//! `otlp`) sends each line as an OpenTelemetry log record over OTLP/HTTP
//! to any collector, long lines joined back into one record, retried while
//! the collector is busy or down.
//!
//! Reading back is a capability: a driver that can read what it wrote
//! implements [`LogReader`] and says so through [`Logger::reader`];
//! [`ReadConfig`] says what to read (Docker's tail, since, until, follow).
//!
//! The [`plugin`] module (feature `plugin`, on by default) serves any
//! registered driver to a stock dockerd as a logging plugin:
//! `docker run --log-driver logdriver --log-opt …`, and `docker logs` for
//! any driver with a reader.
//!
//! The [`containerd`] module (feature `containerd`, on by default) serves
//! any registered driver as a containerd binary logger:
//! `ctr run --log-uri "binary:///…?driver=zmq&zmq-address=…"`.
//!
//! # Where each concept lives
//!
//! | file | what |
//! |---|---|
//! | `message.rs`, `logger.rs`, `info/`, `error.rs`, `read.rs` | the contract every driver knows: [`Message`], [`Logger`] (and the one crate-private function that hands a driver a batch and survives its panics), [`Info`], [`Error`], [`LogReader`]; `line_run.rs`, [`LineRun`], the whole lines of one read for a driver that delivers them on another thread; beside them `log_entry.rs`, Docker's `LogEntry` protobuf once: the codec, the mapping to a [`Message`] and the length framing that `local` and the plugin share |
//! | `registry/` | [`Registry`]: names to creators, validators and whether each reads back (`mod.rs`); `mode.rs` the options it handles for every driver (`mode=non-blocking` and its buffer); `builtins.rs` the built-in drivers, which it registers itself |
//! | `copier/` | the line law and its entries: `lines.rs` cuts bytes into lines and chunks; `sink.rs` counts, batches and delivers them; `mod.rs` is [`Copier`] (one thread per stream: read, cut, deliver); `writer.rs` is [`LineWriter`] (pushed bytes); `async_copy.rs` is `copy_async` (feature `tokio`); `pump.rs` is `Pump` (feature `pump`) |
//! | `nonblocking/` | [`NonBlocking`]: `mod.rs` the handle, `queue.rs` the buffer's rules (its entries are batches of messages and [`LineRun`]s), `worker.rs` the worker, which makes a run's messages, and its sleep protocol |
//! | `drivers/` | one folder or file per driver; drivers know the contract, never the Copier or the Registry. `drivers/file/` is the file engine: one `FileLogger<F: Format>` (`logger.rs`) with the one `impl Logger` and `impl LogReader`, over appends, rotation with Docker's or the kubelet's names and compression off the write path (`mod.rs`), then in one direction `segment.rs` (a file as entries: framing, walking back for tail), `follow.rs` (the live file as it grows and rotates) and `read.rs` (tail, since, until, follow); `jsonfile`, `k8sfile` and `local` are each a `Format` (a name, a naming, an encoder, a decoder and their options), and their `JsonFileLogger`, `K8sFileLogger` and `LocalLogger` are aliases of `FileLogger`. `drivers/util/` is what the network drivers share: options read by type with their errors (`Options`), counts (`Counters`), back-off, and a socket that keeps one deadline for every step (`conn.rs`); `fluentd/`, `nats/` and `otlp/` are each split into `config.rs` (options), `link.rs` (the connection) and, for fluentd and otlp, `queue.rs`, with fluentd's `record.rs` and otlp's `proto.rs` (records written by hand), `http.rs` (a minimal HTTP/1.1 POST) and `endpoint.rs`; `journald/` is `config.rs`, `entry.rs` (the native protocol's fields), `socket.rs` (the datagram socket, and the sealed memfd for big entries), `export.rs` and `read.rs` (journalctl's export format, read back) |
//! | `containerd/` | [`containerd::run`]: the shim's descriptors and arguments, to a driver and a Copier |
//! | `plugin/` | `http.rs` the HTTP server, `routes.rs` the endpoints, `requests.rs` dockerd's JSON bodies, `fifo.rs` the FIFO pump, `read_logs.rs` ReadLogs, `proto.rs` the public `LogEntry` types (prost's derive, for callers that build frames), `cli.rs` the `logdriver-plugin` command line |
//! | `asynchronous.rs` | a page (feature `tokio`): how a tokio program copies, closes and follows |
//! | `options.rs` | [`options`]: the `--log-opt` keys that are not one driver's (`mode`, `max-buffer-size`, `tag`, `labels`, `env`…); limits and defaults live on their types ([`Copier::DEFAULT_CHUNK_SIZE`], [`NonBlocking::DEFAULT_MAX_BUFFER_BYTES`]) |
//! | `units.rs`, `time.rs` | sizes and durations with their bounds; RFC 3339 times |
//!
//! # Example
//!
//! A driver of your own, registered by name, fed from a child process:
//!
//! ```
//! # #[cfg(unix)] {
//! use std::process::{Command, Stdio};
//! use std::sync::{Arc, Mutex};
//! use logdriver::{Copier, Info, Logger, Message, Registry, Result, Source};
//!
//! /// Keeps every line in memory.
//! #[derive(Default)]
//! struct Memory(Mutex<Vec<(Source, String)>>);
//!
//! impl Logger for Memory {
//!     fn log(&self, msg: Message) -> Result<()> {
//!         let line = String::from_utf8_lossy(&msg.line).into_owned();
//!         self.0.lock().unwrap().push((msg.source, line));
//!         Ok(())
//!     }
//!     fn name(&self) -> &str { "memory" }
//!     fn close(&self) -> Result<()> { Ok(()) }
//! }
//!
//! let memory = Arc::new(Memory::default());
//! let registry = Registry::new();
//! let shared = memory.clone();
//! registry.register_driver("memory", move |_info: &Info| Ok(shared.clone()))?;
//!
//! let logger = registry.create("memory", &Info::default())?;
//! let mut child = Command::new("sh")
//!     .args(["-c", "echo out; echo err >&2; echo done"])
//!     .stdout(Stdio::piped())
//!     .stderr(Stdio::piped())
//!     .spawn()
//!     .expect("sh runs");
//! let stats = Copier::new(logger.clone())
//!     .source(Source::Stdout, child.stdout.take().unwrap())
//!     .source(Source::Stderr, child.stderr.take().unwrap())
//!     .run()?
//!     .wait();
//! child.wait().expect("sh exits");
//! logger.close()?;
//!
//! assert_eq!(stats.lines, 3);
//! let mut lines = memory.0.lock().unwrap().clone();
//! lines.sort();
//! assert_eq!(lines, [
//!     (Source::Stdout, "done".to_string()),
//!     (Source::Stdout, "out".to_string()),
//!     (Source::Stderr, "err".to_string()),
//! ]);
//! # }
//! # Ok::<(), logdriver::Error>(())
//! ```
//!
//! # Decisions
//!
//! Where Docker's design leaves room, this crate decides as follows.
//!
//! - **Timestamps** are taken once per `read` of a stream, not once per
//!   line: every line that arrived in one read arrived at the same instant.
//! - **A trailing line without a newline** goes out as a partial chunk
//!   with `last: false`, exactly as Docker sends it, so that joining the
//!   messages gives back the stream byte for byte.
//! - **Partial ids** are 64 lowercase hex characters, unique per line.
//! - **Batches**: Docker's `Logger` takes one line per call. Ours also has
//!   [`Logger::log_batch`], which the Copier uses for a driver that opts in
//!   with [`Logger::prefers_batches`], handing it the lines of one read at
//!   once; `NonBlocking` does, and so takes its lock once per read. Other
//!   drivers get one `log` call per line, which is cheapest for them.
//! - **`none`** is a real driver that discards lines, so a runtime needs no
//!   special case for it; like Docker, it accepts any options.
//! - **A driver without a validator** accepts any options, as in Docker.
//! - **Non-blocking mode** can drop the oldest lines instead of the newest
//!   (option `non-blocking-drop=oldest`), and always counts what it drops.
//!   An empty line costs one byte of its buffer, so that a flood of them
//!   stays bounded. It delivers in arrival order across both streams. The
//!   chunks of a long line are dropped together, and a line cut short is
//!   ended with an empty `last` chunk, never glued to the next. Its close
//!   timeout is an option (`non-blocking-close-timeout`).
//! - **Every number in an option has a bound** (sizes, counts, durations
//!   of at most an hour), checked at validation: no value can overflow
//!   later.
//! - **A driver's panic costs one message.** A `log_batch` that panics
//!   without taking anything loses the front message, so a driver that
//!   always panics cannot hold a copy in place. The Copier's buffer size is
//!   clamped to [`Copier::MAX_CHUNK_SIZE`].
//! - **Driver creators** see `info.config` without the options the
//!   registry handles itself (`mode`, `max-buffer-size`,
//!   `non-blocking-drop`, `non-blocking-close-timeout`, `rate-limit-lines`,
//!   `rate-limit-bytes`, `rate-limit-burst`), as validators do.
//! - **A rate limit is the registry's, for any driver**
//!   ([`RateLimited`]): token buckets of lines and bytes a second, applied
//!   before the driver and its non-blocking buffer, never waiting; what
//!   they suppress is counted in [`LoggerStats::suppressed`] and told in
//!   the log by a notice line on stderr, at most one a second.
//! - **Durations are Go's**, as Docker's options take them: `250ms`,
//!   `1.5s`, `1m30s`, `1h`; a value past its bound is told the bound.
//! - **json-file** rejects bad option values at validation, not at
//!   container start, and compresses rotated files without stalling the
//!   writer. Rotation never falls between the chunks of a line, and a
//!   failed rotation deletes nothing.
//! - **The plugin trusts no input**: container ids that are not plain file
//!   names are refused, every file it writes lies under its log directory,
//!   frame lengths are bounded, and `StopLogging` returns within its
//!   timeout whatever the FIFO holds.

#![deny(missing_docs, missing_debug_implementations, unreachable_pub)]
// The one exception: `drivers::zmq::set_xpub_nodrop`, see its SAFETY comment.
#![deny(unsafe_code)]
// On docs.rs: a badge on every item that needs a feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

#[cfg(feature = "tokio")]
pub mod asynchronous;
#[cfg(feature = "containerd")]
pub mod containerd;
mod copier;
pub mod drivers;
mod error;
mod info;
mod line_run;
mod log_entry;
mod logger;
mod message;
mod metrics;
mod nonblocking;
pub mod options;
#[cfg(feature = "plugin")]
pub mod plugin;
mod rate_limit;
mod read;
mod registry;
mod tee;
#[cfg(test)]
mod testing;
mod time;
mod units;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The `zmq` crate this driver is built on (feature `zmq`), re-exported so
/// that a hub is written against the same version:
/// `use logdriver::zmq;`.
#[cfg(feature = "zmq")]
pub use zmq;

#[cfg(feature = "tokio")]
pub use crate::copier::copy_async;
pub use crate::copier::{Copier, CopierHandle, CopyStats, LineWriter};
#[cfg(feature = "pump")]
pub use crate::copier::{Pump, PumpSource};
pub use crate::error::{BoxError, Error, Result};
pub use crate::info::{reject_unknown_options, Info};
pub use crate::line_run::LineRun;
pub use crate::logger::{Logger, LoggerStats};
pub use crate::message::{Message, ParseSourceError, PartialMeta, Source};
pub use crate::metrics::{render_prometheus, MetricsAddress, StatsSample};
pub use crate::nonblocking::{NonBlocking, NonBlockingBuilder, Overflow};
pub use crate::rate_limit::{RateLimit, RateLimited};
pub use crate::read::{LogReader, LogStream, ReadConfig, Stopper};
pub use crate::registry::{registry, Mode, Registry, BUILTIN_DRIVERS};
pub use crate::tee::Tee;
