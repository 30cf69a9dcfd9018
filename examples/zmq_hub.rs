//! A standalone log hub: binds a SUB socket and prints what arrives, per
//! tenant and service, for `zmq` drivers running in other processes.
//!
//! ```text
//! cargo run --example zmq_hub -- [ADDRESS] [TENANT_PREFIX]
//! cargo run --example zmq_hub -- tcp://127.0.0.1:5555 acme
//! ```
//!
//! Point a driver at it with `zmq-address=tcp://127.0.0.1:5555`. With a
//! tenant prefix, it subscribes to those tenants only, as hubs written for
//! the original Go driver do. Stop it with Ctrl-C.

use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let address = args
        .next()
        .unwrap_or_else(|| "tcp://127.0.0.1:5555".to_string());
    let prefix = args.next().unwrap_or_default();

    let context = zmq::Context::new();
    let hub = context.socket(zmq::SUB)?;
    hub.bind(&address)?;
    hub.set_subscribe(prefix.as_bytes())?;
    eprintln!("hub listening on {address}, tenants {prefix:?}*");

    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    loop {
        let frames = hub.recv_multipart(0)?;
        let [tenant, service, line] = &frames[..] else {
            eprintln!("hub: ignoring a message of {} frames", frames.len());
            continue;
        };
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
