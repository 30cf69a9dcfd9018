//! [`render_prometheus`]: any set of [`LoggerStats`] as Prometheus text,
//! for embedders to serve from their own HTTP server; and the endpoint the
//! plugin and the containerd logger serve it on ([`MetricsAddress`]).

use std::fmt::Write as _;

mod address;
#[cfg(any(feature = "plugin", feature = "containerd"))]
mod serve;

pub use address::MetricsAddress;
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

/// A counter: its name, its help, and where its count is.
type Counter = (&'static str, &'static str, fn(&LoggerStats) -> u64);

/// The counters, in the order they are written.
const COUNTERS: [Counter; 8] = [
    (
        "logdriver_lines_total",
        "Messages the driver sent or wrote.",
        |s| s.lines,
    ),
    (
        "logdriver_bytes_total",
        "Bytes of the lines of those messages.",
        |s| s.bytes,
    ),
    (
        "logdriver_dropped_total",
        "Messages dropped: a full buffer, a timeout, nowhere to go.",
        |s| s.dropped,
    ),
    (
        "logdriver_errors_total",
        "Messages whose log failed for another reason.",
        |s| s.errors,
    ),
    (
        "logdriver_truncated_total",
        "Lines cut short, or messages cut to fit their transport.",
        |s| s.truncated,
    ),
    (
        "logdriver_resent_total",
        "Messages sent again after an acknowledgement that did not come.",
        |s| s.resent,
    ),
    (
        "logdriver_suppressed_total",
        "Lines a rate limit held back.",
        |s| s.suppressed,
    ),
    (
        "logdriver_suppressed_bytes_total",
        "Bytes of the lines a rate limit held back.",
        |s| s.suppressed_bytes,
    ),
];

/// Renders `samples` in the Prometheus text exposition format (version
/// 0.0.4): one counter family for each [`LoggerStats`] count, and the
/// gauge `logdriver_queued_bytes`, each sample labelled as given.
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
/// let text = render_prometheus(&[StatsSample {
///     labels: &[("container", "web \"1\""), ("driver", "json-file")],
///     stats,
/// }]);
/// assert!(text.contains("# TYPE logdriver_dropped_total counter\n"));
/// assert!(text.contains("logdriver_lines_total{container=\"web \\\"1\\\"\",driver=\"json-file\"} 42\n"));
/// assert!(text.contains("logdriver_dropped_total{container=\"web \\\"1\\\"\",driver=\"json-file\"} 3\n"));
/// ```
pub fn render_prometheus(samples: &[StatsSample<'_>]) -> String {
    let mut out = String::with_capacity(64 + samples.len() * COUNTERS.len() * 80);
    // Each sample's labels, escaped once for all its counters.
    let labels: Vec<String> = samples.iter().map(|s| label_set(s.labels)).collect();
    let gauge: Counter = (
        "logdriver_queued_bytes",
        "Bytes waiting in the driver's buffers.",
        |s| s.queued_bytes,
    );
    for (kind, (name, help, count)) in COUNTERS
        .map(|c| ("counter", c))
        .into_iter()
        .chain([("gauge", gauge)])
    {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (sample, labels) in samples.iter().zip(&labels) {
            let _ = writeln!(out, "{name}{labels} {}", count(&sample.stats));
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
            dropped: 3,
            errors: 4,
            truncated: 5,
            resent: 6,
            suppressed: 7,
            suppressed_bytes: 8,
            queued_bytes: 9,
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
        assert_eq!(lines.len(), 9 * 4);
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
        assert_eq!(a_counts, ["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
        assert!(text.contains("# TYPE logdriver_queued_bytes gauge\n"));
    }

    #[test]
    fn no_labels_no_braces() {
        let text = render_prometheus(&[StatsSample {
            labels: &[],
            stats: LoggerStats::default(),
        }]);
        assert!(text.contains("\nlogdriver_errors_total 0\n"), "{text}");
    }
}
