//! [`Info`]: the container a driver is created for.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::SystemTime;

use regex::Regex;

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
/// `Default` leaves them all empty, so a struct literal with
/// `..Default::default()` is the way to build one.
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

    /// The labels and environment variables that the `labels`,
    /// `labels-regex`, `env` and `env-regex` options select, sorted by key.
    ///
    /// `labels` and `env` are comma-separated lists of names; the `-regex`
    /// options select every name that matches. Labels are gathered first,
    /// then environment variables, so a variable wins over a label of the
    /// same name, as in Docker. `driver` names the driver in errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use logdriver::Info;
    ///
    /// let info = Info {
    ///     config: [("labels".into(), "rack".into()), ("env-regex".into(), "^DC".into())].into(),
    ///     container_labels: [("rack".into(), "r1".into()), ("os".into(), "linux".into())].into(),
    ///     container_env: vec!["DC_NAME=east".into(), "HOME=/root".into()],
    ///     ..Default::default()
    /// };
    /// let attrs = info.extra_attributes("json-file")?;
    /// assert_eq!(attrs.into_iter().collect::<Vec<_>>(), [
    ///     ("DC_NAME".to_string(), "east".to_string()),
    ///     ("rack".to_string(), "r1".to_string()),
    /// ]);
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when `labels-regex` or `env-regex` is not a
    /// valid regular expression.
    pub fn extra_attributes(&self, driver: &str) -> Result<BTreeMap<String, String>> {
        let mut extra = BTreeMap::new();
        let labels = self
            .container_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        self.select(driver, LABELS_OPT, LABELS_REGEX_OPT, labels, &mut extra)?;
        let env: HashMap<&str, &str> = self.env_pairs().collect();
        self.select(
            driver,
            ENV_OPT,
            ENV_REGEX_OPT,
            env.iter().map(|(k, v)| (*k, *v)),
            &mut extra,
        )?;
        Ok(extra)
    }

    /// Adds to `extra` the pairs whose key is listed in option `list_opt`
    /// or matches the regex in option `regex_opt`.
    fn select<'a>(
        &self,
        driver: &str,
        list_opt: &str,
        regex_opt: &str,
        pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
        extra: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        if let Some(list) = self.config.get(list_opt).filter(|l| !l.is_empty()) {
            for name in list.split(',') {
                if let Some((k, v)) = pairs.clone().find(|&(k, _)| k == name) {
                    extra.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        if let Some(pattern) = self.config.get(regex_opt).filter(|p| !p.is_empty()) {
            let re = Regex::new(pattern).map_err(|e| {
                Error::invalid_option(
                    driver,
                    regex_opt,
                    pattern,
                    format!("not a valid regex: {e}"),
                )
            })?;
            for (k, v) in pairs.filter(|&(k, _)| re.is_match(k)) {
                extra.insert(k.to_owned(), v.to_owned());
            }
        }
        Ok(())
    }

    /// Renders the `tag` option, a Docker-style template such as
    /// `{{.Name}}/{{.ID}}`.
    ///
    /// The template defaults to `{{.ID}}` when the option is unset or empty.
    /// Text outside `{{ }}` is copied as it is. The fields are `.ID`,
    /// `.FullID`, `.Name`, `.ImageID`, `.ImageFullID`, `.ImageName`,
    /// `.Command` and `.DaemonName`; Go template functions are not
    /// supported. `driver` names the driver in errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use logdriver::Info;
    ///
    /// let info = Info {
    ///     config: [("tag".into(), "{{.Name}}/{{.ID}}".into())].into(),
    ///     container_id: "abcdef0123456789".into(),
    ///     container_name: "/test-container".into(),
    ///     ..Default::default()
    /// };
    /// assert_eq!(info.tag("json-file")?, "test-container/abcdef012345");
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for key `tag` when the template names an
    /// unknown field or has an unclosed `{{`.
    pub fn tag(&self, driver: &str) -> Result<String> {
        let template = self
            .config
            .get(TAG_OPT)
            .map(String::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or(DEFAULT_TAG_TEMPLATE);
        let invalid = |reason: String| Error::invalid_option(driver, TAG_OPT, template, reason);

        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| invalid("unclosed \"{{\"".to_owned()))?;
            let field = after[..close].trim();
            match field {
                ".ID" => out.push_str(self.id()),
                ".FullID" => out.push_str(self.full_id()),
                ".Name" => out.push_str(self.name()),
                ".ImageID" => out.push_str(self.image_id()),
                ".ImageFullID" => out.push_str(self.image_full_id()),
                ".ImageName" => out.push_str(self.image_name()),
                ".Command" => out.push_str(&self.command()),
                ".DaemonName" => out.push_str(&self.daemon_name),
                other => return Err(invalid(format!("unknown field {other:?}"))),
            }
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        Ok(out)
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

    fn info() -> Info {
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

    fn with_config(mut info: Info, pairs: &[(&str, &str)]) -> Info {
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

    #[test]
    fn tag_templates() {
        let cases = [
            ("", "abcdef012345"),
            ("{{.ID}}", "abcdef012345"),
            ("{{.FullID}}", "sha256:abcdef0123456789ffff"),
            ("{{.Name}}/{{.ID}}", "test-container/abcdef012345"),
            (
                "{{ .ImageName }}-{{.ImageID}}",
                "busybox:latest-582c496ccf79",
            ),
            ("{{.ImageFullID}}", "sha256:582c496ccf79d8f6"),
            (
                "{{.DaemonName}}: {{.Command}}",
                "docker: /bin/sh -c echo hi",
            ),
            ("plain", "plain"),
        ];
        for (template, want) in cases {
            let i = with_config(info(), &[("tag", template)]);
            assert_eq!(i.tag("d").unwrap(), want, "template {template:?}");
        }
        assert_eq!(info().tag("d").unwrap(), "abcdef012345");
    }

    #[test]
    fn tag_errors_name_driver_key_and_value() {
        let i = with_config(info(), &[("tag", "{{.Nope}}")]);
        match i.tag("json-file").unwrap_err() {
            Error::InvalidOption {
                driver,
                key,
                value,
                reason,
            } => {
                assert_eq!((driver.as_str(), key.as_str()), ("json-file", "tag"));
                assert_eq!(value, "{{.Nope}}");
                assert_eq!(reason, "unknown field \".Nope\"");
            }
            other => panic!("unexpected {other:?}"),
        }
        let i = with_config(info(), &[("tag", "x{{.ID")]);
        assert!(matches!(i.tag("d"), Err(Error::InvalidOption { .. })));
    }

    #[test]
    fn extra_attributes_like_docker() {
        let mut i = with_config(
            info(),
            &[
                ("labels", "rack,dc,missing"),
                ("labels-regex", "^loc"),
                ("env", "environ,debug,ssl"),
                ("env-regex", "^dc"),
            ],
        );
        i.container_labels = [
            ("rack", "101"),
            ("dc", "lhr"),
            ("location", "here"),
            ("other", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        i.container_env = [
            "environ=production",
            "debug=false",
            "port=10001",
            "ssl=true",
            "dc_region=west",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let attrs = i.extra_attributes("json-file").unwrap();
        let want: BTreeMap<String, String> = [
            ("rack", "101"),
            ("dc", "lhr"),
            ("location", "here"),
            ("environ", "production"),
            ("debug", "false"),
            ("ssl", "true"),
            ("dc_region", "west"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        assert_eq!(attrs, want);
    }

    #[test]
    fn env_wins_over_label_of_same_name() {
        let mut i = with_config(info(), &[("labels", "x"), ("env", "x")]);
        i.container_labels = [("x".into(), "label".into())].into();
        i.container_env = vec!["x=env".into()];
        assert_eq!(i.extra_attributes("d").unwrap()["x"], "env");
    }

    #[test]
    fn bad_regex_is_an_invalid_option() {
        let i = with_config(info(), &[("env-regex", "(")]);
        match i.extra_attributes("gelf").unwrap_err() {
            Error::InvalidOption {
                driver, key, value, ..
            } => {
                assert_eq!(
                    (driver.as_str(), key.as_str(), value.as_str()),
                    ("gelf", "env-regex", "(")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
