//! `syslog`: Docker's syslog driver, strict to RFC 5424 (issue #27, in
//! progress). What is here so far: the messages ([`format`]), where they
//! go and how they are framed ([`address`]), every option checked
//! ([`config`]), and the datagram transports ([`datagram`]).

pub(crate) mod address;
pub(crate) mod config;
pub(crate) mod datagram;
pub(crate) mod format;
