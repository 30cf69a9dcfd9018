//! [`Options`]: a driver's `--log-opt` values, read by type.

use std::collections::HashMap;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::units::{parse_duration, parse_size_at_most, MAX_DURATION};

/// One driver's options. Each reader gives `None` for an option that was
/// not given, so that the driver keeps its defaults where it reads them,
/// and an [`Error::InvalidOption`] that names the driver, the key and the
/// value for one it cannot use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options<'a> {
    driver: &'a str,
    opts: &'a HashMap<String, String>,
}

impl<'a> Options<'a> {
    /// `driver`'s options, every key among `known`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownOption`] for the first key, in order, that is not.
    pub(crate) fn new(
        driver: &'a str,
        opts: &'a HashMap<String, String>,
        known: &[&str],
    ) -> Result<Options<'a>> {
        crate::info::reject_unknown_options(driver, opts, known)?;
        Ok(Options { driver, opts })
    }

    /// The raw value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a str> {
        self.opts.get(key).map(String::as_str)
    }

    /// The raw value of `key`, which must be given.
    #[cfg_attr(not(any(feature = "zmq", feature = "nats")), allow(dead_code))]
    pub(crate) fn required(&self, key: &str) -> Result<&'a str> {
        self.get(key)
            .ok_or_else(|| Error::missing_option(self.driver, key))
    }

    /// An [`Error::InvalidOption`] for the value of `key`.
    pub(crate) fn invalid(&self, key: &str, reason: impl Display) -> Error {
        let value = self.get(key).unwrap_or_default();
        Error::invalid_option(self.driver, key, value, reason.to_string())
    }

    /// Go's booleans, as Docker parses them: `1`, `t`, `true`, `0`, `f`,
    /// `false`, in lower, upper or title case. An empty value is `None`,
    /// as Docker takes it.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
            Some(_) => Err(self.invalid(key, "must be true or false")),
        }
    }

    /// A Go duration (`250ms`, `1.5s`, `1m30s`), from 0 to an hour.
    pub(crate) fn duration(&self, key: &str) -> Result<Option<Duration>> {
        self.get(key)
            .map(|v| parse_duration(v, MAX_DURATION).map_err(|reason| self.invalid(key, reason)))
            .transpose()
    }

    /// A positive size with units of `base` (1000 or 1024), at most `max`
    /// bytes.
    pub(crate) fn size(&self, key: &str, base: u64, max: u64) -> Result<Option<u64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match parse_size_at_most(v, base, max) {
            Ok(0) => Err(self.invalid(key, "must be a positive size such as 10m")),
            Ok(n) => Ok(Some(n)),
            Err(reason) => Err(self.invalid(key, reason)),
        }
    }

    /// A whole number in `range`.
    pub(crate) fn count<T>(&self, key: &str, range: RangeInclusive<T>) -> Result<Option<T>>
    where
        T: FromStr + PartialOrd + Display,
    {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(self.invalid(
                key,
                format!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options of a driver `d` that knows every key.
    fn any(given: &HashMap<String, String>) -> Options<'_> {
        Options {
            driver: "d",
            opts: given,
        }
    }

    fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect()
    }

    fn reason(err: Error) -> (String, String, String) {
        match err {
            Error::InvalidOption {
                driver,
                key,
                value,
                reason,
            } => (format!("{driver}/{key}"), value, reason),
            other => panic!("not an InvalidOption: {other:?}"),
        }
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let given = opts(&[("b", "1"), ("a", "1"), ("z", "1")]);
        let err = Options::new("d", &given, &["b"]).unwrap_err();
        assert!(matches!(err, Error::UnknownOption { ref key, .. } if key == "a"));
        assert_eq!(any(&given).get("z"), Some("1"));
    }

    #[test]
    fn booleans_are_gos() {
        for (v, want) in [("1", true), ("T", true), ("True", true), ("f", false)] {
            let given = opts(&[("k", v)]);
            assert_eq!(any(&given).bool("k").unwrap(), Some(want));
        }
        let given = opts(&[("k", ""), ("y", "yes")]);
        let o = any(&given);
        assert_eq!(o.bool("k").unwrap(), None);
        assert_eq!(o.bool("none").unwrap(), None);
        assert_eq!(
            reason(o.bool("y").unwrap_err()),
            ("d/y".into(), "yes".into(), "must be true or false".into())
        );
    }

    #[test]
    fn durations_sizes_and_counts_name_their_bounds() {
        let given = opts(&[
            ("t", "1m30s"),
            ("long", "2h"),
            ("s", "1k"),
            ("zero", "0"),
            ("n", "7"),
            ("big", "101"),
        ]);
        let o = any(&given);
        assert_eq!(o.duration("t").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(
            reason(o.duration("long").unwrap_err()).2,
            "must be at most 1h"
        );
        assert_eq!(o.size("s", 1024, 1 << 20).unwrap(), Some(1024));
        assert_eq!(
            reason(o.size("zero", 1024, 1 << 20).unwrap_err()).2,
            "must be a positive size such as 10m"
        );
        assert_eq!(o.count("n", 1..=100usize).unwrap(), Some(7));
        assert_eq!(
            reason(o.count("big", 1..=100usize).unwrap_err()),
            (
                "d/big".into(),
                "101".into(),
                "must be a whole number from 1 to 100".into()
            )
        );
        assert!(matches!(
            o.required("gone"),
            Err(Error::MissingOption { .. })
        ));
    }
}
