//! Sizes and durations in options, with their bounds.
//!
//! Sizes are Docker's strings (`go-units`): `1m`, `64KiB`, `1.5g`, `1000`.
//! Durations are Go's, as Docker takes them: `500ms`, `1.5s`, `1m30s`. Every
//! option that takes one has a maximum, checked at validation, so that no
//! arithmetic on an option's value can overflow later.

use std::time::Duration;

/// The longest duration any option takes: one hour.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3600);

/// What a duration looks like, for the error that says it is not one.
const DURATION_SHAPE: &str = "not a duration such as 250ms, 1.5s, 1m30s or 1h";

/// Go's duration units, in nanoseconds. `µs` comes as U+00B5 or U+03BC.
const DURATION_UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a duration as Go's `time.ParseDuration` does (Docker's options
/// are Go durations): a sequence of numbers, each with an optional
/// fraction and a unit `ns`, `us` (or `µs`), `ms`, `s`, `m` or `h`, such
/// as `250ms`, `1.5s` or `1m30s`; `0` alone needs no unit. At most `max`:
/// a value of the right shape past it gets an error that names the bound.
/// Negative durations mean nothing for an option, and are refused.
pub(crate) fn parse_duration(s: &str, max: Duration) -> Result<Duration, String> {
    match s.strip_prefix('-') {
        Some(magnitude) => match parse_magnitude(magnitude, max) {
            Ok(d) if d.is_zero() => Ok(d),
            Ok(_) => Err("must not be negative".to_owned()),
            Err(e) => Err(e),
        },
        None => parse_magnitude(s.strip_prefix('+').unwrap_or(s), max),
    }
}

/// A duration without its sign.
fn parse_magnitude(unsigned: &str, max: Duration) -> Result<Duration, String> {
    let too_long = || format!("must be at most {}", go_duration(max));
    if unsigned == "0" {
        return Ok(Duration::ZERO);
    }
    if unsigned.is_empty() {
        return Err(DURATION_SHAPE.to_owned());
    }
    let max_nanos = max.as_nanos();
    let mut total: u128 = 0;
    let mut rest = unsigned;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                f.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(DURATION_SHAPE.to_owned());
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let Some(&(_, scale)) = DURATION_UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(DURATION_SHAPE.to_owned());
        };
        // Digits past what u128 holds are past any bound.
        let whole = match int.trim_start_matches('0') {
            "" => 0,
            digits => digits.parse::<u128>().map_err(|_| too_long())?,
        };
        // Go truncates what a fraction gives below a nanosecond; 18 digits
        // are more than any unit here resolves.
        let frac = &frac[..frac.len().min(18)];
        let part = if frac.is_empty() {
            0
        } else {
            frac.parse::<u128>().unwrap_or(0) * scale / 10u128.pow(frac.len() as u32)
        };
        total = whole
            .checked_mul(scale)
            .and_then(|n| n.checked_add(part))
            .and_then(|n| n.checked_add(total))
            .filter(|&n| n <= max_nanos)
            .ok_or_else(too_long)?;
        rest = next;
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Writes `d` as Go writes a duration it would parse back, in the largest
/// unit that holds it whole: `1h`, `90s`, `250ms`.
pub(crate) fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    DURATION_UNITS
        .iter()
        .rev()
        .filter(|(name, _)| name.is_ascii())
        .find(|&&(_, scale)| nanos.is_multiple_of(scale))
        .map_or_else(
            || format!("{nanos}ns"),
            |(name, scale)| format!("{}{name}", nanos / scale),
        )
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
    fn durations_as_go_parses_them() {
        let hour = MAX_DURATION;
        let ms = Duration::from_millis;
        for (text, want) in [
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("+5s", ms(5000)),
            ("250ms", ms(250)),
            ("5s", ms(5000)),
            ("1.5s", ms(1500)),
            (".5s", ms(500)),
            ("5.s", ms(5000)),
            ("1m30s", ms(90_000)),
            ("1h", hour),
            ("60m", hour),
            ("0.5h", ms(1_800_000)),
            ("250us", Duration::from_micros(250)),
            ("250\u{b5}s", Duration::from_micros(250)),
            ("250\u{3bc}s", Duration::from_micros(250)),
            ("100ns", Duration::from_nanos(100)),
            ("1.0000000001s", Duration::from_nanos(1_000_000_000)),
            ("0.9999999999s", Duration::from_nanos(999_999_999)),
            ("1h0m0s", hour),
            ("0000000000000000000000001s", ms(1000)),
        ] {
            assert_eq!(parse_duration(text, hour), Ok(want), "{text}");
        }
    }

    #[test]
    fn a_duration_past_its_bound_names_the_bound() {
        let hour = MAX_DURATION;
        for long in [
            "61m",
            "2h",
            "3601s",
            "1h0.001s",
            "18446744073709551615s",
            "99999999999999999999999m",
            "99999999999999999999999999999999999999999h",
        ] {
            assert_eq!(
                parse_duration(long, hour),
                Err("must be at most 1h".into()),
                "{long}"
            );
        }
        assert_eq!(
            parse_duration("2s", Duration::from_millis(1500)),
            Err("must be at most 1500ms".into())
        );
        assert_eq!(
            parse_duration("-1s", hour),
            Err("must not be negative".into())
        );
    }

    #[test]
    fn what_is_not_a_duration_is_told_so() {
        for bad in [
            "", "5", "s", ".s", "5 s", "5d", "1e3ms", "1.5.5s", "5s3", "1h-1m", "--1s", "+", "-",
            "5S", "1ms ",
        ] {
            assert_eq!(
                parse_duration(bad, MAX_DURATION),
                Err(DURATION_SHAPE.to_owned()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn go_writes_durations_in_their_largest_whole_unit() {
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(go_duration(Duration::from_secs(90)), "90s");
        assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(go_duration(Duration::from_nanos(7)), "7ns");
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
