//! [`render_prometheus`]: any set of [`LoggerStats`] as Prometheus text,
//! for embedders to serve from their own HTTP server; and the endpoint the
//! plugin and the containerd logger serve it on ([`MetricsAddress`]).

use std::fmt::Write as _;

mod address;
#[cfg(any(feature = "plugin", feature = "containerd"))]
mod chunks;
#[cfg(any(feature = "plugin", feature = "containerd"))]
mod serve;

pub use address::MetricsAddress;
#[cfg(any(feature = "plugin", feature = "containerd"))]
pub(crate) use chunks::CountChunks;
#[cfg(any(feature = "plugin", feature = "containerd"))]
pub(crate) use serve::serve;

use crate::logger::LoggerStats;

/// One driver's counts, and the labels that say whose they are (for
/// example `container` and `driver`).
#[derive(Debug, Clone, Copy)]
pub struct StatsSample<'a> {
    /// Label names and values. Names must be Prometheus label names
    /// (`[a-zA-Z_][a-zA-Z0-9_]*`); values may hold anything, and are
    /// escaped.
    pub labels: &'a [(&'a str, &'a str)],
    /// The counts.
    pub stats: LoggerStats,
}

/// One series of a family: the value of its `reason` label, if it has
/// one, and where its count is.
type Series = (Option<&'static str>, fn(&LoggerStats) -> u64);

/// A family: its name, its type, its help and its series per sample.
type Family = (&'static str, &'static str, &'static str, &'static [Series]);

/// The families, in the order they are written.
const FAMILIES: [Family; 10] = [
    (
        "logdriver_lines_total",
        "counter",
        "Messages the driver sent or wrote.",
        &[(None, |s| s.lines)],
    ),
    (
        "logdriver_bytes_total",
        "counter",
        "Bytes of the lines of those messages.",
        &[(None, |s| s.bytes)],
    ),
    (
        "logdriver_dropped_total",
        "counter",
        "Messages dropped, by reason: a full buffer, refused by the peer, or the peer unavailable.",
        &[
            (Some("buffer_full"), |s| s.dropped_full),
            (Some("rejected"), |s| s.dropped_rejected),
            (Some("unavailable"), |s| {
                s.dropped
                    .saturating_sub(s.dropped_full)
                    .saturating_sub(s.dropped_rejected)
            }),
        ],
    ),
    (
        "logdriver_errors_total",
        "counter",
        "Messages whose log failed for another reason.",
        &[(None, |s| s.errors)],
    ),
    (
        "logdriver_truncated_total",
        "counter",
        "Lines cut short, or messages cut to fit their transport.",
        &[(None, |s| s.truncated)],
    ),
    (
        "logdriver_resent_total",
        "counter",
        "Messages sent again after an acknowledgement that did not come.",
        &[(None, |s| s.resent)],
    ),
    (
        "logdriver_suppressed_total",
        "counter",
        "Lines a rate limit held back.",
        &[(None, |s| s.suppressed)],
    ),
    (
        "logdriver_suppressed_bytes_total",
        "counter",
        "Bytes of the lines a rate limit held back.",
        &[(None, |s| s.suppressed_bytes)],
    ),
    (
        "logdriver_partial_chunks_total",
        "counter",
        "Messages that were chunks of a long line.",
        &[(None, |s| s.partial_chunks)],
    ),
    (
        "logdriver_queued_bytes",
        "gauge",
        "Bytes waiting in the driver's buffers.",
        &[(None, |s| s.queued_bytes)],
    ),
];

/// Renders `samples` in the Prometheus text exposition format (version
/// 0.0.4): a family for each [`LoggerStats`] count, each sample labelled
/// as given.
///
/// | family | type | from |
/// |---|---|---|
/// | `logdriver_lines_total`, `logdriver_bytes_total` | counter | `lines`, `bytes` |
/// | `logdriver_dropped_total{reason="buffer_full"}` | counter | `dropped_full` |
/// | `logdriver_dropped_total{reason="rejected"}` | counter | `dropped_rejected` |
/// | `logdriver_dropped_total{reason="unavailable"}` | counter | the rest of `dropped`: the peer down, too slow, or away at close |
/// | `logdriver_errors_total`, `logdriver_truncated_total`, `logdriver_resent_total` | counter | `errors`, `truncated`, `resent` |
/// | `logdriver_suppressed_total`, `logdriver_suppressed_bytes_total` | counter | `suppressed`, `suppressed_bytes` |
/// | `logdriver_partial_chunks_total` | counter | `partial_chunks` |
/// | `logdriver_queued_bytes` | gauge | `queued_bytes` |
///
/// The reasons of `logdriver_dropped_total` add up to `dropped`:
/// `sum by (container) (logdriver_dropped_total)` is every drop.
///
/// Label values are escaped as the format asks (`\`, `"` and newlines);
/// the output passes `promtool check metrics`. Serve it with the content
/// type `text/plain; version=0.0.4`.
///
/// # Examples
///
/// ```
/// use logdriver::{render_prometheus, LoggerStats, StatsSample};
///
/// let mut stats = LoggerStats::default();
/// stats.lines = 42;
/// stats.dropped = 3;
/// stats.dropped_full = 2;
/// let text = render_prometheus(&[StatsSample {
///     labels: &[("container", "web \"1\""), ("driver", "json-file")],
///     stats,
/// }]);
/// assert!(text.contains("# TYPE logdriver_dropped_total counter\n"));
/// assert!(text.contains("logdriver_lines_total{container=\"web \\\"1\\\"\",driver=\"json-file\"} 42\n"));
/// assert!(text.contains("logdriver_dropped_total{container=\"web \\\"1\\\"\",driver=\"json-file\",reason=\"buffer_full\"} 2\n"));
/// assert!(text.contains("logdriver_dropped_total{container=\"web \\\"1\\\"\",driver=\"json-file\",reason=\"unavailable\"} 1\n"));
/// ```
pub fn render_prometheus(samples: &[StatsSample<'_>]) -> String {
    let mut out = String::with_capacity(64 + samples.len() * FAMILIES.len() * 96);
    // Each sample's labels, escaped once for all its counts.
    let labels: Vec<String> = samples.iter().map(|s| label_set(s.labels)).collect();
    for (name, kind, help, series) in FAMILIES {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (sample, labels) in samples.iter().zip(&labels) {
            for (reason, count) in series {
                out.push_str(name);
                match reason {
                    None => out.push_str(labels),
                    // The sample's labels, then the reason, with no
                    // string of its own.
                    Some(reason) => {
                        match labels.strip_suffix('}') {
                            Some(open) => {
                                out.push_str(open);
                                out.push(',');
                            }
                            None => out.push('{'),
                        }
                        let _ = write!(out, "reason=\"{reason}\"}}");
                    }
                }
                let _ = writeln!(out, " {}", count(&sample.stats));
            }
        }
    }
    out
}

/// `{a="x",b="y"}`, or nothing for no labels.
fn label_set(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut out = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_count_is_one_family_with_every_sample_in_order() {
        let a = LoggerStats {
            lines: 1,
            bytes: 2,
            dropped: 30,
            dropped_full: 10,
            dropped_rejected: 15,
            errors: 4,
            truncated: 5,
            resent: 6,
            suppressed: 7,
            suppressed_bytes: 8,
            queued_bytes: 9,
            partial_chunks: 11,
        };
        let b = LoggerStats::default();
        let text = render_prometheus(&[
            StatsSample {
                labels: &[("container", "a"), ("driver", "otlp")],
                stats: a,
            },
            StatsSample {
                labels: &[("container", "b\\\n")],
                stats: b,
            },
        ]);
        let lines: Vec<&str> = text.lines().collect();
        // Ten families, and each sample three times in the dropped one.
        assert_eq!(lines.len(), 10 * 4 + 2 * 2);
        assert_eq!(
            lines[..4],
            [
                "# HELP logdriver_lines_total Messages the driver sent or wrote.",
                "# TYPE logdriver_lines_total counter",
                "logdriver_lines_total{container=\"a\",driver=\"otlp\"} 1",
                "logdriver_lines_total{container=\"b\\\\\\n\"} 0",
            ]
        );
        let a_counts: Vec<&str> = lines
            .iter()
            .filter(|l| l.contains("container=\"a\""))
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(
            a_counts,
            ["1", "2", "10", "15", "5", "4", "5", "6", "7", "8", "11", "9"]
        );
        assert!(text.contains(
            "logdriver_dropped_total{container=\"a\",driver=\"otlp\",reason=\"rejected\"} 15\n"
        ));
        assert!(text.contains("# TYPE logdriver_queued_bytes gauge\n"));
    }

    #[test]
    fn no_labels_no_braces() {
        let text = render_prometheus(&[StatsSample {
            labels: &[],
            stats: LoggerStats::default(),
        }]);
        assert!(text.contains("\nlogdriver_errors_total 0\n"), "{text}");
        assert!(
            text.contains("\nlogdriver_dropped_total{reason=\"unavailable\"} 0\n"),
            "{text}"
        );
    }
}
