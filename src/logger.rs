//! The [`Logger`] trait: what every log driver implements.

use std::fmt;
use std::sync::Arc;

use crate::{Message, Result};

/// A log driver: takes a container's lines and sends them somewhere.
///
/// This is Docker's `logger.Logger`. The [`Copier`](crate::Copier) calls
/// [`log`](Logger::log) once per line (or per chunk of a long line), from
/// one thread per stream; when the container is gone, its owner calls
/// [`close`](Logger::close).
///
/// # Implementer notes
///
/// - **Thread safety.** `log` is called concurrently: stdout and stderr each
///   have a thread. Guard whatever is not thread-safe (a socket, a shared
///   encode buffer) with a lock, as the `zmq` driver does.
/// - **Blocking.** `log` may block; back-pressure then reaches the
///   container, which is what blocking mode means. A driver that must never
///   stall the container is wrapped in [`NonBlocking`](crate::NonBlocking).
///   Do not block forever: give up after a timeout and return an error.
/// - **Errors.** Return an [`Error`](crate::Error) that names the driver,
///   for instance with [`Error::driver`](crate::Error::driver). The Copier
///   counts the error and goes on with the next line; it also survives a
///   panic in `log`, but an error is kinder.
/// - **Ownership.** `log` takes the [`Message`] by value. Its `line` is a
///   cheap reference-counted [`Bytes`](bytes::Bytes), so a driver may keep
///   it without copying.
/// - **Closing.** After `close` returns, everything accepted by `log` has
///   been handed on (or the driver's documented timeout has run out).
///   `close` may be called more than once; calls after the first return
///   `Ok(())`. `log` after `close` returns [`Error::Closed`](crate::Error::Closed).
///
/// `Logger` is implemented for `Arc<L>` and `Box<L>`, so a shared or boxed
/// driver is a driver too.
///
/// # Examples
///
/// A driver that prints every line to standard output:
///
/// ```
/// use logdriver::{Logger, Message, Result, Source};
///
/// struct Print;
///
/// impl Logger for Print {
///     fn log(&self, msg: Message) -> Result<()> {
///         println!("[{}] {}", msg.source, String::from_utf8_lossy(&msg.line));
///         Ok(())
///     }
///     fn name(&self) -> &str {
///         "print"
///     }
///     fn close(&self) -> Result<()> {
///         Ok(())
///     }
/// }
///
/// Print.log(Message::new(Source::Stdout, "hello"))?;
/// # Ok::<(), logdriver::Error>(())
/// ```
pub trait Logger: Send + Sync {
    /// Sends one message.
    ///
    /// # Errors
    ///
    /// Whatever the driver's transport reports; [`Error::Closed`](crate::Error::Closed)
    /// after `close`.
    fn log(&self, msg: Message) -> Result<()>;

    /// The driver's name, as registered (`"json-file"`, `"zmq"`, …).
    fn name(&self) -> &str;

    /// Flushes what the driver holds and releases its resources.
    ///
    /// # Errors
    ///
    /// When the flush or the release fails.
    fn close(&self) -> Result<()>;

    /// The line-chunk size this driver prefers, if any.
    ///
    /// The Copier cuts lines of at least this many bytes into chunks of
    /// exactly this size. `None` (the default) or `Some(0)` leaves the
    /// Copier's default of 16 KiB; [`Copier::buffer_size`](crate::Copier::buffer_size)
    /// overrides both. This is Docker's `SizedLogger`.
    fn buf_size(&self) -> Option<usize> {
        None
    }
}

macro_rules! forward_logger {
    ($ptr:ty) => {
        impl<L: Logger + ?Sized> Logger for $ptr {
            fn log(&self, msg: Message) -> Result<()> {
                (**self).log(msg)
            }
            fn name(&self) -> &str {
                (**self).name()
            }
            fn close(&self) -> Result<()> {
                (**self).close()
            }
            fn buf_size(&self) -> Option<usize> {
                (**self).buf_size()
            }
        }
    };
}

forward_logger!(Arc<L>);
forward_logger!(Box<L>);

/// Shows the driver's name.
impl fmt::Debug for dyn Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Logger").field(&self.name()).finish()
    }
}
