//! `syslog`: Docker's syslog driver, strict to RFC 5424 (issue #27, in
//! progress). What is here so far: the messages ([`format`]).

pub(crate) mod format;
