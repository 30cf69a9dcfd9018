//! A `binary://` log URI, parsed as containerd's shim parses it (Go's
//! `net/url`): the program's path, and the query as arguments.

use std::path::PathBuf;

use super::launcher::LaunchError;

/// A parsed `binary:///path?key=value&…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BinaryUri {
    /// The program, absolute.
    pub(crate) path: PathBuf,
    /// `key value` for each key, in the URI's order; a key given twice
    /// comes once, with its first value.
    pub(crate) args: Vec<String>,
}

impl BinaryUri {
    pub(crate) fn parse(uri: &str) -> Result<BinaryUri, LaunchError> {
        let refuse = |reason| LaunchError::Uri {
            uri: uri.to_owned(),
            reason,
        };
        let rest = uri.strip_prefix("binary://").ok_or_else(|| {
            refuse("only binary:// URIs start a logger (fifo://, file:// and plain paths do not)")
        })?;
        let (rest, _fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if !path.starts_with('/') {
            return Err(refuse(
                "the program must be an absolute path with no host: binary:///path/to/logger",
            ));
        }
        let path = unescape(path, false).ok_or_else(|| refuse("a bad %-escape in the path"))?;
        let mut args: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for pair in query.split('&') {
            // Go skips empty pairs, pairs with a `;`, and bad escapes.
            if pair.is_empty() || pair.contains(';') {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(key), Some(value)) = (unescape(key, true), unescape(value, true)) else {
                continue;
            };
            if seen.insert(key.clone()) {
                args.push(key);
                args.push(value);
            }
        }
        Ok(BinaryUri {
            path: PathBuf::from(path),
            args,
        })
    }
}

/// Percent-decodes `s` (and `+` as a space, in a query); `None` for a bad
/// escape or bytes that are not UTF-8.
fn unescape(s: &str, query: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> (String, Vec<String>) {
        let u = BinaryUri::parse(uri).unwrap();
        (u.path.display().to_string(), u.args)
    }

    #[test]
    fn path_and_query_as_containerd_reads_them() {
        assert_eq!(
            parse("binary:///usr/bin/logger"),
            ("/usr/bin/logger".into(), vec![])
        );
        assert_eq!(
            parse("binary:///opt/my%20logger?driver=zmq&zmq-address=tcp%3A%2F%2Fh%3A5555&flag&a=b+c&driver=json-file"),
            (
                "/opt/my logger".into(),
                ["driver", "zmq", "zmq-address", "tcp://h:5555", "flag", "", "a", "b c"]
                    .map(String::from)
                    .to_vec()
            )
        );
        // Go drops empty pairs, pairs with `;`, and bad escapes.
        assert_eq!(
            parse("binary:///l?&x=1;y=2&bad=%zz&ok=1#frag").1,
            vec!["ok".to_string(), "1".into()]
        );
    }

    #[test]
    fn anything_else_is_refused_with_why() {
        for (uri, starts) in [
            ("fifo:///run/x", "only binary://"),
            ("/usr/bin/logger", "only binary://"),
            ("binary://logger", "the program must be an absolute path"),
            (
                "binary://host/usr/bin/logger",
                "the program must be an absolute path",
            ),
            ("binary:///a%zz", "a bad %-escape"),
        ] {
            match BinaryUri::parse(uri).unwrap_err() {
                LaunchError::Uri { uri: got, reason } => {
                    assert_eq!(got, uri);
                    assert!(reason.starts_with(starts), "{uri}: {reason}");
                }
                other => panic!("{uri}: {other:?}"),
            }
        }
    }
}
