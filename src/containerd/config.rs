//! What the shim asks for: the container, the driver and its options, from
//! the logger's arguments and environment, and the container's command and
//! environment from its bundle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{StartError, DEFAULT_DRIVER, DEFAULT_LOG_DIR, NAMESPACE_LABEL};
use crate::info::Info;
use crate::metrics::MetricsAddress;

/// What the shim asked for: whose logs, which driver, and its options.
///
/// # Examples
///
/// ```
/// use logdriver::containerd::Config;
///
/// let args = ["driver", "json-file", "max-size", "10m", "log-dir", "/var/log/ctr"];
/// let config = Config::parse(args, "web", "default")?;
/// assert_eq!(config.driver, "json-file");
/// assert_eq!(config.options["max-size"], "10m");
/// assert_eq!(config.log_path(), std::path::Path::new("/var/log/ctr/default/web.log"));
/// # Ok::<(), logdriver::containerd::StartError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The container's id (`CONTAINER_ID`).
    pub container_id: String,
    /// Its containerd namespace (`CONTAINER_NAMESPACE`).
    pub namespace: String,
    /// The driver to create (`driver`).
    pub driver: String,
    /// Where file drivers write (`log-dir`).
    pub log_dir: PathBuf,
    /// Every other key of the URI: the driver's options.
    pub options: HashMap<String, String>,
    /// Where the driver's counts are served as Prometheus text, if
    /// anywhere (`metrics-address`: `unix:/path.sock` or a loopback
    /// `127.0.0.1:PORT`).
    pub metrics: Option<MetricsAddress>,
}

impl Config {
    /// Reads the arguments and environment the shim gave this process.
    ///
    /// # Errors
    ///
    /// As [`parse`](Config::parse), and [`StartError::MissingEnv`].
    pub fn from_env() -> Result<Config, StartError> {
        let var = |name| std::env::var(name).map_err(|_| StartError::MissingEnv(name));
        let id = var("CONTAINER_ID")?;
        let namespace = var("CONTAINER_NAMESPACE")?;
        let args = std::env::args_os().skip(1);
        Config::parse(
            args.map(|a| a.to_string_lossy().into_owned()),
            &id,
            &namespace,
        )
    }

    /// Builds a `Config` from the shim's arguments, `key value` pairs.
    ///
    /// # Errors
    ///
    /// [`StartError::InvalidIdentifier`] for an id or namespace that is not
    /// a containerd identifier (letters, digits, and `.`, `_` or `-` between
    /// them), and [`StartError::MissingValue`] for an odd number of
    /// arguments, and [`StartError::MetricsAddress`] for a `metrics-address`
    /// that is neither a unix socket nor a loopback address.
    pub fn parse<I, S>(args: I, container_id: &str, namespace: &str) -> Result<Config, StartError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for (what, value) in [
            ("CONTAINER_ID", container_id),
            ("CONTAINER_NAMESPACE", namespace),
        ] {
            if !is_identifier(value) {
                return Err(StartError::InvalidIdentifier {
                    what,
                    value: value.to_owned(),
                });
            }
        }
        let mut config = Config {
            container_id: container_id.to_owned(),
            namespace: namespace.to_owned(),
            driver: DEFAULT_DRIVER.to_owned(),
            log_dir: PathBuf::from(DEFAULT_LOG_DIR),
            options: HashMap::new(),
            metrics: None,
        };
        let mut args = args.into_iter().map(Into::into);
        while let Some(key) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| StartError::MissingValue { key: key.clone() })?;
            match key.as_str() {
                "driver" => config.driver = value,
                "log-dir" => config.log_dir = value.into(),
                "metrics-address" => {
                    config.metrics = Some(value.parse().map_err(StartError::MetricsAddress)?)
                }
                _ => {
                    config.options.insert(key, value);
                }
            }
        }
        Ok(config)
    }

    /// `<log-dir>/<namespace>/<container id>.log`: where a file driver writes.
    pub fn log_path(&self) -> PathBuf {
        self.log_dir
            .join(&self.namespace)
            .join(format!("{}.log", self.container_id))
    }

    /// The [`Info`] the driver is created with, without what the bundle adds.
    pub fn info(&self) -> Info {
        let mut info = Info::new(self.container_id.clone()).with_log_path(self.log_path());
        info.config = self.options.clone();
        info.container_name = self.container_id.clone();
        info.daemon_name = "containerd".to_owned();
        info.container_labels
            .insert(NAMESPACE_LABEL.to_owned(), self.namespace.clone());
        info
    }
}

/// containerd's identifier rule: alphanumeric runs joined by one `.`, `_`
/// or `-`, at most 76 characters. It keeps `..` and `/` out of paths.
fn is_identifier(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 76
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
        && !bytes
            .windows(2)
            .any(|w| !w[0].is_ascii_alphanumeric() && !w[1].is_ascii_alphanumeric())
}

/// The part of an OCI bundle's `config.json` that describes the container.
#[derive(Deserialize)]
struct Bundle {
    process: Option<BundleProcess>,
}

#[derive(Deserialize)]
struct BundleProcess {
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
}

/// Adds the command and environment of the bundle in `dir`, if it has one.
pub(super) fn add_bundle(info: &mut Info, dir: &Path) {
    let Ok(json) = std::fs::read(dir.join("config.json")) else {
        return;
    };
    let Ok(Bundle {
        process: Some(process),
    }) = serde_json::from_slice(&json)
    else {
        return;
    };
    let mut args = process.args.into_iter();
    info.container_entrypoint = args.next().unwrap_or_default();
    info.container_args = args.collect();
    info.container_env = process.env;
}
