//! Errors a user can fix (bad file, bad value), as opposed to internal
//! failures. `main` maps them to exit code 2; everything else exits 3.
use std::path::PathBuf;

/// A mistake in what the user gave ipex-tune, with the file or value and
/// what was expected.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A model file that cannot be used.
    #[error("{}: {problem}", path.display())]
    BadModel { path: PathBuf, problem: String },
    /// A value on the command line that does not fit.
    #[error("{0}")]
    BadValue(String),
}

impl UserError {
    pub fn bad_model(path: impl Into<PathBuf>, problem: impl Into<String>) -> UserError {
        UserError::BadModel {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// The process exit codes, documented in the README.
pub mod exit_code {
    /// Success.
    pub const OK: i32 = 0;
    /// A verdict failed: a doctor FAIL, a rule check problem, a regression.
    pub const VERDICT_FAILED: i32 = 1;
    /// Usage or input error: a bad file, value or flag.
    pub const USAGE: i32 = 2;
    /// Internal failure (a bug, or the torch stack failed unexpectedly).
    pub const INTERNAL: i32 = 3;
    /// Another ipex-tune run is timing on the same cores (tune::lock).
    pub const CORES_BUSY: i32 = 4;
}
