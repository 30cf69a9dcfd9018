//! A Docker logging plugin serving the process-wide registry.
//!
//! ```text
//! cargo run --example docker_plugin -- [--socket PATH] [--driver NAME] [--log-dir DIR]
//! ```
//!
//! By default it listens on `/run/docker/plugins/logdriver.sock`, where
//! dockerd finds it as `--log-driver logdriver`, and creates the `zmq`
//! driver for each container (a container can pick another one with
//! `--log-opt driver=NAME`):
//!
//! ```text
//! docker run --log-driver logdriver \
//!     --log-opt zmq-address=tcp://127.0.0.1:5555 --env TENANT_ID=acme busybox echo hello
//! ```
//!
//! To serve a driver of your own, register it before serving:
//! `registry().register("mine", |info| …)?`, then `--driver mine`.

use std::path::PathBuf;

use logdriver::{plugin::Plugin, registry};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut socket = PathBuf::from("/run/docker/plugins/logdriver.sock");
    let mut driver = "zmq".to_string();
    let mut log_dir = PathBuf::from("/var/lib/logdriver");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--socket" => socket = value()?.into(),
            "--driver" => driver = value()?,
            "--log-dir" => log_dir = value()?.into(),
            other => {
                return Err(format!("unknown argument {other:?}; see the example's docs").into())
            }
        }
    }
    if !registry().names().contains(&driver) {
        return Err(format!("no driver {driver:?}; registered: {:?}", registry().names()).into());
    }
    let server = Plugin::new(registry(), &driver)
        .log_dir(log_dir)
        .serve(&socket)?;
    eprintln!(
        "logdriver plugin: serving {driver:?} on {}",
        socket.display()
    );
    server.wait();
    Ok(())
}
