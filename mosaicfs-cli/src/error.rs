//! The CLI's error type: one line for the user and an exit code per class.

use std::fmt;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a local failure (a file could not be written, an editor failed).
pub const EXIT_LOCAL: u8 = 1;
/// Exit code: bad usage (arguments, missing input). clap uses it too.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: authentication (401/403, not logged in, session expired).
pub const EXIT_AUTH: u8 = 3;
/// Exit code: the thing asked for does not exist (404).
pub const EXIT_NOT_FOUND: u8 = 4;
/// Exit code: the server or the network failed (5xx, connection, TLS).
pub const EXIT_SERVER: u8 = 5;
/// Exit code: the server refused the request as invalid or conflicting
/// (400, 409, 413, 416, 422).
pub const EXIT_INVALID: u8 = 6;
/// Exit code: this server has no endpoint for the command yet.
pub const EXIT_NOT_AVAILABLE: u8 = 7;

/// Text for `--help`: the exit codes.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  local failure (writing a file, running the editor)
  2  usage: bad arguments or missing input
  3  authentication: not logged in, session expired, 401/403
  4  not found (404)
  5  server or network: 5xx, 429, connection refused, TLS or certificate mismatch
  6  invalid or conflicting request: 400, 409, 413, 416, 422
  7  not available on this server yet (the endpoint does not exist)";

/// What went wrong, by class. Every variant carries a sentence saying what
/// happened and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or missing input.
    #[error("{0}")]
    Usage(String),
    /// Not logged in, an expired session, or a refused credential.
    #[error("{0}")]
    Auth(String),
    /// The server has no such object.
    #[error("{0}")]
    NotFound(String),
    /// A 5xx answer, a connection or TLS failure.
    #[error("{0}")]
    Server(String),
    /// The server refused the request's content.
    #[error("{0}")]
    Invalid(String),
    /// The server lacks the endpoint the command needs.
    #[error("`{command}` is not available on this server yet (needs endpoint {endpoint})")]
    NotAvailable {
        /// The command the user ran.
        command: String,
        /// The missing endpoint, `METHOD /path`.
        endpoint: String,
    },
    /// A local failure.
    #[error("{0}")]
    Local(String),
    /// stdout was closed (`| head`): not an error for the user.
    #[error("broken pipe")]
    BrokenPipe,
}

impl CliError {
    /// The process exit code of this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Auth(_) => EXIT_AUTH,
            CliError::NotFound(_) => EXIT_NOT_FOUND,
            CliError::Server(_) => EXIT_SERVER,
            CliError::Invalid(_) => EXIT_INVALID,
            CliError::NotAvailable { .. } => EXIT_NOT_AVAILABLE,
            CliError::Local(_) => EXIT_LOCAL,
            CliError::BrokenPipe => EXIT_OK,
        }
    }

    /// A local I/O failure while doing `what`.
    pub fn io(what: impl fmt::Display) -> impl FnOnce(std::io::Error) -> CliError {
        move |e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                CliError::BrokenPipe
            } else {
                CliError::Local(format!("{what}: {e}"))
            }
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError::io("writing the output")(e)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// An error and its sources on one line (reqwest hides the useful part,
/// "connection refused" or the TLS alert, in the source chain).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ").replace('\n', " ")
}
