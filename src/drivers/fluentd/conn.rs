//! The connection to the server: TCP, a unix socket, or TCP with TLS.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use super::address::Address;

/// TLS settings, made once per driver.
#[cfg(feature = "fluentd-tls")]
pub(super) type Tls = Arc<rustls::ClientConfig>;
/// Without the `fluentd-tls` feature there is nothing to set.
#[cfg(not(feature = "fluentd-tls"))]
pub(super) type Tls = Arc<()>;

/// An open connection.
pub(super) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    #[cfg(feature = "fluentd-tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// Connects, waiting at most `timeout` for each address of the host,
    /// and sets `timeout` as the read and write timeout.
    pub(super) fn connect(
        address: &Address,
        tls: Option<&Tls>,
        timeout: Duration,
    ) -> io::Result<Stream> {
        let timeout = timeout.max(Duration::from_millis(1));
        let tcp = |host: &str, port: u16| -> io::Result<TcpStream> {
            let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
            for addr in (host, port).to_socket_addrs()? {
                match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(s) => {
                        s.set_nodelay(true)?;
                        s.set_read_timeout(Some(timeout))?;
                        s.set_write_timeout(Some(timeout))?;
                        return Ok(s);
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        };
        match address {
            Address::Tcp { host, port } => tcp(host, *port).map(Stream::Tcp),
            Address::Unix { path } => {
                let s = UnixStream::connect(path)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                Ok(Stream::Unix(s))
            }
            #[cfg(feature = "fluentd-tls")]
            Address::Tls { host, port } => {
                let config = tls.expect("a tls:// address has TLS settings");
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let mut conn = rustls::ClientConnection::new(Arc::clone(config), name)
                    .map_err(io::Error::other)?;
                let mut sock = tcp(host, *port)?;
                while conn.is_handshaking() {
                    conn.complete_io(&mut sock)?;
                }
                Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, sock))))
            }
            #[cfg(not(feature = "fluentd-tls"))]
            Address::Tls { .. } => {
                let _ = tls;
                Err(io::Error::other("tls:// needs the fluentd-tls feature"))
            }
        }
    }

    /// Ends the connection in order: TLS's close_notify, then the end of
    /// our side, then whatever the server still says until it closes too,
    /// at most `timeout`. A TLS server may throw away what it has not yet
    /// decrypted when a connection just drops.
    pub(super) fn shutdown(mut self, timeout: Duration) {
        use std::net::Shutdown;
        let _ = self.set_timeout(timeout);
        let _ = self.flush();
        let shut = match &mut self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            #[cfg(feature = "fluentd-tls")]
            Stream::Tls(s) => {
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
                s.sock.shutdown(Shutdown::Write)
            }
        };
        if shut.is_err() {
            return;
        }
        let deadline = std::time::Instant::now() + timeout;
        let mut sink = [0u8; 4096];
        while std::time::Instant::now() < deadline {
            match self.read(&mut sink) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }

    /// Sets the read and write timeouts.
    pub(super) fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        match self {
            Stream::Tcp(s) => s
                .set_read_timeout(timeout)
                .and(s.set_write_timeout(timeout)),
            Stream::Unix(s) => s
                .set_read_timeout(timeout)
                .and(s.set_write_timeout(timeout)),
            #[cfg(feature = "fluentd-tls")]
            Stream::Tls(s) => s
                .sock
                .set_read_timeout(timeout)
                .and(s.sock.set_write_timeout(timeout)),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "fluentd-tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "fluentd-tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            #[cfg(feature = "fluentd-tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The TLS settings: the system's roots, plus the CAs in `ca_file`.
#[cfg(feature = "fluentd-tls")]
pub(super) fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Tls, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut any = false;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            any = true;
        }
        if !any {
            return Err(format!("{}: no certificate in it", path.display()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Without the `fluentd-tls` feature, `tls://` is refused at validation.
#[cfg(not(feature = "fluentd-tls"))]
pub(super) fn tls_config(_: Option<&std::path::Path>) -> Result<Tls, String> {
    Err("tls:// needs the logdriver feature fluentd-tls".into())
}
