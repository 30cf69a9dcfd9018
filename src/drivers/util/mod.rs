//! What the network drivers share, so that each is only its wire format and
//! its peer's rules: reading options by type ([`Options`]), counting
//! ([`Counters`]), waiting between reconnections ([`Backoff`]), and a
//! socket whose every step keeps one absolute deadline ([`conn`]), and the
//! host's name ([`hostname`]).

mod backoff;
pub(crate) mod conn;
mod counters;
mod options;

pub(crate) use backoff::Backoff;
pub(crate) use counters::Counters;
pub(crate) use options::Options;

/// The host's name, as Docker's `Info.Hostname` gives it; empty when the
/// kernel does not say.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}
