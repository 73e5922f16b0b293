//! A profile against the host's roofs: FLOPs and bytes per compute op from
//! its sizes and dtype, the GFLOP/s it reached, its arithmetic intensity
//! and the roof it could reach there (min of the dtype's GEMM peak and
//! intensity x memory bandwidth); and the same for the whole model.
use serde::{Deserialize, Serialize};

use super::ops::{self, OpProfile, ProfiledOp};
use super::roofs::Roofs;

/// One compute op (name and input sizes) on the roofline.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RooflineOp {
    pub name: String,
    pub shapes: Vec<Vec<i64>>,
    /// The roof it is read against: fp32, bf16 or int8.
    pub dtype: String,
    pub gflop_per_call: f64,
    pub gflops: f64,
    /// FLOPs per byte of inputs and outputs (4, 2 or 1 bytes a value by dtype).
    pub intensity: f64,
    /// min(peak of its dtype, intensity x triad bandwidth).
    pub attainable_gflops: f64,
    pub share_of_attainable: f64,
}

/// The whole model on the roofline: its FLOPs per call over the time per
/// call, against the roof of the config's dtype.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelPoint {
    pub gflop_per_call: f64,
    /// Over the timed loop's mean time per call.
    pub gflops: f64,
    /// FLOPs per byte of the compute ops' inputs and outputs.
    pub intensity: f64,
    /// The dtype whose GEMM peak is the model's roof.
    pub dtype: String,
    pub peak_gflops: f64,
    pub share_of_peak: f64,
    /// Where the FLOPs come from: "the config's own ops" (the dispatcher
    /// sized them) or "stock's ops" (JIT-internal or packed quantized ops
    /// hide their sizes; the model's arithmetic is the same).
    pub flops_from: String,
}

/// Bytes one value of a roof dtype takes.
fn bytes_per_value(dtype: &str) -> f64 {
    match dtype {
        "bf16" => 2.0,
        "int8" => 1.0,
        _ => 4.0,
    }
}

/// FLOPs of one call of `op` and the bytes of its inputs and outputs at
/// `dtype`'s width; None for ops whose arithmetic is not a product.
fn flops_and_bytes(op: &ProfiledOp, dtype: &str) -> Option<(f64, f64)> {
    let flops = ops::flops(op)?;
    let values: f64 = op
        .shapes
        .iter()
        .chain(&op.out_shapes)
        .map(|s| s.iter().product::<i64>() as f64)
        .sum();
    Some((flops, values * bytes_per_value(dtype)))
}

/// The roof at `intensity` for `dtype`: min(GEMM peak, intensity x triad).
pub fn attainable(roofs: &Roofs, dtype: &str, intensity: f64) -> f64 {
    let peak = roofs
        .peak_gflops
        .get(dtype)
        .copied()
        .unwrap_or(f64::INFINITY);
    peak.min(intensity * roofs.triad_gb_s)
}

/// The compute ops the dispatcher sized, largest FLOPs per call first.
pub fn ops(p: &OpProfile, roofs: &Roofs) -> Vec<RooflineOp> {
    let calls = p.calls.max(1) as f64;
    let mut ops: Vec<RooflineOp> = p
        .ops
        .iter()
        .filter_map(|op| {
            let dtype = ops::roof_dtype(op);
            let (flops, bytes) = flops_and_bytes(op, dtype)?;
            let intensity = flops / bytes.max(1.0);
            let seconds = op.total_ms / op.calls.max(1) as f64 * 1e-3;
            let gflops = flops / seconds.max(1e-12) / 1e9;
            let attainable = attainable(roofs, dtype, intensity);
            Some(RooflineOp {
                name: op.name.clone(),
                shapes: op.shapes.clone(),
                dtype: dtype.to_string(),
                gflop_per_call: flops * op.calls as f64 / calls / 1e9,
                gflops,
                intensity,
                attainable_gflops: attainable,
                share_of_attainable: gflops / attainable,
            })
        })
        .collect();
    ops.sort_by(|a, b| b.gflop_per_call.total_cmp(&a.gflop_per_call));
    ops
}

/// (GFLOP per call, bytes per call) of the ops the dispatcher sized, at
/// `dtype`'s width; None unless the dispatcher saw (nearly) all of the
/// calls' time and sized at least half of it: else compute ops are
/// missing from the count.
pub fn model_work(p: &OpProfile, dtype: &str) -> Option<(f64, f64)> {
    let calls = p.calls.max(1) as f64;
    let total_ms: f64 = p.ops.iter().map(|o| o.total_ms).sum();
    let sized: Vec<(&ProfiledOp, (f64, f64))> = p
        .ops
        .iter()
        .filter_map(|o| Some((o, flops_and_bytes(o, dtype)?)))
        .collect();
    let sized_ms: f64 = sized.iter().map(|(o, _)| o.total_ms).sum();
    if total_ms < 0.9 * p.wall_ms || sized_ms < 0.5 * total_ms {
        return None;
    }
    let (flops, bytes) = sized.iter().fold((0.0, 0.0), |(f, b), (o, (fl, by))| {
        (f + fl * o.calls as f64, b + by * o.calls as f64)
    });
    Some((flops / calls / 1e9, bytes / calls))
}

/// The model's point: `work` (GFLOP and bytes per call) over `ms_per_call`,
/// against the GEMM peak of `dtype`.
pub fn model_point(
    work: (f64, f64),
    ms_per_call: f64,
    dtype: &str,
    roofs: &Roofs,
    flops_from: &str,
) -> Option<ModelPoint> {
    let (gflop, bytes) = work;
    let peak = *roofs.peak_gflops.get(dtype)?;
    let gflops = gflop / (ms_per_call * 1e-3).max(1e-12);
    Some(ModelPoint {
        gflop_per_call: gflop,
        gflops,
        intensity: gflop * 1e9 / bytes.max(1.0),
        dtype: dtype.to_string(),
        peak_gflops: peak,
        share_of_peak: gflops / peak,
        flops_from: flops_from.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn roofs() -> Roofs {
        Roofs {
            threads: 2,
            peak_gflops: BTreeMap::from([("fp32".into(), 100.0), ("int8".into(), 400.0)]),
            peak_from: BTreeMap::new(),
            triad_gb_s: 10.0,
        }
    }

    fn op(name: &str, calls: u64, ms: f64) -> ProfiledOp {
        ProfiledOp {
            name: name.into(),
            shapes: vec![vec![8, 512], vec![256, 512]],
            dtypes: vec!["Float".into()],
            out_shapes: vec![vec![8, 256]],
            calls,
            total_ms: ms,
        }
    }

    #[test]
    fn the_roof_is_the_lower_of_compute_and_bandwidth() {
        let r = roofs();
        assert_eq!(attainable(&r, "fp32", 1.0), 10.0);
        assert_eq!(attainable(&r, "fp32", 50.0), 100.0);
        assert_eq!(attainable(&r, "int8", 50.0), 400.0);
    }

    #[test]
    fn ops_and_model_from_sizes() {
        let p = OpProfile {
            rounds: 1,
            calls: 2,
            wall_ms: 1.0,
            ops: vec![op("aten::linear", 2, 0.8), {
                let mut relu = op("aten::relu", 2, 0.15);
                relu.shapes = vec![vec![8, 256]];
                relu
            }],
            nodes: vec![],
            nodes_wall_ms: 0.0,
        };
        let flops = 2.0 * 8.0 * 256.0 * 512.0;
        let bytes = 4.0 * (8.0 * 512.0 + 256.0 * 512.0 + 8.0 * 256.0);
        let listed = ops(&p, &roofs());
        assert_eq!(listed.len(), 1, "relu has no product");
        let linear = &listed[0];
        assert!((linear.intensity - flops / bytes).abs() < 1e-9);
        assert!((linear.gflops - flops / 0.4e-3 / 1e9).abs() < 1e-6);
        let work = model_work(&p, "fp32").unwrap();
        assert!((work.0 - flops / 1e9).abs() < 1e-12);
        let point = model_point(work, 0.5, "fp32", &roofs(), "ops").unwrap();
        assert!((point.gflops - flops / 0.5e-3 / 1e9).abs() < 1e-6);
        assert!((point.share_of_peak - point.gflops / 100.0).abs() < 1e-12);
        // Ops that hide most of the time (JIT-internal) give no model work.
        let hidden = OpProfile {
            wall_ms: 10.0,
            ..p.clone()
        };
        assert!(model_work(&hidden, "fp32").is_none());
        // No roof for the dtype: no point.
        assert!(model_point(work, 0.5, "bf16", &roofs(), "ops").is_none());
    }
}
