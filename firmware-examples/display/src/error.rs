//! The program's error: one human-readable message naming what failed (a path, a flag, the
//! model), printed as `error: MESSAGE` with a non-zero exit status.

/// See the module docs.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        Error(msg.into())
    }

    /// Wraps a fewstep error with what was being done (`context: error`).
    pub fn fewstep(context: impl std::fmt::Display, e: fewstep::Error) -> Self {
        Error(format!("{context}: {e}"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}
