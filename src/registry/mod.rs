//! [`Registry`]: driver names to creators and option validators.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

mod builtins;
mod limit;
mod mode;
mod tee;

use builtins::not_registered;
pub use builtins::BUILTIN_DRIVERS;
use limit::rate_limit;
pub use limit::{RATE_LIMIT_BURST_OPT, RATE_LIMIT_BYTES_OPT, RATE_LIMIT_LINES_OPT};
use mode::{close_timeout, max_buffer_size, overflow, BUILTIN_OPTS, NON_BLOCKING_OPTS};
pub use mode::{
    Mode, MAX_BUFFER_SIZE_LIMIT, MAX_BUFFER_SIZE_OPT, MODE_OPT, NON_BLOCKING_CLOSE_TIMEOUT_OPT,
    NON_BLOCKING_DROP_OPT,
};
pub use tee::TEE_DRIVERS_OPT;

use crate::error::{Error, Result};
use crate::info::Info;
use crate::logger::Logger;
use crate::nonblocking::NonBlocking;
use crate::rate_limit::RateLimited;
use crate::read::LogReader;

type Creator = dyn Fn(&Info) -> Result<Box<dyn Logger>> + Send + Sync;
type Validator = dyn Fn(&HashMap<String, String>) -> Result<()> + Send + Sync;

/// Maps driver names to the functions that create and check them.
///
/// This is Docker's logger factory. A runtime registers each driver it
/// offers under a name, then creates the one a container's configuration
/// names, with that container's [`Info`]. [`registry()`] is a process-wide
/// registry with the built-in drivers already in it; [`Registry::new`]
/// starts an empty one, for tests or for a runtime that wants control.
///
/// A `Registry` is shared between threads by reference; registering and
/// creating take `&self`.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use logdriver::{Error, Info, Logger, Message, Registry, Result};
///
/// struct Discard;
/// impl Logger for Discard {
///     fn log(&self, _: Message) -> Result<()> { Ok(()) }
///     fn name(&self) -> &str { "discard" }
///     fn close(&self) -> Result<()> { Ok(()) }
/// }
///
/// let registry = Registry::new();
/// registry.register("discard", |_info: &Info| Ok(Box::new(Discard) as Box<dyn Logger>))?;
/// registry.register_validator("discard", |opts: &HashMap<String, String>| {
///     logdriver::reject_unknown_options("discard", opts, &[])
/// })?;
///
/// let logger = registry.create("discard", &Info::default())?;
/// assert_eq!(logger.name(), "discard");
///
/// let bad = Info { config: [("colour".into(), "red".into())].into(), ..Default::default() };
/// assert!(matches!(registry.create("discard", &bad), Err(Error::UnknownOption { .. })));
/// # Ok::<(), logdriver::Error>(())
/// ```
#[derive(Default)]
pub struct Registry {
    creators: RwLock<HashMap<String, Arc<Creator>>>,
    validators: RwLock<HashMap<String, Arc<Validator>>>,
    /// Whether each driver reads back, where its registration said so.
    reads: RwLock<HashMap<String, bool>>,
    /// Whether `tee` is this registry's own (a built-in), made in
    /// [`create`](Registry::create) from the registry's other drivers.
    tee: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("drivers", &self.names())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// A registry holding every driver of [`BUILTIN_DRIVERS`] whose
    /// feature is enabled, each with its validator.
    ///
    /// ```
    /// let names = logdriver::Registry::with_builtins().names();
    /// assert!(names.iter().any(|name| name == "json-file"));
    /// ```
    pub fn with_builtins() -> Registry {
        let registry = Registry::new();
        registry
            .register_builtins()
            .expect("built-in driver names are distinct");
        registry
    }

    /// Registers a driver whose creator returns its own type: the same as
    /// [`register`](Registry::register), without the `Box<dyn Logger>`.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyRegistered`] when a driver is already registered
    /// under `name`; the registered one stays.
    ///
    /// # Examples
    ///
    /// ```
    /// use logdriver::{drivers::none::NoneLogger, Info, Registry};
    ///
    /// let registry = Registry::new();
    /// registry.register_driver("discard", |_: &Info| Ok(NoneLogger))?;
    /// assert_eq!(registry.names(), ["discard"]);
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    pub fn register_driver<L, F>(&self, name: &str, creator: F) -> Result<()>
    where
        L: Logger + 'static,
        F: Fn(&Info) -> Result<L> + Send + Sync + 'static,
    {
        self.register(name, move |info: &Info| {
            creator(info).map(|logger| Box::new(logger) as Box<dyn Logger>)
        })
    }

    /// Registers a driver that reads back what it wrote, as
    /// [`register_driver`](Registry::register_driver) does, and records
    /// that it does: [`reads_logs`](Registry::reads_logs) says so without
    /// creating one, as the Docker plugin's `Capabilities` must.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyRegistered`] when a driver is already registered
    /// under `name`; the registered one stays.
    ///
    /// # Examples
    ///
    /// ```
    /// use logdriver::{drivers::jsonfile::JsonFileLogger, Registry};
    ///
    /// let registry = Registry::new();
    /// registry.register_reading_driver("my-json", JsonFileLogger::new)?;
    /// assert_eq!(registry.reads_logs("my-json"), Some(true));
    /// # Ok::<(), logdriver::Error>(())
    /// ```
    pub fn register_reading_driver<L, F>(&self, name: &str, creator: F) -> Result<()>
    where
        L: Logger + LogReader + 'static,
        F: Fn(&Info) -> Result<L> + Send + Sync + 'static,
    {
        self.register_driver(name, creator)?;
        self.reads.write().insert(name.to_owned(), true);
        Ok(())
    }

    /// Whether the driver `name` reads back what it wrote, as its
    /// registration says: `Some(true)` for one registered with
    /// [`register_reading_driver`](Registry::register_reading_driver),
    /// `Some(false)` for a built-in driver that does not, `None` for a
    /// driver registered otherwise (only an instance's
    /// [`Logger::reader`] can tell) or not registered.
    pub fn reads_logs(&self, name: &str) -> Option<bool> {
        self.reads.read().get(name).copied()
    }

    /// Registers `creator` as the driver `name`.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyRegistered`] when a driver is already registered
    /// under `name`; the registered one stays.
    pub fn register<F>(&self, name: &str, creator: F) -> Result<()>
    where
        F: Fn(&Info) -> Result<Box<dyn Logger>> + Send + Sync + 'static,
    {
        insert_once(&self.creators, "driver", name, Arc::new(creator))
    }

    /// Registers the option validator of the driver `name`.
    ///
    /// The validator sees the driver's options without the ones the
    /// registry checks itself (`mode`, `max-buffer-size`,
    /// `non-blocking-drop`, `non-blocking-close-timeout`, `rate-limit-lines`,
    /// `rate-limit-bytes`, `rate-limit-burst`). It should
    /// reject keys it does not know. A driver without a validator accepts
    /// any options, as in Docker.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyRegistered`] when `name` already has a validator.
    pub fn register_validator<F>(&self, name: &str, validator: F) -> Result<()>
    where
        F: Fn(&HashMap<String, String>) -> Result<()> + Send + Sync + 'static,
    {
        insert_once(&self.validators, "validator", name, Arc::new(validator))
    }

    /// Checks the options `opts` for the driver `name`, in Docker's order.
    ///
    /// 1. `none` always passes.
    /// 2. `mode` must be unset, `blocking` or `non-blocking`.
    /// 3. `max-buffer-size` needs `mode=non-blocking` and a size such as
    ///    `1m` (binary units: `1m` is 1 MiB), at most
    ///    [`MAX_BUFFER_SIZE_LIMIT`]; so do `non-blocking-drop`, which must be
    ///    `newest` or `oldest`, and `non-blocking-close-timeout`, a Go
    ///    duration of at most `1h`.
    /// 4. `rate-limit-lines` must be a whole number from 1 to 10⁹,
    ///    `rate-limit-bytes` a size from 1 byte to 1 GiB (binary units),
    ///    and `rate-limit-burst` a duration from `1ms` to `1h` beside one
    ///    of them.
    /// 5. The driver must be registered.
    /// 6. The other options go to the driver's validator, if it has one.
    ///
    /// # Errors
    ///
    /// The first of these checks that fails: [`Error::InvalidOption`] for
    /// the registry's own options, [`Error::UnknownDriver`] (or
    /// [`Error::DriverNotBuilt`] for a built-in driver left out), or whatever
    /// the driver's validator returns.
    pub fn validate(&self, name: &str, opts: &HashMap<String, String>) -> Result<()> {
        if name == crate::drivers::none::NAME {
            return Ok(());
        }
        let mode = Mode::from_opts(name, opts)?;
        for key in NON_BLOCKING_OPTS {
            if let Some(value) = opts.get(key) {
                if mode != Mode::NonBlocking {
                    return Err(Error::invalid_option(
                        name,
                        key,
                        value,
                        "only supported with mode=non-blocking",
                    ));
                }
            }
        }
        max_buffer_size(name, opts)?;
        overflow(name, opts)?;
        close_timeout(name, opts)?;
        rate_limit(name, opts)?;
        if self.is_tee(name) {
            let mut rest = opts.clone();
            rest.retain(|key, _| !BUILTIN_OPTS.contains(&key.as_str()));
            return self.validate_tee(&rest);
        }
        if !self.creators.read().contains_key(name) {
            return Err(not_registered(name));
        }
        let validator = self.validators.read().get(name).cloned();
        if let Some(validator) = validator {
            if BUILTIN_OPTS.iter().any(|key| opts.contains_key(*key)) {
                let mut rest = opts.clone();
                rest.retain(|key, _| !BUILTIN_OPTS.contains(&key.as_str()));
                validator(&rest)?;
            } else {
                validator(opts)?;
            }
        }
        Ok(())
    }

    /// Creates the driver `name` for the container described by `info`.
    ///
    /// The built-in `tee` is a [`Tee`](crate::Tee) over branches this
    /// registry makes (see its docs for the options).
    ///
    /// `info.config` is [validated](Registry::validate) first. The creator
    /// sees it without the options the registry handles itself (`mode`,
    /// the non-blocking and the `rate-limit-*` options), as the validator
    /// does. With
    /// `mode=non-blocking` the driver is wrapped in a [`NonBlocking`] buffer
    /// of `max-buffer-size` bytes (by default 1,000,000) that drops what
    /// `non-blocking-drop` says (by default the newest message). With a
    /// `rate-limit-*` option it is then put behind a [`RateLimited`], so
    /// that what the limit suppresses never fills that buffer.
    ///
    /// # Errors
    ///
    /// Whatever [`validate`](Registry::validate) or the driver's creator
    /// returns; [`Error::Spawn`] if the non-blocking worker cannot start.
    pub fn create(&self, name: &str, info: &Info) -> Result<Arc<dyn Logger>> {
        self.validate(name, &info.config)?;
        // The creator sees the same options as the validator: its own.
        let own = if BUILTIN_OPTS.iter().any(|k| info.config.contains_key(*k)) {
            let mut own = info.clone();
            own.config
                .retain(|key, _| !BUILTIN_OPTS.contains(&key.as_str()));
            std::borrow::Cow::Owned(own)
        } else {
            std::borrow::Cow::Borrowed(info)
        };
        let logger: Arc<dyn Logger> = if self.is_tee(name) {
            self.create_tee(&own)?
        } else {
            let creator = self
                .creators
                .read()
                .get(name)
                .cloned()
                .ok_or_else(|| not_registered(name))?;
            Arc::from(creator(&own)?)
        };
        let logger: Arc<dyn Logger> = match Mode::from_opts(name, &info.config)? {
            Mode::Blocking => logger,
            Mode::NonBlocking => Arc::new(
                NonBlocking::builder(logger)
                    .max_buffer_bytes(max_buffer_size(name, &info.config)?)
                    .overflow(overflow(name, &info.config)?)
                    .close_timeout(close_timeout(name, &info.config)?)
                    .build()?,
            ),
        };
        Ok(match rate_limit(name, &info.config)? {
            Some(limit) => Arc::new(RateLimited::new(logger, limit)),
            None => logger,
        })
    }

    /// The names of the registered drivers, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.creators.read().keys().cloned().collect();
        names.sort_unstable();
        names
    }
}

fn insert_once<T: ?Sized>(
    map: &RwLock<HashMap<String, Arc<T>>>,
    what: &'static str,
    name: &str,
    value: Arc<T>,
) -> Result<()> {
    let mut map = map.write();
    if map.contains_key(name) {
        return Err(Error::AlreadyRegistered {
            what,
            name: name.to_owned(),
        });
    }
    map.insert(name.to_owned(), value);
    Ok(())
}

/// The process-wide registry, with every built-in driver registered.
///
/// Register your own drivers here to make them available by name wherever
/// the process creates drivers from configuration.
///
/// # Examples
///
/// ```
/// assert!(logdriver::registry().names().contains(&"none".to_string()));
/// ```
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::with_builtins)
}

#[cfg(test)]
mod doc_tests {
    /// The crate docs' list of what creators do not see is this file's
    /// list of what the registry handles: one cannot change alone.
    #[test]
    fn the_decisions_name_every_option_the_registry_keeps() {
        let docs = include_str!("../lib.rs");
        let start = docs.find("**Driver creators**").unwrap();
        let bullet = &docs[start..];
        let bullet = &bullet[..bullet.find("//! - **").unwrap()];
        let listed = &bullet[bullet.find('(').unwrap() + 1..bullet.find(')').unwrap()];
        let mut listed: Vec<String> = listed
            .split(',')
            .map(|key| key.replace("//!", "").trim().trim_matches('`').to_owned())
            .collect();
        let mut kept: Vec<String> = super::BUILTIN_OPTS.map(String::from).to_vec();
        listed.sort_unstable();
        kept.sort_unstable();
        assert_eq!(listed, kept);
    }
}
