//! A profile on the terminal: the timed loop, the ops by kind, graph node
//! and shape, the oneDNN kernels with their ISA, the verdicts, and the
//! roofline figures.
use crate::measure::profile::ProfileRecord;

/// "8x64x56x56, 64x32x3x3": tensor sizes as a table shows them.
pub fn shapes_text(shapes: &[Vec<i64>]) -> String {
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

/// The terminal view of a profile of `model` on `suite`: the top `top` rows of each table.
pub fn render(r: &ProfileRecord, model: &str, suite: &str, top: usize) -> String {
    use comfy_table::{Cell, CellAlignment};
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    let mut out = format!(
        "Profile of {} on {} with suite {} (ISA level {})\n",
        r.config,
        model,
        suite,
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
            .peak_gflops
            .get(d)
            .map_or("n/a".to_string(), |g| format!("{g:.1}"))
    };
    out += &format!(
        "roofs ({} threads, measured): compute peak fp32 {} GFLOP/s, bf16 {} GFLOP/s, int8 {} GOP/s; STREAM triad {:.1} GB/s\n",
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
                Cell::new(&op.dtype),
                right(format!("{:.4}", op.gflop_per_call)),
                right(format!("{:.1}", op.gflops)),
                right(format!("{:.1}", op.intensity)),
                right(format!("{:.1}", op.attainable_gflops)),
                right(format!("{:.0}%", 100.0 * op.share_of_attainable)),
            ]);
        }
        out += &format!("{table}\n");
    }
    match &r.model {
        Some(m) => {
            out += &format!(
                "model: {:.3} GFLOP per call (counted on {}), {:.1} FLOP/byte, at {:.1} GFLOP/s over the timed mean = {:.0}% of the {} compute roof ({:.1})\n",
                m.gflop_per_call,
                m.flops_from,
                m.intensity,
                m.gflops,
                100.0 * m.share_of_peak,
                m.dtype,
                m.peak_gflops
            )
        }
        None => {
            out += "model: FLOPs not counted (no roof for this dtype here, or stock's compute ops could not be sized)\n"
        }
    }
    out
}
