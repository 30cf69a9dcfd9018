//! `none`: the driver that discards every line.
//!
//! Docker treats `none` as "no logging at all": it passes validation
//! whatever its options, and creating it gives a driver that drops every
//! line unseen, so a runtime needs no special case for it.

use crate::error::Result;
use crate::logger::Logger;
use crate::message::Message;

/// The name this driver is registered under.
pub const NAME: &str = "none";

/// Discards every line.
///
/// # Examples
///
/// ```
/// use logdriver::{drivers::none::NoneLogger, Logger, Message, Source};
///
/// NoneLogger.log(Message::new(Source::Stdout, "gone"))?;
/// assert_eq!(NoneLogger.name(), "none");
/// # Ok::<(), logdriver::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoneLogger;

impl Logger for NoneLogger {
    fn log(&self, _msg: Message) -> Result<()> {
        Ok(())
    }

    fn name(&self) -> &str {
        NAME
    }

    fn close(&self) -> Result<()> {
        Ok(())
    }
}
