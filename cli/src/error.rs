//! What can go wrong for a `hush` command, and the exit code each failure gives.
//!
//! Scripts rely on the codes (README, "Exit codes"); every variant names its cause in words a
//! person can act on.

use std::path::PathBuf;

/// Exit codes, one per kind of failure.
pub mod code {
    /// Everything asked for was done.
    pub const OK: u8 = 0;
    /// A failure with no more specific code (an I/O error other than a full disk, a bad
    /// configuration).
    pub const FAILED: u8 = 1;
    /// The command line could not be understood (clap's own code).
    pub const USAGE: u8 = 2;
    /// No tracker could be reached.
    pub const NO_TRACKER: u8 = 3;
    /// Nobody joined the room (or nobody offered a file) before `--wait` ran out. A wrong
    /// room name looks exactly like this: its peers are in another room.
    pub const NOBODY: u8 = 4;
    /// The target file exists and `--overwrite` was not given.
    pub const EXISTS: u8 = 5;
    /// A transfer failed: the peer left, the connection dropped, or a record did not verify.
    pub const TRANSFER: u8 = 6;
    /// The disk is full.
    pub const DISK_FULL: u8 = 7;
    /// Stopped with Ctrl-C (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Config(String),
    #[error("no tracker could be reached ({0}); check --tracker or the network")]
    NoTracker(String),
    #[error("nobody {0} within {1} s: check the room name (a wrong name is an empty room) and that the other side is running")]
    Nobody(&'static str, u64),
    #[error("{} exists; not overwritten (use --overwrite to replace it)", .0.display())]
    Exists(PathBuf),
    #[error("{0}")]
    Transfer(String),
    #[error("the disk is full: {0}")]
    DiskFull(String),
    #[error("{what}: {err}")]
    Io { what: String, err: std::io::Error },
    #[error("interrupted")]
    Interrupted,
}

impl CliError {
    pub fn io(what: impl Into<String>, err: std::io::Error) -> Self {
        if err.raw_os_error() == Some(libc_enospc())
            || err.kind() == std::io::ErrorKind::StorageFull
        {
            CliError::DiskFull(what.into())
        } else {
            CliError::Io {
                what: what.into(),
                err,
            }
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => code::USAGE,
            CliError::Config(_) | CliError::Io { .. } => code::FAILED,
            CliError::NoTracker(_) => code::NO_TRACKER,
            CliError::Nobody(..) => code::NOBODY,
            CliError::Exists(_) => code::EXISTS,
            CliError::Transfer(_) => code::TRANSFER,
            CliError::DiskFull(_) => code::DISK_FULL,
            CliError::Interrupted => code::INTERRUPTED,
        }
    }
}

/// `ENOSPC` on every Unix (and what Rust maps to `StorageFull`).
const fn libc_enospc() -> i32 {
    28
}
