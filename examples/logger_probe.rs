//! A binary logger that records what it was given, for comparing
//! launchers (`tests/containerd_e2e.sh` runs it under containerd's shim
//! and under `Launcher`): its arguments, environment, working directory
//! and descriptors, then the order of what happens to it (ready, the end
//! of fd 3 and of fd 4, `SIGTERM`). It writes the record as JSON to the
//! path given by its `record` argument (`?record=/path` in the URI) once
//! both pipes have ended and a second has passed for a `SIGTERM`, or when
//! `SIGTERM` comes after that.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use logdriver::containerd::ShimIo;
use nix::sys::signal::{SigSet, Signal};

fn main() {
    // SIGTERM is taken by a thread of ours, not the default action.
    let mut term = SigSet::empty();
    term.add(Signal::SIGTERM);
    term.thread_block().unwrap();

    let args: Vec<String> = std::env::args().skip(1).collect();
    let record = args
        .chunks(2)
        .find(|kv| kv[0] == "record")
        .and_then(|kv| kv.get(1).cloned())
        .expect("a record argument");
    let mut env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    env.sort();
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let mut fds: Vec<(i32, String)> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let fd: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?.display().to_string();
            // A pipe's inode and the directory being read say nothing.
            let kind = if target.starts_with("pipe:") {
                "pipe".to_owned()
            } else if target.starts_with("/proc/") {
                return None;
            } else {
                target
            };
            Some((fd, kind))
        })
        .collect();
    fds.sort();

    let (events, seen) = mpsc::channel::<String>();
    {
        let events = events.clone();
        std::thread::spawn(move || {
            if term.wait().is_ok() {
                let _ = events.send("sigterm".into());
            }
        });
    }
    let io = ShimIo::inherited().unwrap();
    let mut ready = io.ready;
    ready.write_all(b"x").unwrap();
    events.send("ready".into()).unwrap();
    let mut readers = Vec::new();
    for (fd, mut pipe) in [(3, io.stdout), (4, io.stderr)] {
        let events = events.clone();
        readers.push(std::thread::spawn(move || {
            let mut sink = vec![0u8; 1 << 16];
            let mut bytes = 0;
            while let Ok(n) = pipe.read(&mut sink) {
                if n == 0 {
                    break;
                }
                bytes += n;
            }
            let _ = events.send(format!("eof {fd} after {bytes} bytes"));
        }));
    }
    for reader in readers {
        reader.join().unwrap();
    }
    let mut order: Vec<String> = Vec::new();
    while let Ok(event) = seen.try_recv() {
        order.push(event);
    }
    if !order.iter().any(|e| e == "sigterm") {
        if let Ok(event) = seen.recv_timeout(Duration::from_secs(1)) {
            order.push(event);
        }
    }
    let json = serde_json::json!({
        "args": args, "env": env, "cwd": cwd, "fds": fds, "events": order,
    });
    std::fs::write(record, json.to_string()).unwrap();
}
