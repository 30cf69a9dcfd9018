//! The built-in drivers, one module each.
//!
//! Each module has a `NAME` constant, the name it is registered under in
//! [`Registry::with_builtins`](crate::Registry::with_builtins).

pub mod jsonfile;
pub mod none;
#[cfg(feature = "zmq")]
pub mod zmq;

use crate::{Registry, Result};

/// Registers every built-in driver of the enabled features in `registry`.
pub(crate) fn register_builtins(registry: &Registry) -> Result<()> {
    jsonfile::register(registry)?;
    none::register(registry)?;
    #[cfg(feature = "zmq")]
    zmq::register(registry)?;
    Ok(())
}
