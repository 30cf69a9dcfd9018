//! Helpers for the crate's unit tests.

use parking_lot::Mutex;

use crate::error::Result;
use crate::logger::Logger;
use crate::message::Message;

/// A driver that keeps every message, in order.
#[derive(Default)]
pub(crate) struct Collect(pub(crate) Mutex<Vec<Message>>);

impl Logger for Collect {
    fn log(&self, msg: Message) -> Result<()> {
        self.0.lock().push(msg);
        Ok(())
    }
    fn name(&self) -> &str {
        "collect"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}
