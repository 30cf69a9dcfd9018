//! The `syslog-*` options, checked: every one Docker takes, with Docker's
//! error texts, and this driver's own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::address::{Address, Framing};
use super::format::{parse_facility, Format};
use super::NAME;
use crate::drivers::util::{conn, Options};
use crate::error::{Error, Result};

const OPTIONS: [&str; 16] = [
    // Docker's.
    "syslog-address",
    "syslog-facility",
    "syslog-format",
    "syslog-tls-ca-cert",
    "syslog-tls-cert",
    "syslog-tls-key",
    "syslog-tls-skip-verify",
    crate::info::TAG_OPT,
    crate::info::LABELS_OPT,
    crate::info::LABELS_REGEX_OPT,
    crate::info::ENV_OPT,
    crate::info::ENV_REGEX_OPT,
    // This driver's.
    "syslog-framing",
    "syslog-buffer-limit",
    "syslog-write-timeout",
    "syslog-structured-data",
];

/// `syslog-buffer-limit` when none is given: 1 MiB of framed messages.
const DEFAULT_BUFFER_LIMIT: u64 = 1 << 20;
/// The largest `syslog-buffer-limit`: 1 GiB.
const MAX_BUFFER_LIMIT: u64 = 1 << 30;
/// `syslog-write-timeout` when none is given.
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What TLS asks for, with `tcp+tls://`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) ca_cert: Option<PathBuf>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) skip_verify: bool,
}

/// The driver's options, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) address: Address,
    pub(crate) facility: u8,
    pub(crate) format: Format,
    /// For a stream transport.
    pub(crate) framing: Framing,
    pub(crate) tls: TlsFiles,
    /// The most bytes of framed messages that wait for the server.
    pub(crate) buffer_limit: usize,
    /// The longest a write waits for the server before its messages are
    /// dropped and counted.
    pub(crate) write_timeout: Duration,
    /// Whether RFC 5424 messages carry the container as structured data.
    pub(crate) structured_data: bool,
}

impl Config {
    pub(crate) fn parse(opts: &HashMap<String, String>) -> Result<Config> {
        let o = Options::new(NAME, opts, &OPTIONS)?;
        let address = Address::parse(o.get("syslog-address").unwrap_or(""))
            .map_err(|reason| o.invalid("syslog-address", reason))?;
        let facility = parse_facility(o.get("syslog-facility").unwrap_or(""))
            .map_err(|reason| o.invalid("syslog-facility", reason))?;
        let format = Format::parse(o.get("syslog-format").unwrap_or(""))
            .map_err(|reason| o.invalid("syslog-format", reason))?;
        let rfc5424 = matches!(format, Format::Rfc5424 | Format::Rfc5424Micro);
        let framing = Framing::parse(o.get("syslog-framing"), &address, rfc5424)
            .map_err(|reason| o.invalid("syslog-framing", reason))?;
        if o.get("syslog-framing").is_some() && !address.is_stream() {
            return Err(o.invalid(
                "syslog-framing",
                "is for stream transports: tcp://, tcp+tls:// and unix://",
            ));
        }
        // Docker skips verification whenever the key is there, even as
        // "false"; here an empty value or a true one does, "false" does not.
        let skip_verify = match o.get("syslog-tls-skip-verify") {
            None => false,
            Some("") => true,
            Some(_) => o.bool("syslog-tls-skip-verify")?.unwrap_or(true),
        };
        let path = |key| o.get(key).filter(|v| !v.is_empty()).map(PathBuf::from);
        let tls = TlsFiles {
            ca_cert: path("syslog-tls-ca-cert"),
            cert: path("syslog-tls-cert"),
            key: path("syslog-tls-key"),
            skip_verify,
        };
        if tls.cert.is_some() != tls.key.is_some() {
            let (given, missing) = if tls.cert.is_some() {
                ("syslog-tls-cert", "syslog-tls-key")
            } else {
                ("syslog-tls-key", "syslog-tls-cert")
            };
            return Err(o.invalid(given, format!("needs {missing} too")));
        }
        let buffer_limit = o
            .size("syslog-buffer-limit", 1024, MAX_BUFFER_LIMIT)?
            .unwrap_or(DEFAULT_BUFFER_LIMIT);
        let write_timeout = match o.duration("syslog-write-timeout")? {
            None => DEFAULT_WRITE_TIMEOUT,
            Some(d) if d.is_zero() => {
                return Err(o.invalid("syslog-write-timeout", "must be more than 0"))
            }
            Some(d) => d,
        };
        Ok(Config {
            address,
            facility,
            format,
            framing,
            tls,
            buffer_limit: buffer_limit as usize,
            write_timeout,
            structured_data: o.bool("syslog-structured-data")?.unwrap_or(false),
        })
    }
}

impl Config {
    /// The TLS settings for a `tcp+tls://` address, made once per driver.
    pub(crate) fn tls(&self) -> Result<Option<conn::Tls>> {
        if !matches!(self.address, Address::Tls { .. }) {
            return Ok(None);
        }
        let files = &self.tls;
        let settings = conn::TlsFiles {
            ca: files.ca_cert.as_deref(),
            client: files.cert.as_deref().zip(files.key.as_deref()),
            skip_verify: files.skip_verify,
        };
        conn::tls_config(settings).map(Some).map_err(|reason| {
            // The option whose file the reason names, else the address.
            let named = [
                ("syslog-tls-ca-cert", &files.ca_cert),
                ("syslog-tls-cert", &files.cert),
                ("syslog-tls-key", &files.key),
            ]
            .into_iter()
            .find_map(|(key, path)| {
                let path = path.as_ref()?.display().to_string();
                reason.starts_with(&path).then_some((key, path))
            });
            let (key, value) = named.unwrap_or(("syslog-address", self.address.to_string()));
            Error::invalid_option(NAME, key, &value, reason)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{invalid_option, opts};

    fn invalid(pairs: &[(&str, &str)]) -> (String, String, String) {
        invalid_option(NAME, Config::parse(&opts(pairs)).unwrap_err())
    }

    #[test]
    fn defaults_are_dockers() {
        let c = Config::parse(&HashMap::new()).unwrap();
        assert_eq!(
            (c.address, c.facility, c.format, c.framing),
            (Address::Local, 3, Format::Unix, Framing::Lf)
        );
        assert_eq!(c.tls, TlsFiles::default());
        assert_eq!(
            (c.buffer_limit, c.write_timeout),
            (1 << 20, Duration::from_secs(5))
        );
        assert!(!c.structured_data);
        let tls = Config::parse(&opts(&[
            ("syslog-address", "tcp+tls://logs:6514"),
            ("syslog-format", "rfc5424micro"),
            ("syslog-facility", "local3"),
        ]))
        .unwrap();
        assert_eq!((tls.facility, tls.framing), (19, Framing::OctetCounted));
    }

    #[test]
    fn every_docker_option_is_taken_and_bad_values_say_why() {
        Config::parse(&opts(&[
            ("syslog-address", "tcp+tls://logs"),
            ("syslog-tls-ca-cert", "/etc/ca.pem"),
            ("syslog-tls-cert", "/etc/c.pem"),
            ("syslog-tls-key", "/etc/k.pem"),
            ("syslog-tls-skip-verify", ""),
            ("tag", "{{.Name}}"),
            ("labels", "a"),
            ("labels-regex", "^a"),
            ("env", "A"),
            ("env-regex", "^A"),
        ]))
        .unwrap();
        assert_eq!(
            invalid(&[("syslog-facility", "x")]),
            (
                "syslog-facility".into(),
                "x".into(),
                "invalid syslog facility".into()
            )
        );
        assert_eq!(
            invalid(&[("syslog-format", "json")]).2,
            "Invalid syslog format"
        );
        assert_eq!(
            invalid(&[("syslog-address", "logs")]).2,
            "syslog-address should be in form proto://address, got logs"
        );
        assert_eq!(
            invalid(&[("syslog-address", "udp://h"), ("syslog-framing", "lf")]).0,
            "syslog-framing"
        );
        assert_eq!(
            invalid(&[("syslog-tls-cert", "/c.pem")]),
            (
                "syslog-tls-cert".into(),
                "/c.pem".into(),
                "needs syslog-tls-key too".into()
            )
        );
        assert_eq!(
            invalid(&[("syslog-write-timeout", "0")]).2,
            "must be more than 0"
        );
        assert!(matches!(
            Config::parse(&opts(&[("syslog-tag", "x")])),
            Err(Error::UnknownOption { .. })
        ));
    }

    #[test]
    fn skip_verify_is_off_only_when_it_says_false() {
        let skip = |v: &str| {
            Config::parse(&opts(&[("syslog-tls-skip-verify", v)]))
                .unwrap()
                .tls
                .skip_verify
        };
        assert!(skip(""));
        assert!(skip("true"));
        assert!(!skip("false"));
        assert_eq!(
            invalid(&[("syslog-tls-skip-verify", "yes")]).2,
            "must be true or false"
        );
    }
}
