//! Docker's size strings (`go-units`): `1m`, `64KiB`, `1.5g`, `1000`.

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
    use super::parse_size;

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
