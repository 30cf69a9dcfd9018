//! RFC 3339 times in UTC, as Docker writes and reads them; no time crate
//! needed for one format.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A time outside years 0 to 9999, which RFC 3339 cannot write.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct YearOutOfRange;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm, in eras of 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01; the inverse of `civil_from_days`.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds and nanoseconds since the Unix epoch, negative before it.
pub(crate) fn unix_parts(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (secs, nanos) = (d.as_secs() as i64, d.subsec_nanos());
            if nanos == 0 {
                (-secs, 0)
            } else {
                (-secs - 1, 1_000_000_000 - nanos)
            }
        }
    }
}

/// Appends `t` in UTC as Go's `RFC3339Nano`: trailing zeros of the
/// fraction trimmed, no fraction at all when it is zero.
pub(crate) fn write_time(out: &mut Vec<u8>, t: SystemTime) -> Result<(), YearOutOfRange> {
    write_rfc3339(out, t, true)
}

/// Appends `t` in UTC with exactly nine fraction digits, as
/// `2026-11-30T11:00:01.000000000Z`.
pub(crate) fn write_time_nanos(out: &mut Vec<u8>, t: SystemTime) -> Result<(), YearOutOfRange> {
    write_rfc3339(out, t, false)
}

fn write_rfc3339(out: &mut Vec<u8>, t: SystemTime, trim: bool) -> Result<(), YearOutOfRange> {
    let (secs, nanos) = unix_parts(t);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&year) {
        return Err(YearOutOfRange);
    }
    let sod = secs.rem_euclid(86_400);
    let push2 = |out: &mut Vec<u8>, n: i64| {
        out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8])
    };
    push2(out, year / 100);
    push2(out, year % 100);
    out.push(b'-');
    push2(out, i64::from(month));
    out.push(b'-');
    push2(out, i64::from(day));
    out.push(b'T');
    push2(out, sod / 3600);
    out.push(b':');
    push2(out, sod / 60 % 60);
    out.push(b':');
    push2(out, sod % 60);
    if nanos > 0 || !trim {
        let mut digits = [0u8; 9];
        let mut n = nanos;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let zeros = digits.iter().rev().take_while(|&&d| d == b'0').count();
        let len = if trim { 9 - zeros } else { 9 };
        out.push(b'.');
        out.extend_from_slice(&digits[..len]);
    }
    out.push(b'Z');
    Ok(())
}

/// Parses an RFC 3339 time as Go's `time.Parse` with `RFC3339Nano` does:
/// `Z` or a `±hh:mm` offset, an optional fraction of any number of digits
/// (nanoseconds are kept, the digits after them ignored).
pub(crate) fn parse_time(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let kept = digits.min(9);
        nanos = frac[..kept].parse::<u32>().ok()? * 10u32.pow(9 - kept as u32);
        rest = &frac[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let minutes = (digit(h1)? * 10 + digit(h2)?) * 60 + digit(m1)? * 10 + digit(m2)?;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset;
    let since = Duration::new(secs.unsigned_abs(), 0);
    let whole = if secs >= 0 {
        UNIX_EPOCH + since
    } else {
        UNIX_EPOCH - since
    };
    Some(whole + Duration::from_nanos(u64::from(nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    fn time(t: SystemTime) -> String {
        let mut out = Vec::new();
        write_time(&mut out, t).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn times_like_go_rfc3339nano() {
        assert_eq!(time(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(time(at(1_504_227_661, 1)), "2017-09-01T01:01:01.000000001Z");
        assert_eq!(
            time(at(1_504_227_661, 120_000_000)),
            "2017-09-01T01:01:01.12Z"
        );
        assert_eq!(time(at(951_782_400, 0)), "2000-02-29T00:00:00Z");
        assert_eq!(
            time(at(253_402_300_799, 999_999_999)),
            "9999-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            time(UNIX_EPOCH - Duration::new(62_135_596_800, 0)),
            "0001-01-01T00:00:00Z"
        );
        assert_eq!(
            time(UNIX_EPOCH - Duration::new(0, 500_000_000)),
            "1969-12-31T23:59:59.5Z"
        );
        assert_eq!(
            write_time(&mut Vec::new(), at(253_402_300_800, 0)),
            Err(YearOutOfRange)
        );
    }

    #[test]
    fn times_parse_back() {
        for t in [
            UNIX_EPOCH,
            at(1_504_227_661, 1),
            at(1_800_000_000, 123_456_789),
            UNIX_EPOCH - Duration::new(1, 5),
        ] {
            assert_eq!(parse_time(&time(t)), Some(t));
        }
        assert_eq!(
            parse_time("2017-09-01T03:01:01.000000003+02:00"),
            Some(at(1_504_227_661, 3))
        );
        assert_eq!(
            parse_time("2017-09-01T00:31:01.5-00:30"),
            Some(at(1_504_227_661, 500_000_000))
        );
        for bad in [
            "",
            "2017-09-01",
            "2017-13-01T00:00:00Z",
            "2017-09-01T00:00:00",
            "2017-09-01T00:00:00.Z",
            "2017-09-01 00:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
        // Go keeps nanoseconds and ignores further digits.
        assert_eq!(
            parse_time("2017-09-01T01:01:01.1234567891Z"),
            Some(at(1_504_227_661, 123_456_789))
        );
    }

    #[test]
    fn fixed_width_times_have_nine_digits() {
        let fixed = |t| {
            let mut out = Vec::new();
            write_time_nanos(&mut out, t).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(fixed(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            fixed(at(1_504_227_661, 120_000_000)),
            "2017-09-01T01:01:01.120000000Z"
        );
        assert_eq!(
            fixed(at(1_504_227_661, 1)),
            "2017-09-01T01:01:01.000000001Z"
        );
    }
}
