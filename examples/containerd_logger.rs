//! Any registered driver as a containerd binary logger.
//!
//! ```text
//! cargo build --release --example containerd_logger
//! ctr run --log-uri "binary://$PWD/target/release/examples/containerd_logger?driver=zmq&zmq-address=tcp://127.0.0.1:5555" \
//!     docker.io/library/busybox:latest hello sh -c 'echo hello'
//! ```
//!
//! `driver=NAME` picks the driver (by default `json-file`, which writes
//! `<log-dir>/<namespace>/<container id>.log`, `log-dir` by default
//! `/var/lib/logdriver/containerd`); every other key is one of its options.
//! A driver of your own would be registered with `registry().register`
//! before `run`.

use std::process::ExitCode;

fn main() -> ExitCode {
    logdriver::containerd::run(logdriver::registry())
}
