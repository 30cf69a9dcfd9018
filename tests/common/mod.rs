//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test file uses its own subset

use logdriver::{Logger, Message, Result};
use parking_lot::Mutex;

/// A driver that keeps every message, in order.
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<Message>>);

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

/// Keeps the tests' output readable: silences panics on threads whose
/// name starts with `prefix` (the drivers' deliberate panics), and only
/// those. Installed once per test binary.
pub fn silence_panics_on(prefix: &'static str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(prefix))
            {
                default_hook(info);
            }
        }));
    });
}
