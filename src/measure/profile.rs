//! Where the time goes: the per-op profile grouped by op kind, and the
//! oneDNN kernels that really ran (parsed from oneDNN's verbose log), with
//! the ISA each used, so a report can say "AMX used for 20 of 21
//! convolutions" or that bf16 ran without native bf16 instructions.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::ops::{OpProfile, ProfiledOp};
use super::roofline::{ModelPoint, RooflineOp};
use super::roofs::Roofs;

/// One config's profile as the results file keeps it (`profile` prints
/// it; `run --profile` stores the winner's): the timed loop, the ops by
/// kind, node and shape, the oneDNN kernels with their ISA, and the model
/// and its compute ops against the host's measured roofs.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProfileRecord {
    pub config: String,
    pub isa_level: Option<String>,
    /// The timed loop (profiler off): median and mean ms per call.
    pub median_ms: f64,
    pub mean_ms: f64,
    pub samples_per_s: f64,
    /// The ops' time per call and the profiled calls' wall time per call.
    pub ops_ms_per_call: f64,
    pub profiled_ms_per_call: f64,
    pub by_kind: Vec<KindTime>,
    pub profile: OpProfile,
    pub kernels: Vec<KernelUse>,
    pub verdicts: Vec<String>,
    /// The host's roofs, measured on the profiled instance's threads.
    pub roofs: Roofs,
    /// The compute ops the dispatcher sized, against the roofs.
    pub roofline: Vec<RooflineOp>,
    /// The model against the roof of its dtype; null when no roof exists
    /// for it or no FLOPs could be counted.
    pub model: Option<ModelPoint>,
}

/// One op kind's share of the profiled calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KindTime {
    pub kind: String,
    /// Calls per model call.
    pub calls_per_call: f64,
    /// Milliseconds per model call.
    pub ms_per_call: f64,
    /// Of all ops' time.
    pub share: f64,
}

/// The profile by op kind, largest first, in the view of [`best_view`].
pub fn by_kind(profile: &OpProfile) -> Vec<KindTime> {
    let calls = profile.calls.max(1) as f64;
    let (source, _) = best_view(profile);
    let total: f64 = source.iter().map(|o| o.total_ms).sum::<f64>().max(1e-12);
    let mut kinds: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    for op in source {
        let kind = op.name.split_once('#').map_or(op.name.as_str(), |(k, _)| k);
        let entry = kinds.entry(kind).or_default();
        entry.0 += op.calls;
        entry.1 += op.total_ms;
    }
    let mut out: Vec<KindTime> = kinds
        .into_iter()
        .map(|(kind, (n, ms))| KindTime {
            kind: kind.to_string(),
            calls_per_call: n as f64 / calls,
            ms_per_call: ms / calls,
            share: ms / total,
        })
        .collect();
    out.sort_by(|a, b| b.ms_per_call.total_cmp(&a.ms_per_call));
    out
}

/// The ops' time per model call against the profiled calls' own wall time:
/// (ops ms per call, wall ms per call), in the view of [`best_view`].
/// Interpreter and glue fill the gap.
pub fn coverage(profile: &OpProfile) -> (f64, f64) {
    let calls = profile.calls.max(1) as f64;
    let (source, wall) = best_view(profile);
    let ops: f64 = source.iter().map(|o| o.total_ms).sum();
    (ops / calls, wall / calls)
}

/// The dispatcher's ops (with shapes, the more telling view) when they
/// account for at least 90% of their rounds, else the graph nodes (which
/// also see JIT-internal ops); with the wall time of those rounds.
fn best_view(profile: &OpProfile) -> (&[ProfiledOp], f64) {
    let ops: f64 = profile.ops.iter().map(|o| o.total_ms).sum();
    if profile.nodes.is_empty() || ops >= 0.9 * profile.wall_ms {
        (&profile.ops, profile.wall_ms)
    } else {
        (&profile.nodes, profile.nodes_wall_ms)
    }
}

/// One oneDNN primitive that ran: its kind, implementation and ISA.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Kernel {
    /// convolution, inner_product, matmul, reorder, ...
    pub kind: String,
    /// e.g. brg_conv_fwd:avx512_core_amx, jit:avx2, gemm:jit
    pub implementation: String,
    /// The ISA part of the implementation (after ':'), e.g. avx512_core_amx.
    pub isa: String,
    /// The source data type, e.g. f32, bf16, u8.
    pub src_dtype: String,
}

/// Distinct primitives (kind, implementation, data type, problem) of
/// oneDNN's `exec` lines, each with how often it ran.
pub fn kernels(exec_lines: &[String]) -> Vec<(Kernel, usize)> {
    let mut seen: BTreeMap<(Kernel, String), usize> = BTreeMap::new();
    for line in exec_lines {
        if let Some((kernel, problem, _)) = parse_exec(line) {
            *seen.entry((kernel, problem)).or_default() += 1;
        }
    }
    seen.into_iter().map(|((k, _), n)| (k, n)).collect()
}

/// oneDNN's own execution time per kernel (ms, summed over its `exec`
/// lines): the time of ops libtorch's callbacks cannot see (JIT-internal
/// ops such as the prepacked mkldnn convolutions).
pub fn kernel_ms(exec_lines: &[String]) -> BTreeMap<Kernel, f64> {
    let mut out: BTreeMap<Kernel, f64> = BTreeMap::new();
    for line in exec_lines {
        if let Some((kernel, _, ms)) = parse_exec(line) {
            *out.entry(kernel).or_default() += ms;
        }
    }
    out
}

/// One kernel (kind, implementation, dtype) over all the problems it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KernelUse {
    #[serde(flatten)]
    pub kernel: Kernel,
    /// Distinct primitives (problem shapes) it ran.
    pub primitives: usize,
    pub executions: usize,
    /// oneDNN's execution time per run, ms (mean over its runs).
    pub ms_per_run: f64,
}

/// [`kernels`] folded by kernel, most primitives first, with the time of
/// [`kernel_ms`].
pub fn kernel_uses(kernels: &[(Kernel, usize)], ms: &BTreeMap<Kernel, f64>) -> Vec<KernelUse> {
    let mut uses: BTreeMap<&Kernel, (usize, usize)> = BTreeMap::new();
    for (k, n) in kernels {
        let entry = uses.entry(k).or_default();
        entry.0 += 1;
        entry.1 += n;
    }
    let mut out: Vec<KernelUse> = uses
        .into_iter()
        .map(|(k, (primitives, executions))| KernelUse {
            kernel: k.clone(),
            primitives,
            executions,
            ms_per_run: ms.get(k).copied().unwrap_or(0.0) / executions.max(1) as f64,
        })
        .collect();
    out.sort_by(|a, b| {
        b.primitives
            .cmp(&a.primitives)
            .then(a.kernel.cmp(&b.kernel))
    });
    out
}

/// One `onednn_verbose,...,exec,cpu,KIND,IMPL,PROP,MDS,ATTRS,ALG,PROBLEM,MS`
/// line (with or without the `v1,primitive` fields of newer versions).
fn parse_exec(line: &str) -> Option<(Kernel, String, f64)> {
    let fields: Vec<&str> = line.split(',').collect();
    let exec = fields.iter().position(|f| *f == "exec")?;
    let kind = fields.get(exec + 2)?.to_string();
    let implementation = fields.get(exec + 3)?.to_string();
    let isa = implementation
        .split_once(':')
        .map_or(implementation.as_str(), |(_, isa)| isa)
        .to_string();
    let mds = fields.get(exec + 5).copied().unwrap_or("");
    let src_dtype = mds
        .split_whitespace()
        .find_map(|md| {
            let rest = md.strip_prefix("src")?;
            let rest = rest.trim_start_matches([':', '_']);
            Some(rest.split([':', '_']).next().unwrap_or("").to_string())
        })
        .unwrap_or_default();
    // The problem (shapes) is the next to last field; the last is the time.
    let problem = fields.get(fields.len().checked_sub(2)?)?.to_string();
    let ms = fields.last()?.trim().parse::<f64>().unwrap_or(0.0);
    Some((
        Kernel {
            kind,
            implementation,
            isa,
            src_dtype,
        },
        problem,
        ms,
    ))
}

/// Per compute kind (convolution, inner_product, matmul): how many distinct
/// primitives ran on each ISA, e.g. ("convolution", [("avx512_core_amx", 20),
/// ("avx512_core", 1)]).
pub fn isa_by_kind(kernels: &[(Kernel, usize)]) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (k, _) in kernels {
        if matches!(
            k.kind.as_str(),
            "convolution" | "inner_product" | "matmul" | "deconvolution"
        ) {
            *out.entry(k.kind.clone())
                .or_default()
                .entry(k.isa.clone())
                .or_default() += 1;
        }
    }
    out
}

/// The sentences a user asks for: whether AMX ran (where the CPU has it),
/// and whether bf16 ran without native bf16 instructions.
pub fn verdicts(
    kernels: &[(Kernel, usize)],
    host_has_amx: bool,
    host_isa_level: &str,
    bf16_config: bool,
) -> Vec<String> {
    let by_kind = isa_by_kind(kernels);
    let mut out = Vec::new();
    for (kind, isas) in &by_kind {
        let total: usize = isas.values().sum();
        let amx: usize = isas
            .iter()
            .filter(|(isa, _)| isa.contains("amx"))
            .map(|(_, n)| n)
            .sum();
        if host_has_amx {
            out.push(format!("AMX used for {amx} of {total} {kind} primitive(s)"));
        }
    }
    if !host_has_amx {
        out.push(format!(
            "no AMX on this CPU (ISA level {host_isa_level}): compute kernels ran on {}",
            by_kind
                .values()
                .flat_map(|isas| isas.keys().cloned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if bf16_config {
        let bf16_kernels: Vec<&Kernel> = kernels
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.src_dtype == "bf16")
            .collect();
        let native = bf16_kernels
            .iter()
            .filter(|k| k.isa.contains("bf16") || k.isa.contains("amx"))
            .count();
        if bf16_kernels.is_empty() {
            out.push("bf16 config, but no oneDNN kernel took bf16 inputs".into());
        } else if native == 0 {
            out.push(format!(
                "bf16 emulated: none of the {} bf16 kernel(s) used native bf16 instructions",
                bf16_kernels.len()
            ));
        } else {
            out.push(format!(
                "{native} of {} bf16 kernel(s) used native bf16 instructions",
                bf16_kernels.len()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_lines_give_kind_implementation_isa_and_dtype() {
        let v3 = "onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core_amx,forward_inference,src:u8::blocked:acdb::f0 wei:s8:p:blocked:AcdB64a4b::f0 dst:u8::blocked:acdb::f0,attr-scales:src0:0:f32,alg:convolution_direct,mb1_ic64oc64_ih56oh56kh3sh1dh0ph1_iw56ow56kw3sw1dw0pw1,0.0461";
        let old = "onednn_verbose,exec,cpu,inner_product,gemm:jit,forward_inference,src_f32::blocked:ab:f0 wei_f32::blocked:ab:f0,,,mb4ic512oc512,0.02";
        let lines = vec![v3.to_string(), v3.to_string(), old.to_string()];
        let k = kernels(&lines);
        assert_eq!(k.len(), 2);
        let conv = k.iter().find(|(k, _)| k.kind == "convolution").unwrap();
        assert_eq!(conv.0.isa, "avx512_core_amx");
        assert_eq!(conv.0.src_dtype, "u8");
        assert_eq!(conv.1, 2, "ran twice");
        let ip = k.iter().find(|(k, _)| k.kind == "inner_product").unwrap();
        assert_eq!((ip.0.isa.as_str(), ip.0.src_dtype.as_str()), ("jit", "f32"));
        let said = verdicts(&k, true, "AMX", false);
        assert!(said.contains(&"AMX used for 1 of 1 convolution primitive(s)".to_string()));
        assert!(said.contains(&"AMX used for 0 of 1 inner_product primitive(s)".to_string()));
        let said = verdicts(&k, false, "AVX2", true);
        assert!(
            said[0].starts_with("no AMX on this CPU (ISA level AVX2)"),
            "{said:?}"
        );
        assert_eq!(
            said[1],
            "bf16 config, but no oneDNN kernel took bf16 inputs"
        );
    }

    #[test]
    fn kinds_add_up_per_call() {
        let op = |name: &str, calls, ms| ProfiledOp {
            name: name.into(),
            shapes: vec![],
            dtypes: vec![],
            out_shapes: vec![],
            calls,
            total_ms: ms,
        };
        let profile = OpProfile {
            rounds: 2,
            calls: 4,
            wall_ms: 10.0,
            ops: vec![
                op("aten::linear", 8, 6.0),
                op("aten::linear", 4, 1.0),
                op("aten::relu", 8, 1.0),
            ],
            nodes: vec![],
            nodes_wall_ms: 0.0,
        };
        let kinds = by_kind(&profile);
        assert_eq!(kinds[0].kind, "aten::linear");
        assert_eq!(kinds[0].calls_per_call, 3.0);
        assert!((kinds[0].ms_per_call - 1.75).abs() < 1e-12);
        assert!((kinds[0].share - 7.0 / 8.0).abs() < 1e-12);
        assert_eq!(coverage(&profile), (2.0, 2.5));
        // Node rounds, when present, decide both.
        let nodes = OpProfile {
            nodes: vec![
                op("prim::mkldnn_convolution#3", 4, 6.0),
                op("aten::relu_#4", 4, 2.0),
            ],
            nodes_wall_ms: 9.0,
            ..profile
        };
        assert_eq!(by_kind(&nodes)[0].kind, "prim::mkldnn_convolution");
        assert_eq!(coverage(&nodes), (2.0, 2.25));
    }
}
