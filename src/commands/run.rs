//! `ipex-tune run MODEL --suite NAME`: plan, tune (tune::session), then the
//! terminal summary, the reports, and the gate against a baseline.
use crate::cli::RunArgs;
use crate::config::Config;
use crate::error::{exit_code, UserError};
use crate::record::Results;
use crate::report::{self, summary};
use crate::tune::{self, make_plan, SearchMode, Settings};

pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    let given: Vec<Config> = args
        .configs
        .iter()
        .map(|l| l.parse::<Config>())
        .collect::<Result<_, _>>()
        .map_err(|e| UserError::BadValue(e.to_string()))?;
    let mut planned = make_plan(&args.target.target(), None)?;
    if let Some(min_time) = args.min_time {
        planned.suite.measure.min_time_s = min_time;
    }
    if let Some(min_iters) = args.min_iters {
        planned.suite.measure.min_iters = min_iters;
    }
    let settings = Settings {
        search: match (given.is_empty(), args.search.as_str()) {
            (false, _) => SearchMode::Given(given),
            (true, "grid") => SearchMode::Grid,
            (true, _) => SearchMode::Rules,
        },
        budget: args.budget,
        trial_timeout: args.trial_timeout,
        progress: !args.quiet,
        inject_hang: args.inject_hang.clone(),
        record_graphs: args.record_graphs,
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| tune::session::default_output(&args.target.model, &planned.suite.name));
    let results = tune::tune(&planned, &settings, &output)?;
    if !args.quiet {
        print!("{}", summary::render(&results));
        println!("results: {}", output.display());
    }
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir)?;
        let written = report::write_reports(
            &results,
            Some(&dir.join("report.html")),
            Some(dir),
            Some(&dir.join("report.md")),
        )?;
        if !args.quiet {
            println!("reports: {}", written.join(", "));
        }
    }
    if results.interrupted {
        return Ok(130);
    }
    match &args.baseline {
        Some(baseline) => gate_against(baseline, &results, args.max_regression),
        None => Ok(exit_code::OK),
    }
}

/// `run --baseline`: the gate's verdict on the finished run.
fn gate_against(
    baseline_path: &std::path::Path,
    results: &Results,
    max_regression: f64,
) -> anyhow::Result<i32> {
    let baseline = Results::read(baseline_path)?;
    let report = crate::gate::gate(&baseline, results, max_regression);
    if !report.host_differences.is_empty() {
        return Err(UserError::BadValue(format!(
            "refusing to gate against {}: different host or torch stack ({})",
            baseline_path.display(),
            report.host_differences.join("; ")
        ))
        .into());
    }
    print!("{}", crate::gate::format::markdown(&report));
    Ok(if report.passed {
        exit_code::OK
    } else {
        exit_code::VERDICT_FAILED
    })
}
