//! The crate's own drivers, as every registry made by
//! [`Registry::with_builtins`] has them.

use super::Registry;
use crate::error::{Error, Result};
use crate::info::Info;

/// The crate's own drivers, each with the cargo feature it needs (`None`:
/// always built), as [`Registry::with_builtins`] registers them.
///
/// | driver | module | feature |
/// |---|---|---|
/// | `fluentd` | [`drivers::fluentd`](crate::drivers::fluentd) | |
/// | `journald` | `drivers::journald` | `journald` (on by default; Linux) |
/// | `json-file` | [`drivers::jsonfile`](crate::drivers::jsonfile) | |
/// | `k8s-file` | [`drivers::k8sfile`](crate::drivers::k8sfile) | |
/// | `local` | [`drivers::local`](crate::drivers::local) | |
/// | `nats` | `drivers::nats` | `nats` |
/// | `none` | [`drivers::none`](crate::drivers::none) | |
/// | `otlp` | `drivers::otlp` | `otlp` |
/// | `syslog` | [`drivers::syslog`](crate::drivers::syslog) | |
/// | `tee` | [`Tee`](crate::Tee), its branches made by the registry | |
/// | `zmq` | `drivers::zmq` | `zmq` (on by default) |
///
/// Asked for a driver of this list whose feature is off, a registry says
/// so: [`Error::DriverNotBuilt`] names the feature.
pub const BUILTIN_DRIVERS: &[(&str, Option<&str>)] = &[
    ("fluentd", None),
    ("journald", Some("journald")),
    ("json-file", None),
    ("k8s-file", None),
    ("local", None),
    ("nats", Some("nats")),
    ("none", None),
    ("otlp", Some("otlp")),
    ("syslog", None),
    ("tee", None),
    ("zmq", Some("zmq")),
];

/// The error for a name no driver is registered under: a built-in
/// driver whose feature this build leaves out says which feature.
pub(super) fn not_registered(name: &str) -> Error {
    let feature = BUILTIN_DRIVERS
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .and_then(|&(_, feature)| feature);
    match feature {
        Some(feature) if !feature_enabled(feature) => Error::DriverNotBuilt {
            name: name.to_owned(),
            feature: feature.to_owned(),
        },
        _ => Error::UnknownDriver {
            name: name.to_owned(),
        },
    }
}

/// Whether this build has the cargo feature of a built-in driver.
fn feature_enabled(feature: &str) -> bool {
    (feature == "nats" && cfg!(feature = "nats"))
        || (feature == "journald" && cfg!(all(feature = "journald", target_os = "linux")))
        || (feature == "otlp" && cfg!(feature = "otlp"))
        || (feature == "zmq" && cfg!(feature = "zmq"))
}

impl Registry {
    /// Registers the built-in drivers from their public constructors and
    /// validators: the drivers know nothing of registries.
    pub(super) fn register_builtins(&self) -> Result<()> {
        use crate::drivers::{fluentd, jsonfile, k8sfile, local, none, syslog};
        self.register_reading_driver(jsonfile::NAME, jsonfile::JsonFileLogger::new)?;
        self.register_validator(jsonfile::NAME, jsonfile::JsonFileLogger::validate)?;
        self.register_reading_driver(k8sfile::NAME, k8sfile::K8sFileLogger::new)?;
        self.register_validator(k8sfile::NAME, k8sfile::K8sFileLogger::validate)?;
        self.register_reading_driver(local::NAME, local::LocalLogger::new)?;
        self.register_validator(local::NAME, local::LocalLogger::validate)?;
        self.register_driver(fluentd::NAME, fluentd::FluentdLogger::new)?;
        self.register_validator(fluentd::NAME, fluentd::FluentdLogger::validate)?;
        self.register_driver(syslog::NAME, syslog::SyslogLogger::new)?;
        self.register_validator(syslog::NAME, syslog::SyslogLogger::validate)?;
        self.register_tee()?;
        // `none` takes any options, as in Docker.
        self.register_driver(none::NAME, |_: &Info| Ok(none::NoneLogger))?;
        #[cfg(feature = "nats")]
        {
            use crate::drivers::nats;
            self.register_driver(nats::NAME, nats::NatsLogger::new)?;
            self.register_validator(nats::NAME, nats::NatsLogger::validate)?;
        }
        #[cfg(all(feature = "journald", target_os = "linux"))]
        {
            use crate::drivers::journald;
            self.register_reading_driver(journald::NAME, journald::JournaldLogger::new)?;
            self.register_validator(journald::NAME, journald::JournaldLogger::validate)?;
        }
        #[cfg(feature = "otlp")]
        {
            use crate::drivers::otlp;
            self.register_driver(otlp::NAME, otlp::OtlpLogger::new)?;
            self.register_validator(otlp::NAME, otlp::OtlpLogger::validate)?;
        }
        #[cfg(feature = "zmq")]
        {
            use crate::drivers::zmq;
            self.register_driver(zmq::NAME, zmq::ZmqLogger::new)?;
            self.register_validator(zmq::NAME, zmq::ZmqLogger::validate)?;
        }
        // The other built-ins write nowhere they could read back from.
        let mut reads = self.reads.write();
        for (name, _) in BUILTIN_DRIVERS {
            reads.entry((*name).to_owned()).or_insert(false);
        }
        drop(reads);
        Ok(())
    }
}
