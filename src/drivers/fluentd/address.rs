//! `fluentd-address`, parsed as Docker parses it.

use std::fmt;
use std::path::PathBuf;

/// Where the events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `tcp://host:port`, or `host:port`, or nothing (`127.0.0.1:24224`).
    Tcp {
        /// The host name or address.
        host: String,
        /// The port.
        port: u16,
    },
    /// `tls://host:port`: TCP with TLS, the server checked against the
    /// system's roots (or `fluentd-tls-ca`).
    Tls {
        /// The host name or address, also the name the certificate must have.
        host: String,
        /// The port.
        port: u16,
    },
    /// `unix:///path/to/socket`.
    Unix {
        /// The socket's path.
        path: PathBuf,
    },
}

/// Why a `fluentd-address` was refused, in Docker's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// `://…`: a scheme separator with no scheme.
    #[error("missing protocol scheme")]
    MissingScheme,
    /// A scheme other than `tcp`, `tls` or `unix`.
    #[error("unsupported scheme: '{0}'")]
    UnsupportedScheme(String),
    /// `unix://` without an absolute path.
    #[error("path is empty")]
    EmptyPath,
    /// `tcp://host:port/path`.
    #[error("should not contain a path element")]
    PathElement,
    /// A port that is not a number from 0 to 65535.
    #[error("invalid port")]
    InvalidPort,
}

/// Docker's default host and port.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Docker's default port, fluentd's own.
pub const DEFAULT_PORT: u16 = 24224;

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Address::Tls { host, port } => write!(f, "tls://{host}:{port}"),
            Address::Unix { path } => write!(f, "unix://{}", path.display()),
        }
    }
}

impl Address {
    /// Parses `fluentd-address` as Docker does; an empty value is the
    /// default, `tcp://127.0.0.1:24224`.
    ///
    /// # Errors
    ///
    /// An [`AddressError`], whose text is Docker's: `missing protocol
    /// scheme`, `unsupported scheme: 'udp'`, `path is empty`, `should not
    /// contain a path element`, `invalid port`.
    pub fn parse(address: &str) -> Result<Address, AddressError> {
        if address.is_empty() {
            return Ok(Address::Tcp {
                host: DEFAULT_HOST.into(),
                port: DEFAULT_PORT,
            });
        }
        let with_scheme;
        let address = if address.contains("://") {
            address
        } else {
            with_scheme = format!("tcp://{address}");
            &with_scheme
        };
        let (scheme, rest) = address.split_once("://").expect("has ://");
        if scheme.is_empty() {
            return Err(AddressError::MissingScheme);
        }
        let scheme = scheme.to_ascii_lowercase();
        // As Go's url.Parse: the authority ends at the first `/`, `?` or `#`.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let path = path.split(['?', '#']).next().unwrap_or_default();
        match scheme.as_str() {
            "unix" => {
                if path.is_empty() {
                    return Err(AddressError::EmptyPath);
                }
                Ok(Address::Unix { path: path.into() })
            }
            "tcp" | "tls" => {
                if !path.is_empty() && path != "/" {
                    return Err(AddressError::PathElement);
                }
                let (host, port) = split_host_port(authority);
                let host = if host.is_empty() { DEFAULT_HOST } else { host };
                let port = match port {
                    None | Some("") => DEFAULT_PORT,
                    Some(p) => p.parse::<u16>().map_err(|_| AddressError::InvalidPort)?,
                };
                let host = host.to_owned();
                Ok(if scheme == "tcp" {
                    Address::Tcp { host, port }
                } else {
                    Address::Tls { host, port }
                })
            }
            other => Err(AddressError::UnsupportedScheme(other.to_owned())),
        }
    }
}

/// `host:port`, `[v6]:port`, `host` or `[v6]`.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(v6) = authority.strip_prefix('[') {
        return match v6.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Result<Address, AddressError> {
        Ok(Address::Tcp {
            host: host.into(),
            port,
        })
    }

    #[test]
    fn addresses_as_docker_parses_them() {
        assert_eq!(Address::parse(""), tcp("127.0.0.1", 24224));
        assert_eq!(Address::parse("fluent:24225"), tcp("fluent", 24225));
        assert_eq!(Address::parse("fluent"), tcp("fluent", 24224));
        assert_eq!(Address::parse(":5000"), tcp("127.0.0.1", 5000));
        assert_eq!(Address::parse("tcp://[::1]:5000"), tcp("::1", 5000));
        assert_eq!(Address::parse("tcp://host:7/"), tcp("host", 7));
        assert_eq!(
            Address::parse("TLS://logs.example.com"),
            Ok(Address::Tls {
                host: "logs.example.com".into(),
                port: 24224
            })
        );
        assert_eq!(
            Address::parse("unix:///some/socket.sock:80"),
            Ok(Address::Unix {
                path: "/some/socket.sock:80".into()
            })
        );
    }

    #[test]
    fn errors_as_docker_words_them() {
        for (address, reason) in [
            ("://", "missing protocol scheme"),
            ("udp://h:1", "unsupported scheme: 'udp'"),
            ("tcp+tls://h:1", "unsupported scheme: 'tcp+tls'"),
            ("unix://", "path is empty"),
            ("unix://relative", "path is empty"),
            ("tcp://h:1/path", "should not contain a path element"),
            ("tcp://h:65536", "invalid port"),
            ("h:port", "invalid port"),
        ] {
            assert_eq!(
                Address::parse(address).map_err(|e| e.to_string()),
                Err(reason.to_string()),
                "{address}"
            );
        }
        assert_eq!(
            Address::parse("udp://h:1"),
            Err(AddressError::UnsupportedScheme("udp".into()))
        );
        assert_eq!(Address::parse("h:port"), Err(AddressError::InvalidPort));
    }
}
