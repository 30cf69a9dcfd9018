//! A Docker logging plugin serving the process-wide registry: the
//! `logdriver-plugin` binary's code, called from a binary of your own.
//!
//! ```text
//! cargo run --example docker_plugin -- --help
//! cargo run --example docker_plugin -- --socket /run/docker/plugins/logdriver.sock --driver zmq
//! ```
//!
//! dockerd finds the socket as `--log-driver logdriver`; a container can
//! pick another driver with `--log-opt driver=NAME`:
//!
//! ```text
//! docker run --log-driver logdriver \
//!     --log-opt zmq-address=tcp://127.0.0.1:5555 --env TENANT_ID=acme busybox echo hello
//! ```
//!
//! To serve a driver of your own, register it before running:
//! `registry().register_driver("mine", |info| …)?`, then `--driver mine`.

fn main() -> std::process::ExitCode {
    logdriver::plugin::cli::run(logdriver::registry(), std::env::args_os())
}
