//! Accuracy of a candidate's outputs against stock fp32 outputs on the same
//! inputs: max absolute and relative error, cosine similarity, top-1
//! agreement for class scores, and the verdict against a suite tolerance.
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::suite::Tolerance;

/// Comparison of one or more outputs with their references.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Accuracy {
    pub max_abs: f64,
    /// max |a - b| / max(|b|, 1e-3): relative error, floored so values near
    /// zero do not dominate.
    pub max_rel: f64,
    /// Smallest cosine similarity over the outputs compared.
    pub cosine: f64,
    /// Fraction of rows whose argmax agrees, when outputs are [batch, classes].
    pub top1: Option<f64>,
    pub outputs_compared: usize,
}

/// Outputs that cannot be compared with stock's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("output shape {got:?} differs from stock's {want:?}")]
pub struct ShapeMismatch {
    pub got: Vec<i64>,
    pub want: Vec<i64>,
}

/// Compares one output tensor with its reference.
pub fn compare(got: &Tensor, want: &Tensor) -> Result<Accuracy, ShapeMismatch> {
    if got.size() != want.size() {
        return Err(ShapeMismatch {
            got: got.size(),
            want: want.size(),
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
    let size = got.size();
    let top1 = (size.len() == 2 && size[1] > 1 && got.is_floating_point()).then(|| {
        let agree = got
            .argmax(1, false)
            .eq_tensor(&want.argmax(1, false))
            .to_kind(Kind::Double)
            .mean(Kind::Double);
        agree.double_value(&[])
    });
    Ok(Accuracy {
        max_abs,
        max_rel,
        cosine,
        top1,
        outputs_compared: 1,
    })
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
    }
    out.top1 = top1;
    out
}

/// The verdict of `accuracy` against `tolerance` under `metric` (max_abs,
/// cosine or top1). Returns None when it passes, or why it fails.
pub fn verdict(accuracy: &Accuracy, metric: &str, tolerance: &Tolerance) -> Option<String> {
    match metric {
        "max_abs" if accuracy.max_abs > tolerance.max_abs => Some(format!(
            "max abs error {:.3e} above the tolerance {:.1e}",
            accuracy.max_abs, tolerance.max_abs
        )),
        "top1" => match (accuracy.top1, tolerance.min_top1) {
            (Some(t), Some(min)) if t < min => {
                Some(format!("top-1 agreement {t:.3} below {min:.3}"))
            }
            (Some(_), Some(_)) => None,
            _ => verdict(accuracy, "cosine", tolerance),
        },
        "cosine" if accuracy.cosine < tolerance.min_cosine => Some(format!(
            "cosine similarity {:.6} below {:.6}",
            accuracy.cosine, tolerance.min_cosine
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let a = compare(&t, &t).unwrap();
        assert_eq!(a.max_abs, 0.0);
        assert!((a.cosine - 1.0).abs() < 1e-12);
        assert_eq!(a.top1, Some(1.0));
        assert_eq!(verdict(&a, "top1", &tol()), None);
    }

    #[test]
    fn errors_and_top1() {
        let want = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([2, 2]);
        let got = Tensor::from_slice(&[0.0f32, 1.0, 0.0, 1.5]).view([2, 2]);
        let a = compare(&got, &want).unwrap();
        assert!((a.max_abs - 1.0).abs() < 1e-9);
        assert_eq!(a.top1, Some(0.5));
        assert!(verdict(&a, "top1", &tol()).unwrap().contains("top-1"));
        assert!(verdict(&a, "max_abs", &tol()).unwrap().contains("max abs"));
        assert!(verdict(&a, "cosine", &tol()).unwrap().contains("cosine"));
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let a = Tensor::zeros([2, 3], (Kind::Float, tch::Device::Cpu));
        let b = Tensor::zeros([3, 2], (Kind::Float, tch::Device::Cpu));
        assert!(compare(&a, &b).is_err());
    }

    #[test]
    fn worst_takes_the_worst_of_each() {
        let a = Accuracy {
            max_abs: 0.1,
            max_rel: 0.2,
            cosine: 0.99,
            top1: Some(1.0),
            outputs_compared: 1,
        };
        let b = Accuracy {
            max_abs: 0.05,
            max_rel: 0.3,
            cosine: 0.95,
            top1: None,
            outputs_compared: 2,
        };
        let w = worst(&[a, b]);
        assert_eq!(
            (w.max_abs, w.max_rel, w.cosine, w.top1, w.outputs_compared),
            (0.1, 0.3, 0.95, Some(1.0), 3)
        );
    }
}
