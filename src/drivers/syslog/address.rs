//! `syslog-address`, parsed as Docker parses it, and the framing each
//! transport gets.

use std::fmt;
use std::path::PathBuf;

/// Where the messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    /// No `syslog-address`: the local syslog daemon's datagram socket, the
    /// first of `/dev/log`, `/var/run/syslog` and `/var/run/log` found.
    Local,
    /// `udp://host[:port]`.
    Udp { host: String, port: u16 },
    /// `tcp://host[:port]`.
    Tcp { host: String, port: u16 },
    /// `tcp+tls://host[:port]`.
    Tls { host: String, port: u16 },
    /// `unix:///path`: a stream socket.
    Unix(PathBuf),
    /// `unixgram:///path`: a datagram socket.
    Unixgram(PathBuf),
}

/// The port when none is given: syslog's.
const DEFAULT_PORT: u16 = 514;

impl Address {
    /// Parses `syslog-address` as Docker does, with Docker's error texts.
    ///
    /// Unlike Docker, a `unix://` or `unixgram://` path need not exist yet:
    /// a container must not fail to start because its syslog daemon has not
    /// (moby#21966).
    pub(crate) fn parse(address: &str) -> Result<Address, String> {
        if address.is_empty() {
            return Ok(Address::Local);
        }
        let form = || format!("syslog-address should be in form proto://address, got {address}");
        let (scheme, rest) = address.split_once("://").ok_or_else(form)?;
        match scheme {
            "unix" | "unixgram" => {
                // As Go's url.Parse: the path starts at the first `/`.
                let path = rest.find('/').map_or("", |at| &rest[at..]);
                let path = path.split(['?', '#']).next().unwrap_or_default();
                if path.is_empty() {
                    return Err(format!("{address}: no socket path"));
                }
                Ok(if scheme == "unix" {
                    Address::Unix(path.into())
                } else {
                    Address::Unixgram(path.into())
                })
            }
            "udp" | "tcp" | "tcp+tls" => {
                let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
                let (host, port) = split_host_port(authority)?;
                let (host, port) = (host.to_owned(), port.unwrap_or(DEFAULT_PORT));
                Ok(match scheme {
                    "udp" => Address::Udp { host, port },
                    "tcp" => Address::Tcp { host, port },
                    _ => Address::Tls { host, port },
                })
            }
            _ => Err(form()),
        }
    }

    /// Whether the transport carries a stream, which needs framing.
    pub(crate) fn is_stream(&self) -> bool {
        matches!(
            self,
            Address::Tcp { .. } | Address::Tls { .. } | Address::Unix(_)
        )
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Local => f.write_str("the local syslog socket"),
            Address::Udp { host, port } => write!(f, "udp://{host}:{port}"),
            Address::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Address::Tls { host, port } => write!(f, "tcp+tls://{host}:{port}"),
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
            Address::Unixgram(path) => write!(f, "unixgram://{}", path.display()),
        }
    }
}

/// `host:port`, `[v6]:port`, `host` or `[v6]`, as Go's
/// `net.SplitHostPort` with Docker's default port; Go's errors.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6
            .split_once(']')
            .ok_or_else(|| format!("address {authority}: missing ']' in address"))?;
        match rest {
            "" => (host, None),
            _ => match rest.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => {
                    return Err(format!(
                        "address {authority}: unexpected character after ']'"
                    ))
                }
            },
        }
    } else {
        match authority.split_once(':') {
            None => (authority, None),
            Some((_, port)) if port.contains(':') => {
                return Err(format!("address {authority}: too many colons in address"))
            }
            Some((host, port)) => (host, Some(port)),
        }
    };
    // As Go's dialer: no host is this host.
    let host = if host.is_empty() { "localhost" } else { host };
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("address {authority}: invalid port {p:?}"))?,
        ),
    };
    Ok((host, port))
}

/// How a stream transport marks where a message ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// RFC 6587's octet counting: `<length> <message>`, which carries any
    /// byte, newlines too.
    OctetCounted,
    /// A newline after each message, as most servers read plain TCP.
    Lf,
}

impl Framing {
    /// Parses `syslog-framing` (this driver's option); without it, the
    /// framing Docker uses: octet counting for `tcp+tls` with an RFC 5424
    /// format, a newline otherwise.
    pub(crate) fn parse(
        value: Option<&str>,
        address: &Address,
        rfc5424: bool,
    ) -> Result<Framing, &'static str> {
        match value {
            Some("octet-counted") => Ok(Framing::OctetCounted),
            Some("lf") => Ok(Framing::Lf),
            Some(_) => Err("must be octet-counted or lf"),
            None if rfc5424 && matches!(address, Address::Tls { .. }) => Ok(Framing::OctetCounted),
            None => Ok(Framing::Lf),
        }
    }

    /// Frames `message`, which ends with its newline as Docker's do: a
    /// newline-framed message is already framed; an octet-counted one
    /// gets its length (the newline counted) in front.
    pub(crate) fn frame(self, mut message: Vec<u8>) -> Vec<u8> {
        if self == Framing::OctetCounted {
            let mut count = message.len().to_string().into_bytes();
            count.push(b' ');
            message.splice(0..0, count);
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_docker_parses_them() {
        let tcp = |host: &str, port| Address::Tcp {
            host: host.into(),
            port,
        };
        assert_eq!(Address::parse(""), Ok(Address::Local));
        assert_eq!(Address::parse("tcp://logs:1514"), Ok(tcp("logs", 1514)));
        assert_eq!(Address::parse("tcp://logs"), Ok(tcp("logs", 514)));
        assert_eq!(Address::parse("tcp://[::1]:6514/"), Ok(tcp("::1", 6514)));
        assert_eq!(
            Address::parse("udp://10.0.0.1"),
            Ok(Address::Udp {
                host: "10.0.0.1".into(),
                port: 514
            })
        );
        assert_eq!(
            Address::parse("tcp+tls://logs:6514"),
            Ok(Address::Tls {
                host: "logs".into(),
                port: 6514
            })
        );
        assert_eq!(
            Address::parse("unix:///dev/log"),
            Ok(Address::Unix("/dev/log".into()))
        );
        assert_eq!(
            Address::parse("unixgram:///run/not-there-yet"),
            Ok(Address::Unixgram("/run/not-there-yet".into()))
        );
    }

    #[test]
    fn bad_addresses_say_why_in_dockers_words() {
        assert_eq!(
            Address::parse("logs:514").unwrap_err(),
            "syslog-address should be in form proto://address, got logs:514"
        );
        assert_eq!(
            Address::parse("http://logs").unwrap_err(),
            "syslog-address should be in form proto://address, got http://logs"
        );
        assert_eq!(
            Address::parse("tcp://logs:x").unwrap_err(),
            "address logs:x: invalid port \"x\""
        );
        assert_eq!(
            Address::parse("tcp://a:b:c").unwrap_err(),
            "address a:b:c: too many colons in address"
        );
        assert_eq!(Address::parse("tcp://:1514"), Ok(tcp("localhost", 1514)));
        assert_eq!(
            Address::parse("unix://").unwrap_err(),
            "unix://: no socket path"
        );
    }

    #[test]
    fn framing_defaults_as_dockers_and_frames_exactly() {
        let tls = Address::parse("tcp+tls://h").unwrap();
        let tcp = Address::parse("tcp://h").unwrap();
        assert_eq!(Framing::parse(None, &tls, true), Ok(Framing::OctetCounted));
        assert_eq!(Framing::parse(None, &tls, false), Ok(Framing::Lf));
        assert_eq!(Framing::parse(None, &tcp, true), Ok(Framing::Lf));
        assert_eq!(
            Framing::parse(Some("octet-counted"), &tcp, false),
            Ok(Framing::OctetCounted)
        );
        assert!(Framing::parse(Some("crlf"), &tcp, false).is_err());
        assert_eq!(
            Framing::OctetCounted.frame(b"<30>a\nb\n".to_vec()),
            b"8 <30>a\nb\n"
        );
        assert_eq!(Framing::Lf.frame(b"<30>c\n".to_vec()), b"<30>c\n");
        assert!(tcp.is_stream() && tls.is_stream());
        assert!(!Address::parse("udp://h").unwrap().is_stream());
        assert!(!Address::Local.is_stream());
    }

    fn tcp(host: &str, port: u16) -> Address {
        Address::Tcp {
            host: host.into(),
            port,
        }
    }
}
