//! A standalone log hub: binds a SUB socket and prints what arrives, per
//! tenant and service, for `zmq` drivers running in other processes.
//!
//! ```text
//! cargo run --example zmq_hub -- [ADDRESS] [TENANT]
//! cargo run --example zmq_hub -- tcp://127.0.0.1:5555 acme
//! ```
//!
//! Point a driver at it with `zmq-address=tcp://127.0.0.1:5555`. With a
//! tenant, it serves that tenant only. ZeroMQ subscriptions match by
//! prefix (a subscription to `t1` also brings `t10`), so the hub
//! subscribes to the tenant and then checks the whole tenant frame,
//! dropping the rest. Stop it with Ctrl-C.

use std::collections::BTreeMap;

use logdriver::zmq;

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let address = args
        .next()
        .unwrap_or_else(|| "tcp://127.0.0.1:5555".to_string());
    let only = args.next();

    let context = zmq::Context::new();
    let hub = context.socket(zmq::SUB)?;
    hub.bind(&address)?;
    // The subscription narrows what is sent to us; the check below decides.
    hub.set_subscribe(only.as_deref().unwrap_or("").as_bytes())?;
    match &only {
        Some(tenant) => eprintln!("hub listening on {address}, tenant {tenant:?} only"),
        None => eprintln!("hub listening on {address}, every tenant"),
    }

    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    loop {
        let frames = hub.recv_multipart(0)?;
        let [tenant, service, line] = &frames[..] else {
            eprintln!("hub: ignoring a message of {} frames", frames.len());
            continue;
        };
        if only.as_ref().is_some_and(|t| t.as_bytes() != &tenant[..]) {
            continue; // another tenant whose name starts with ours
        }
        let tenant = String::from_utf8_lossy(tenant).into_owned();
        let service = String::from_utf8_lossy(service).into_owned();
        println!("[{tenant}/{service}] {}", String::from_utf8_lossy(line));
        let n = counts.entry((tenant, service)).or_default();
        *n += 1;
        if n.is_multiple_of(10_000) {
            eprintln!("hub: {counts:?}");
        }
    }
}

/// Runs the example; an error is shown as its message, not its `Debug`.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
