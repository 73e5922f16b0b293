//! The ops a profile records (each op kind with its input shapes, calls
//! and time) and their arithmetic: what both the profile and the roofline
//! read, below both of them.
use serde::{Deserialize, Serialize};

/// Every graph op of the profiled rounds: the ops the graph calls itself
/// (an `aten::linear`, not the `addmm` inside it), by name and input shapes.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OpProfile {
    /// Rounds over the suite's batches (each batch once a round).
    pub rounds: usize,
    /// Calls of the model in those rounds.
    pub calls: usize,
    /// Wall time of those calls, ms (the profiler on).
    pub wall_ms: f64,
    /// The ops the dispatcher saw, with their input shapes.
    pub ops: Vec<ProfiledOp>,
    /// The same rounds on a copy whose every graph node is wrapped in a
    /// named record ("KIND#INDEX"): all the graph's time, JIT-internal ops
    /// (prim::mkldnn_convolution, oneDNN Graph partitions) included.
    #[serde(default)]
    pub nodes: Vec<ProfiledOp>,
    /// Wall time of the node rounds, ms.
    #[serde(default)]
    pub nodes_wall_ms: f64,
}

/// One op kind with one set of input shapes.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProfiledOp {
    pub name: String,
    pub shapes: Vec<Vec<i64>>,
    pub dtypes: Vec<String>,
    /// The outputs' sizes.
    #[serde(default)]
    pub out_shapes: Vec<Vec<i64>>,
    /// Calls over all rounds.
    pub calls: u64,
    pub total_ms: f64,
}

/// Floating-point (or int8) operations of one call of a compute op, from
/// its input and output sizes: 2 x outputs x the reduction length. None
/// for ops whose arithmetic is not a product (element-wise, pooling, ...).
pub fn flops(op: &ProfiledOp) -> Option<f64> {
    let numel = |s: &[i64]| s.iter().product::<i64>() as f64;
    let out = numel(op.out_shapes.first()?);
    let kind = op.name.split_once('#').map_or(op.name.as_str(), |(k, _)| k);
    let reduction = match kind {
        "aten::linear" | "aten::matmul" | "aten::mm" | "aten::bmm" => {
            *op.shapes.first()?.last()? as f64
        }
        // addmm(bias, a, b): the reduction is a's last dimension.
        "aten::addmm" | "aten::baddbmm" => *op.shapes.get(1)?.last()? as f64,
        k if k.contains("conv") => {
            // weight [out_channels, in_channels / groups, kernel...]
            let weight = op.shapes.get(1)?;
            numel(weight) / *weight.first()? as f64
        }
        _ => return None,
    };
    Some(2.0 * out * reduction)
}

/// The dtype roof an op is read against: its first input's dtype.
pub fn roof_dtype(op: &ProfiledOp) -> &'static str {
    match op.dtypes.first().map(String::as_str) {
        Some("BFloat16") => "bf16",
        Some("QUInt8") | Some("QInt8") | Some("Char") | Some("Byte") => "int8",
        _ => "fp32",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_from_shapes() {
        let op = |name: &str, shapes: Vec<Vec<i64>>, out: Vec<i64>| ProfiledOp {
            name: name.into(),
            shapes,
            dtypes: vec!["Float".into()],
            out_shapes: vec![out],
            calls: 1,
            total_ms: 1.0,
        };
        // 8x512 @ 512x256: 2 * 8 * 256 * 512.
        let linear = op(
            "aten::linear",
            vec![vec![8, 512], vec![256, 512]],
            vec![8, 256],
        );
        assert_eq!(flops(&linear), Some(2.0 * 8.0 * 256.0 * 512.0));
        // 3x3 conv 32 -> 64 channels on 8x56x56 outputs.
        let conv = op(
            "aten::_convolution",
            vec![vec![8, 32, 56, 56], vec![64, 32, 3, 3]],
            vec![8, 64, 56, 56],
        );
        assert_eq!(
            flops(&conv),
            Some(2.0 * (8 * 64 * 56 * 56) as f64 * (32 * 9) as f64)
        );
        assert_eq!(
            flops(&op("aten::relu", vec![vec![8, 64]], vec![8, 64])),
            None
        );
        assert_eq!(roof_dtype(&linear), "fp32");
    }
}
