//! The built-in drivers, one module each.
//!
//! Each module has a `NAME` constant, the name the built-in drivers are
//! known by, and a public constructor and validator. The drivers know
//! nothing of registries: [`registry()`](crate::registry) registers them.

pub mod file;
pub mod fluentd;
pub mod jsonfile;
pub mod k8sfile;
pub mod local;
#[cfg(feature = "nats")]
pub mod nats;
pub mod none;
// The driver lands in pieces (issue #27): until it is registered, its
// parts are used by their tests only.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod syslog;
pub(crate) mod util;
#[cfg(feature = "zmq")]
pub mod zmq;
