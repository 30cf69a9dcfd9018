//! dockerd's side of the plugin protocol: the JSON bodies it posts, with
//! Go's field names, and what they become here.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::read::ReadConfig;

/// The content type of every answer: the plugin protocol's.
pub(super) const JSON: &str = "application/vnd.docker.plugins.v1.2+json";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StartRequest {
    pub(super) file: PathBuf,
    pub(super) info: DockerInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StopRequest {
    pub(super) file: PathBuf,
}

/// dockerd's `logger.Info`, with Go's field names.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct DockerInfo {
    #[serde(rename = "Config")]
    pub(super) config: Option<HashMap<String, String>>,
    #[serde(rename = "ContainerID")]
    pub(super) container_id: String,
    #[serde(rename = "ContainerName")]
    pub(super) container_name: String,
    #[serde(rename = "ContainerEntrypoint")]
    pub(super) container_entrypoint: String,
    #[serde(rename = "ContainerArgs")]
    pub(super) container_args: Option<Vec<String>>,
    #[serde(rename = "ContainerImageID")]
    pub(super) container_image_id: String,
    #[serde(rename = "ContainerImageName")]
    pub(super) container_image_name: String,
    #[serde(rename = "ContainerCreated")]
    pub(super) container_created: Option<String>,
    #[serde(rename = "ContainerEnv")]
    pub(super) container_env: Option<Vec<String>>,
    #[serde(rename = "ContainerLabels")]
    pub(super) container_labels: Option<HashMap<String, String>>,
    #[serde(rename = "DaemonName")]
    pub(super) daemon_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReadRequest {
    pub(super) info: DockerInfo,
    #[serde(default)]
    pub(super) config: DockerReadConfig,
}

/// dockerd's `logger.ReadConfig`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct DockerReadConfig {
    since: Option<String>,
    until: Option<String>,
    /// `-1` for all.
    tail: i64,
    follow: bool,
}

impl Default for DockerReadConfig {
    fn default() -> DockerReadConfig {
        DockerReadConfig {
            since: None,
            until: None,
            tail: -1,
            follow: false,
        }
    }
}

impl DockerReadConfig {
    pub(super) fn to_read_config(&self) -> ReadConfig {
        // Go's zero time means "no limit".
        let time = |t: &Option<String>| {
            t.as_deref()
                .filter(|t| !t.starts_with("0001-01-01"))
                .and_then(crate::time::parse_time)
        };
        ReadConfig {
            tail: usize::try_from(self.tail).ok(),
            since: time(&self.since),
            until: time(&self.until),
            follow: self.follow,
        }
    }
}
