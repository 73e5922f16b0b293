//! Inputs decoded from ordinary files, for convenience:
//! - an image folder for a CV model (`--inputs DIR`): every .jpg/.jpeg/.png
//!   in name order, resized so the shorter side is 256/224 of the model's
//!   image size and center-cropped to it, scaled to [0, 1] and normalized
//!   with ImageNet's mean and std (torchvision's ImageNet evaluation);
//! - a text file of token ids for an NLP model (`--inputs ids.txt`): one
//!   sequence per line, zero-padded to the longest of its batch, with the
//!   attention mask (1 for ids, 0 for padding) when the suite has one;
//! - class ids for `--labels` (`labels.txt`): whitespace-separated, one per
//!   input row, in input order.
//!
//! Inputs are batched by the suite's first batch size (the last batch may
//! be smaller, and is then a shape of its own).
use std::path::Path;

use image::imageops::FilterType;
use tch::Tensor;

use super::{Dim, InputKind, Suite};
use crate::error::UserError;

const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];
/// torchvision's ImageNet normalization (RGB).
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];
/// For one-channel models: the mean of the RGB means and stds.
const GRAY_MEAN: f32 = 0.449;
const GRAY_STD: f32 = 0.226;

fn bad(path: &Path, what: impl std::fmt::Display) -> UserError {
    UserError::BadValue(format!("{}: {what}", path.display()))
}

fn batch_size(suite: &Suite) -> usize {
    suite.batch_sizes.first().copied().unwrap_or(1).max(1) as usize
}

/// (channels, height, width) of the suite's one image input.
fn image_input(dir: &Path, suite: &Suite) -> Result<(usize, u32, u32), UserError> {
    let fixed = |d: &Dim| match d {
        Dim::Fixed(n) if *n > 0 => Some(*n),
        _ => None,
    };
    match suite.inputs.as_slice() {
        [spec] if spec.kind == InputKind::Normal && spec.shape.len() == 4 => {
            match (fixed(&spec.shape[1]), fixed(&spec.shape[2]), fixed(&spec.shape[3])) {
                (Some(c @ (1 | 3)), Some(h), Some(w)) => Ok((c as usize, h as u32, w as u32)),
                _ => Err(bad(
                    dir,
                    format!(
                        "an image folder needs an input of 1 or 3 channels with fixed sizes; suite '{}' has {}",
                        suite.name,
                        spec.shape_text()
                    ),
                )),
            }
        }
        _ => Err(bad(
            dir,
            format!(
                "an image folder fills one image input [batch, channels, height, width]; suite '{}' has ({})",
                suite.name,
                suite
                    .inputs
                    .iter()
                    .map(|i| format!("{} {}", i.name, i.shape_text()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// One image as CHW floats: shorter side to 256/224 of the target, center
/// crop, [0, 1], normalized.
fn preprocess(
    path: &Path,
    channels: usize,
    height: u32,
    width: u32,
) -> Result<Vec<f32>, UserError> {
    let image =
        image::open(path).map_err(|e| bad(path, format!("cannot decode the image: {e}")))?;
    let resize_to = (f64::from(height.max(width)) * 256.0 / 224.0).round();
    let (w0, h0) = (f64::from(image.width()), f64::from(image.height()));
    let scale = resize_to / w0.min(h0);
    let (w1, h1) = (
        ((w0 * scale).round() as u32).max(width),
        ((h0 * scale).round() as u32).max(height),
    );
    let resized = image.resize_exact(w1, h1, FilterType::Triangle);
    let cropped = resized.crop_imm((w1 - width) / 2, (h1 - height) / 2, width, height);
    let plane = (height * width) as usize;
    let mut out = vec![0f32; channels * plane];
    if channels == 3 {
        for (i, p) in cropped.to_rgb8().pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = (f32::from(p[c]) / 255.0 - MEAN[c]) / STD[c];
            }
        }
    } else {
        for (i, p) in cropped.to_luma8().pixels().enumerate() {
            out[i] = (f32::from(p[0]) / 255.0 - GRAY_MEAN) / GRAY_STD;
        }
    }
    Ok(out)
}

/// The images of `dir`, decoded and batched for the suite's image input.
pub fn image_folder(dir: &Path, suite: &Suite) -> Result<Vec<Vec<Tensor>>, UserError> {
    let (channels, height, width) = image_input(dir, suite)?;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| bad(dir, format!("cannot read the folder: {e}")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(bad(dir, "no .jpg, .jpeg or .png images in the folder"));
    }
    let mut batches = Vec::new();
    for chunk in files.chunks(batch_size(suite)) {
        let mut data = Vec::with_capacity(chunk.len() * channels * (height * width) as usize);
        for file in chunk {
            data.extend(preprocess(file, channels, height, width)?);
        }
        let n = chunk.len() as i64;
        batches.push(vec![Tensor::from_slice(&data).reshape([
            n,
            channels as i64,
            i64::from(height),
            i64::from(width),
        ])]);
    }
    Ok(batches)
}

/// Whitespace-separated integers of each non-empty line, with line numbers.
fn integer_lines(path: &Path) -> Result<Vec<(usize, Vec<i64>)>, UserError> {
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let ids = line
            .split_whitespace()
            .map(|word| {
                word.parse::<i64>()
                    .ok()
                    .filter(|id| *id >= 0)
                    .ok_or_else(|| {
                        bad(
                            path,
                            format!("line {}: '{word}' is not a non-negative integer id", i + 1),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !ids.is_empty() {
            lines.push((i + 1, ids));
        }
    }
    if lines.is_empty() {
        return Err(bad(path, "holds no ids"));
    }
    Ok(lines)
}

/// The token-id sequences of `path`, batched, padded, with their masks, in
/// the order of the suite's inputs (token ids, and a mask if it has one).
pub fn token_file(path: &Path, suite: &Suite) -> Result<Vec<Vec<Tensor>>, UserError> {
    let kinds: Vec<InputKind> = suite.inputs.iter().map(|i| i.kind).collect();
    if !kinds.contains(&InputKind::Tokens)
        || kinds
            .iter()
            .any(|k| !matches!(k, InputKind::Tokens | InputKind::Mask))
    {
        return Err(bad(
            path,
            format!(
                "a token-id file fills token ids and attention masks; suite '{}' has other inputs ({})",
                suite.name,
                suite.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let bound = suite
        .inputs
        .iter()
        .find(|i| i.kind == InputKind::Tokens)
        .and_then(|i| i.high);
    let lines = integer_lines(path)?;
    if let Some(bound) = bound {
        for (line, ids) in &lines {
            if let Some(id) = ids.iter().find(|id| **id >= bound) {
                return Err(bad(
                    path,
                    format!("line {line}: id {id} is not below the model's {bound} token ids"),
                ));
            }
        }
    }
    let mut batches = Vec::new();
    for chunk in lines.chunks(batch_size(suite)) {
        let longest = chunk.iter().map(|(_, ids)| ids.len()).max().unwrap_or(1);
        let mut ids = vec![0i64; chunk.len() * longest];
        let mut mask = vec![0i64; chunk.len() * longest];
        for (row, (_, seq)) in chunk.iter().enumerate() {
            ids[row * longest..row * longest + seq.len()].copy_from_slice(seq);
            mask[row * longest..row * longest + seq.len()].fill(1);
        }
        let shape = [chunk.len() as i64, longest as i64];
        let (ids, mask) = (
            Tensor::from_slice(&ids).reshape(shape),
            Tensor::from_slice(&mask).reshape(shape),
        );
        batches.push(
            kinds
                .iter()
                .map(|k| {
                    if *k == InputKind::Tokens {
                        ids.shallow_clone()
                    } else {
                        mask.shallow_clone()
                    }
                })
                .collect(),
        );
    }
    Ok(batches)
}

/// Class ids for `--labels`, one per input row, as one batch.
pub fn label_file(path: &Path) -> Result<Vec<Vec<Tensor>>, UserError> {
    let ids: Vec<i64> = integer_lines(path)?
        .into_iter()
        .flat_map(|(_, ids)| ids)
        .collect();
    Ok(vec![vec![Tensor::from_slice(&ids)]])
}
