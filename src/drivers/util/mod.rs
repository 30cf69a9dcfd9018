//! What the network drivers share, so that each is only its wire format and
//! its peer's rules: reading options by type ([`Options`]), counting
//! ([`Counters`]), waiting between reconnections ([`Backoff`]), and a
//! socket whose every step keeps one absolute deadline ([`conn`]).

mod backoff;
pub(crate) mod conn;
mod counters;
mod options;

pub(crate) use backoff::Backoff;
pub(crate) use counters::Counters;
pub(crate) use options::Options;
