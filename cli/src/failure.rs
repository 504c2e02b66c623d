//! [`Failure`]: what a command prints as its one line on stderr before exiting non-zero.

use std::fmt;
use std::path::Path;

/// A command's failure, already phrased for the user (the database's errors name the
/// file and offset themselves).
#[derive(Debug)]
pub struct Failure(pub String);

/// Shorthand for the commands' results.
pub type Result<T, E = Failure> = std::result::Result<T, E>;

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<fletchdb::Error> for Failure {
    fn from(e: fletchdb::Error) -> Self {
        Failure(e.to_string())
    }
}

impl Failure {
    /// An i/o error on `path`.
    pub fn io(path: &Path, e: std::io::Error) -> Failure {
        Failure(format!("{}: {e}", path.display()))
    }

    /// Bad input in `path` (at `offset` bytes, or at a line, as `at` says).
    pub fn input(path: &Path, at: impl fmt::Display, reason: impl fmt::Display) -> Failure {
        Failure(format!("{}: {at}: {reason}", path.display()))
    }
}
