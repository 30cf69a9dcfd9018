//! [`MetricsAddress`]: where metrics are served.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// Where metrics are served: the plugin's `--metrics-address`, the
/// containerd logger's `metrics-address` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAddress {
    /// A unix socket: `unix:/run/logdriver-metrics.sock`, or any path
    /// that starts with `/`.
    Unix(PathBuf),
    /// A loopback TCP address: `127.0.0.1:9464` or `[::1]:9464`. Other
    /// addresses are refused: the counts name every container.
    Tcp(SocketAddr),
}

impl FromStr for MetricsAddress {
    type Err = String;

    /// # Examples
    ///
    /// ```
    /// use logdriver::MetricsAddress;
    ///
    /// assert!(matches!("127.0.0.1:9464".parse(), Ok(MetricsAddress::Tcp(_))));
    /// assert!(matches!("unix:/run/m.sock".parse(), Ok(MetricsAddress::Unix(_))));
    /// assert!("0.0.0.0:9464".parse::<MetricsAddress>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<MetricsAddress, String> {
        if let Some(path) = s.strip_prefix("unix:").or(s.starts_with('/').then_some(s)) {
            if path.is_empty() {
                return Err(format!("{s:?}: no socket path"));
            }
            return Ok(MetricsAddress::Unix(path.into()));
        }
        match s.parse::<SocketAddr>() {
            Ok(addr) if addr.ip().is_loopback() => Ok(MetricsAddress::Tcp(addr)),
            Ok(_) => Err(format!(
                "{s:?}: not a loopback address; use 127.0.0.1, [::1] or a unix socket"
            )),
            Err(_) => Err(format!(
                "{s:?}: expected a loopback address such as 127.0.0.1:9464, or unix:/path/to.sock"
            )),
        }
    }
}

impl fmt::Display for MetricsAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            MetricsAddress::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_loopback_or_unix() {
        assert_eq!(
            "[::1]:9".parse::<MetricsAddress>(),
            Ok(MetricsAddress::Tcp("[::1]:9".parse().unwrap()))
        );
        assert_eq!(
            "/run/m.sock".parse::<MetricsAddress>(),
            Ok(MetricsAddress::Unix("/run/m.sock".into()))
        );
        let err = "10.0.0.1:9464".parse::<MetricsAddress>().unwrap_err();
        assert!(err.contains("not a loopback address"), "{err}");
        let err = "nowhere".parse::<MetricsAddress>().unwrap_err();
        assert!(err.contains("expected a loopback address"), "{err}");
        assert!("unix:".parse::<MetricsAddress>().is_err());
    }
}
