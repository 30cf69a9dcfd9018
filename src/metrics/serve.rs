//! The Prometheus endpoint of the plugin and the containerd logger: what
//! [`render_prometheus`](crate::render_prometheus) writes, served on a
//! unix socket or a loopback TCP port.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::thread;
use std::time::Duration;

use super::MetricsAddress;

/// A connection a scraper made.
trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

/// A bound metrics address.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Binds `address`, replacing a stale socket file there (never another
    /// kind of file).
    fn bind(address: &MetricsAddress) -> io::Result<Listener> {
        match address {
            MetricsAddress::Tcp(addr) => TcpListener::bind(addr).map(Listener::Tcp),
            MetricsAddress::Unix(path) => {
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                    std::fs::remove_file(path)?;
                }
                UnixListener::bind(path).map(Listener::Unix)
            }
        }
    }

    /// The next scraper, with [`TIMEOUT`] to send its request.
    fn accept(&self) -> io::Result<Box<dyn Conn>> {
        Ok(match self {
            Listener::Tcp(listener) => {
                let (conn, _) = listener.accept()?;
                conn.set_read_timeout(Some(TIMEOUT))?;
                Box::new(conn)
            }
            Listener::Unix(listener) => {
                let (conn, _) = listener.accept()?;
                conn.set_read_timeout(Some(TIMEOUT))?;
                Box::new(conn)
            }
        })
    }
}

/// Binds `address` and answers every request on it with `render()`, on a
/// thread of its own, one scrape at a time.
pub(crate) fn serve(
    address: &MetricsAddress,
    render: impl Fn() -> String + Send + 'static,
) -> io::Result<()> {
    let listener = Listener::bind(address)?;
    thread::Builder::new()
        .name("logdriver-metrics".into())
        .spawn(move || loop {
            match listener.accept() {
                Ok(mut conn) => {
                    let _ = answer(&mut *conn, &render);
                }
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        })?;
    Ok(())
}

/// How long a scraper has to send its request.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Reads the request's head (whatever it asks: there is one page) and
/// writes the metrics.
fn answer(conn: &mut dyn Conn, render: &dyn Fn() -> String) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 << 10 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let body = render();
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    conn.write_all(body.as_bytes())?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_gets_what_render_gives_now() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = std::sync::Arc::clone(&n);
        serve(&MetricsAddress::Tcp(addr), move || {
            let k = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            format!("scrapes_total {k}\n")
        })
        .unwrap();
        for want in 0..2 {
            let mut conn = std::net::TcpStream::connect(addr).unwrap();
            conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut got = String::new();
            conn.read_to_string(&mut got).unwrap();
            let body = format!("scrapes_total {want}\n");
            assert_eq!(
                got,
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            );
        }
    }
}
