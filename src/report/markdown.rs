//! The run summary as Markdown, for a CI job summary or a pull-request comment.
use super::summary;
use crate::record::Results;
use crate::record::Status;

fn verdict(results: &Results) -> String {
    let ok = results
        .trials
        .iter()
        .filter(|t| t.status == Status::Ok)
        .count();
    let out_of_tolerance = results
        .trials
        .iter()
        .filter(|t| t.accurate == Some(false))
        .count();
    let failed = results.trials.len() - ok;
    format!(
        "{} trial(s): {ok} measured, {out_of_tolerance} outside the accuracy tolerance, {failed} failed",
        results.trials.len()
    )
}

/// Which host the figures were measured on: every figure is only true there.
fn host_line(results: &Results) -> String {
    match &results.host {
        Some(h) => format!(
            "Host: {} ({}), ISA level {}, {} usable core(s), libtorch {}, IPEX {}.\n\n",
            h.cpu.model_name,
            h.cpu.vendor,
            h.isa_level,
            h.limits.usable_cores,
            h.torch.version,
            h.ipex.version.as_deref().unwrap_or("not loaded")
        ),
        None => String::new(),
    }
}

/// The Markdown summary of a results file.
pub fn render(results: &Results) -> String {
    let mut out = format!(
        "## ipex-tune: `{}` with suite `{}`\n\n",
        results.model.path, results.suite.name
    );
    out += &host_line(results);
    out += &format!("**Objective:** {}.\n\n", results.objective.describe());
    match &results.winner {
        Some(w) => {
            out += &format!(
                "**Winner:** `{}` — {:.1} samples/s, **{}** stock (95% interval), accurate within the suite's tolerance.\n\n",
                w.label,
                w.samples_per_s,
                summary::speedup_text(Some(w.speedup), w.speedup_ci95)
            );
            if let Some(tie) = &w.tie {
                out += &format!(
                    "**Tie:** `{}` is not apart from `{}` beyond noise ({:.2}x, 95% CI {:.2}-{:.2}); either will do.\n\n",
                    w.label, tie.label, tie.ratio, tie.ci95.0, tie.ci95.1
                );
            }
        }
        None => out += "**No winner:** no accurate candidate finished.\n\n",
    }
    if let Some(text) = summary::expert_text(results) {
        out += &format!("**Against the expert:** {text}.\n\n");
    }
    if let Some(text) = summary::migration_text(results) {
        out += &format!("**IPEX vs Inductor:** {text}.\n\n");
    }
    out += &expert_table(results);
    out += &format!("{}.", verdict(results));
    if !results.complete {
        out += " The run did not complete.";
    }
    out += "\n\n| # | config | samples/s | p50 ms | p99 ms | peak RSS MiB | accuracy | vs stock | status |\n|---|---|---|---|---|---|---|---|---|\n";
    for t in &results.trials {
        let s = t.stats.as_ref();
        let accuracy = match (t.accurate, &t.accuracy) {
            (Some(true), Some(a)) => format!("ok ({:.1e})", a.max_abs),
            (Some(false), Some(a)) => format!("**out** ({:.1e})", a.max_abs),
            (Some(true), None) => "reference".into(),
            _ => "-".into(),
        };
        let mut status = match t.status {
            Status::Ok => "ok".to_string(),
            other => format!(
                "{}: {}",
                other.name(),
                t.reason.as_deref().unwrap_or("").replace('|', "\\|")
            ),
        };
        // The measurement's own warnings (spread, interference, warm-up).
        for w in &t.warnings {
            status += &format!("<br>⚠ {}", w.replace('|', "\\|"));
        }
        out += &format!(
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} |\n",
            t.id,
            t.label,
            s.map(|s| format!("{:.1}", s.samples_per_s))
                .unwrap_or_default(),
            s.map(|s| format!("{:.2}", s.median_ms)).unwrap_or_default(),
            s.map(|s| format!("{:.2}", s.p99_ms)).unwrap_or_default(),
            if t.peak_rss_bytes > 0 {
                (t.peak_rss_bytes >> 20).to_string()
            } else {
                String::new()
            },
            accuracy,
            summary::speedup_text(t.speedup, t.speedup_ci95),
            status
        );
    }
    let rows = summary::shape_rows(results);
    if !rows.is_empty() {
        out += "\nPer shape, stock -> winner:\n\n| shape | samples/s | p50 ms | p99 ms | speedup |\n|---|---|---|---|---|\n";
        for r in rows {
            out += &format!(
                "| {} | {} | {} | {} | {} |\n",
                r.shape,
                summary::pair(r.stock.map(|s| s.0), r.winner.0, 1),
                summary::pair(r.stock.map(|s| s.1), r.winner.1, 2),
                summary::pair(r.stock.map(|s| s.2), r.winner.2, 2),
                r.speedup
            );
        }
    }
    if !results.warnings.is_empty() {
        out += "\nWarnings:\n\n";
        for w in &results.warnings {
            out += &format!("- {w}\n");
        }
    }
    if results.deploy.is_some() {
        out += &format!(
            "\nDeploy the winner:\n\n```\n{}```\n",
            summary::deploy_text(results)
        );
    }
    let fleet = summary::fleet_lines(results);
    if !fleet.is_empty() {
        out += &format!("\nShards:\n\n```\n{fleet}```\n");
    }
    let profile = summary::profile_lines(results);
    if !profile.is_empty() {
        out += &format!(
            "\nWhere the time goes:\n\n```\n{}\n```\n",
            profile.join("\n")
        );
    }
    if !results.plan.firings.is_empty() {
        out += "\n<details><summary>Rules that shaped the plan</summary>\n\n";
        for f in &results.plan.firings {
            out += &format!(
                "- `{}` ({}): {} — {}\n",
                f.rule,
                f.severity,
                f.title,
                f.actions.join("; ")
            );
        }
        out += "\n</details>\n";
    }
    out
}

/// The expert's recipes as the run measured them: recipe, layout, config,
/// samples/s and accuracy, or why a recipe was not measured.
fn expert_table(results: &Results) -> String {
    let Some(expert) = &results.expert else {
        return String::new();
    };
    let mut out = String::from(
        "| expert recipe | layout | config | samples/s | accurate |\n|---|---|---|---|---|\n",
    );
    for r in &expert.recipes {
        let trial = r.trial.and_then(|id| results.trials.get(id));
        let (figure, accurate) = match (trial, &r.skipped) {
            (Some(t), _) => (
                t.stats.as_ref().map_or_else(
                    || t.status.name().to_string(),
                    |s| format!("{:.1}", s.samples_per_s),
                ),
                match t.accurate {
                    Some(true) => "yes".to_string(),
                    Some(false) => "no".to_string(),
                    None => "-".to_string(),
                },
            ),
            (None, Some(why)) => (format!("not measured: {why}"), "-".to_string()),
            (None, None) => ("-".to_string(), "-".to_string()),
        };
        out += &format!(
            "| {} | {} | `{}` | {} | {} |\n",
            r.recipe,
            r.layout,
            r.label.as_deref().unwrap_or("-"),
            figure.replace('|', "/"),
            accurate
        );
    }
    out + "\n"
}
