//! A connection to a peer, TCP, a unix socket or TCP with TLS, whose
//! every step (the lookup, the connect, the handshake, each write and
//! read) keeps one absolute deadline, whatever the peer does.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::Path;

/// Where to connect.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Peer<'a> {
    Tcp { host: &'a str, port: u16 },
    Tls { host: &'a str, port: u16 },
    Unix(&'a Path),
}

/// TLS settings, made once per driver.
#[cfg(feature = "tls")]
pub(crate) type Tls = Arc<rustls::ClientConfig>;
/// Without the `tls` feature there is nothing to set.
#[cfg(not(feature = "tls"))]
pub(crate) type Tls = Arc<()>;

/// An open connection.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// The time left until `deadline`, or a timed-out error once none is.
fn left(deadline: Instant) -> io::Result<Duration> {
    match deadline.saturating_duration_since(Instant::now()) {
        d if d.is_zero() => Err(io::ErrorKind::TimedOut.into()),
        d => Ok(d),
    }
}

/// The addresses of `host`, resolved by `deadline`. A literal address
/// needs no lookup; a name is looked up on a thread of its own, which is
/// left to finish by itself if the resolver is slower than the deadline.
pub(crate) fn resolve(host: &str, port: u16, deadline: Instant) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("logdriver-resolve".into())
        .spawn(move || {
            let _ = tx.send((name.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        })?;
    rx.recv_timeout(left(deadline)?).unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{host}: no address within the timeout"),
        ))
    })
}

impl Stream {
    /// Connects by `deadline`: the name's lookup, each address's connect
    /// and the TLS handshake all count against it. The read and write
    /// timeouts are set by each [`write_all_by`](Stream::write_all_by) and
    /// [`read_by`](Stream::read_by).
    pub(crate) fn connect(
        peer: Peer<'_>,
        tls: Option<&Tls>,
        deadline: Instant,
    ) -> io::Result<Stream> {
        let tcp = |host: &str, port: u16| -> io::Result<TcpStream> {
            let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
            for addr in resolve(host, port, deadline)? {
                match TcpStream::connect_timeout(&addr, left(deadline)?) {
                    Ok(s) => {
                        s.set_nodelay(true)?;
                        keepalive(&s)?;
                        return Ok(s);
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        };
        match peer {
            Peer::Tcp { host, port } => tcp(host, port).map(Stream::Tcp),
            Peer::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
            #[cfg(feature = "tls")]
            Peer::Tls { host, port } => {
                let config = tls.ok_or_else(|| io::Error::other("no TLS settings"))?;
                let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let mut conn = rustls::ClientConnection::new(Arc::clone(config), name)
                    .map_err(io::Error::other)?;
                let mut sock = tcp(host, port)?;
                while conn.is_handshaking() {
                    let left = Some(left(deadline)?);
                    sock.set_read_timeout(left)?;
                    sock.set_write_timeout(left)?;
                    conn.complete_io(&mut sock)?;
                }
                Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, sock))))
            }
            #[cfg(not(feature = "tls"))]
            Peer::Tls { host, port } => {
                let _ = (tls, deadline);
                Err(io::Error::other(format!(
                    "{host}:{port}: TLS needs the logdriver feature tls"
                )))
            }
        }
    }

    /// Writes all of `buf` by `deadline`, however slowly the peer reads:
    /// before each write the socket's timeout is set to the time left. On
    /// failure, how many bytes of `buf` were written.
    pub(crate) fn write_all_by(&mut self, buf: &[u8], deadline: Instant) -> Result<(), usize> {
        match self.write_by(buf, deadline) {
            (_, Ok(())) => Ok(()),
            (written, Err(_)) => Err(written),
        }
    }

    /// As [`write_all_by`](Stream::write_all_by), and on failure why:
    /// [`is_timeout`] tells a peer that is slow from one that is gone.
    pub(crate) fn write_by(&mut self, buf: &[u8], deadline: Instant) -> (usize, io::Result<()>) {
        let mut written = 0;
        while written < buf.len() {
            let step = left(deadline)
                .and_then(|left| self.set_timeout(left))
                .and_then(|()| self.write(&buf[written..]));
            match step {
                Ok(0) => return (written, Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (written, Err(e)),
            }
        }
        let flushed = left(deadline)
            .and_then(|left| self.set_timeout(left))
            .and_then(|()| self.flush());
        (written, flushed)
    }

    /// Reads what the peer sent, waiting at most until `deadline`.
    pub(crate) fn read_by(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        self.set_timeout(left(deadline)?)?;
        self.read(buf)
    }

    /// Ends the connection in order: TLS's close_notify, then the end of
    /// our side, then whatever the server still says until it closes too,
    /// at most `timeout`. A TLS server may throw away what it has not yet
    /// decrypted when a connection just drops.
    pub(crate) fn shutdown(mut self, timeout: Duration) {
        use std::net::Shutdown;
        let _ = self.set_timeout(timeout);
        let _ = self.flush();
        let shut = match &mut self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            #[cfg(feature = "tls")]
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

    /// Whether the peer has ended the connection (or reset it) while it
    /// was idle, found without waiting: a server that closes idle
    /// connections, or a load balancer that cuts them, costs a reconnect
    /// before the next write rather than the lines of that write. What a
    /// peer says meanwhile is read and thrown away: the drivers that ask
    /// this have peers that never speak. Over TLS the read goes through
    /// the TLS session, which takes in what a server may send unasked
    /// (TLS 1.3 session tickets) and ends on its close_notify.
    pub(crate) fn peer_closed(&mut self) -> bool {
        let mut sink = [0u8; 512];
        if self.set_nonblocking(true).is_err() {
            return true;
        }
        let read = self.read(&mut sink);
        if self.set_nonblocking(false).is_err() {
            return true;
        }
        match read {
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
            Ok(n) => n == 0,
        }
    }

    /// Makes reads and writes return `WouldBlock` rather than wait, or
    /// wait again.
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(on),
            Stream::Unix(s) => s.set_nonblocking(on),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.sock.set_nonblocking(on),
        }
    }

    /// Sets the read and write timeouts.
    pub(crate) fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        match self {
            Stream::Tcp(s) => s
                .set_read_timeout(timeout)
                .and(s.set_write_timeout(timeout)),
            Stream::Unix(s) => s
                .set_read_timeout(timeout)
                .and(s.set_write_timeout(timeout)),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s
                .sock
                .set_read_timeout(timeout)
                .and(s.sock.set_write_timeout(timeout)),
        }
    }
}

/// Whether `e` is a deadline passing (the socket's timeout, or none left)
/// rather than the connection failing.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// TCP keepalive: a connection left idle is probed after a minute, then
/// every 10 s, and given up when the kernel's count of probes (9 on
/// Linux) goes unanswered, so that a peer that vanished, or a middlebox
/// that forgot the connection, is found before lines are written into it.
fn keepalive(socket: &TcpStream) -> io::Result<()> {
    let probes = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10));
    socket2::SockRef::from(socket).set_tcp_keepalive(&probes)
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// What a TLS client trusts and shows.
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct TlsFiles<'a> {
    /// PEM CAs to trust beside the system's roots.
    pub(crate) ca: Option<&'a Path>,
    /// A PEM certificate chain and its PEM key, shown to a server that
    /// asks for one.
    pub(crate) client: Option<(&'a Path, &'a Path)>,
    /// Trust any server certificate (the handshake's signatures are
    /// still checked): for test rigs with self-signed servers only.
    pub(crate) skip_verify: bool,
}

/// The TLS settings: the system's roots, plus the CAs in `files.ca`; the
/// client's certificate; and whether to verify the server at all.
#[cfg(feature = "tls")]
pub(crate) fn tls_config(files: TlsFiles<'_>) -> Result<Tls, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    /// An error about the file at `path`, naming it.
    fn at(path: &Path) -> impl Fn(rustls::pki_types::pem::Error) -> String + '_ {
        move |e| format!("{}: {e}", path.display())
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = files.ca {
        let mut any = false;
        for cert in CertificateDer::pem_file_iter(path).map_err(at(path))? {
            roots
                .add(cert.map_err(at(path))?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            any = true;
        }
        if !any {
            return Err(format!("{}: no certificate in it", path.display()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut config = match files.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(at(cert))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(at(cert))?;
            if chain.is_empty() {
                return Err(format!("{}: no certificate in it", cert.display()));
            }
            let key = PrivateKeyDer::from_pem_file(key).map_err(at(key))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?
        }
    };
    if files.skip_verify {
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(skip_verify::AnyServer(provider)));
    }
    Ok(Arc::new(config))
}

/// Without the `tls` feature, TLS addresses are refused at validation.
#[cfg(not(feature = "tls"))]
pub(crate) fn tls_config(_: TlsFiles<'_>) -> Result<Tls, String> {
    Err("TLS needs the logdriver feature tls".into())
}

/// A verifier that takes any server certificate, and still checks that
/// the server holds its key.
#[cfg(feature = "tls")]
mod skip_verify {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    pub(super) struct AnyServer(pub(super) Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyServer {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
