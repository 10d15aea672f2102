//! Errors as the user sees them, and the exit codes they map to.

use std::fmt;
use std::process::ExitCode;

/// The exit codes of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    Runtime,
    Usage,
    Interrupted,
    /// `check`: the monitoring verdict is the exit code (0 OK, 1 WARNING, 2 CRITICAL,
    /// 3 UNKNOWN).
    Check(crate::check::Status),
    /// `announce -- COMMAND`: the command's own status (128 + signal when killed; 127
    /// when it could not start).
    Command(u8),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Runtime => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 130,
            Exit::Check(s) => s.code(),
            Exit::Command(code) => code,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// A mistake in the invocation (a bad flag value, an unreadable file named by a flag):
/// exit 2, where other failures exit 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}
