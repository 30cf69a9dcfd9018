//! [`Endpoint`]: where the collector takes OTLP/HTTP.

use std::fmt;

/// A parsed `otlp-endpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) tls: bool,
    /// A name, an IPv4 address, or an IPv6 address in brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The request target: the path and any query.
    pub(crate) path: String,
}

impl Endpoint {
    /// The endpoint when none is given: OTLP/HTTP's default port here.
    pub(crate) const DEFAULT: &'static str = "http://localhost:4318";

    /// `http://host[:port][/path]` or `https://…`. The port defaults to
    /// 4318, OTLP/HTTP's; a URL without a path (or with `/` alone) gets
    /// `/v1/logs`, as OpenTelemetry's SDKs add it to a base endpoint.
    pub(crate) fn parse(url: &str) -> Result<Endpoint, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            return Err("must be an http:// or https:// URL".into());
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("must not hold credentials: give them in otlp-headers".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| format!("{port:?} is not a port"))?;
                (host, port)
            }
            _ => (authority, 4318),
        };
        let bracketed = host.starts_with('[') && host.ends_with(']');
        if host.is_empty() || (host.contains(':') && !bracketed) {
            return Err(format!("{host:?} is not a host"));
        }
        let path = match path {
            "" | "/" => "/v1/logs".to_owned(),
            p if p.starts_with('?') => format!("/v1/logs{p}"),
            p => p.to_owned(),
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("the path must not hold spaces or control characters".into());
        }
        Ok(Endpoint {
            tls,
            host: host.to_owned(),
            port,
            path,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_and_port_default_to_otlps() {
        let url = |s: &str| Endpoint::parse(s).map(|e| e.to_string());
        assert_eq!(url("http://c"), Ok("http://c:4318/v1/logs".into()));
        assert_eq!(url("https://c:443/"), Ok("https://c:443/v1/logs".into()));
        assert_eq!(
            url("http://[::1]:9/otlp/v1/logs?x=1"),
            Ok("http://[::1]:9/otlp/v1/logs?x=1".into())
        );
        assert_eq!(url("http://[::1]"), Ok("http://[::1]:4318/v1/logs".into()));
        assert_eq!(url("http://c?k=v"), Ok("http://c:4318/v1/logs?k=v".into()));
    }

    #[test]
    fn what_is_not_a_url_says_why() {
        let err = |s: &str| Endpoint::parse(s).unwrap_err();
        assert_eq!(err("c:4318"), "must be an http:// or https:// URL");
        assert_eq!(err("http://c:0"), "\"0\" is not a port");
        assert_eq!(err("http://c:x/"), "\"x\" is not a port");
        assert_eq!(err("http://"), "\"\" is not a host");
        assert_eq!(err("http://::1"), "\":\" is not a host");
        assert_eq!(
            err("http://u:p@c"),
            "must not hold credentials: give them in otlp-headers"
        );
        assert_eq!(
            err("http://c/a b"),
            "the path must not hold spaces or control characters"
        );
    }
}
