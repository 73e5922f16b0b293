//! Real inputs from files: `--inputs PATH` replaces a suite's generated
//! batches (measurement and accuracy), `--calibration PATH` the batches
//! static int8 calibrates on. Formats: Python's `torch.save` of a tensor, a
//! list/tuple of tensors (one batch), a list of such lists (several
//! batches) or a dict of argument name -> tensor (one batch); NumPy `.npy`
//! (one tensor) and `.npz`; safetensors. Named tensors (dict, npz,
//! safetensors) are matched to the entry method's arguments by name;
//! unnamed ones are taken in argument order. Image folders and token-id or
//! label text files are decoded in [`super::decoded`].
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::inputs::{batches, Batch};
use super::Suite;
use crate::error::UserError;
use crate::native;

/// A file of inputs and the entry method's argument names (for named
/// tensors).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct InputFile {
    pub path: PathBuf,
    pub args: Vec<String>,
}

fn bad(path: &Path, what: impl std::fmt::Display) -> UserError {
    UserError::BadValue(format!("{}: {what}", path.display()))
}

/// The argument a tensor's name gives: `feats` for `feats` and for the
/// elements `feats.0` or `feats.key` of a List/Tuple/Dict argument.
fn argument_of(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// Named tensors in argument order, a structured argument's elements in
/// the file's order (every argument the file names must exist; arguments
/// it lacks must be trailing ones with defaults: not checked here, the run
/// reports a call error).
fn by_name(
    path: &Path,
    named: Vec<(String, Tensor)>,
    args: &[String],
) -> Result<Vec<Tensor>, UserError> {
    if named
        .iter()
        .all(|(n, _)| args.iter().any(|a| a == argument_of(n)))
    {
        let mut ordered = Vec::new();
        for arg in args {
            let mut of_arg = named
                .iter()
                .filter(|(n, _)| argument_of(n) == arg)
                .peekable();
            if of_arg.peek().is_none() {
                break;
            }
            ordered.extend(of_arg.map(|(_, t)| t.shallow_clone()));
        }
        if ordered.len() == named.len() {
            return Ok(ordered);
        }
        return Err(bad(
            path,
            format!(
                "names {} skip an argument of ({})",
                named
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                args.join(", ")
            ),
        ));
    }
    // Names that are not arguments (arr_0, ...): file order.
    Ok(named.into_iter().map(|(_, t)| t).collect())
}

/// The batches of a file (at least one, none empty).
pub fn load(file: &InputFile) -> Result<Vec<Vec<Tensor>>, UserError> {
    let path = &file.path;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let batches: Vec<Vec<Tensor>> = match ext.as_str() {
        "npy" => vec![vec![
            Tensor::read_npy(path).map_err(|e| bad(path, format!("not a .npy file: {e}")))?
        ]],
        "npz" => {
            let named =
                Tensor::read_npz(path).map_err(|e| bad(path, format!("not a .npz file: {e}")))?;
            vec![by_name(path, named, &file.args)?]
        }
        "safetensors" => {
            let mut named = Tensor::read_safetensors(path)
                .map_err(|e| bad(path, format!("not a safetensors file: {e}")))?;
            named.sort_by(|a, b| a.0.cmp(&b.0));
            vec![by_name(path, named, &file.args)?]
        }
        "pt" | "pth" | "bin" => {
            let bytes = std::fs::read(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
            let flat = native::load_tensor_file(&bytes).map_err(|e| {
                bad(
                    path,
                    format!("not a torch.save file of tensors: {}", e.headline()),
                )
            })?;
            let count = flat.iter().map(|(b, _, _)| b + 1).max().unwrap_or(0);
            let mut out: Vec<Vec<(String, Tensor)>> = (0..count).map(|_| Vec::new()).collect();
            for (b, name, t) in flat {
                out[b].push((name, t));
            }
            out.into_iter()
                .map(|batch| {
                    if batch.iter().all(|(n, _)| !n.is_empty()) {
                        by_name(path, batch, &file.args)
                    } else {
                        Ok(batch.into_iter().map(|(_, t)| t).collect())
                    }
                })
                .collect::<Result<_, _>>()?
        }
        _ => {
            return Err(bad(
                path,
                "expected a .pt/.pth (torch.save), .npy, .npz or .safetensors file, a .txt of token ids or an image folder",
            ))
        }
    };
    if batches.is_empty() || batches.iter().any(Vec::is_empty) {
        return Err(bad(path, "holds no tensors"));
    }
    Ok(batches)
}

/// The batches of an `--inputs` or `--calibration` path: an image folder
/// or a token-id `.txt` file decoded for the suite's inputs, else a file of
/// tensors.
pub fn load_inputs(file: &InputFile, suite: &Suite) -> Result<Vec<Vec<Tensor>>, UserError> {
    let path = &file.path;
    if path.is_dir() {
        return super::decoded::image_folder(path, suite);
    }
    if has_extension(path, "txt") {
        return super::decoded::token_file(path, suite);
    }
    load(file)
}

/// The batches of a `--labels` path: a `.txt` of class ids, or tensors.
pub fn load_labels(file: &InputFile) -> Result<Vec<Vec<Tensor>>, UserError> {
    if has_extension(&file.path, "txt") {
        return super::decoded::label_file(&file.path);
    }
    load(file)
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Dimensions of a batch, e.g. `8x3x224x224 8x16`.
fn sizes_key(tensors: &[Tensor]) -> String {
    tensors
        .iter()
        .map(|t| {
            t.size()
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The suite's batches: from `--inputs` when given, else generated.
pub fn suite_batches(suite: &Suite) -> Result<Vec<Batch>, UserError> {
    match &suite.input_file {
        Some(file) => Ok(load_inputs(file, suite)?
            .into_iter()
            .map(|tensors| Batch {
                shape_key: format!("inputs {}", sizes_key(&tensors)),
                tensors,
            })
            .collect()),
        None => Ok(batches(suite)),
    }
}

/// The batches static int8 calibrates on: `--calibration` when given.
pub fn calibration_batches(suite: &Suite) -> Result<Option<Vec<Vec<Tensor>>>, UserError> {
    suite
        .calibration_file
        .as_ref()
        .map(|file| load_inputs(file, suite))
        .transpose()
}
