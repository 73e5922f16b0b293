//! Everything a command will write is checked before it starts working, so
//! a bad path costs a second, not a whole run (hyperfine creates its export
//! files up front for the same reason). Each error names the flag and the
//! path (exit 2).
use std::path::{Path, PathBuf};

use crate::error::UserError;

/// What a flag's path will become.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Output {
    /// A file written in place (a report); devices such as /dev/stdout are fine.
    File,
    /// A file replaced atomically (the results file): a regular file or nothing.
    ReplacedFile,
    /// A folder files are written into (PNG charts, `--report`).
    Folder,
}

/// Checks every `(flag, path, kind)`: the folder exists or can be made,
/// and a file can be created in it.
pub fn check_outputs(outputs: &[(&str, &Path, Output)]) -> Result<(), UserError> {
    for &(flag, path, kind) in outputs {
        check_one(path, kind).map_err(|problem| {
            UserError::BadValue(format!("{flag}: {}: {problem}", path.display()))
        })?;
    }
    Ok(())
}

fn check_one(path: &Path, kind: Output) -> Result<(), String> {
    let dir: PathBuf = match kind {
        Output::Folder => {
            if path.exists() && !path.is_dir() {
                return Err("is not a folder; expected a folder to write files into".into());
            }
            path.to_path_buf()
        }
        Output::File | Output::ReplacedFile => {
            if path.is_dir() {
                return Err("is a folder; expected a file path".into());
            }
            if kind == Output::ReplacedFile && path.exists() && !path.is_file() {
                return Err(
                    "is not a regular file; expected a path for a results file (it is replaced atomically)"
                        .into(),
                );
            }
            if path.exists() && kind == Output::File {
                // Written in place: being able to open it is enough. (The
                // results file is written as a new file beside the old one,
                // checked below.)
                return std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map(drop)
                    .map_err(|e| format!("cannot write: {e}"));
            }
            path.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir)
        .and_then(|()| tempfile::NamedTempFile::new_in(&dir).map(drop))
        .map_err(|e| {
            format!(
                "cannot write into {}: {e}; expected a folder this user can create files in",
                dir.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &Path, kind: Output) -> Result<(), String> {
        check_outputs(&[("--flag", path, kind)]).map_err(|e| e.to_string())
    }

    #[test]
    fn folders_are_made_and_files_need_a_writable_folder() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        check(&deep, Output::Folder).unwrap();
        assert!(deep.is_dir());
        check(&deep.join("r.json"), Output::ReplacedFile).unwrap();
        let file = deep.join("x");
        std::fs::write(&file, "").unwrap();
        let err = check(&file, Output::Folder).unwrap_err();
        assert!(
            err.starts_with("--flag: ") && err.contains("is not a folder"),
            "{err}"
        );
        let err = check(&deep, Output::File).unwrap_err();
        assert!(err.contains("is a folder"), "{err}");
        let err = check(&file.join("below-a-file.json"), Output::File).unwrap_err();
        assert!(err.contains("cannot write into"), "{err}");
    }

    #[test]
    fn devices_are_written_in_place_but_never_replaced() {
        check(Path::new("/dev/null"), Output::File).unwrap();
        let err = check(Path::new("/dev/null"), Output::ReplacedFile).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
