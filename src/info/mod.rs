//! [`Info`]: the container a driver is created for.

mod attrs;

pub(crate) use attrs::check_attribute_options;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::error::{Error, Result};

/// The option that names container labels to attach to each line (comma list).
pub const LABELS_OPT: &str = "labels";
/// The option whose regex selects container labels to attach to each line.
pub const LABELS_REGEX_OPT: &str = "labels-regex";
/// The option that names environment variables to attach to each line (comma list).
pub const ENV_OPT: &str = "env";
/// The option whose regex selects environment variables to attach to each line.
pub const ENV_REGEX_OPT: &str = "env-regex";
/// The option that holds the tag template; see [`Info::tag`].
pub const TAG_OPT: &str = "tag";
/// The tag template used when the `tag` option is unset or empty.
pub const DEFAULT_TAG_TEMPLATE: &str = "{{.ID}}";

/// The container a driver is created for, and the driver's options.
///
/// This is Docker's `logger.Info`. A runtime fills it in when the container
/// starts and passes it to [`Registry::create`](crate::Registry::create);
/// a driver reads its options from [`config`](Info::config) and whatever it
/// wants to stamp on each line from the rest. Every field is public and
/// `Default` leaves them all empty: build one with a struct literal and
/// `..Default::default()`, or with [`Info::new`] and its `with_` methods.
///
/// # Examples
///
/// ```
/// use logdriver::Info;
///
/// let info = Info {
///     container_id: "0123456789abcdef0123".into(),
///     container_name: "/web".into(),
///     container_env: vec!["TENANT_ID=acme".into()],
///     ..Default::default()
/// };
/// assert_eq!(info.id(), "0123456789ab");
/// assert_eq!(info.name(), "web");
/// assert_eq!(info.env("TENANT_ID"), Some("acme"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The driver's options, as given with `--log-opt key=value`.
    pub config: HashMap<String, String>,
    /// The container's full id.
    pub container_id: String,
    /// The container's name; Docker keeps a leading `/`.
    pub container_name: String,
    /// The program the container runs.
    pub container_entrypoint: String,
    /// The program's arguments.
    pub container_args: Vec<String>,
    /// The image's id, such as `sha256:582c…`.
    pub container_image_id: String,
    /// The image's name, as the user typed it.
    pub container_image_name: String,
    /// When the container was created. By default, the Unix epoch.
    pub container_created: SystemTime,
    /// The container's environment, as `KEY=value` strings.
    pub container_env: Vec<String>,
    /// The container's labels.
    pub container_labels: HashMap<String, String>,
    /// Where a file-based driver writes, if anywhere.
    pub log_path: Option<PathBuf>,
    /// The name of the daemon that runs the container (Docker says `docker`).
    pub daemon_name: String,
}

impl Default for Info {
    fn default() -> Info {
        Info {
            config: HashMap::new(),
            container_id: String::new(),
            container_name: String::new(),
            container_entrypoint: String::new(),
            container_args: Vec::new(),
            container_image_id: String::new(),
            container_image_name: String::new(),
            container_created: SystemTime::UNIX_EPOCH,
            container_env: Vec::new(),
            container_labels: HashMap::new(),
            log_path: None,
            daemon_name: String::new(),
        }
    }
}

/// Docker's `stringid.TruncateID`: drops an `algo:` prefix, keeps 12 characters.
fn truncate_id(id: &str) -> &str {
    let id = id.rsplit_once(':').map_or(id, |(_, hex)| hex);
    id.char_indices().nth(12).map_or(id, |(end, _)| &id[..end])
}

impl Info {
    /// An `Info` for the container `container_id`, everything else empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use logdriver::Info;
    ///
    /// let info = Info::new("0123456789abcdef")
    ///     .with_option("max-size", "10m")
    ///     .with_env("TENANT_ID", "acme")
    ///     .with_log_path("/var/log/c.log");
    /// assert_eq!(info.id(), "0123456789ab");
    /// assert_eq!(info.config["max-size"], "10m");
    /// assert_eq!(info.env("TENANT_ID"), Some("acme"));
    /// ```
    pub fn new(container_id: impl Into<String>) -> Info {
        Info {
            container_id: container_id.into(),
            ..Info::default()
        }
    }

    /// Sets the driver option `key` to `value`, as `--log-opt key=value` does.
    #[must_use]
    pub fn with_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Info {
        self.config.insert(key.into(), value.into());
        self
    }

    /// Adds `KEY=value` to the container's environment.
    #[must_use]
    pub fn with_env(mut self, key: &str, value: &str) -> Info {
        self.container_env.push(format!("{key}={value}"));
        self
    }

    /// Sets where a file-based driver writes.
    #[must_use]
    pub fn with_log_path(mut self, path: impl Into<PathBuf>) -> Info {
        self.log_path = Some(path.into());
        self
    }

    /// The container's short id: its first 12 characters.
    ///
    /// An `algo:` prefix is dropped first, as Docker does.
    pub fn id(&self) -> &str {
        truncate_id(&self.container_id)
    }

    /// The container's full id.
    pub fn full_id(&self) -> &str {
        &self.container_id
    }

    /// The container's name without Docker's leading `/`.
    pub fn name(&self) -> &str {
        self.container_name
            .strip_prefix('/')
            .unwrap_or(&self.container_name)
    }

    /// The image's short id: 12 characters, with any `sha256:` prefix dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let info = logdriver::Info {
    ///     container_image_id: "sha256:582c496ccf79d8f6c2b4f0d9ac2b7e3b".into(),
    ///     ..Default::default()
    /// };
    /// assert_eq!(info.image_id(), "582c496ccf79");
    /// ```
    pub fn image_id(&self) -> &str {
        truncate_id(&self.container_image_id)
    }

    /// The image's full id, prefix included.
    pub fn image_full_id(&self) -> &str {
        &self.container_image_id
    }

    /// The image's name, as the user typed it.
    pub fn image_name(&self) -> &str {
        &self.container_image_name
    }

    /// The entrypoint and its arguments, joined with spaces.
    pub fn command(&self) -> String {
        let mut cmd = self.container_entrypoint.clone();
        for arg in &self.container_args {
            if !cmd.is_empty() {
                cmd.push(' ');
            }
            cmd.push_str(arg);
        }
        cmd
    }

    /// The value of the container's environment variable `key`.
    ///
    /// When `key` is set more than once, the last setting wins, as it does
    /// for the process itself. `None` when it is not set at all.
    pub fn env(&self, key: &str) -> Option<&str> {
        self.env_pairs()
            .filter(|&(k, _)| k == key)
            .map(|(_, v)| v)
            .last()
    }

    fn env_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.container_env.iter().filter_map(|e| e.split_once('='))
    }
}

/// Checks that every key of `opts` is one of `known`, for a validator.
///
/// When several keys are unknown, the error names the first in sorted
/// order, so that the same options always give the same error.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use logdriver::{reject_unknown_options, Error};
///
/// let opts = HashMap::from([("tag".to_string(), "x".to_string()), ("colour".to_string(), "red".to_string())]);
/// assert!(reject_unknown_options("mine", &opts, &["tag", "colour"]).is_ok());
/// let err = reject_unknown_options("mine", &opts, &["tag"]).unwrap_err();
/// assert!(matches!(err, Error::UnknownOption { ref key, .. } if key == "colour"));
/// ```
///
/// # Errors
///
/// [`Error::UnknownOption`] naming `driver` and the key.
pub fn reject_unknown_options(
    driver: &str,
    opts: &HashMap<String, String>,
    known: &[&str],
) -> Result<()> {
    match opts.keys().filter(|k| !known.contains(&k.as_str())).min() {
        Some(key) => Err(Error::unknown_option(driver, key)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn info() -> Info {
        Info {
            container_id: "sha256:abcdef0123456789ffff".into(),
            container_name: "/test-container".into(),
            container_entrypoint: "/bin/sh".into(),
            container_args: vec!["-c".into(), "echo hi".into()],
            container_image_id: "sha256:582c496ccf79d8f6".into(),
            container_image_name: "busybox:latest".into(),
            daemon_name: "docker".into(),
            ..Default::default()
        }
    }

    pub(super) fn with_config(mut info: Info, pairs: &[(&str, &str)]) -> Info {
        info.config = pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect();
        info
    }

    #[test]
    fn ids_are_truncated_without_prefix() {
        let i = info();
        assert_eq!(i.id(), "abcdef012345");
        assert_eq!(i.full_id(), "sha256:abcdef0123456789ffff");
        assert_eq!(i.image_id(), "582c496ccf79");
        assert_eq!(Info::default().id(), "");
        let short = Info {
            container_id: "abc".into(),
            ..Default::default()
        };
        assert_eq!(short.id(), "abc");
    }

    #[test]
    fn name_and_command() {
        assert_eq!(info().name(), "test-container");
        assert_eq!(info().command(), "/bin/sh -c echo hi");
        assert_eq!(Info::default().command(), "");
    }

    #[test]
    fn env_last_setting_wins_and_bare_keys_are_ignored() {
        let i = Info {
            container_env: vec!["A=1".into(), "B".into(), "A=2".into(), "C=".into()],
            ..Default::default()
        };
        assert_eq!(i.env("A"), Some("2"));
        assert_eq!(i.env("B"), None);
        assert_eq!(i.env("C"), Some(""));
        assert_eq!(i.env("D"), None);
    }
}
