//! `logdriver-plugin`: every built-in driver as a Docker logging plugin.
//!
//! `logdriver-plugin --help` lists the flags and their defaults; see
//! [`logdriver::plugin::cli`].

fn main() -> std::process::ExitCode {
    logdriver::plugin::cli::run(logdriver::registry(), std::env::args_os())
}
