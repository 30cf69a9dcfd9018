//! The built-in `tee` driver's options, and its branches, made by the
//! registry it is asked of.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::Registry;
use crate::error::{Error, Result};
use crate::info::Info;
use crate::logger::Logger;
use crate::tee::{Tee, NAME};

/// The option that names the branches: `driver` or `label:driver`, comma
/// separated, such as `json-file,remote:fluentd`.
pub const TEE_DRIVERS_OPT: &str = "tee-drivers";

/// One branch: its label, its driver, its options.
struct Branch {
    label: String,
    driver: String,
    opts: HashMap<String, String>,
}

/// The branches `opts` describe, each with its own options.
fn branches(opts: &HashMap<String, String>) -> Result<Vec<Branch>> {
    let list = opts
        .get(TEE_DRIVERS_OPT)
        .ok_or_else(|| Error::missing_option(NAME, TEE_DRIVERS_OPT))?;
    let invalid = |reason: String| Error::invalid_option(NAME, TEE_DRIVERS_OPT, list, reason);
    let mut out: Vec<Branch> = Vec::new();
    for entry in list.split(',').map(str::trim) {
        let (label, driver) = entry.split_once(':').unwrap_or((entry, entry));
        if label.is_empty() || driver.is_empty() || label.contains('.') {
            return Err(invalid(format!(
                "{entry:?}: each branch is driver or label:driver, the label without a dot"
            )));
        }
        if driver == NAME {
            return Err(invalid("a tee's branch cannot be a tee".into()));
        }
        if out.iter().any(|b| b.label == label) {
            return Err(invalid(format!(
                "two branches are labelled {label:?}: name one label:{driver}"
            )));
        }
        out.push(Branch {
            label: label.to_owned(),
            driver: driver.to_owned(),
            opts: HashMap::new(),
        });
    }
    for (key, value) in opts {
        if key == TEE_DRIVERS_OPT {
            continue;
        }
        let branch = key
            .split_once('.')
            .and_then(|(label, _)| out.iter_mut().find(|b| b.label == label));
        match branch {
            Some(branch) => {
                let own = &key[branch.label.len() + 1..];
                branch.opts.insert(own.to_owned(), value.clone());
            }
            None => return Err(Error::unknown_option(NAME, key)),
        }
    }
    Ok(out)
}

impl Registry {
    /// Whether `name` is this registry's built-in tee.
    pub(super) fn is_tee(&self, name: &str) -> bool {
        name == NAME && self.tee.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Registers the built-in tee: a name and a validator like any
    /// driver's, made by [`create`](Registry::create) itself, and read
    /// back through its first reading branch.
    pub(super) fn register_tee(&self) -> Result<()> {
        self.register(NAME, |_: &Info| {
            Err(Error::driver(NAME, "a tee is made by Registry::create"))
        })?;
        self.reads.write().insert(NAME.to_owned(), true);
        self.tee.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Checks a tee's options, and each branch's as its driver would.
    pub(super) fn validate_tee(&self, opts: &HashMap<String, String>) -> Result<()> {
        for branch in branches(opts)? {
            self.validate(&branch.driver, &branch.opts)?;
        }
        Ok(())
    }

    /// Makes a tee's branches, each through this registry, with its own
    /// options and mode.
    pub(super) fn create_tee(&self, info: &Info) -> Result<Arc<dyn Logger>> {
        let branches = branches(&info.config)?;
        // One log file a container: the first branch that reads back has
        // it, every other the same path with `.<label>` after it.
        let reading = branches
            .iter()
            .position(|b| self.reads_logs(&b.driver) == Some(true));
        let mut made = Vec::new();
        for (i, branch) in branches.into_iter().enumerate() {
            let mut own = info.clone();
            own.config = branch.opts;
            if Some(i) != reading {
                own.log_path = info.log_path.as_ref().map(|path| {
                    let mut with = path.clone().into_os_string();
                    with.push(format!(".{}", branch.label));
                    PathBuf::from(with)
                });
            }
            made.push((branch.label, self.create(&branch.driver, &own)?));
        }
        Ok(Arc::new(Tee::new(made)))
    }
}
