//! Loading a TorchScript file with a one-line, actionable error for every
//! kind of bad input.
use std::io::Read;
use std::path::Path;

use crate::error::UserError;
use crate::native::Module;

/// Every TorchScript archive written by `torch.jit.save` is a zip file.
const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";

/// Checks the file before libtorch sees it, then loads it.
pub fn load_module(path: &Path) -> Result<Module, UserError> {
    check_file(path)?;
    Module::load(path).map_err(|e| {
        let message = e.headline();
        let hint = if message.contains("constants.pkl") || message.contains("code/") {
            " (a zip without TorchScript code: was it saved with torch.save instead of torch.jit.save?)"
        } else {
            ""
        };
        UserError::bad_model(
            path,
            format!("cannot load as TorchScript: {message}{hint}"),
        )
    })
}

/// As [`load_module`], with every archive record's CRC-32 checked and the
/// sizes a traced module was traced with as its graph's input types: for
/// reading facts. Trials load without them, so
/// their graphs are not specialized to the traced size.
pub fn load_module_for_facts(path: &Path) -> Result<Module, UserError> {
    check_file(path)?;
    // Once, in the parent, before any trial (children skip it: they load
    // the file the parent checked).
    super::integrity::check_records(path)?;
    Module::load_with_traced_shapes(path).or_else(|_| load_module(path))
}

fn check_file(path: &Path) -> Result<(), UserError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => format!("cannot read: {e}"),
        };
        UserError::bad_model(path, format!("{what}; expected a TorchScript file (.pt)"))
    })?;
    if meta.is_dir() {
        return Err(UserError::bad_model(
            path,
            "is a directory; expected a TorchScript file (.pt)",
        ));
    }
    if meta.len() == 0 {
        return Err(UserError::bad_model(
            path,
            "is empty; expected a TorchScript archive written by torch.jit.save",
        ));
    }
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|e| UserError::bad_model(path, format!("cannot read: {e}")))?;
    if read < 4 || &magic != ZIP_MAGIC {
        return Err(UserError::bad_model(
            path,
            "is not a TorchScript archive (not a zip file); expected the output of torch.jit.save",
        ));
    }
    Ok(())
}
