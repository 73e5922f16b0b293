//! Accuracy of a candidate's outputs against stock fp32 outputs on the same
//! inputs: max absolute and relative error, cosine similarity, top-1
//! agreement for class scores, and the verdict against a suite tolerance.
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::suite::Tolerance;

/// Comparison of one or more outputs with their references.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Accuracy {
    pub max_abs: f64,
    /// max |a - b| / max(|b|, 1e-3): relative error, floored so values near
    /// zero do not dominate.
    pub max_rel: f64,
    /// Smallest cosine similarity over the outputs compared.
    pub cosine: f64,
    /// Fraction of decisive rows whose argmax agrees, when outputs are
    /// [batch, classes]; None when no row is decisive (see [`compare`]).
    pub top1: Option<f64>,
    /// The decisive rows top-1 agreement was computed over.
    #[serde(default)]
    pub top1_rows: usize,
    /// Output elements that are NaN or infinite where stock's are finite
    /// (e.g. bf16 overflowing float32's most negative mask value to -inf).
    #[serde(default)]
    pub non_finite: usize,
    pub outputs_compared: usize,
    /// Which output leaf (its index in the flattened outputs, see
    /// [`leaf_paths`]) is the worst: the first with non-finite values, else
    /// the lowest cosine. Set when the model returns several tensors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_output: Option<usize>,
}

/// One layer's int8 sensitivity, measured two ways against stock's
/// outputs: `alone`, with only this layer quantized (the damage it does by
/// itself: it finds a layer whose input quantization hurts, which keeping
/// it fp32 alone would not fix while its neighbour stays int8), and
/// `kept_fp32`, with every other layer quantized and this one fp32 (the
/// damage keeping it fp32 removes, as Neural Compressor's fallback measures:
/// it finds a layer that hurts only together with the others). `error`
/// says why a measurement did not run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LayerError {
    pub layer: String,
    pub alone: Option<Accuracy>,
    pub kept_fp32: Option<Accuracy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The ranking's score (see `SensitivityOutput::ranked`).
    #[serde(default)]
    pub score: f64,
}

/// How far outputs moved from stock's: 1 - cosine similarity; infinite for
/// outputs that are not finite or were not measured.
pub fn damage(accuracy: Option<&Accuracy>) -> f64 {
    match accuracy {
        Some(a) if a.non_finite == 0 && a.cosine.is_finite() => (1.0 - a.cosine).max(0.0),
        _ => f64::INFINITY,
    }
}

/// Outputs that cannot be compared with stock's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("output shape {got:?} differs from stock's {want:?}")]
pub struct ShapeMismatch {
    pub got: Vec<i64>,
    pub want: Vec<i64>,
}

/// Compares one output tensor with its reference. Top-1 agreement (for
/// [batch, classes] outputs) counts only decisive rows: those whose
/// reference margin between the best and second-best class exceeds
/// `margin`, the largest absolute error the dtype's tolerance allows. A
/// row closer to a tie than that may flip within tolerance (random weights
/// and random inputs make near-ties common), so counting it would reject
/// bf16 for noise while letting int8 pass by luck.
pub fn compare(got: &Tensor, want: &Tensor, margin: f64) -> Result<Accuracy, ShapeMismatch> {
    if got.size() != want.size() {
        return Err(ShapeMismatch {
            got: got.size(),
            want: want.size(),
        });
    }
    let non_finite = got
        .isfinite()
        .logical_not()
        .logical_and(&want.isfinite())
        .sum(Kind::Int64)
        .int64_value(&[]) as usize;
    if non_finite > 0 {
        // NaN would poison every measure (and JSON has no NaN): report the
        // count and the worst values instead.
        return Ok(Accuracy {
            max_abs: f64::MAX,
            max_rel: f64::MAX,
            cosine: -1.0,
            top1: None,
            top1_rows: 0,
            non_finite,
            outputs_compared: 1,
            worst_output: None,
        });
    }
    let a = got.to_kind(Kind::Double).flatten(0, -1);
    let b = want.to_kind(Kind::Double).flatten(0, -1);
    let diff = (&a - &b).abs();
    let max_abs = if diff.numel() == 0 {
        0.0
    } else {
        diff.max().double_value(&[])
    };
    let denom = b.abs().clamp_min(1e-3);
    let max_rel = if diff.numel() == 0 {
        0.0
    } else {
        (&diff / denom).max().double_value(&[])
    };
    let norms = a.norm().double_value(&[]) * b.norm().double_value(&[]);
    let cosine = if norms > 0.0 {
        (&a * &b).sum(Kind::Double).double_value(&[]) / norms
    } else if max_abs == 0.0 {
        1.0
    } else {
        0.0
    };
    let (top1, top1_rows) = decisive_top1(got, want, margin);
    Ok(Accuracy {
        max_abs,
        max_rel,
        cosine,
        top1,
        top1_rows,
        non_finite: 0,
        outputs_compared: 1,
        worst_output: None,
    })
}

/// Top-1 agreement over the rows whose reference margin exceeds `margin`,
/// and how many rows that is; (None, 0) for outputs that are not class
/// scores or have no decisive row.
fn decisive_top1(got: &Tensor, want: &Tensor, margin: f64) -> (Option<f64>, usize) {
    let size = want.size();
    if size.len() != 2 || size[1] < 2 || !want.is_floating_point() {
        return (None, 0);
    }
    let (best, _) = want.to_kind(Kind::Double).topk(2, 1, true, true);
    let decisive = (best.select(1, 0) - best.select(1, 1)).gt(margin);
    let rows = decisive.sum(Kind::Int64).int64_value(&[]) as usize;
    if rows == 0 {
        return (None, 0);
    }
    let agree = got
        .argmax(1, false)
        .eq_tensor(&want.argmax(1, false))
        .logical_and(&decisive)
        .sum(Kind::Int64)
        .int64_value(&[]);
    (Some(agree as f64 / rows as f64), rows)
}

/// Combines comparisons: the worst of each measure.
pub fn worst(all: &[Accuracy]) -> Accuracy {
    let mut out = Accuracy {
        cosine: 1.0,
        ..Accuracy::default()
    };
    let mut top1: Option<f64> = None;
    for a in all {
        out.max_abs = out.max_abs.max(a.max_abs);
        out.max_rel = out.max_rel.max(a.max_rel);
        out.cosine = out.cosine.min(a.cosine);
        if let Some(t) = a.top1 {
            top1 = Some(top1.map_or(t, |x: f64| x.min(t)));
        }
        out.outputs_compared += a.outputs_compared;
        out.top1_rows += a.top1_rows;
        out.non_finite += a.non_finite;
    }
    out.top1 = top1;
    out
}

/// Where each tensor leaf sits in the outputs, from the structure the
/// runtime reports (`tuple(tensor,dict(logits:tensor,past:list(tensor)))`):
/// `[0]`, `["logits"]` below `[1]`, ... in the flattened order; `output`
/// for a lone tensor. `none` leaves hold no tensor and get no path.
pub fn leaf_paths(structure: &str) -> Vec<String> {
    fn walk(chars: &[char], at: &mut usize, path: String, out: &mut Vec<String>) {
        let word: String = chars[*at..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        *at += word.len();
        match word.as_str() {
            "tensor" => out.push(path),
            "tuple" | "list" | "dict" => {
                *at += 1; // '('
                let mut index = 0;
                while *at < chars.len() && chars[*at] != ')' {
                    let step = if word == "dict" {
                        let key: String = chars[*at..].iter().take_while(|c| **c != ':').collect();
                        *at += key.len() + 1;
                        format!("[\"{key}\"]")
                    } else {
                        format!("[{index}]")
                    };
                    walk(chars, at, format!("{path}{step}"), out);
                    index += 1;
                    if *at < chars.len() && chars[*at] == ',' {
                        *at += 1;
                    }
                }
                *at += 1; // ')'
            }
            // "none", or anything unknown: no tensor; skip to the next item.
            _ => {
                while *at < chars.len() && chars[*at] != ',' && chars[*at] != ')' {
                    *at += 1;
                }
            }
        }
    }
    let chars: Vec<char> = structure.chars().collect();
    let mut out = Vec::new();
    let mut at = 0;
    walk(&chars, &mut at, String::new(), &mut out);
    if out.len() == 1 && out[0].is_empty() {
        out[0] = "output".into();
    }
    out
}

/// The index of the worst of `all` (the first with non-finite values, else
/// the lowest cosine), None when empty.
pub fn worst_index(all: &[Accuracy]) -> Option<usize> {
    all.iter().position(|a| a.non_finite > 0).or_else(|| {
        all.iter()
            .enumerate()
            .min_by(|a, b| a.1.cosine.total_cmp(&b.1.cosine))
            .map(|(i, _)| i)
    })
}

/// `x <= limit`, false when either is NaN.
fn at_most(x: f64, limit: f64) -> bool {
    x <= limit
}

/// The verdict of `accuracy` against `tolerance` under `metric` (max_abs,
/// cosine or top1). Returns None when it passes, or why it fails. Written
/// so that NaN fails: a NaN error or similarity compares false either way,
/// so each check asks "within tolerance?" and fails when that is not true.
pub fn verdict(accuracy: &Accuracy, metric: &str, tolerance: &Tolerance) -> Option<String> {
    if accuracy.non_finite > 0 {
        return Some(format!(
            "{} output value(s) are NaN or infinite where stock's are finite",
            accuracy.non_finite
        ));
    }
    match metric {
        "max_abs" if !at_most(accuracy.max_abs, tolerance.max_abs) => Some(format!(
            "max abs error {:.3e} above the tolerance {:.1e}",
            accuracy.max_abs, tolerance.max_abs
        )),
        "top1" => match (accuracy.top1, tolerance.min_top1) {
            (Some(t), Some(min)) if !at_most(min, t) => {
                Some(format!("top-1 agreement {t:.3} below {min:.3}"))
            }
            (Some(_), Some(_)) => verdict(accuracy, "finite", tolerance),
            _ => verdict(accuracy, "cosine", tolerance),
        },
        "cosine" if !at_most(tolerance.min_cosine, accuracy.cosine) => Some(format!(
            "cosine similarity {:.6} below {:.6}",
            accuracy.cosine, tolerance.min_cosine
        )),
        _ if !accuracy.max_abs.is_finite() => Some(format!(
            "outputs are not finite where stock's are (max abs error {})",
            accuracy.max_abs
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_paths_follow_the_nesting() {
        assert_eq!(leaf_paths("tensor"), ["output"]);
        assert_eq!(leaf_paths("tuple(tensor,tensor)"), ["[0]", "[1]"]);
        assert_eq!(
            leaf_paths("tuple(tensor,dict(logits:tensor,past:list(tensor,none,tensor)))"),
            [
                "[0]",
                "[1][\"logits\"]",
                "[1][\"past\"][0]",
                "[1][\"past\"][2]"
            ]
        );
        assert_eq!(leaf_paths("dict(a:none,b:tensor)"), ["[\"b\"]"]);
        assert!(leaf_paths("").is_empty());
    }

    fn tol() -> Tolerance {
        Tolerance {
            max_abs: 1e-3,
            min_cosine: 0.999,
            min_top1: Some(0.9),
        }
    }

    #[test]
    fn identical_outputs() {
        let t = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
        let a = compare(&t, &t, 0.0).unwrap();
        assert_eq!(a.max_abs, 0.0);
        assert!((a.cosine - 1.0).abs() < 1e-12);
        assert_eq!(a.top1, Some(1.0));
        assert_eq!(verdict(&a, "top1", &tol()), None);
    }

    #[test]
    fn errors_and_top1() {
        let want = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([2, 2]);
        let got = Tensor::from_slice(&[0.0f32, 1.0, 0.0, 1.5]).view([2, 2]);
        let a = compare(&got, &want, 0.0).unwrap();
        assert!((a.max_abs - 1.0).abs() < 1e-9);
        assert_eq!(a.top1, Some(0.5));
        assert_eq!(a.top1_rows, 2);
        assert!(verdict(&a, "top1", &tol()).unwrap().contains("top-1"));
        assert!(verdict(&a, "max_abs", &tol()).unwrap().contains("max abs"));
        assert!(verdict(&a, "cosine", &tol()).unwrap().contains("cosine"));
    }

    #[test]
    fn near_ties_within_the_tolerance_do_not_count_for_top1() {
        // Row 0 is a near-tie (margin 0.01) that flips; row 1 is decisive.
        let want = Tensor::from_slice(&[1.0f32, 0.99, 0.0, 2.0]).view([2, 2]);
        let got = Tensor::from_slice(&[0.99f32, 1.0, 0.0, 2.0]).view([2, 2]);
        let strict = compare(&got, &want, 0.0).unwrap();
        assert_eq!((strict.top1, strict.top1_rows), (Some(0.5), 2));
        let bf16_like = compare(&got, &want, 0.05).unwrap();
        assert_eq!((bf16_like.top1, bf16_like.top1_rows), (Some(1.0), 1));
        let loose = compare(&got, &want, 5.0).unwrap();
        assert_eq!((loose.top1, loose.top1_rows), (None, 0), "no decisive row");
    }

    #[test]
    fn nan_outputs_fail_every_metric() {
        let want = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([2, 2]);
        let got = Tensor::from_slice(&[f32::NAN, 0.0, 0.0, 1.0]).view([2, 2]);
        let a = compare(&got, &want, 0.0).unwrap();
        for metric in ["max_abs", "cosine", "top1"] {
            assert!(verdict(&a, metric, &tol()).is_some(), "{metric}: {a:?}");
        }
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let a = Tensor::zeros([2, 3], (Kind::Float, tch::Device::Cpu));
        let b = Tensor::zeros([3, 2], (Kind::Float, tch::Device::Cpu));
        assert!(compare(&a, &b, 0.0).is_err());
    }

    #[test]
    fn worst_takes_the_worst_of_each() {
        let a = Accuracy {
            max_abs: 0.1,
            max_rel: 0.2,
            cosine: 0.99,
            top1: Some(1.0),
            top1_rows: 4,
            non_finite: 0,
            outputs_compared: 1,
            worst_output: None,
        };
        let b = Accuracy {
            max_abs: 0.05,
            max_rel: 0.3,
            cosine: 0.95,
            top1: None,
            top1_rows: 0,
            non_finite: 0,
            outputs_compared: 2,
            worst_output: None,
        };
        let w = worst(&[a, b]);
        assert_eq!(
            (w.max_abs, w.max_rel, w.cosine, w.top1, w.outputs_compared),
            (0.1, 0.3, 0.95, Some(1.0), 3)
        );
    }
}
