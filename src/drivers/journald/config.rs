//! The journald driver's options, checked: Docker's (`tag` and the
//! attribute options) and this driver's own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::NAME;
use crate::drivers::util::Options;
use crate::error::Result;

const OPTIONS: [&str; 7] = [
    // Docker's.
    crate::info::TAG_OPT,
    crate::info::LABELS_OPT,
    crate::info::LABELS_REGEX_OPT,
    crate::info::ENV_OPT,
    crate::info::ENV_REGEX_OPT,
    // This driver's.
    "journald-socket",
    "journald-write-timeout",
];

/// journald's native socket.
pub const DEFAULT_SOCKET: &str = "/run/systemd/journal/socket";
/// `journald-write-timeout` when none is given.
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The driver's options, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) socket: PathBuf,
    pub(crate) write_timeout: Duration,
}

impl Config {
    pub(crate) fn parse(opts: &HashMap<String, String>) -> Result<Config> {
        let o = Options::new(NAME, opts, &OPTIONS)?;
        let socket = match o.get("journald-socket") {
            None => PathBuf::from(DEFAULT_SOCKET),
            Some(path) if path.starts_with('/') => PathBuf::from(path),
            Some(_) => return Err(o.invalid("journald-socket", "must be an absolute path")),
        };
        let write_timeout = match o.duration("journald-write-timeout")? {
            None => DEFAULT_WRITE_TIMEOUT,
            Some(d) if d.is_zero() => {
                return Err(o.invalid("journald-write-timeout", "must be more than 0"))
            }
            Some(d) => d,
        };
        Ok(Config {
            socket,
            write_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::testing::{invalid_option, opts};

    #[test]
    fn defaults_are_the_system_socket_and_five_seconds() {
        let config = Config::parse(&opts(&[("tag", "web")])).unwrap();
        assert_eq!(config.socket, PathBuf::from("/run/systemd/journal/socket"));
        assert_eq!(config.write_timeout, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_name_the_option_and_the_value() {
        let err = Config::parse(&opts(&[("journald-socket", "run/j")])).unwrap_err();
        assert_eq!(
            invalid_option(NAME, err),
            (
                "journald-socket".into(),
                "run/j".into(),
                "must be an absolute path".into()
            )
        );
        let err = Config::parse(&opts(&[("journald-write-timeout", "0s")])).unwrap_err();
        assert_eq!(invalid_option(NAME, err).0, "journald-write-timeout");
        let err = Config::parse(&opts(&[("journald-write-timeout", "soon")])).unwrap_err();
        assert_eq!(invalid_option(NAME, err).1, "soon");
    }

    #[test]
    fn options_of_other_drivers_are_refused() {
        let err = Config::parse(&opts(&[("max-size", "1m")])).unwrap_err();
        assert!(
            matches!(&err, Error::UnknownOption { driver, key } if driver == NAME && key == "max-size"),
            "{err:?}"
        );
    }
}
