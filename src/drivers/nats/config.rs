//! The `nats-*` options, checked.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::ServerAddr;

use super::{MAX_PENDING_LIMIT, NAME};
use crate::drivers::util::Options;
use crate::error::{Error, Result};

const OPTIONS: [&str; 12] = [
    "nats-url",
    "nats-subject-prefix",
    "nats-stream",
    "nats-create-stream",
    "nats-max-pending",
    "nats-send-timeout",
    "nats-linger",
    "nats-token",
    "nats-user",
    "nats-password",
    "nats-creds",
    "nats-tls-ca",
];

/// The driver's options, checked.
#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) urls: Vec<ServerAddr>,
    pub(super) prefix: String,
    pub(super) stream: String,
    pub(super) create_stream: bool,
    pub(super) max_pending: usize,
    pub(super) send_timeout: Duration,
    pub(super) linger: Duration,
    pub(super) token: Option<String>,
    pub(super) user: Option<(String, String)>,
    pub(super) creds: Option<PathBuf>,
    pub(super) tls_ca: Option<PathBuf>,
}

/// Whether `s` is one subject token: not blank, no `.`, `*`, `>` or space.
pub(super) fn is_token(s: &str) -> bool {
    !s.trim().is_empty()
        && !s.contains(|c: char| c == '.' || c == '*' || c == '>' || c.is_whitespace())
}

impl Config {
    pub(super) fn parse(opts: &HashMap<String, String>) -> Result<Config> {
        let o = Options::new(NAME, opts, &OPTIONS)?;
        let url = o.required("nats-url")?;
        let mut urls = Vec::new();
        for one in url.split(',').map(str::trim) {
            let scheme_ok = one.starts_with("nats://") || one.starts_with("tls://");
            match one.parse::<ServerAddr>() {
                Ok(addr) if scheme_ok => urls.push(addr),
                _ => {
                    return Err(o.invalid(
                        "nats-url",
                        format!(
                            "{one:?} is not a server such as nats://host:4222 or tls://host:4222"
                        ),
                    ))
                }
            }
        }
        let prefix = o.get("nats-subject-prefix").unwrap_or("logs").to_owned();
        if !prefix.split('.').all(is_token) {
            return Err(o.invalid(
                "nats-subject-prefix",
                "must be dot-separated tokens without *, > or spaces",
            ));
        }
        let stream = o.get("nats-stream").unwrap_or("LOGS").to_owned();
        if !is_token(&stream) || stream.contains(['/', '\\']) {
            return Err(o.invalid("nats-stream", "not a stream name: no ., *, >, / or spaces"));
        }
        let duration = |key: &str| -> Result<Duration> {
            match o.duration(key)? {
                None => Ok(Duration::from_secs(5)),
                Some(d) if d.is_zero() => Err(o.invalid(key, "must be more than 0")),
                Some(d) => Ok(d),
            }
        };
        let user = match (o.get("nats-user"), o.get("nats-password")) {
            (None, None) => None,
            (Some(u), Some(p)) => Some((u.to_owned(), p.to_owned())),
            (Some(_), None) => return Err(Error::missing_option(NAME, "nats-password")),
            (None, Some(_)) => return Err(Error::missing_option(NAME, "nats-user")),
        };
        Ok(Config {
            urls,
            prefix,
            stream,
            create_stream: o.bool("nats-create-stream")?.unwrap_or(true),
            max_pending: o
                .count("nats-max-pending", 1..=MAX_PENDING_LIMIT)?
                .unwrap_or(4096),
            send_timeout: duration("nats-send-timeout")?,
            linger: duration("nats-linger")?,
            token: o.get("nats-token").map(str::to_owned),
            user,
            creds: o.get("nats-creds").map(PathBuf::from),
            tls_ca: o.get("nats-tls-ca").map(PathBuf::from),
        })
    }
}
