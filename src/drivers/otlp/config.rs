//! The `otlp-*` options, checked, with bounds, in the style of the other
//! drivers' options.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::endpoint::Endpoint;
use super::NAME;
use crate::drivers::util::{conn, Options};
use crate::error::{Error, Result};

const OPTIONS: [&str; 19] = [
    "otlp-endpoint",
    "otlp-headers",
    "otlp-compression",
    "otlp-timeout",
    "otlp-send-timeout",
    "otlp-linger",
    "otlp-buffer-limit",
    "otlp-batch-records",
    "otlp-batch-bytes",
    "otlp-batch-delay",
    "otlp-max-record",
    "otlp-service-name",
    "otlp-tls-ca-cert",
    "otlp-tls-cert",
    "otlp-tls-key",
    crate::info::LABELS_OPT,
    crate::info::LABELS_REGEX_OPT,
    crate::info::ENV_OPT,
    crate::info::ENV_REGEX_OPT,
];

const MIB: u64 = 1 << 20;

/// The options' defaults.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_LINGER: Duration = Duration::from_secs(5);
const DEFAULT_BUFFER_LIMIT: u64 = 8 * MIB;
const DEFAULT_BATCH_RECORDS: usize = 512;
const DEFAULT_BATCH_BYTES: u64 = MIB;
const DEFAULT_BATCH_DELAY: Duration = Duration::from_millis(200);
const DEFAULT_MAX_RECORD: u64 = MIB;

/// How request bodies are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Gzip,
    None,
}

/// The driver's options, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) endpoint: Endpoint,
    /// Extra request headers, in order, values percent-decoded.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) compression: Compression,
    /// The longest one request (connect, send, answer) takes.
    pub(crate) timeout: Duration,
    /// The longest `log` waits for room in the queue.
    pub(crate) send_timeout: Duration,
    /// The longest `close` waits for what is queued.
    pub(crate) linger: Duration,
    /// The most bytes of encoded records that wait in the queue.
    pub(crate) buffer_limit: usize,
    pub(crate) batch_records: usize,
    pub(crate) batch_bytes: usize,
    pub(crate) batch_delay: Duration,
    /// The longest body of one record: a longer line goes in parts.
    pub(crate) max_record: usize,
    pub(crate) service_name: Option<String>,
    pub(crate) ca_cert: Option<PathBuf>,
    pub(crate) client: Option<(PathBuf, PathBuf)>,
}

impl Config {
    pub(crate) fn parse(opts: &HashMap<String, String>) -> Result<Config> {
        let o = Options::new(NAME, opts, &OPTIONS)?;
        let endpoint = Endpoint::parse(o.get("otlp-endpoint").unwrap_or(Endpoint::DEFAULT))
            .map_err(|reason| o.invalid("otlp-endpoint", reason))?;
        let headers = o
            .get("otlp-headers")
            .map(parse_headers)
            .transpose()
            .map_err(|reason| o.invalid("otlp-headers", reason))?
            .unwrap_or_default();
        let compression = match o.get("otlp-compression") {
            None | Some("gzip") => Compression::Gzip,
            Some("none") => Compression::None,
            Some(_) => return Err(o.invalid("otlp-compression", "must be gzip or none")),
        };
        let positive = |key: &str, default: Duration| match o.duration(key)? {
            None => Ok(default),
            Some(d) if d.is_zero() => Err(o.invalid(key, "must be more than 0")),
            Some(d) => Ok(d),
        };
        let timeout = positive("otlp-timeout", DEFAULT_TIMEOUT)?;
        let send_timeout = positive("otlp-send-timeout", DEFAULT_SEND_TIMEOUT)?;
        let linger = positive("otlp-linger", DEFAULT_LINGER)?;
        let batch_delay = positive("otlp-batch-delay", DEFAULT_BATCH_DELAY)?;
        let size = |key, max, default| -> Result<usize> {
            Ok(o.size(key, 1024, max)?.unwrap_or(default) as usize)
        };
        let buffer_limit = size("otlp-buffer-limit", 1 << 30, DEFAULT_BUFFER_LIMIT)?;
        let batch_bytes = size("otlp-batch-bytes", 64 * MIB, DEFAULT_BATCH_BYTES)?;
        let max_record = size("otlp-max-record", 64 * MIB, DEFAULT_MAX_RECORD)?;
        let batch_records = o
            .count("otlp-batch-records", 1..=1_000_000)?
            .unwrap_or(DEFAULT_BATCH_RECORDS);
        let path = |key| o.get(key).filter(|v| !v.is_empty()).map(PathBuf::from);
        let (ca_cert, cert, key) = (
            path("otlp-tls-ca-cert"),
            path("otlp-tls-cert"),
            path("otlp-tls-key"),
        );
        let client = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => return Err(o.invalid("otlp-tls-cert", "needs otlp-tls-key too")),
            (None, Some(_)) => return Err(o.invalid("otlp-tls-key", "needs otlp-tls-cert too")),
        };
        if !endpoint.tls && (ca_cert.is_some() || client.is_some()) {
            let key = if ca_cert.is_some() {
                "otlp-tls-ca-cert"
            } else {
                "otlp-tls-cert"
            };
            return Err(o.invalid(key, "is for an https:// otlp-endpoint"));
        }
        let service_name = o.get("otlp-service-name").map(str::to_owned);
        if service_name.as_deref() == Some("") {
            return Err(o.invalid("otlp-service-name", "must not be empty"));
        }
        Ok(Config {
            endpoint,
            headers,
            compression,
            timeout,
            send_timeout,
            linger,
            buffer_limit,
            batch_records,
            batch_bytes,
            batch_delay,
            max_record,
            service_name,
            ca_cert,
            client,
        })
    }

    /// The TLS settings for an `https://` endpoint, made once per driver.
    pub(crate) fn tls(&self) -> Result<Option<conn::Tls>> {
        if !self.endpoint.tls {
            return Ok(None);
        }
        let settings = conn::TlsFiles {
            ca: self.ca_cert.as_deref(),
            client: self
                .client
                .as_ref()
                .map(|(c, k)| (c.as_path(), k.as_path())),
            skip_verify: false,
        };
        conn::tls_config(settings).map(Some).map_err(|reason| {
            let files = [
                ("otlp-tls-ca-cert", self.ca_cert.as_ref()),
                ("otlp-tls-cert", self.client.as_ref().map(|(c, _)| c)),
                ("otlp-tls-key", self.client.as_ref().map(|(_, k)| k)),
            ];
            let named = files.into_iter().find_map(|(key, path)| {
                let path = path?.display().to_string();
                reason.starts_with(&path).then_some((key, path))
            });
            let (key, value) = named.unwrap_or(("otlp-endpoint", self.endpoint.to_string()));
            Error::invalid_option(NAME, key, &value, reason)
        })
    }
}

/// `key=value,key2=value2`, as OpenTelemetry's `OTEL_EXPORTER_OTLP_HEADERS`
/// takes them: values percent-decoded, names HTTP tokens.
fn parse_headers(v: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for pair in v.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not name=value"))?;
        let name = name.trim();
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            return Err(format!("{name:?} is not a header name"));
        }
        let value = percent_decode(value.trim())
            .filter(|v| !v.contains(['\r', '\n', '\0']))
            .ok_or_else(|| format!("the value of {name} is not valid"))?;
        headers.push((name.to_owned(), value));
    }
    Ok(headers)
}

fn percent_decode(v: &str) -> Option<String> {
    let mut out = Vec::with_capacity(v.len());
    let mut bytes = v.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex = [bytes.next()?, bytes.next()?];
        out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{invalid_option, opts};

    fn invalid(pairs: &[(&str, &str)]) -> (String, String, String) {
        invalid_option(NAME, Config::parse(&opts(pairs)).unwrap_err())
    }

    #[test]
    fn defaults() {
        let c = Config::parse(&HashMap::new()).unwrap();
        assert_eq!(c.endpoint.to_string(), "http://localhost:4318/v1/logs");
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(
            (c.timeout, c.send_timeout, c.linger, c.batch_delay),
            (
                Duration::from_secs(10),
                Duration::from_secs(5),
                Duration::from_secs(5),
                Duration::from_millis(200)
            )
        );
        assert_eq!(
            (c.buffer_limit, c.batch_records, c.batch_bytes, c.max_record),
            (8 << 20, 512, 1 << 20, 1 << 20)
        );
        assert_eq!((c.headers, c.service_name, c.client), (vec![], None, None));
    }

    #[test]
    fn headers_are_pairs_with_decoded_values() {
        let c = Config::parse(&opts(&[(
            "otlp-headers",
            "Authorization=Bearer%20abc, X-Scope-OrgID=tenant1",
        )]))
        .unwrap();
        assert_eq!(
            c.headers,
            [
                ("Authorization".to_owned(), "Bearer abc".to_owned()),
                ("X-Scope-OrgID".to_owned(), "tenant1".to_owned())
            ]
        );
        assert_eq!(
            invalid(&[("otlp-headers", "a b=c")]).2,
            "\"a b\" is not a header name"
        );
        assert_eq!(
            invalid(&[("otlp-headers", "x=%0d%0a")]).2,
            "the value of x is not valid"
        );
        assert_eq!(
            invalid(&[("otlp-headers", "x")]).2,
            "\"x\" is not name=value"
        );
    }

    #[test]
    fn bad_values_name_the_option_and_say_why() {
        assert_eq!(
            invalid(&[("otlp-compression", "zstd")]),
            (
                "otlp-compression".into(),
                "zstd".into(),
                "must be gzip or none".into()
            )
        );
        assert_eq!(invalid(&[("otlp-linger", "0s")]).2, "must be more than 0");
        assert_eq!(
            invalid(&[("otlp-batch-records", "0")]).2,
            "must be a whole number from 1 to 1000000"
        );
        assert_eq!(
            invalid(&[("otlp-batch-bytes", "65m")]).0,
            "otlp-batch-bytes"
        );
        assert_eq!(
            invalid(&[("otlp-tls-key", "/k.pem")]).2,
            "needs otlp-tls-cert too"
        );
        assert_eq!(
            invalid(&[("otlp-tls-ca-cert", "/ca.pem")]).2,
            "is for an https:// otlp-endpoint"
        );
        assert_eq!(invalid(&[("otlp-endpoint", "ftp://x")]).0, "otlp-endpoint");
        assert!(matches!(
            Config::parse(&opts(&[("otlp-url", "x")])),
            Err(Error::UnknownOption { .. })
        ));
    }
}
