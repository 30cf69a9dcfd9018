//! The messages, as Docker's `syslog-format` names them, byte for byte as
//! Docker's driver writes them, except where Docker's break RFC 5424:
//!
//! | `syslog-format` | message |
//! |---|---|
//! | (none) | `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG`, Docker's default, for a local socket |
//! | `rfc3164` | `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG` |
//! | `rfc5424` | `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`, the time in seconds |
//! | `rfc5424micro` | the same, the time in microseconds |
//!
//! As in Docker, the tag is both APP-NAME and MSGID, PRI is the facility
//! with severity 6 (info) for stdout and 3 (err) for stderr, and MSG is the
//! line as it came, without a BOM. Unlike Docker's (moby#38889), every
//! RFC 5424 header field is what the RFC allows: printable US-ASCII only
//! (anything else becomes `_`), APP-NAME cut to 48 characters, MSGID to 32,
//! HOSTNAME to 255, PROCID to 128, and `-` for an empty one. Times are the
//! line's, in UTC (Docker's are when it sent the line, in the daemon's
//! zone); RFC 3164's, which carry no zone, are UTC too.
//!
//! Nothing here frames a message: the transport adds its newline or its
//! octet count.

use std::io::Write;
use std::time::SystemTime;

use crate::message::Source;
use crate::time::{civil_from_days, unix_parts};

/// Which message format, as `syslog-format` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// No `syslog-format`: Docker's default, for a local socket.
    Unix,
    /// `rfc3164`.
    Rfc3164,
    /// `rfc5424`.
    Rfc5424,
    /// `rfc5424micro`.
    Rfc5424Micro,
}

impl Format {
    /// Parses `syslog-format`, with Docker's error text.
    pub(crate) fn parse(value: &str) -> Result<Format, &'static str> {
        match value {
            "" => Ok(Format::Unix),
            "rfc3164" => Ok(Format::Rfc3164),
            "rfc5424" => Ok(Format::Rfc5424),
            "rfc5424micro" => Ok(Format::Rfc5424Micro),
            _ => Err("Invalid syslog format"),
        }
    }
}

/// Parses `syslog-facility` as Docker does: a name, or a number from 0 to
/// 23; by default `daemon`. Returns the facility's number.
pub(crate) fn parse_facility(value: &str) -> Result<u8, &'static str> {
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "", "", "", "", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ];
    if value.is_empty() {
        return Ok(3);
    }
    if let Some(n) = NAMES
        .iter()
        .position(|&name| name == value && !name.is_empty())
    {
        return Ok(n as u8);
    }
    match value.parse::<u8>() {
        Ok(n) if n <= 23 => Ok(n),
        _ => Err("invalid syslog facility"),
    }
}

/// The most characters RFC 5424 allows in each header field.
const MAX_HOSTNAME: usize = 255;
const MAX_APP_NAME: usize = 48;
const MAX_PROCID: usize = 128;
const MAX_MSGID: usize = 32;

/// What every message of one container shares, its header fields made
/// once.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    format: Format,
    /// `<PRI>` for stdout (severity 6, info) and for stderr (3, err).
    pri: [String; 2],
    /// For RFC 3164 and the Unix format: as given, spaces made `_`.
    hostname: String,
    tag: String,
    pid: String,
    /// For RFC 5424: each field made valid.
    strict: [String; 4],
    /// RFC 5424 STRUCTURED-DATA, or `-`.
    structured_data: String,
}

impl Header {
    /// The header for `tag` on `hostname`, from process `pid`, with
    /// `structured_data` (already in RFC 5424 form; see [`sd_element`])
    /// for the RFC 5424 formats.
    pub(crate) fn new(
        format: Format,
        facility: u8,
        hostname: &str,
        tag: &str,
        pid: u32,
        structured_data: Option<String>,
    ) -> Header {
        let pid = pid.to_string();
        let no_spaces = |s: &str| s.replace(char::is_whitespace, "_");
        Header {
            format,
            pri: [6, 3].map(|severity| format!("<{}>", u16::from(facility) << 3 | severity)),
            hostname: no_spaces(hostname),
            tag: no_spaces(tag),
            strict: [
                field(hostname, MAX_HOSTNAME),
                field(tag, MAX_APP_NAME),
                field(&pid, MAX_PROCID),
                field(tag, MAX_MSGID),
            ],
            pid,
            structured_data: structured_data.unwrap_or_else(|| "-".into()),
        }
    }

    /// Appends the message for `line` from `source` at `time`.
    pub(crate) fn write(&self, out: &mut Vec<u8>, source: Source, time: SystemTime, line: &[u8]) {
        let pri = match source {
            Source::Stdout => &self.pri[0],
            Source::Stderr => &self.pri[1],
        };
        out.extend_from_slice(pri.as_bytes());
        match self.format {
            Format::Unix | Format::Rfc3164 => {
                stamp_3164(out, time);
                out.push(b' ');
                if self.format == Format::Rfc3164 {
                    out.extend_from_slice(self.hostname.as_bytes());
                    out.push(b' ');
                }
                out.extend_from_slice(self.tag.as_bytes());
                out.push(b'[');
                out.extend_from_slice(self.pid.as_bytes());
                out.extend_from_slice(b"]: ");
            }
            Format::Rfc5424 | Format::Rfc5424Micro => {
                out.extend_from_slice(b"1 ");
                stamp_5424(out, time, self.format == Format::Rfc5424Micro);
                for field in &self.strict {
                    out.push(b' ');
                    out.extend_from_slice(field.as_bytes());
                }
                out.push(b' ');
                out.extend_from_slice(self.structured_data.as_bytes());
                out.push(b' ');
            }
        }
        out.extend_from_slice(line);
    }
}

/// An RFC 5424 header field: printable US-ASCII, at most `max`
/// characters, `-` when empty.
fn field(value: &str, max: usize) -> String {
    let field: String = value
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    if field.is_empty() {
        "-".into()
    } else {
        field
    }
}

/// An SD-ELEMENT, `[id name="value" …]`: names made valid (printable
/// US-ASCII without `=`, space, `]` or `"`, at most 32 characters) and
/// values escaped (`"`, `\` and `]` get a backslash), as RFC 5424 says.
pub(crate) fn sd_element<'a>(
    id: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let name = |s: &str| {
        let name: String = s
            .chars()
            .map(|c| match c {
                '=' | ' ' | ']' | '"' => '_',
                c if c.is_ascii_graphic() => c,
                _ => '_',
            })
            .take(32)
            .collect();
        if name.is_empty() {
            "_".to_owned()
        } else {
            name
        }
    };
    let mut out = format!("[{}", name(id));
    for (key, value) in params {
        out.push(' ');
        out.push_str(&name(key));
        out.push_str("=\"");
        for c in value.chars() {
            if matches!(c, '"' | '\\' | ']') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push(']');
    out
}

/// `Mmm dd hh:mm:ss`, the day space-padded, in UTC: Go's `time.Stamp`.
fn stamp_3164(out: &mut Vec<u8>, time: SystemTime) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (secs, _) = unix_parts(time);
    let (_, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "{} {day:>2} {:02}:{:02}:{:02}",
        MONTHS[month as usize - 1],
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
}

/// `YYYY-MM-DDThh:mm:ssZ`, or with six fraction digits: RFC 5424's
/// TIMESTAMP, in UTC. A year outside 0 to 9999 is `-`, the NILVALUE.
fn stamp_5424(out: &mut Vec<u8>, time: SystemTime, micro: bool) {
    let (secs, nanos) = unix_parts(time);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&year) {
        out.push(b'-');
        return;
    }
    let sod = secs.rem_euclid(86_400);
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if micro {
        let _ = write!(out, ".{:06}", nanos / 1000);
    }
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// 2026-12-02T14:05:09.123456789Z.
    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_796_220_309, 123_456_789)
    }

    fn message(header: &Header, source: Source, line: &[u8]) -> String {
        let mut out = Vec::new();
        header.write(&mut out, source, at(), line);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn each_format_as_docker_writes_it() {
        let header = |format| Header::new(format, 3, "host1", "0123456789ab", 4242, None);
        assert_eq!(
            message(&header(Format::Unix), Source::Stdout, b"hello"),
            "<30>Dec  2 14:05:09 0123456789ab[4242]: hello"
        );
        assert_eq!(
            message(&header(Format::Rfc3164), Source::Stderr, b"oops"),
            "<27>Dec  2 14:05:09 host1 0123456789ab[4242]: oops"
        );
        assert_eq!(
            message(&header(Format::Rfc5424), Source::Stdout, b"hello"),
            "<30>1 2026-12-02T14:05:09Z host1 0123456789ab 4242 0123456789ab - hello"
        );
        assert_eq!(
            message(&header(Format::Rfc5424Micro), Source::Stdout, b"hello"),
            "<30>1 2026-12-02T14:05:09.123456Z host1 0123456789ab 4242 0123456789ab - hello"
        );
    }

    #[test]
    fn rfc5424_fields_are_cut_to_their_limits_never_refused() {
        let tag = "a".repeat(100);
        let header = Header::new(Format::Rfc5424, 16, "my host", &tag, 1, None);
        let msg = message(&header, Source::Stderr, b"x");
        let fields: Vec<&str> = msg.split(' ').collect();
        assert_eq!(fields[0], "<131>1");
        assert_eq!(fields[2], "my_host");
        assert_eq!(fields[3], "a".repeat(48));
        assert_eq!(fields[5], "a".repeat(32));
        let empty = Header::new(Format::Rfc5424, 3, "", "", 1, None);
        assert_eq!(
            message(&empty, Source::Stdout, b""),
            "<30>1 2026-12-02T14:05:09Z - - 1 - - "
        );
        // Not printable US-ASCII: made `_`.
        let odd = Header::new(Format::Rfc5424, 3, "h", "tag\u{e9}\t", 1, None);
        assert!(message(&odd, Source::Stdout, b"").contains(" tag__ 1 tag__ - "));
    }

    #[test]
    fn structured_data_is_escaped_as_the_rfc_says() {
        let sd = sd_element(
            "container@32473",
            [("name", "/web"), ("odd key=", r#"a"b\c]d"#)],
        );
        assert_eq!(sd, r#"[container@32473 name="/web" odd_key_="a\"b\\c\]d"]"#);
        let header = Header::new(Format::Rfc5424, 3, "h", "t", 1, Some(sd.clone()));
        assert_eq!(
            message(&header, Source::Stdout, b"line"),
            format!("<30>1 2026-12-02T14:05:09Z h t 1 t {sd} line")
        );
    }

    #[test]
    fn formats_and_facilities_parse_as_dockers_do() {
        assert_eq!(Format::parse(""), Ok(Format::Unix));
        assert_eq!(Format::parse("rfc5424micro"), Ok(Format::Rfc5424Micro));
        assert_eq!(Format::parse("RFC5424"), Err("Invalid syslog format"));
        assert_eq!(parse_facility(""), Ok(3));
        assert_eq!(parse_facility("local7"), Ok(23));
        assert_eq!(parse_facility("authpriv"), Ok(10));
        assert_eq!(parse_facility("0"), Ok(0));
        assert_eq!(parse_facility("23"), Ok(23));
        for bad in ["24", "-1", "Daemon", "x"] {
            assert_eq!(parse_facility(bad), Err("invalid syslog facility"), "{bad}");
        }
    }

    #[test]
    fn times_before_the_epoch_and_past_9999() {
        let mut out = Vec::new();
        stamp_5424(&mut out, UNIX_EPOCH - Duration::from_secs(1), true);
        assert_eq!(out, b"1969-12-31T23:59:59.000000Z");
        out.clear();
        stamp_5424(
            &mut out,
            UNIX_EPOCH + Duration::from_secs(300_000_000_000),
            false,
        );
        assert_eq!(out, b"-");
        out.clear();
        stamp_3164(&mut out, UNIX_EPOCH);
        assert_eq!(out, b"Jan  1 00:00:00");
    }
}
