//! The `--log-opt` keys that are not one driver's: those the
//! [`Registry`](crate::Registry) handles for every driver, and those that
//! the drivers which take container attributes all read the same way. A
//! driver's own keys are in its module (for example
//! [`jsonfile::MAX_SIZE_OPT`](crate::drivers::jsonfile::MAX_SIZE_OPT)).
//!
//! ```
//! use logdriver::{options, Info};
//!
//! let info = Info::new("web")
//!     .with_option(options::MODE, "non-blocking")
//!     .with_option(options::MAX_BUFFER_SIZE, "4m")
//!     .with_option(options::TAG, "{{.Name}}");
//! assert_eq!(info.config["mode"], "non-blocking");
//! ```

pub use crate::info::{
    DEFAULT_TAG_TEMPLATE, ENV_OPT as ENV, ENV_REGEX_OPT as ENV_REGEX, LABELS_OPT as LABELS,
    LABELS_REGEX_OPT as LABELS_REGEX, TAG_OPT as TAG,
};
pub use crate::registry::{
    MAX_BUFFER_SIZE_LIMIT, MAX_BUFFER_SIZE_OPT as MAX_BUFFER_SIZE, MODE_OPT as MODE,
    NON_BLOCKING_CLOSE_TIMEOUT_OPT as NON_BLOCKING_CLOSE_TIMEOUT,
    NON_BLOCKING_DROP_OPT as NON_BLOCKING_DROP, RATE_LIMIT_BURST_OPT as RATE_LIMIT_BURST,
    RATE_LIMIT_BYTES_OPT as RATE_LIMIT_BYTES, RATE_LIMIT_LINES_OPT as RATE_LIMIT_LINES,
    TEE_DRIVERS_OPT as TEE_DRIVERS,
};
