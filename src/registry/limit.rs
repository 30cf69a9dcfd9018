//! `rate-limit-lines`, `rate-limit-bytes` and `rate-limit-burst`, which the
//! registry handles for every driver by putting it behind a
//! [`RateLimited`](crate::RateLimited).

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::rate_limit::RateLimit;
use crate::units::{parse_duration, parse_size_at_most};

/// The option that limits a container's lines a second: a whole number
/// from 1 to 1,000,000,000.
pub const RATE_LIMIT_LINES_OPT: &str = "rate-limit-lines";
/// The option that limits a container's bytes a second: a size in
/// Docker's binary units (`1m` is 1 MiB a second), from 1 byte to 1 GiB.
pub const RATE_LIMIT_BYTES_OPT: &str = "rate-limit-bytes";
/// The option that sizes the buckets, as time at their rate: a Go
/// duration from `1ms` to `1h`; by default `1s`. Needs one of the other
/// two.
pub const RATE_LIMIT_BURST_OPT: &str = "rate-limit-burst";

const MAX_LINES: u64 = 1_000_000_000;
const MAX_BYTES: u64 = 1 << 30;
const MAX_BURST: Duration = Duration::from_secs(3600);

/// The limit the options ask for, or `None` when they ask for none.
pub(super) fn rate_limit(
    driver: &str,
    opts: &HashMap<String, String>,
) -> Result<Option<RateLimit>> {
    let mut limit = RateLimit::new();
    if let Some(value) = opts.get(RATE_LIMIT_LINES_OPT) {
        let n = value
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_LINES).contains(n))
            .ok_or_else(|| {
                Error::invalid_option(
                    driver,
                    RATE_LIMIT_LINES_OPT,
                    value,
                    "must be a whole number of lines a second, from 1 to 1000000000",
                )
            })?;
        limit = limit.lines_per_second(n);
    }
    if let Some(value) = opts.get(RATE_LIMIT_BYTES_OPT) {
        let n = parse_size_at_most(value, 1024, MAX_BYTES)
            .and_then(|n| {
                if n == 0 {
                    Err("must be at least 1 byte".into())
                } else {
                    Ok(n)
                }
            })
            .map_err(|reason| Error::invalid_option(driver, RATE_LIMIT_BYTES_OPT, value, reason))?;
        limit = limit.bytes_per_second(n);
    }
    let limited = limit.lines().is_some() || limit.bytes().is_some();
    if let Some(value) = opts.get(RATE_LIMIT_BURST_OPT) {
        if !limited {
            return Err(Error::invalid_option(
                driver,
                RATE_LIMIT_BURST_OPT,
                value,
                "needs rate-limit-lines or rate-limit-bytes",
            ));
        }
        let burst = parse_duration(value, MAX_BURST)
            .and_then(|d| {
                if d < Duration::from_millis(1) {
                    Err("must be at least 1ms".into())
                } else {
                    Ok(d)
                }
            })
            .map_err(|reason| Error::invalid_option(driver, RATE_LIMIT_BURST_OPT, value, reason))?;
        limit = limit.burst(burst);
    }
    Ok(limited.then_some(limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{invalid_option, opts};

    #[test]
    fn options_make_the_limit() {
        assert_eq!(rate_limit("json-file", &opts(&[])).unwrap(), None);
        let limit = rate_limit(
            "json-file",
            &opts(&[
                ("rate-limit-lines", "100"),
                ("rate-limit-bytes", "1m"),
                ("rate-limit-burst", "2s"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(limit.lines(), Some(100));
        assert_eq!(limit.bytes(), Some(1 << 20));
        assert_eq!(limit.burst_time(), Duration::from_secs(2));
        let bytes_only = rate_limit("json-file", &opts(&[("rate-limit-bytes", "10k")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (bytes_only.lines(), bytes_only.bytes()),
            (None, Some(10 << 10))
        );
        assert_eq!(bytes_only.burst_time(), RateLimit::DEFAULT_BURST);
    }

    #[test]
    fn bad_values_name_the_driver_the_option_and_the_value() {
        for (key, value) in [
            ("rate-limit-lines", "0"),
            ("rate-limit-lines", "-3"),
            ("rate-limit-lines", "1.5"),
            ("rate-limit-lines", "2000000000"),
            ("rate-limit-bytes", "0"),
            ("rate-limit-bytes", "2g"),
            ("rate-limit-bytes", "lots"),
        ] {
            let (k, v, _) = invalid_option(
                "fluentd",
                rate_limit("fluentd", &opts(&[(key, value)])).unwrap_err(),
            );
            assert_eq!((k.as_str(), v.as_str()), (key, value));
        }
        for burst in ["0s", "2h", "soon"] {
            let e = rate_limit(
                "fluentd",
                &opts(&[("rate-limit-lines", "5"), ("rate-limit-burst", burst)]),
            );
            assert!(
                matches!(&e, Err(Error::InvalidOption { key, value, .. }) if key == "rate-limit-burst" && value == burst),
                "{burst}: {e:?}"
            );
        }
        let alone = rate_limit("fluentd", &opts(&[("rate-limit-burst", "1s")])).unwrap_err();
        assert!(
            alone
                .to_string()
                .contains("needs rate-limit-lines or rate-limit-bytes"),
            "{alone}"
        );
    }
}
