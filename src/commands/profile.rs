//! `ipex-tune profile MODEL --suite S [--config LABEL]`: where one config's
//! time goes. Two children: the first measures the config as `run` does,
//! then times every graph op over `--rounds` rounds (after the timed loop,
//! so the profiler never touches the measured figures); the second runs
//! a few calls with oneDNN's verbose log on, to name the kernels and the
//! ISA that really ran.
use std::time::Duration;

use serde::Serialize;

use crate::cli::ProfileArgs;
use crate::config::{Config, Dtype};
use crate::error::{exit_code, UserError};
use crate::measure::profile::{self, KernelUse, KindTime, OpProfile, ProfiledOp};
use crate::measure::roofs::{self, Roofs};
use crate::record::Status;
use crate::trial;
use crate::tune::{
    make_plan,
    session::{plain_spec, trial_options},
};

#[derive(Serialize)]
struct ProfileReport {
    model: String,
    suite: String,
    config: String,
    isa_level: Option<String>,
    /// The timed loop (profiler off): median and mean ms per call.
    median_ms: f64,
    mean_ms: f64,
    samples_per_s: f64,
    /// The ops' time per call and the profiled calls' wall time per call.
    ops_ms_per_call: f64,
    profiled_ms_per_call: f64,
    by_kind: Vec<KindTime>,
    profile: OpProfile,
    kernels: Vec<KernelUse>,
    verdicts: Vec<String>,
    /// The host's roofs, measured on the run's cores.
    roofs: Roofs,
    /// The compute ops against the roofs (dispatcher view, which has shapes).
    roofline: Vec<RooflineOp>,
    /// GFLOP per model call of the ops whose FLOPs are known, and the rate
    /// over all the ops' time; null when the compute ops' sizes are not
    /// visible (JIT-internal ops, packed quantized weights).
    model_gflop_per_call: Option<f64>,
    model_gflops: Option<f64>,
    model_share_of_peak: Option<f64>,
}

/// One compute op on the roofline.
#[derive(Serialize)]
struct RooflineOp {
    name: String,
    shapes: Vec<Vec<i64>>,
    dtype: &'static str,
    gflop_per_call: f64,
    gflops: f64,
    /// FLOPs per byte of inputs and outputs (4 or 2 bytes a value by dtype).
    intensity: f64,
    /// min(peak of its dtype, intensity x triad bandwidth).
    attainable_gflops: f64,
    share_of_attainable: f64,
}

pub fn run(args: &ProfileArgs) -> anyhow::Result<i32> {
    let config: Config = match &args.config {
        Some(label) => label
            .parse()
            .map_err(|e: crate::config::LabelError| UserError::BadValue(e.to_string()))?,
        None => Config::stock(),
    };
    // Instances are independent copies: one of them shows where the time
    // goes (with the threads each has).
    let mut config = config;
    if config.instances > 1 {
        eprintln!(
            "profile: {} runs {} independent instances; profiling one of them",
            config.label(),
            config.instances
        );
        config.instances = 1;
    }
    let planned = make_plan(&args.target.target(), None)?;
    let _cores = super::lock_cores(&planned.cpus, &args.lock)?;
    let scratch = tempfile::tempdir()?;
    let limit = Duration::from_secs_f64(120.0 + 20.0 * planned.suite.measure.min_time_s);
    let mut options = trial_options(&planned, false);
    options.profile_rounds = args.rounds;
    let spec = |options| plain_spec(&planned, config.clone(), options);
    eprintln!(
        "profile: measuring {} and timing every op ...",
        config.label()
    );
    let measured = trial::spawn(&spec(options.clone()), scratch.path(), limit);
    let output = match (measured.status, measured.output) {
        (Status::Ok, Some(output)) => output,
        (status, _) => {
            anyhow::bail!(
                "{}: the config did not run ({}: {})",
                config.label(),
                status.name(),
                measured.reason.unwrap_or_default()
            )
        }
    };
    let op_profile = output
        .profile
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the child returned no op profile"))?;
    eprintln!("profile: listing the oneDNN kernels that ran ...");
    let mut verbose = options.clone();
    verbose.profile_rounds = 0;
    verbose.onednn_verbose = true;
    verbose.min_time_s = 0.0;
    verbose.min_iters = 1;
    let listed = trial::spawn(&spec(verbose), scratch.path(), limit);
    let kernels = profile::kernels(&listed.onednn_exec);
    let host = planned.host.as_ref();
    let verdicts = profile::verdicts(
        &kernels,
        host.is_some_and(|h| h.isa.amx_bf16 || h.isa.amx_int8),
        host.map_or("unknown", |h| h.isa_level.as_str()),
        matches!(config.dtype, Dtype::Bf16 | Dtype::Bf16Autocast),
    );
    eprintln!("profile: measuring this host's roofs (GEMM per dtype, STREAM triad) ...");
    let roofs = roofs::measure(planned.cpus.len().max(1));
    let (roofline, model) = roofline(&op_profile, &roofs);
    let (ops_ms_per_call, profiled_ms_per_call) = profile::coverage(&op_profile);
    let report = ProfileReport {
        model: planned.model.path.clone(),
        suite: planned.suite.name.clone(),
        config: config.label(),
        isa_level: host.map(|h| h.isa_level.clone()),
        median_ms: output.stats.median_ms,
        mean_ms: output.stats.mean_ms,
        samples_per_s: output.stats.samples_per_s,
        ops_ms_per_call,
        profiled_ms_per_call,
        by_kind: profile::by_kind(&op_profile),
        profile: op_profile,
        kernels: profile::kernel_uses(&kernels, &profile::kernel_ms(&listed.onednn_exec)),
        verdicts,
        roofs,
        roofline,
        model_gflop_per_call: model.map(|m| m.0),
        model_gflops: model.map(|m| m.1),
        model_share_of_peak: model.map(|m| m.2),
    };
    if args.json {
        super::json::print(super::json::schema::PROFILE, &report)?;
    } else {
        print!("{}", render(&report, args.top));
    }
    Ok(exit_code::OK)
}

/// The compute ops against the roofs, and the model's (GFLOP per call,
/// GFLOP/s over the ops' time, share of the fp32 peak) when the dispatcher
/// saw the compute ops (their FLOPs need their shapes).
fn roofline(p: &OpProfile, roofs: &Roofs) -> (Vec<RooflineOp>, Option<(f64, f64, f64)>) {
    let calls = p.calls.max(1) as f64;
    let bytes_per_value = |dtype: &str| match dtype {
        "bf16" => 2.0,
        "int8" => 1.0,
        _ => 4.0,
    };
    let mut ops: Vec<RooflineOp> = p
        .ops
        .iter()
        .filter_map(|op: &ProfiledOp| {
            let flops = profile::flops(op)?;
            let dtype = profile::roof_dtype(op);
            let values: f64 = op
                .shapes
                .iter()
                .chain(&op.out_shapes)
                .map(|s| s.iter().product::<i64>() as f64)
                .sum();
            let intensity = flops / (values * bytes_per_value(dtype)).max(1.0);
            let seconds = op.total_ms / op.calls.max(1) as f64 * 1e-3;
            let gflops = flops / seconds.max(1e-12) / 1e9;
            let peak = roofs
                .gemm_gflops
                .get(dtype)
                .copied()
                .unwrap_or(f64::INFINITY);
            let attainable = peak.min(intensity * roofs.triad_gb_s);
            Some(RooflineOp {
                name: op.name.clone(),
                shapes: op.shapes.clone(),
                dtype,
                gflop_per_call: flops * op.calls as f64 / calls / 1e9,
                gflops,
                intensity,
                attainable_gflops: attainable,
                share_of_attainable: gflops / attainable,
            })
        })
        .collect();
    ops.sort_by(|a, b| b.gflop_per_call.total_cmp(&a.gflop_per_call));
    let total_ops_ms: f64 = p.ops.iter().map(|o| o.total_ms).sum();
    // Only when the dispatcher saw (nearly) all of the calls' time and
    // sized most of it: else compute ops are missing from the count.
    let sized_ms: f64 = p
        .ops
        .iter()
        .filter(|o| profile::flops(o).is_some())
        .map(|o| o.total_ms)
        .sum();
    let model = (total_ops_ms >= 0.9 * p.wall_ms && sized_ms >= 0.5 * total_ops_ms).then(|| {
        let gflop: f64 = ops.iter().map(|o| o.gflop_per_call).sum();
        let rate = gflop / (total_ops_ms / calls * 1e-3);
        let peak = roofs
            .gemm_gflops
            .get("fp32")
            .copied()
            .unwrap_or(f64::INFINITY);
        (gflop, rate, rate / peak)
    });
    (ops, model)
}

/// "8x64x56x56, 64x32x3x3": tensor sizes as a table shows them.
fn shapes_text(shapes: &[Vec<i64>]) -> String {
    shapes
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn render(r: &ProfileReport, top: usize) -> String {
    use comfy_table::{Cell, CellAlignment};
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    let mut out = format!(
        "Profile of {} on {} with suite {} (ISA level {})\n",
        r.config,
        r.model,
        r.suite,
        r.isa_level.as_deref().unwrap_or("unknown")
    );
    out += &format!(
        "timed loop: median {:.3} ms, mean {:.3} ms per call, {:.1} samples/s\n",
        r.median_ms, r.mean_ms, r.samples_per_s
    );
    out += &format!(
        "ops: {:.3} ms per call = {:.0}% of the profiled calls' {:.3} ms ({:.0}% of the timed mean); the rest is the interpreter and glue\n",
        r.ops_ms_per_call,
        100.0 * r.ops_ms_per_call / r.profiled_ms_per_call.max(1e-12),
        r.profiled_ms_per_call,
        100.0 * r.ops_ms_per_call / r.mean_ms.max(1e-12)
    );
    let mut kinds = crate::term::table();
    kinds.set_header(vec!["op kind", "calls/call", "ms/call", "share"]);
    for k in &r.by_kind {
        kinds.add_row(vec![
            Cell::new(&k.kind),
            right(format!("{:.1}", k.calls_per_call)),
            right(format!("{:.4}", k.ms_per_call)),
            right(format!("{:.1}%", 100.0 * k.share)),
        ]);
    }
    out += &format!("{kinds}\n");
    let calls = r.profile.calls.max(1) as f64;
    if !r.profile.nodes.is_empty() {
        // Every node of the optimized graph, JIT-internal ops included.
        let total: f64 = r
            .profile
            .nodes
            .iter()
            .map(|o| o.total_ms)
            .sum::<f64>()
            .max(1e-12);
        let mut nodes: Vec<_> = r.profile.nodes.iter().collect();
        nodes.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        let mut table = crate::term::table();
        table.set_header(vec!["graph node", "calls/call", "ms/call", "share"]);
        for node in nodes.iter().take(top) {
            table.add_row(vec![
                Cell::new(&node.name),
                right(format!("{:.1}", node.calls as f64 / calls)),
                right(format!("{:.4}", node.total_ms / calls)),
                right(format!("{:.1}%", 100.0 * node.total_ms / total)),
            ]);
        }
        out += &format!("{table}\n");
    }
    let total: f64 = r
        .profile
        .ops
        .iter()
        .map(|o| o.total_ms)
        .sum::<f64>()
        .max(1e-12);
    let mut nodes: Vec<_> = r.profile.ops.iter().collect();
    nodes.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    let mut table = crate::term::table();
    table.set_header(vec![
        "op",
        "input shapes",
        "dtypes",
        "calls/call",
        "ms/call",
        "share",
    ]);
    for op in nodes.iter().take(top) {
        table.add_row(vec![
            Cell::new(&op.name),
            Cell::new(shapes_text(&op.shapes)),
            Cell::new(op.dtypes.join(",")),
            right(format!("{:.1}", op.calls as f64 / calls)),
            right(format!("{:.4}", op.total_ms / calls)),
            right(format!("{:.1}%", 100.0 * op.total_ms / total)),
        ]);
    }
    out += &format!("{table}\n");
    if nodes.len() > top {
        out += &format!(
            "({} more op/shape rows: --top N or --json)\n",
            nodes.len() - top
        );
    }
    if r.kernels.is_empty() {
        out += "oneDNN kernels: none ran (this config uses no oneDNN primitive)\n";
    } else {
        let mut kernels = crate::term::table();
        kernels.set_header(vec![
            "oneDNN primitive",
            "implementation",
            "ISA",
            "src dtype",
            "primitives",
            "runs",
            "ms/run (oneDNN)",
        ]);
        for k in &r.kernels {
            kernels.add_row(vec![
                Cell::new(&k.kernel.kind),
                Cell::new(&k.kernel.implementation),
                Cell::new(&k.kernel.isa),
                Cell::new(&k.kernel.src_dtype),
                right(k.primitives.to_string()),
                right(k.executions.to_string()),
                right(format!("{:.4}", k.ms_per_run)),
            ]);
        }
        out += &format!("{kernels}\n");
    }
    for v in &r.verdicts {
        out += &format!("{v}\n");
    }
    let roof = |d: &str| {
        r.roofs
            .gemm_gflops
            .get(d)
            .map_or("n/a".to_string(), |g| format!("{g:.1}"))
    };
    out += &format!(
        "roofs ({} threads, measured): GEMM fp32 {} GFLOP/s, bf16 {} GFLOP/s, int8 {} GOP/s; STREAM triad {:.1} GB/s\n",
        r.roofs.threads,
        roof("fp32"),
        roof("bf16"),
        roof("int8"),
        r.roofs.triad_gb_s
    );
    if !r.roofline.is_empty() {
        let mut table = crate::term::table();
        table.set_header(vec![
            "compute op",
            "input shapes",
            "dtype",
            "GFLOP/call",
            "GFLOP/s",
            "FLOP/byte",
            "roof GFLOP/s",
            "of roof",
        ]);
        for op in r.roofline.iter().take(top) {
            table.add_row(vec![
                Cell::new(&op.name),
                Cell::new(shapes_text(&op.shapes)),
                Cell::new(op.dtype),
                right(format!("{:.4}", op.gflop_per_call)),
                right(format!("{:.1}", op.gflops)),
                right(format!("{:.1}", op.intensity)),
                right(format!("{:.1}", op.attainable_gflops)),
                right(format!("{:.0}%", 100.0 * op.share_of_attainable)),
            ]);
        }
        out += &format!("{table}\n");
    }
    match (r.model_gflop_per_call, r.model_gflops, r.model_share_of_peak) {
        (Some(g), Some(rate), Some(share)) => {
            out += &format!(
                "model: {g:.3} GFLOP per call at {rate:.1} GFLOP/s over the ops' time = {:.0}% of the fp32 GEMM roof\n",
                100.0 * share
            )
        }
        _ => {
            out += "model: FLOPs not counted: the compute ops run outside the dispatcher (JIT-internal ops) or take packed weights the profiler cannot size (quantized ops); see the per-node times\n"
        }
    }
    out
}
