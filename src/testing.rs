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

/// `pairs` as a driver's options.
pub(crate) fn opts(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect()
}

/// The key, value and reason of `err`, which must be an
/// [`Error::InvalidOption`](crate::Error::InvalidOption) naming `driver`.
pub(crate) fn invalid_option(driver: &str, err: crate::Error) -> (String, String, String) {
    match err {
        crate::Error::InvalidOption {
            driver: named,
            key,
            value,
            reason,
        } => {
            assert_eq!(named, driver);
            (key, value, reason)
        }
        other => panic!("not an InvalidOption: {other:?}"),
    }
}
