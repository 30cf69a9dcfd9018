//! The `fluentd-*` options, checked as Docker checks them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::address::Address;
use super::{DEFAULT_BUFFER_LIMIT, DEFAULT_WRITE_TIMEOUT, MAX_BUFFER_LIMIT, NAME};
use crate::drivers::util::{conn, Options};
use crate::error::{Error, Result};

const OPTIONS: [&str; 18] = [
    "fluentd-address",
    "fluentd-async",
    "fluentd-async-connect",
    "fluentd-async-reconnect-interval",
    "fluentd-buffer-limit",
    "fluentd-retry-wait",
    "fluentd-max-retries",
    "fluentd-sub-second-precision",
    "fluentd-request-ack",
    "fluentd-write-timeout",
    "fluentd-read-timeout",
    "fluentd-forward-mode",
    "fluentd-tls-ca",
    crate::info::TAG_OPT,
    crate::info::LABELS_OPT,
    crate::info::LABELS_REGEX_OPT,
    crate::info::ENV_OPT,
    crate::info::ENV_REGEX_OPT,
];

/// What `fluentd-max-retries=0` means: Docker's client's default.
const ZERO_MAX_RETRIES: u64 = 13;

/// The driver's options, checked.
#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) address: Address,
    pub(super) asynchronous: bool,
    pub(super) reconnect_interval: Option<Duration>,
    pub(super) buffer_limit: usize,
    pub(super) retry_wait: Duration,
    pub(super) max_retries: u64,
    pub(super) sub_second: bool,
    pub(super) request_ack: bool,
    pub(super) write_timeout: Duration,
    pub(super) read_timeout: Duration,
    pub(super) forward_mode: bool,
    pub(super) tls_ca: Option<PathBuf>,
}

impl Config {
    pub(super) fn parse(opts: &HashMap<String, String>) -> Result<Config> {
        let o = Options::new(NAME, opts, &OPTIONS)?;
        let address = Address::parse(o.get("fluentd-address").unwrap_or(""))
            .map_err(|reason| o.invalid("fluentd-address", reason))?;
        let flag = |key| o.bool(key).map(Option::unwrap_or_default);
        let asynchronous = flag("fluentd-async")? | flag("fluentd-async-connect")?;
        let reconnect = o
            .duration("fluentd-async-reconnect-interval")?
            .filter(|d| !d.is_zero());
        if reconnect
            .is_some_and(|d| !(Duration::from_millis(100)..=Duration::from_secs(10)).contains(&d))
        {
            return Err(o.invalid(
                "fluentd-async-reconnect-interval",
                "must be 0 or from 100ms to 10s",
            ));
        }
        let buffer_limit = o
            .size("fluentd-buffer-limit", 1024, MAX_BUFFER_LIMIT)?
            .unwrap_or(DEFAULT_BUFFER_LIMIT);
        // In the words of Go's strconv, which Docker's users see.
        let retries = o
            .count("fluentd-max-retries", 0..=i32::MAX as u64)
            .map_err(|_| {
                o.invalid(
                    "fluentd-max-retries",
                    "value out of range: a whole number up to 2147483647",
                )
            })?;
        let max_retries = match retries {
            None => i32::MAX as u64,
            Some(0) => ZERO_MAX_RETRIES,
            Some(n) => n,
        };
        // 0 means the default: waiting for ever is what this driver never does.
        let write_timeout = o
            .duration("fluentd-write-timeout")?
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_WRITE_TIMEOUT);
        let read_timeout = o
            .duration("fluentd-read-timeout")?
            .filter(|d| !d.is_zero())
            .unwrap_or(write_timeout);
        let config = Config {
            address,
            asynchronous,
            reconnect_interval: reconnect,
            buffer_limit: buffer_limit as usize,
            retry_wait: o
                .duration("fluentd-retry-wait")?
                .unwrap_or(Duration::from_secs(1)),
            max_retries,
            sub_second: flag("fluentd-sub-second-precision")?,
            request_ack: flag("fluentd-request-ack")?,
            write_timeout,
            read_timeout,
            forward_mode: flag("fluentd-forward-mode")?,
            tls_ca: o.get("fluentd-tls-ca").map(PathBuf::from),
        };
        if config.tls_ca.is_some() && !matches!(config.address, Address::Tls { .. }) {
            return Err(o.invalid("fluentd-tls-ca", "needs a tls:// fluentd-address"));
        }
        Ok(config)
    }

    /// The TLS settings for a `tls://` address, made once per driver.
    pub(super) fn tls(&self) -> Result<Option<conn::Tls>> {
        if !matches!(self.address, Address::Tls { .. }) {
            return Ok(None);
        }
        conn::tls_config(conn::TlsFiles {
            ca: self.tls_ca.as_deref(),
            ..conn::TlsFiles::default()
        })
        .map(Some)
        .map_err(|reason| {
            let (key, value) = match &self.tls_ca {
                Some(ca) => ("fluentd-tls-ca", ca.display().to_string()),
                None => ("fluentd-address", self.address.to_string()),
            };
            Error::invalid_option(NAME, key, &value, reason)
        })
    }

    /// Where to connect.
    pub(super) fn peer(&self) -> conn::Peer<'_> {
        match &self.address {
            Address::Tcp { host, port } => conn::Peer::Tcp { host, port: *port },
            Address::Tls { host, port } => conn::Peer::Tls { host, port: *port },
            Address::Unix { path } => conn::Peer::Unix(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_retries_zero_means_dockers_thirteen() {
        let opts = |v: &str| HashMap::from([("fluentd-max-retries".to_owned(), v.to_owned())]);
        assert_eq!(Config::parse(&opts("0")).unwrap().max_retries, 13);
        assert_eq!(Config::parse(&opts("1")).unwrap().max_retries, 1);
        assert_eq!(
            Config::parse(&HashMap::new()).unwrap().max_retries,
            2147483647
        );
    }
}
