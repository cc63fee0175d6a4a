//! What can go wrong, and the exit code that says so (docs/cli.md lists
//! them). Every failure reaches `main` as a [`CliError`]; nothing panics on
//! bad input.

use std::fmt;

/// Exit codes of the CLI. `run` exits with the job's own code instead once
/// the job has finished.
pub mod code {
    /// Done.
    pub const OK: i32 = 0;
    /// A usage mistake or a local problem (flags, a file, the config).
    pub const USAGE: i32 = 1;
    /// The server refused the request (a 4xx other than 404).
    pub const REFUSED: i32 = 2;
    /// The server failed (5xx) or could not be reached.
    pub const UNAVAILABLE: i32 = 3;
    /// The server does not know it (404): a project, deployment, action,
    /// file or schedule, or one this token may not see.
    pub const NOT_FOUND: i32 = 4;
    /// What was waited for ended badly: an action `failed` or `cancelled`,
    /// a job that failed without an exit code or was cancelled.
    pub const FAILED: i32 = 5;
    /// `--timeout` passed before it settled.
    pub const TIMED_OUT: i32 = 6;
}

/// A failure of one command.
#[derive(Debug)]
pub enum CliError {
    /// Bad flags, a file that cannot be read, no login yet.
    Usage(String),
    /// The server answered 4xx (`status`) with `message`.
    Refused { status: u16, message: String },
    /// The server answered 404 with `message`.
    NotFound(String),
    /// The server answered 5xx with `message`.
    Server { status: u16, message: String },
    /// No answer: connection refused, DNS, a timeout, a broken stream.
    Unreachable(String),
    /// The awaited action or deployment ended badly.
    Failed(String),
    /// The awaited action or deployment did not settle in time.
    TimedOut(String),
}

impl CliError {
    /// The process's exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => code::USAGE,
            Self::Refused { .. } => code::REFUSED,
            Self::NotFound(_) => code::NOT_FOUND,
            Self::Server { .. } | Self::Unreachable(_) => code::UNAVAILABLE,
            Self::Failed(_) => code::FAILED,
            Self::TimedOut(_) => code::TIMED_OUT,
        }
    }

    /// A usage error from anything printable.
    pub fn usage(message: impl fmt::Display) -> Self {
        Self::Usage(message.to_string())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) => write!(f, "{message}"),
            Self::Refused { status, message } => write!(f, "refused ({status}): {message}"),
            Self::NotFound(message) => write!(f, "not found: {message}"),
            Self::Server { status, message } => write!(f, "server error ({status}): {message}"),
            Self::Unreachable(message) => write!(f, "cannot reach the API: {message}"),
            Self::Failed(message) => write!(f, "failed: {message}"),
            Self::TimedOut(message) => write!(f, "timed out: {message}"),
        }
    }
}

impl std::error::Error for CliError {}

/// The result of a command: the exit code on success (`run` passes its
/// job's on).
pub type CliResult<T = i32> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_its_own_code_but_server_and_network() {
        let cases = [
            (CliError::usage("x"), 1),
            (
                CliError::Refused {
                    status: 409,
                    message: "x".into(),
                },
                2,
            ),
            (
                CliError::Server {
                    status: 503,
                    message: "x".into(),
                },
                3,
            ),
            (CliError::Unreachable("x".into()), 3),
            (CliError::NotFound("x".into()), 4),
            (CliError::Failed("x".into()), 5),
            (CliError::TimedOut("x".into()), 6),
        ];
        for (error, expected) in cases {
            assert_eq!(error.exit_code(), expected, "{error}");
        }
    }
}
