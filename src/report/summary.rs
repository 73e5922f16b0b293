//! The terminal summary of a run: one row per trial, then the winner.
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment};

use crate::measure::shapes::rate_ratio;
use crate::record::{Results, Status, TrialRecord};
use crate::term::Tone;

fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

/// How a trial's accuracy reads in the table.
fn accuracy_cell(trial: &TrialRecord) -> String {
    let cell = match (&trial.accuracy, trial.accurate) {
        (Some(a), Some(true)) => format!("ok (max|d| {:.1e})", a.max_abs),
        (Some(a), Some(false)) => format!("OUT (max|d| {:.1e})", a.max_abs),
        _ if trial.status == Status::Ok => "reference".to_string(),
        _ => String::new(),
    };
    match trial.task_top1 {
        Some(top1) => format!("{cell} top-1 {:.1}%", top1 * 100.0),
        None => cell,
    }
}

/// "ok", or the status and why.
fn status_cell(trial: &TrialRecord) -> String {
    match trial.status {
        Status::Ok => "ok".to_string(),
        other => format!(
            "{}: {}",
            other.name(),
            trial.reason.as_deref().unwrap_or("")
        ),
    }
}

/// "3.81x (3.62-4.01)": a speedup and its 95% interval.
pub fn speedup_text(speedup: Option<f64>, ci95: Option<(f64, f64)>) -> String {
    match (speedup, ci95) {
        (Some(s), Some((lo, hi))) => format!("{s:.2}x ({lo:.2}-{hi:.2})"),
        (Some(s), None) => format!("{s:.2}x"),
        _ => String::new(),
    }
}

fn row(trial: &TrialRecord, winner: bool) -> Vec<Cell> {
    let stat = |f: &dyn Fn(&crate::measure::stats::LatencyStats) -> String| {
        right(trial.stats.as_ref().map(f).unwrap_or_default())
    };
    vec![
        Cell::new(format!("{}{}", trial.id, if winner { "*" } else { "" })),
        crate::term::cell(&trial.label, winner.then_some(Tone::Strong)),
        stat(&|s| format!("{:.1}", s.samples_per_s)),
        stat(&|s| format!("{:.2}", s.median_ms)),
        stat(&|s| format!("{:.2}", s.p99_ms)),
        right(if trial.peak_rss_bytes > 0 {
            format!("{} MiB", trial.peak_rss_bytes >> 20)
        } else {
            String::new()
        }),
        crate::term::cell(
            accuracy_cell(trial),
            (trial.accurate == Some(false)).then_some(Tone::Warn),
        ),
        right(speedup_text(trial.speedup, trial.speedup_ci95)),
        crate::term::cell(
            status_cell(trial),
            Some(if trial.status == Status::Ok {
                Tone::Pass
            } else {
                Tone::Fail
            }),
        ),
    ]
}

/// The table: config, samples/s, p50, p99, peak RSS, accuracy, speedup,
/// status; then the winner and the run's warnings.
pub fn render(results: &Results) -> String {
    let mut t = crate::term::table();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "#",
        "config",
        "samples/s",
        "p50 ms",
        "p99 ms",
        "peak RSS",
        "accuracy",
        "vs stock",
        "status",
    ]);
    for trial in &results.trials {
        let winner = results.winner.as_ref().is_some_and(|w| w.trial == trial.id);
        t.add_row(row(trial, winner));
    }
    let mut out = format!("{t}\n");
    out += &per_shape_table(results);
    out += &format!("objective: {}\n", results.objective.describe());
    match &results.winner {
        Some(w) => {
            let latency = match results.objective {
                crate::record::Objective::Latency { .. } => results
                    .trials
                    .iter()
                    .find(|t| t.id == w.trial)
                    .map(|t| format!("{}, ", results.objective.figure(t)))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            out += &format!(
                "winner: #{} {}  {latency}{:.1} samples/s, {} stock\n",
                w.trial,
                crate::term::for_stdout().strong(&w.label),
                w.samples_per_s,
                speedup_text(Some(w.speedup), w.speedup_ci95)
            );
            if let Some(tie) = &w.tie {
                out += &format!(
                    "tie: #{} {} and #{} {} are not apart beyond noise ({:.2}x, 95% CI {:.2}-{:.2}); either will do\n",
                    w.trial, w.label, tie.trial, tie.label, tie.ratio, tie.ci95.0, tie.ci95.1
                );
            }
        }
        None => {
            out += match results.objective {
                crate::record::Objective::MaxLatency { .. } => {
                    "winner: none (no accurate trial kept p99 within the limit)\n"
                }
                _ => "winner: none (no accurate trial finished)\n",
            }
        }
    }
    for line in expert_lines(results) {
        out += &format!("{line}\n");
    }
    if let Some(text) = playoff_text(results) {
        out += &format!("playoff: {text}\n");
    }
    if !results.model.assigned_attributes.is_empty() {
        out += &format!(
            "stateful model: `{}` assigns {} between calls; every trial's outputs were compared from the state it loaded with\n",
            results.model.method,
            results.model.assigned_attributes.join(", ")
        );
    }
    if let Some(text) = migration_text(results) {
        out += &format!("IPEX vs Inductor: {text}\n");
    }
    for f in &results.stopped_families {
        out += &format!(
            "family {} stopped after {} trials failed the same way: {}\n",
            f.family,
            f.trials.len(),
            f.reason
        );
    }
    for fallback in &results.int8_fallbacks {
        out += &match &fallback.kept_fp32 {
            Some(layers) => format!(
                "int8 fallback: {} missed the tolerance; accurate with {} kept in fp32 ({} tried)\n",
                fallback.config,
                layers.join(", "),
                fallback.tried.len()
            ),
            None => format!(
                "int8 fallback: {} missed the tolerance; no accurate mix of int8 and fp32 layers found ({} tried{})\n",
                fallback.config,
                fallback.tried.len(),
                fallback.problem.as_ref().map(|p| format!("; {p}")).unwrap_or_default()
            ),
        };
    }
    out += &deploy_text(results);
    for line in profile_lines(results) {
        out += &format!("{line}\n");
    }
    out += &fleet_lines(results);
    for warning in &results.warnings {
        out += &format!("warning: {warning}\n");
    }
    out
}

/// The playoff in one line: how many finalists, how often measured, and
/// the median each is ranked by, best first.
pub fn playoff_text(results: &Results) -> Option<String> {
    let p = results.playoff.as_ref()?;
    let mut finalists: Vec<&crate::record::Finalist> = p.finalists.iter().collect();
    finalists.sort_by(|a, b| b.median_samples_per_s.total_cmp(&a.median_samples_per_s));
    let medians: Vec<String> = finalists
        .iter()
        .map(|f| {
            let n = f.samples_per_s.len();
            format!(
                "{} {:.1} ({n} measurement{})",
                f.label,
                f.median_samples_per_s,
                if n == 1 { "" } else { "s" }
            )
        })
        .collect();
    if p.rounds == 0 {
        return Some(format!(
            "not run ({}): the {} configs within {:.0}% of the best stand on one measurement each",
            p.cut_short.as_deref().unwrap_or("no round fitted"),
            p.finalists.len(),
            p.margin * 100.0
        ));
    }
    Some(format!(
        "the {} configs within {:.0}% of the best measured again in turn ({} round(s){}); ranked by their median samples/s: {}",
        p.finalists.len(),
        p.margin * 100.0,
        p.rounds,
        p.cut_short
            .as_ref()
            .map(|why| format!(", cut short by {why}"))
            .unwrap_or_default(),
        medians.join(", ")
    ))
}

/// The IPEX-vs-Inductor answer: the verdict, and each backend's best
/// trial with its accuracy (and Inductor's compile time).
pub fn migration_text(results: &Results) -> Option<String> {
    let m = results.migration.as_ref()?;
    let side = |name: &str, b: &Option<crate::record::BackendBest>| match b {
        Some(b) => {
            let cosine = b
                .min_cosine
                .map_or(String::new(), |c| format!(", cosine {c:.5}"));
            let compile = b
                .compile_s
                .map_or(String::new(), |s| format!(", compiled in {s:.0} s"));
            format!(
                "{name} #{} {} {:.1} samples/s{cosine}{compile}",
                b.trial, b.label, b.samples_per_s
            )
        }
        None => format!("{name}: none accurate"),
    };
    Some(format!(
        "{} [{}; {}]",
        m.verdict,
        side("IPEX", &m.ipex),
        side("Inductor", &m.inductor)
    ))
}

/// The winner against the expert's best recipe: "1.08x (1.02-1.15)
/// the best expert recipe (ipex int8, 2 instances x 1 core: #5, 233.0
/// samples/s)". None when the run measured no recipe.
pub fn expert_text(results: &Results) -> Option<String> {
    let expert = results.expert.as_ref()?;
    let Some(best) = &expert.best else {
        return Some("no expert recipe ran accurately here".to_string());
    };
    let of = format!(
        "{}, {}: #{} {:.1} samples/s",
        best.recipe, best.layout, best.trial, best.samples_per_s
    );
    let winner = results.winner.as_ref()?;
    Some(if winner.trial == best.trial {
        format!("the winner is the expert's recipe ({of}): nothing the search found beat it")
    } else {
        format!(
            "{} the best expert recipe ({of})",
            speedup_text(expert.winner_ratio, expert.winner_ratio_ci95)
        )
    })
}

/// The expert lines of the terminal summary: the winner against the best
/// recipe, and each recipe that was not measured, with why.
pub fn expert_lines(results: &Results) -> Vec<String> {
    let Some(expert) = &results.expert else {
        return Vec::new();
    };
    let mut lines: Vec<String> = expert_text(results)
        .map(|t| format!("vs expert: {t}"))
        .into_iter()
        .collect();
    for r in expert.recipes.iter().filter(|r| r.skipped.is_some()) {
        lines.push(format!(
            "  expert recipe {} ({}) not measured: {}",
            r.recipe,
            r.layout,
            r.skipped.as_deref().unwrap_or("")
        ));
    }
    lines
}

/// The profile's headlines (`run --profile`): the top op kinds, the
/// kernels' verdicts, the model against its roof.
pub fn profile_lines(results: &Results) -> Vec<String> {
    let Some(p) = &results.profile else {
        return Vec::new();
    };
    let kinds = p
        .by_kind
        .iter()
        .take(3)
        .map(|k| format!("{} {:.0}%", k.kind, 100.0 * k.share))
        .collect::<Vec<_>>()
        .join(", ");
    let mut lines = vec![format!("profile of {}: {kinds}", p.config)];
    lines.extend(p.verdicts.iter().map(|v| format!("  {v}")));
    if let Some(m) = &p.model {
        lines.push(format!(
            "  model: {:.1} GFLOP/s = {:.0}% of this host's measured {} peak ({:.1} GFLOP/s)",
            m.gflops,
            100.0 * m.share_of_peak,
            m.dtype,
            m.peak_gflops
        ));
    }
    lines
}

/// Where a run's candidates came from when it was sharded or merged: the
/// shard, or the merged files and, across host types, the table host type
/// x winner.
pub fn fleet_lines(results: &Results) -> String {
    if let Some(shard) = &results.shard {
        return format!(
            "shard {} (from {}): this file holds its part of the candidates; `ipex-tune merge` combines the shards\n",
            shard.label(),
            shard.source
        );
    }
    let Some(m) = &results.merged else {
        return String::new();
    };
    let mut out = format!(
        "merged from {} file(s) of {} shard(s){}\n",
        m.files.len(),
        m.shard_count,
        if m.missing_shards.is_empty() {
            String::new()
        } else {
            format!(
                "; missing: {}",
                m.missing_shards
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    if m.host_types.len() > 1 {
        out += &fleet_table(&m.host_types);
    }
    out
}

/// The table host type x winner of a merge.
pub fn fleet_table(rows: &[crate::record::fleet::HostTypeWinner]) -> String {
    let mut table = crate::term::table();
    table.set_header(vec![
        "host type",
        "files",
        "winner",
        "samples/s",
        "vs stock",
        "merged results",
    ]);
    for r in rows {
        table.add_row(vec![
            r.host.clone(),
            r.files.to_string(),
            r.winner.clone().unwrap_or_else(|| "none".into()),
            r.samples_per_s.map_or(String::new(), |s| format!("{s:.1}")),
            r.speedup.map_or(String::new(), |s| format!("{s:.2}x")),
            r.output.clone(),
        ]);
    }
    format!("{table}\n")
}

/// The deploy block, as lines for people.
pub fn deploy_text(results: &Results) -> String {
    let Some(d) = &results.deploy else {
        return String::new();
    };
    let mut out = format!("deploy {}:\n", d.config);
    if !d.env.is_empty() {
        let env: Vec<String> = d.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out += &format!("  env: {}\n", env.join(" "));
    }
    for (i, line) in d.launch.iter().enumerate() {
        out += &format!("  instance {}: {line}\n", i + 1);
    }
    out += &format!("  IPEX launcher: {}\n", d.ipex_launcher);
    if let Some(path) = &d.saved_module {
        out += &format!("  optimized module: {path}\n");
    }
    for note in &d.notes {
        out += &format!("  note: {note}\n");
    }
    out
}

/// One input shape, stock against the winner: samples/s, p50 and p99
/// (stock's `None` when stock did not run that shape), and the speedup.
pub struct ShapeRow {
    pub shape: String,
    pub stock: Option<(f64, f64, f64)>,
    pub winner: (f64, f64, f64),
    pub speedup: String,
}

/// Stock and the winner shape by shape, when the suite has several shapes
/// (over all shapes, p50 and p99 mix them).
pub fn shape_rows(results: &Results) -> Vec<ShapeRow> {
    // The stock measurement the speedups divide by.
    let stock = results
        .reference
        .as_ref()
        .and_then(|r| results.trials.get(r.stock_trial))
        .or(results.trials.first());
    let (Some(stock), Some(winner)) = (
        stock,
        results
            .winner
            .as_ref()
            .and_then(|w| results.trials.iter().find(|t| t.id == w.trial)),
    ) else {
        return Vec::new();
    };
    if winner.per_shape.len() < 2 {
        return Vec::new();
    }
    let figures = |s: &crate::measure::shapes::ShapeStats| {
        (s.stats.samples_per_s, s.stats.median_ms, s.stats.p99_ms)
    };
    winner
        .per_shape
        .iter()
        .map(|shape| {
            let base = stock.per_shape.iter().find(|s| s.shape == shape.shape);
            let ratio =
                base.and_then(|b| rate_ratio(std::slice::from_ref(b), std::slice::from_ref(shape)));
            ShapeRow {
                shape: shape.shape.clone(),
                stock: base.map(figures),
                winner: figures(shape),
                speedup: speedup_text(ratio.map(|r| r.0), ratio.map(|r| r.1)),
            }
        })
        .collect()
}

/// "a -> b" with `digits` decimals.
pub fn pair(stock: Option<f64>, winner: f64, digits: usize) -> String {
    match stock {
        Some(a) => format!("{a:.digits$} -> {winner:.digits$}"),
        None => format!("- -> {winner:.digits$}"),
    }
}

fn per_shape_table(results: &Results) -> String {
    let rows = shape_rows(results);
    if rows.is_empty() {
        return String::new();
    }
    let mut t = crate::term::table();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "shape",
        "samples/s stock -> winner",
        "p50 ms",
        "p99 ms",
        "speedup",
    ]);
    for r in rows {
        t.add_row(vec![
            Cell::new(&r.shape),
            right(pair(r.stock.map(|s| s.0), r.winner.0, 1)),
            right(pair(r.stock.map(|s| s.1), r.winner.1, 2)),
            right(pair(r.stock.map(|s| s.2), r.winner.2, 2)),
            right(r.speedup),
        ]);
    }
    format!("per shape, stock -> winner:\n{t}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Finalist, Playoff};

    fn with_playoff(rounds: usize, cut_short: Option<&str>) -> Results {
        let mut results: Results = serde_json::from_str(include_str!(
            "../../tests/fixtures/results/cnn-cv-epyc-avx2.json"
        ))
        .unwrap();
        let finalist = |label: &str, figures: &[f64]| Finalist {
            label: label.into(),
            trials: (1..=figures.len()).collect(),
            samples_per_s: figures.to_vec(),
            median_samples_per_s: figures[(figures.len() - 1) / 2],
        };
        results.playoff = Some(Playoff {
            margin: 0.1,
            rounds,
            finalists: vec![
                finalist("ipex/O1+prepack/int8-static/t1/i2/jemalloc", &[99.0]),
                finalist("ipex/O1+prepack/int8-static+s8/t1/i2/jemalloc", &[103.0]),
            ],
            cut_short: cut_short.map(String::from),
        });
        results
    }

    #[test]
    fn the_playoff_line_ranks_the_finalists_by_their_median() {
        assert_eq!(
            playoff_text(&with_playoff(1, Some("the budget"))).unwrap(),
            "the 2 configs within 10% of the best measured again in turn (1 round(s), cut short by the budget); ranked by their median samples/s: ipex/O1+prepack/int8-static+s8/t1/i2/jemalloc 103.0 (1 measurement), ipex/O1+prepack/int8-static/t1/i2/jemalloc 99.0 (1 measurement)"
        );
        assert_eq!(
            playoff_text(&with_playoff(0, Some("interrupted"))).unwrap(),
            "not run (interrupted): the 2 configs within 10% of the best stand on one measurement each"
        );
    }
}
