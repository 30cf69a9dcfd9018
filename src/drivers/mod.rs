//! The built-in drivers, one module each.
//!
//! Each module has a `NAME` constant, the name the built-in drivers are
//! known by, and a public constructor and validator. The drivers know
//! nothing of registries: [`registry()`](crate::registry) registers them.

pub mod file;
pub mod fluentd;
#[cfg(all(feature = "journald", target_os = "linux"))]
pub mod journald;
pub mod jsonfile;
pub mod k8sfile;
pub mod local;
#[cfg(feature = "nats")]
pub mod nats;
pub mod none;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod syslog;
pub(crate) mod util;
#[cfg(feature = "zmq")]
pub mod zmq;
