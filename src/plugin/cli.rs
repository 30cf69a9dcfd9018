//! The `logdriver-plugin` command line, shared by the binary of that name
//! and by any binary of yours that registers its own drivers first.
//!
//! ```text
//! logdriver-plugin [--socket PATH] [--driver NAME] [--log-dir DIR] [--log-level LEVEL] [--metrics-address ADDR]
//! ```
//!
//! Each flag has an environment variable, which is how a managed plugin's
//! `config.json` (and `docker plugin set`) sets them; a flag wins over its
//! variable, which wins over the default.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Plugin;
use crate::registry::Registry;

/// Where dockerd looks for the plugin's socket, by default.
pub const DEFAULT_SOCKET: &str = "/run/docker/plugins/logdriver.sock";
/// The driver created for a container that names none, by default:
/// `json-file`, which needs no options and serves `docker logs`.
pub const DEFAULT_DRIVER: &str = "json-file";
/// Where file drivers write, by default.
pub const DEFAULT_LOG_DIR: &str = "/var/lib/logdriver";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The unix socket to listen on (`--socket`, `LOGDRIVER_SOCKET`).
    pub socket: PathBuf,
    /// The driver for containers that name none (`--driver`, `LOGDRIVER_DRIVER`).
    pub driver: String,
    /// Where file drivers write (`--log-dir`, `LOGDRIVER_LOG_DIR`).
    pub log_dir: PathBuf,
    /// What is reported on stderr (`--log-level`, `LOGDRIVER_LOG`).
    pub level: log::LevelFilter,
    /// Where Prometheus text is served, if anywhere (`--metrics-address`,
    /// `LOGDRIVER_METRICS_ADDRESS`).
    pub metrics: Option<super::MetricsAddress>,
}

/// What parsing the command line came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve, with these options.
    Serve(Options),
    /// Print the [`usage`] and exit successfully (`--help`).
    Help,
    /// Print the version and exit successfully (`--version`).
    Version,
}

/// Why the command line was refused; its text names the flag or the
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgsError {
    /// An argument that is no flag of the binary.
    #[error("unknown argument {0:?}; see --help")]
    Unknown(String),
    /// A flag given without its value.
    #[error("{0} needs a value; see --help")]
    NeedsValue(String),
    /// A `--log-level` (or `LOGDRIVER_LOG`) that is no level.
    #[error("--log-level {0:?}: expected off, error, warn, info or debug")]
    LogLevel(String),
    /// A `--metrics-address` (or `LOGDRIVER_METRICS_ADDRESS`) that is
    /// neither a loopback address nor a unix socket.
    #[error("--metrics-address {0}")]
    MetricsAddress(String),
}

/// The usage text of the binary `program`, with every default and the
/// `drivers` it serves.
///
/// ```
/// let help = logdriver::plugin::cli::usage("my-plugin", &logdriver::registry().names());
/// assert!(help.starts_with("my-plugin "));
/// assert!(help.contains("json-file"));
/// ```
pub fn usage(program: &str, drivers: &[String]) -> String {
    format!(
        "\
{program} {version}: any registered log driver as a Docker logging plugin

USAGE:
    {program} [OPTIONS]

OPTIONS:
    --socket PATH      the unix socket dockerd connects to
                       [env LOGDRIVER_SOCKET] [default: {DEFAULT_SOCKET}]
    --driver NAME      the driver for containers that name none (a container
                       picks another with --log-opt driver=NAME)
                       [env LOGDRIVER_DRIVER] [default: {DEFAULT_DRIVER}]
    --log-dir DIR      where file drivers write <container id>-<format>.log
                       [env LOGDRIVER_LOG_DIR] [default: {DEFAULT_LOG_DIR}]
    --log-level LEVEL  what is reported on stderr: off, error, warn, info, debug
                       [env LOGDRIVER_LOG] [default: info]
    --metrics-address ADDR
                       serve Prometheus text there: 127.0.0.1:PORT, [::1]:PORT
                       or unix:/path.sock [env LOGDRIVER_METRICS_ADDRESS]
                       [default: off]
    -h, --help         print this help
    -V, --version      print the version

Each container's start and stop is reported on stderr, with its driver,
the error of a start that failed, and the counts at stop.

DRIVERS:
    {drivers}
",
        version = env!("CARGO_PKG_VERSION"),
        drivers = drivers.join(", "),
    )
}

/// Parses the arguments (without the program name), with `env` for the
/// environment variables.
///
/// # Errors
///
/// An [`ArgsError`] naming the flag or the value that is wrong.
///
/// # Examples
///
/// ```
/// use logdriver::plugin::cli::{parse, Command};
///
/// let args = ["--driver", "zmq", "--log-level", "debug"].map(String::from);
/// let Command::Serve(options) = parse(args, |_| None)? else { unreachable!() };
/// assert_eq!(options.driver, "zmq");
/// assert_eq!(options.socket.to_str(), Some("/run/docker/plugins/logdriver.sock"));
/// assert_eq!(parse(["--help".to_string()], |_| None)?, Command::Help);
/// # Ok::<(), logdriver::plugin::cli::ArgsError>(())
/// ```
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, ArgsError> {
    let level = |value: &str| -> Result<log::LevelFilter, ArgsError> {
        value
            .parse()
            .map_err(|_| ArgsError::LogLevel(value.to_owned()))
    };
    let metrics = |value: &str| -> Result<super::MetricsAddress, ArgsError> {
        value.parse().map_err(ArgsError::MetricsAddress)
    };
    let mut options = Options {
        socket: env("LOGDRIVER_SOCKET")
            .unwrap_or_else(|| DEFAULT_SOCKET.into())
            .into(),
        driver: env("LOGDRIVER_DRIVER").unwrap_or_else(|| DEFAULT_DRIVER.into()),
        log_dir: env("LOGDRIVER_LOG_DIR")
            .unwrap_or_else(|| DEFAULT_LOG_DIR.into())
            .into(),
        level: match env("LOGDRIVER_LOG") {
            Some(value) => level(&value)?,
            None => log::LevelFilter::Info,
        },
        metrics: env("LOGDRIVER_METRICS_ADDRESS")
            .map(|value| metrics(&value))
            .transpose()?,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ArgsError::NeedsValue(arg.clone()))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--socket" => options.socket = value()?.into(),
            "--driver" => options.driver = value()?,
            "--log-dir" => options.log_dir = value()?.into(),
            "--log-level" => options.level = level(&value()?)?,
            "--metrics-address" => options.metrics = Some(metrics(&value()?)?),
            other => return Err(ArgsError::Unknown(other.to_owned())),
        }
    }
    Ok(Command::Serve(options))
}

/// Runs the plugin binary: parses `args` (the program name first, as
/// [`std::env::args_os`] gives them), reports on stderr, and serves
/// `registry` until the process is killed.
///
/// Register your own drivers in `registry` before calling it.
pub fn run(registry: &'static Registry, args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let mut args = args.into_iter().map(|a| a.to_string_lossy().into_owned());
    // The binary's own name: yours, if you built one on this.
    let program = args
        .next()
        .map(|path| match path.rsplit_once('/') {
            Some((_, name)) => name.to_owned(),
            None => path,
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "logdriver-plugin".to_owned());
    let options = match parse(args, |key| std::env::var(key).ok()) {
        Ok(Command::Serve(options)) => options,
        Ok(Command::Help) => {
            print!("{}", usage(&program, &registry.names()));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("{program} {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("{program}: {err}");
            return ExitCode::from(2);
        }
    };
    static STDERR: Stderr = Stderr;
    if log::set_logger(&STDERR).is_ok() {
        log::set_max_level(options.level);
    }
    if !registry.names().contains(&options.driver) {
        log::error!(
            "no driver {:?} is registered; registered: {}",
            options.driver,
            registry.names().join(", ")
        );
        return ExitCode::from(2);
    }
    let mut plugin = Plugin::new(registry, &options.driver).log_dir(&options.log_dir);
    if let Some(address) = &options.metrics {
        plugin = plugin.metrics_address(address.clone());
    }
    let server = plugin.serve(&options.socket);
    match server {
        Ok(server) => {
            log::info!(
                "serving {:?} on {} (files under {}){}",
                options.driver,
                options.socket.display(),
                options.log_dir.display(),
                options
                    .metrics
                    .as_ref()
                    .map(|a| format!("; metrics on {a}"))
                    .unwrap_or_default()
            );
            server.wait();
            ExitCode::SUCCESS
        }
        Err(err) => {
            log::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// Writes each record on stderr, one line each.
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let _ = writeln!(
                std::io::stderr().lock(),
                "logdriver-plugin {}: {}",
                record.level().as_str().to_ascii_lowercase(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_win_over_variables_which_win_over_defaults() {
        let env = |key: &str| (key == "LOGDRIVER_DRIVER").then(|| "zmq".to_string());
        let Ok(Command::Serve(o)) = parse(args(&[]), env) else {
            panic!()
        };
        assert_eq!(
            (o.driver.as_str(), o.level),
            ("zmq", log::LevelFilter::Info)
        );
        let Ok(Command::Serve(o)) = parse(args(&["--driver", "none"]), env) else {
            panic!()
        };
        assert_eq!(o.driver, "none");
        assert_eq!(o.log_dir, PathBuf::from(DEFAULT_LOG_DIR));
    }

    #[test]
    fn help_names_the_program_every_flag_default_and_driver() {
        assert_eq!(parse(args(&["--help"]), |_| None), Ok(Command::Help));
        assert_eq!(parse(args(&["-V"]), |_| None), Ok(Command::Version));
        let help = usage("my-plugin", &["json-file".into(), "zmq".into()]);
        assert!(help.starts_with("my-plugin 0."), "{help}");
        assert!(help.contains("    my-plugin [OPTIONS]\n"));
        assert!(help.ends_with("DRIVERS:\n    json-file, zmq\n"), "{help}");
        assert!(!help.contains("logdriver-plugin"));
        for needle in [
            "--socket",
            "--driver",
            "--log-dir",
            "--log-level",
            "--metrics-address",
            "--version",
            DEFAULT_SOCKET,
            DEFAULT_DRIVER,
            DEFAULT_LOG_DIR,
        ] {
            assert!(help.contains(needle), "{needle}");
        }
    }

    #[test]
    fn bad_arguments_are_named() {
        let err = |a: &[&str]| parse(args(a), |_| None).unwrap_err();
        assert_eq!(err(&["--nope"]), ArgsError::Unknown("--nope".into()));
        assert_eq!(
            err(&["--nope"]).to_string(),
            "unknown argument \"--nope\"; see --help"
        );
        assert_eq!(
            err(&["--driver"]).to_string(),
            "--driver needs a value; see --help"
        );
        assert_eq!(
            err(&["--log-level", "loud"]),
            ArgsError::LogLevel("loud".into())
        );
        assert_eq!(
            err(&["--metrics-address", "0.0.0.0:9464"]).to_string(),
            "--metrics-address \"0.0.0.0:9464\": not a loopback address; use 127.0.0.1, [::1] or a unix socket"
        );
        let Ok(Command::Serve(o)) = parse(args(&["--metrics-address", "127.0.0.1:9464"]), |_| None)
        else {
            panic!()
        };
        assert_eq!(
            o.metrics,
            Some(super::super::MetricsAddress::Tcp(
                "127.0.0.1:9464".parse().unwrap()
            ))
        );
    }
}
