//! The terminal summary of a run: one row per trial, then the winner.
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use crate::record::{Results, Status, TrialRecord};

fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

/// How a trial's accuracy reads in the table.
fn accuracy_cell(trial: &TrialRecord) -> String {
    match (&trial.accuracy, trial.accurate) {
        (Some(a), Some(true)) => format!("ok (max|d| {:.1e})", a.max_abs),
        (Some(a), Some(false)) => format!("OUT (max|d| {:.1e})", a.max_abs),
        _ if trial.status == Status::Ok => "reference".to_string(),
        _ => String::new(),
    }
}

/// "ok", or the status and why.
fn status_cell(trial: &TrialRecord) -> String {
    match trial.status {
        Status::Ok => "ok".to_string(),
        other => format!(
            "{}: {}",
            serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            trial.reason.as_deref().unwrap_or("")
        ),
    }
}

fn row(trial: &TrialRecord, winner: bool) -> Vec<Cell> {
    let stat = |f: &dyn Fn(&crate::measure::stats::LatencyStats) -> String| {
        right(trial.stats.as_ref().map(f).unwrap_or_default())
    };
    vec![
        Cell::new(format!("{}{}", trial.id, if winner { "*" } else { "" })),
        Cell::new(&trial.label),
        stat(&|s| format!("{:.1}", s.samples_per_s)),
        stat(&|s| format!("{:.2}", s.median_ms)),
        stat(&|s| format!("{:.2}", s.p99_ms)),
        right(if trial.peak_rss_bytes > 0 {
            format!("{} MiB", trial.peak_rss_bytes >> 20)
        } else {
            String::new()
        }),
        Cell::new(accuracy_cell(trial)),
        right(
            trial
                .speedup
                .map(|s| format!("{s:.2}x"))
                .unwrap_or_default(),
        ),
        Cell::new(status_cell(trial)),
    ]
}

/// The table: config, samples/s, p50, p99, peak RSS, accuracy, speedup,
/// status; then the winner and the run's warnings.
pub fn render(results: &Results) -> String {
    let mut t = Table::new();
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
    match &results.winner {
        Some(w) => {
            out += &format!(
                "winner: #{} {}  {:.1} samples/s, {:.2}x stock\n",
                w.trial, w.label, w.samples_per_s, w.speedup
            )
        }
        None => out += "winner: none (no accurate trial finished)\n",
    }
    for warning in &results.warnings {
        out += &format!("warning: {warning}\n");
    }
    out
}
