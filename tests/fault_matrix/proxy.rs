//! A TCP proxy in front of a peer, for the faults a process signal cannot
//! make: a peer that reads slowly and trickles its answers, and a
//! connection reset in the middle of a frame.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How the proxy treats what passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Everything passes at once.
    Pass,
    /// Both ways, `bytes` at a time with a pause between.
    Slow { bytes: usize, pause: Duration },
    /// The first connection is reset (RST) once this many bytes of the
    /// driver's have passed; later ones pass.
    ResetAfter(usize),
}

/// A proxy on a free loopback port.
pub struct Proxy {
    pub port: u16,
}

impl Proxy {
    pub fn start(upstream: u16, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let reset_done = Arc::new(AtomicBool::new(false));
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(down) = conn else { return };
                let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue; // the peer is down: the driver sees a closed connection
                };
                let fault = match fault {
                    Fault::ResetAfter(_) if reset_done.swap(true, Ordering::SeqCst) => Fault::Pass,
                    other => other,
                };
                let shared = Arc::new(Link::default());
                let pumps = [
                    (down.try_clone().unwrap(), up.try_clone().unwrap(), true),
                    (up, down, false),
                ];
                for (from, to, outbound) in pumps {
                    let shared = Arc::clone(&shared);
                    thread::spawn(move || pump(from, to, fault, outbound, &shared));
                }
            }
        });
        Proxy { port }
    }
}

/// What the two pumps of one connection share.
#[derive(Default)]
struct Link {
    /// The driver's bytes passed so far.
    passed: AtomicUsize,
    /// The driver's connection was reset: it is closed without a FIN.
    reset: AtomicBool,
}

/// Copies `from` to `to` until either end closes, then ends both.
fn pump(mut from: TcpStream, mut to: TcpStream, fault: Fault, outbound: bool, link: &Link) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let want = match fault {
            Fault::Slow { bytes, .. } => bytes,
            _ => buf.len(),
        };
        let n = match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut n = n;
        if let (Fault::ResetAfter(limit), true) = (fault, outbound) {
            let before = link.passed.fetch_add(n, Ordering::SeqCst);
            if before + n >= limit {
                // Forward up to the limit, in the middle of a frame, then
                // reset the driver's connection: its last descriptor closes
                // with a linger of zero once the other pump lets go.
                n = limit.saturating_sub(before);
                let _ = to.write_all(&buf[..n]);
                link.reset.store(true, Ordering::SeqCst);
                set_reset_on_close(&from);
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Fault::Slow { pause, .. } = fault {
            thread::sleep(pause);
        }
    }
    if link.reset.load(Ordering::SeqCst) {
        return; // dropping the descriptors resets the driver's connection
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Makes the close of `conn` a reset: SO_LINGER of zero.
fn set_reset_on_close(conn: &TcpStream) {
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = nix::sys::socket::setsockopt(&conn.as_fd(), nix::sys::socket::sockopt::Linger, &linger);
}
