//! `ipex-tune report RESULTS.json [--html FILE] [--png DIR] [--markdown FILE]`.
use super::outputs::{check_outputs, Output};
use crate::cli::ReportArgs;
use crate::error::{exit_code, UserError};
use crate::record::Results;
use crate::report;

pub fn run(args: &ReportArgs) -> anyhow::Result<i32> {
    let mut outputs = Vec::new();
    if let Some(html) = &args.html {
        outputs.push(("--html", html.as_path(), Output::File));
    }
    if let Some(png) = &args.png {
        outputs.push(("--png", png.as_path(), Output::Folder));
    }
    if let Some(markdown) = &args.markdown {
        outputs.push(("--markdown", markdown.as_path(), Output::File));
    }
    check_outputs(&outputs)?;
    let results = Results::read(&args.results)?;
    if args.html.is_none() && args.png.is_none() && args.markdown.is_none() {
        if args.json {
            print_json(args, &results, &[])?;
        } else {
            print!("{}", report::markdown::render(&results));
        }
        return Ok(exit_code::OK);
    }
    let written = report::write_reports(
        &results,
        args.html.as_deref(),
        args.png.as_deref(),
        args.markdown.as_deref(),
    )
    .map_err(|e| UserError::BadValue(format!("cannot write the report: {e:#}")))?;
    if args.json {
        print_json(args, &results, &written)?;
    } else {
        for path in written {
            println!("wrote {path}");
        }
    }
    Ok(exit_code::OK)
}

/// `report --json`: the files written and the verdict the report states.
fn print_json(args: &ReportArgs, results: &Results, written: &[String]) -> anyhow::Result<()> {
    let winner = results.winner.as_ref().map(|w| {
        serde_json::json!({
            "label": w.label,
            "samples_per_s": w.samples_per_s,
            "speedup": w.speedup,
            "speedup_ci95": w.speedup_ci95,
            "accurate": results.trials.iter().find(|t| t.id == w.trial).and_then(|t| t.accurate),
        })
    });
    super::json::print(
        super::json::schema::REPORT,
        &serde_json::json!({
            "results": args.results.display().to_string(),
            "results_schema": results.schema,
            "complete": results.complete,
            "trials": results.trials.len(),
            "failed_trials": results.trials.iter().filter(|t| t.stats.is_none()).count(),
            "winner": winner,
            "written": written,
        }),
    )
}
