//! Sizes and durations in options, with their bounds.
//!
//! Sizes are Docker's strings (`go-units`): `1m`, `64KiB`, `1.5g`, `1000`.
//! Durations are a whole number with a unit: `500ms`, `5s`, `1m`. Every
//! option that takes one has a maximum, checked at validation, so that no
//! arithmetic on an option's value can overflow later.

use std::time::Duration;

/// The longest duration any option takes: one hour.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3600);

/// Parses `500ms`, `5s` or `1m`, at most `max`; `0` alone, as in Go.
pub(crate) fn parse_duration(s: &str, max: Duration) -> Result<Duration, String> {
    const SHAPE: &str = "not a duration such as 500ms, 5s or 1m";
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let too_long = || format!("must be at most {}s", max.as_secs());
    let n: u64 = match number.parse() {
        Ok(n) => n,
        // All digits, and still no u64: far too long.
        Err(_) if !number.is_empty() && !unit.is_empty() => return Err(too_long()),
        Err(_) => return Err(SHAPE.to_owned()),
    };
    let millis = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        _ => return Err(SHAPE.to_owned()),
    };
    match millis.map(Duration::from_millis) {
        Some(d) if d <= max => Ok(d),
        _ => Err(too_long()),
    }
}

/// Parses a size as [`parse_size`] does, at most `max` bytes.
pub(crate) fn parse_size_at_most(s: &str, base: u64, max: u64) -> Result<u64, String> {
    match parse_size(s, base) {
        Ok(n) if n <= max => Ok(n),
        Ok(_) | Err("too large") => Err(format!("must be at most {max} bytes")),
        Err(reason) => Err(reason.to_owned()),
    }
}

/// The multiplier of each unit letter, as a power of the base.
const UNITS: &[(u8, u32)] = &[(b'k', 1), (b'm', 2), (b'g', 3), (b't', 4), (b'p', 5)];

/// Parses a size such as `1m` into bytes, with `base` 1024 (Docker's
/// `RAMInBytes`, used by `max-buffer-size`) or 1000 (`FromHumanSize`,
/// used by json-file's `max-size`).
///
/// The grammar is go-units': a number with an optional fraction, an
/// optional space, then an optional unit letter `k m g t p` that may be
/// followed by `i` and then `b`, or by `b` alone. Case does not matter.
/// A unit is a power of `base` whether or not it has the `i`.
pub(crate) fn parse_size(s: &str, base: u64) -> Result<u64, &'static str> {
    let lower = s.to_ascii_lowercase();
    let num_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, suffix) = lower.split_at(num_end);
    let suffix = suffix.strip_prefix(' ').unwrap_or(suffix);

    let power = match suffix.as_bytes() {
        [] | [b'b'] => 0,
        [u] | [u, b'b'] | [u, b'i', b'b'] => match UNITS.iter().find(|(letter, _)| letter == u) {
            Some(&(_, power)) => power,
            None => return Err("unknown unit; use k, m, g, t or p"),
        },
        _ => return Err("not a size such as 1000, 64k or 1m"),
    };

    let valid_number = match number.split_once('.') {
        None => !number.is_empty(),
        Some((int, frac)) => !int.is_empty() && !frac.is_empty() && !frac.contains('.'),
    };
    if !valid_number {
        return Err("not a size such as 1000, 64k or 1m");
    }
    let value: f64 = number.parse().map_err(|_| "not a number")?;
    let bytes = value * (base as f64).powi(power as i32);
    if bytes >= u64::MAX as f64 {
        return Err("too large");
    }
    // go-units truncates a fractional byte count.
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_their_bound() {
        let hour = MAX_DURATION;
        assert_eq!(
            parse_duration("250ms", hour),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(parse_duration("5s", hour), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("60m", hour), Ok(hour));
        for long in [
            "61m",
            "3601s",
            "18446744073709551615s",
            "99999999999999999999999m",
        ] {
            assert_eq!(
                parse_duration(long, hour),
                Err("must be at most 3600s".into()),
                "{long}"
            );
        }
        for bad in ["", "5", "s", "-1s", "1.5s", "5 s", "5h", "1e3ms"] {
            assert!(
                parse_duration(bad, hour)
                    .unwrap_err()
                    .starts_with("not a duration"),
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(
            std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
        ))]

        #[test]
        fn fuzz_any_string_is_a_bounded_size_or_duration_or_an_error(
            s in "\\PC{0,30}|[0-9]{0,30}(\\.[0-9]{0,30})? ?[kKmMgGtTpPiIbBsh]{0,3}",
        ) {
            if let Ok(n) = parse_size_at_most(&s, 1024, 1 << 30) {
                proptest::prop_assert!(n <= 1 << 30);
            }
            if let Ok(d) = parse_duration(&s, MAX_DURATION) {
                proptest::prop_assert!(d <= MAX_DURATION);
            }
        }
    }

    #[test]
    fn sizes_at_most() {
        assert_eq!(parse_size_at_most("1k", 1024, 1024), Ok(1024));
        assert_eq!(
            parse_size_at_most("1025", 1024, 1024),
            Err("must be at most 1024 bytes".into())
        );
        assert_eq!(
            parse_size_at_most("99999999p", 1024, 1024),
            Err("must be at most 1024 bytes".into())
        );
        assert!(parse_size_at_most("x", 1024, 1024).is_err());
    }

    #[test]
    fn binary_sizes() {
        let cases = [
            ("0", 0),
            ("1000", 1000),
            ("32", 32),
            ("32b", 32),
            ("32 B", 32),
            ("1k", 1024),
            ("1K", 1024),
            ("1kb", 1024),
            ("1KiB", 1024),
            ("1m", 1 << 20),
            ("1MB", 1 << 20),
            ("4m", 4 << 20),
            ("1g", 1 << 30),
            ("1.5k", 1536),
            ("2t", 2 << 40),
        ];
        for (s, want) in cases {
            assert_eq!(parse_size(s, 1024), Ok(want), "{s:?}");
        }
    }

    #[test]
    fn decimal_sizes() {
        assert_eq!(parse_size("1k", 1000), Ok(1000));
        assert_eq!(parse_size("10m", 1000), Ok(10_000_000));
        assert_eq!(parse_size("1KiB", 1000), Ok(1000));
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "", "m", "-1", "1x", "1mm", "1 m b", "1..5k", "1.", ".5k", "k1", "1ki", "1  k", "1e3",
        ] {
            assert!(parse_size(s, 1024).is_err(), "{s:?} should be rejected");
        }
        assert_eq!(parse_size("99999999p", 1024), Err("too large"));
    }
}
