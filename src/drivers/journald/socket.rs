//! [`JournalSocket`]: journald's datagram socket, as the native protocol
//! uses it. An entry is one datagram; one too big for the socket goes in
//! a sealed memfd, whose descriptor the datagram carries instead.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use parking_lot::RwLock;

/// The send buffer asked for, as sd-journal asks: entries up to about
/// this size go as one datagram (the kernel may grant less).
const SEND_BUFFER: usize = 8 << 20;

/// Why an entry did not reach journald.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Nothing listens on the socket, now or after connecting again.
    Absent(io::Error),
    /// journald took nothing for the whole timeout, or (while it takes
    /// nothing) at once.
    Full,
    /// Anything else, with the kernel's word for it.
    Failed(io::Error),
}

/// A socket connected to journald, shared by every thread that logs: a
/// datagram is sent whole or not at all, so no lock orders them beyond
/// the one that guards a reconnection.
#[derive(Debug)]
pub(crate) struct JournalSocket {
    path: PathBuf,
    timeout: Duration,
    socket: RwLock<UnixDatagram>,
    /// Set when a send waited the whole timeout: until one goes through,
    /// sends do not wait, so a journald that is stopped costs one wait,
    /// not one per line.
    stalled: AtomicBool,
}

impl JournalSocket {
    /// A socket connected to `path`, whose sends wait at most `timeout`
    /// for room in journald's queue.
    ///
    /// # Errors
    ///
    /// Connecting's error: `NotFound` or `ConnectionRefused` when journald
    /// is not running.
    pub(crate) fn connect(path: &Path, timeout: Duration) -> io::Result<JournalSocket> {
        Ok(JournalSocket {
            path: path.to_owned(),
            timeout,
            socket: RwLock::new(connected(path, timeout)?),
            stalled: AtomicBool::new(false),
        })
    }

    /// The socket's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The longest a send waits.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether sends do not wait, after one that waited in vain.
    #[cfg(test)]
    pub(crate) fn stalled(&self) -> bool {
        self.stalled.load(Ordering::Relaxed)
    }

    /// Sends `entry` (its slices, in order) as one entry.
    pub(crate) fn send(&self, entry: &[IoSlice<'_>]) -> Result<(), SendError> {
        let flags = if self.stalled.load(Ordering::Relaxed) {
            MsgFlags::MSG_DONTWAIT
        } else {
            MsgFlags::empty()
        };
        let mut sent = self.send_once(entry, flags);
        if sent.is_err_and(peer_gone) {
            // journald restarted (a new socket at the same path) or is
            // gone: connect again, once.
            match connected(&self.path, self.timeout) {
                Ok(socket) => {
                    *self.socket.write() = socket;
                    sent = self.send_once(entry, flags);
                }
                Err(e) => return Err(SendError::Absent(e)),
            }
        }
        match sent {
            Ok(()) => {
                if flags.contains(MsgFlags::MSG_DONTWAIT) {
                    self.stalled.store(false, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(Errno::EAGAIN) => {
                self.stalled.store(true, Ordering::Relaxed);
                Err(SendError::Full)
            }
            Err(e) if peer_gone(e) => Err(SendError::Absent(e.into())),
            Err(e) => Err(SendError::Failed(e.into())),
        }
    }

    fn send_once(&self, entry: &[IoSlice<'_>], flags: MsgFlags) -> Result<(), Errno> {
        let socket = self.socket.read();
        match sendmsg::<UnixAddr>(socket.as_raw_fd(), entry, &[], flags, None) {
            // Too big for one datagram: as sd-journal does, in a memfd.
            Err(Errno::EMSGSIZE | Errno::ENOBUFS) => send_in_memfd(&socket, entry, flags),
            other => other.map(drop),
        }
    }
}

/// Whether a send failed because journald's socket is gone: closed
/// (journald stopped, or is stopping: `EPIPE`), or never there.
fn peer_gone(e: Errno) -> bool {
    matches!(
        e,
        Errno::ECONNREFUSED | Errno::ECONNRESET | Errno::EPIPE | Errno::ENOTCONN | Errno::ENOENT
    )
}

/// A new socket connected to `path`.
fn connected(path: &Path, timeout: Duration) -> io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    socket.set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    // Best effort: a smaller buffer only sends more entries by memfd.
    let _ = socket2::SockRef::from(&socket).set_send_buffer_size(SEND_BUFFER);
    socket.connect(path)?;
    Ok(socket)
}

/// Sends `entry` by writing it to a memfd, sealing it so that journald
/// may trust it will not change, and passing the descriptor alone.
fn send_in_memfd(
    socket: &UnixDatagram,
    entry: &[IoSlice<'_>],
    flags: MsgFlags,
) -> Result<(), Errno> {
    let fd = memfd_create(
        c"logdriver-journal-entry",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?;
    let mut file = File::from(fd);
    for slice in entry {
        file.write_all(slice)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EIO as i32)))?;
    }
    let seals = SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE
        | SealFlag::F_SEAL_SEAL;
    fcntl(&file, FcntlArg::F_ADD_SEALS(seals))?;
    let fds = [file.as_raw_fd()];
    sendmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &[],
        &[ControlMessage::ScmRights(&fds)],
        flags,
        None,
    )
    .map(drop)
}
