//! Model integrity, checked before libtorch sees the file: every record of
//! the TorchScript archive against its CRC-32 (PyTorch's loader does not
//! check: a model with flipped bytes in a weight record loaded, ran and was
//! reported with corrupted weights), and the file's SHA-256 for the
//! results' provenance (the gate says when the model changed).
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::UserError;

/// Reads every record of the archive; a record whose bytes do not match
/// its CRC-32 (or an archive that cannot be read) is refused, named.
pub fn check_records(path: &Path) -> Result<(), UserError> {
    let file = std::fs::File::open(path)
        .map_err(|e| UserError::bad_model(path, format!("cannot read: {e}")))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
        UserError::bad_model(
            path,
            format!("is truncated or damaged ({e}); expected a complete torch.jit.save archive"),
        )
    })?;
    for i in 0..archive.len() {
        let mut record = archive.by_index(i).map_err(|e| {
            UserError::bad_model(
                path,
                format!("record {i} cannot be read ({e}); the archive is damaged"),
            )
        })?;
        let name = record.name().to_string();
        std::io::copy(&mut record, &mut std::io::sink()).map_err(|e| {
            UserError::bad_model(
                path,
                format!("record '{name}' is corrupted ({e}): its bytes do not match its CRC-32; expected an intact torch.jit.save archive"),
            )
        })?;
    }
    Ok(())
}

/// The file's SHA-256, as lowercase hex.
pub fn sha256_hex(path: &Path) -> Result<String, UserError> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| UserError::bad_model(path, format!("cannot read: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| UserError::bad_model(path, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
