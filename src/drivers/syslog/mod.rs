//! `syslog`: Docker's syslog driver, strict to RFC 5424 (issue #27, in
//! progress). What is here so far: the messages ([`format`]), where they
//! go and how they are framed ([`address`]), and every option checked
//! ([`config`]).

pub(crate) mod address;
pub(crate) mod config;
pub(crate) mod format;
