//! What a driver adds to its lines from the container: `attrs` selected
//! by `labels`, `env` and their regexes, and the `tag` template.

use std::collections::{BTreeMap, HashMap};

use regex::Regex;

use super::{
    Info, DEFAULT_TAG_TEMPLATE, ENV_OPT, ENV_REGEX_OPT, LABELS_OPT, LABELS_REGEX_OPT, TAG_OPT,
};
use crate::error::{Error, Result};

/// Checks, when options are validated, what `tag`, `labels-regex` and
/// `env-regex` hold in `opts`, as [`Info::tag`] and
/// [`Info::extra_attributes`] would when the driver is created: a bad
/// template or regex fails `docker run`, not the container's first line.
pub(crate) fn check_attribute_options(driver: &str, opts: &HashMap<String, String>) -> Result<()> {
    let probe = Info {
        config: opts.clone(),
        ..Info::default()
    };
    probe.tag(driver)?;
    probe.extra_attributes(driver)?;
    Ok(())
}

impl Info {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{info, with_config};
    use super::*;

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
