//! A page, not code: how a tokio program uses the crate (feature `tokio`).
//!
//! [`Logger`](crate::Logger) is synchronous on purpose: a driver's `log`
//! is short and bounded, and a runtime's own loop is where the waiting
//! belongs. A tokio program keeps three rules:
//!
//! - **Copy** each stream with [`copy_async`](crate::copy_async), a future
//!   on your runtime. It calls the driver on the blocking pool, so a slow
//!   driver never stalls the runtime; in blocking mode it still slows the
//!   stream, as a Copier would.
//! - **Create and close** off the runtime, with
//!   [`spawn_blocking`](tokio::task::spawn_blocking): creating a network
//!   driver may connect, and `close` drains what is buffered, up to its
//!   bound (`non-blocking-close-timeout` in non-blocking mode).
//! - **Read back** (`docker logs`) on the blocking pool as well: a
//!   [`LogStream`](crate::LogStream) is an iterator that waits while it
//!   follows. Hand its entries to the runtime through a channel, and stop
//!   it with its [`Stopper`](crate::Stopper) when the reader goes away.
//!
//! All three, for a child process logged into `k8s-file` and followed:
//!
//! ```
//! use std::process::Stdio;
//! use std::sync::Arc;
//!
//! use logdriver::{copy_async, registry, Info, Logger, ReadConfig, Source};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     let dir = std::env::temp_dir().join(format!("logdriver-async-doc-{}", std::process::id()));
//!     std::fs::create_dir_all(&dir)?;
//!     let info = Info::new("c0ffee").with_log_path(dir.join("0.log"));
//!     let logger: Arc<dyn Logger> =
//!         tokio::task::spawn_blocking(move || registry().create("k8s-file", &info)).await??;
//!
//!     // Follow the log while it is written: entries arrive on a channel.
//!     let reader = logger.reader().expect("k8s-file reads back");
//!     let follow = ReadConfig { follow: true, ..ReadConfig::default() };
//!     let stream = reader.read_logs(&follow)?;
//!     let stopper = stream.stopper();
//!     let (tx, mut rx) = tokio::sync::mpsc::channel(64);
//!     tokio::task::spawn_blocking(move || {
//!         for entry in stream {
//!             if tx.blocking_send(entry).is_err() {
//!                 break;
//!             }
//!         }
//!     });
//!
//!     // Copy the child's two streams, each a future on this runtime.
//!     let mut child = tokio::process::Command::new("sh")
//!         .args(["-c", "echo one; echo two >&2"])
//!         .stdout(Stdio::piped())
//!         .stderr(Stdio::piped())
//!         .spawn()?;
//!     let out = copy_async(child.stdout.take().unwrap(), Source::Stdout, logger.clone());
//!     let err = copy_async(child.stderr.take().unwrap(), Source::Stderr, logger.clone());
//!     let (out, err) = tokio::join!(out, err);
//!     child.wait().await?;
//!     assert_eq!((out.lines, err.lines), (1, 1));
//!
//!     let mut seen = Vec::new();
//!     while seen.len() < 2 {
//!         let entry = rx.recv().await.expect("the follower runs until stopped")?;
//!         seen.push((entry.source, entry.line));
//!     }
//!     seen.sort();
//!     assert_eq!(seen, [(Source::Stdout, "one".into()), (Source::Stderr, "two".into())]);
//!
//!     // Stop following, then close the driver off the runtime.
//!     stopper.stop();
//!     tokio::task::spawn_blocking(move || logger.close()).await??;
//!     std::fs::remove_dir_all(&dir)?;
//!     Ok(())
//! }
//! ```
//!
//! For many containers in one process, `Pump` (feature
//! `pump`) serves raw pipe descriptors from one epoll thread and needs no
//! runtime at all; for bytes your own loop already holds,
//! [`LineWriter`](crate::LineWriter) takes them without a copy.
