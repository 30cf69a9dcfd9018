//! The `zmq` driver's options, checked: each value has its bounds.

use std::collections::HashMap;
use std::time::Duration;

use super::{
    ADDRESS_OPT, DEFAULT_LINGER, DEFAULT_SEND_TIMEOUT, DEFAULT_SNDHWM, LINGER_OPT, NAME,
    PARTIAL_FRAME_OPT, SEND_TIMEOUT_OPT, SNDHWM_OPT,
};
use crate::drivers::util::Options;
use crate::error::Result;

const OPTIONS: [&str; 5] = [
    ADDRESS_OPT,
    SNDHWM_OPT,
    SEND_TIMEOUT_OPT,
    LINGER_OPT,
    PARTIAL_FRAME_OPT,
];

/// The driver's options, checked.
#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) endpoints: Vec<String>,
    pub(super) sndhwm: i32,
    pub(super) send_timeout: Duration,
    pub(super) linger: Duration,
    pub(super) partial_frame: bool,
}

impl Config {
    pub(super) fn parse(opts: &HashMap<String, String>) -> Result<Config> {
        let o = Options::new(NAME, opts, &OPTIONS)?;
        let address = o.required(ADDRESS_OPT)?;
        let endpoints = address
            .split(',')
            .map(|e| check_endpoint(e.trim()).map(str::to_owned))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|reason| o.invalid(ADDRESS_OPT, reason))?;
        Ok(Config {
            endpoints,
            sndhwm: o.count(SNDHWM_OPT, 0..=i32::MAX)?.unwrap_or(DEFAULT_SNDHWM),
            send_timeout: o
                .duration(SEND_TIMEOUT_OPT)?
                .unwrap_or(DEFAULT_SEND_TIMEOUT),
            linger: o.duration(LINGER_OPT)?.unwrap_or(DEFAULT_LINGER),
            partial_frame: o.bool(PARTIAL_FRAME_OPT)?.unwrap_or(false),
        })
    }
}

/// Checks one ZeroMQ endpoint a socket can connect to.
fn check_endpoint(endpoint: &str) -> std::result::Result<&str, &'static str> {
    const NOT_AN_ENDPOINT: &str =
        "not a ZeroMQ endpoint (tcp://host:port, ipc://path or inproc://name)";
    let (scheme, rest) = endpoint.split_once("://").ok_or(NOT_AN_ENDPOINT)?;
    match scheme {
        "tcp" => {
            let (host, port) = rest.rsplit_once(':').ok_or("tcp endpoint has no port")?;
            if host.is_empty() || host.contains(char::is_whitespace) || host == "*" {
                return Err("tcp endpoint has no host to connect to");
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok(endpoint),
                _ => Err("tcp port must be a number from 1 to 65535"),
            }
        }
        "ipc" | "inproc" if !rest.is_empty() => Ok(endpoint),
        "ipc" | "inproc" => Err("endpoint has an empty path or name"),
        _ => Err(NOT_AN_ENDPOINT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn endpoints() {
        for ok in [
            "tcp://127.0.0.1:5555",
            "tcp://hub.example:1",
            "tcp://[::1]:65535",
            "ipc:///tmp/hub",
            "inproc://hub",
        ] {
            assert_eq!(check_endpoint(ok), Ok(ok));
        }
        for bad in [
            "",
            "hub:5555",
            "http://hub:80",
            "tcp://hub",
            "tcp://:5555",
            "tcp://*:5555",
            "tcp://hub:0",
            "tcp://hub:65536",
            "tcp://hub:x",
            "ipc://",
            "inproc://",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults() {
        let c = Config::parse(&opts(&[(ADDRESS_OPT, "tcp://a:1, ipc:///b")])).unwrap();
        assert_eq!(c.endpoints, ["tcp://a:1", "ipc:///b"]);
        assert_eq!(
            (c.sndhwm, c.send_timeout, c.linger),
            (DEFAULT_SNDHWM, DEFAULT_SEND_TIMEOUT, DEFAULT_LINGER)
        );
    }
}
