//! `ipex-tune run MODEL --suite NAME`: plan, tune (tune::session), then the
//! terminal summary, the reports, and the gate against a baseline.
use super::outputs::Output;
use crate::cli::RunArgs;
use crate::config::Config;
use crate::error::{exit_code, UserError};
use crate::gate::{gate, GateReport};
use crate::record::Results;
use crate::report::{self, summary};
use crate::tune::{self, make_plan, Objective, Planned, SearchMode, Settings};

pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    let given: Vec<Config> = args
        .configs
        .iter()
        .map(|l| l.parse::<Config>())
        .collect::<Result<_, _>>()
        .map_err(|e| UserError::BadValue(e.to_string()))?;
    // Everything the run will write or read at its end is checked now, so
    // that a bad path costs a second, not a whole run.
    let baseline = args
        .baseline
        .as_ref()
        .map(|path| Results::read(path).map(|r| (path.as_path(), r)))
        .transpose()?;
    check_outputs(args)?;
    let shard = shard(args)?;
    let mut planned = make_plan(&args.target.target(), None)?;
    check_ipex_for(&given, &planned)?;
    for config in &given {
        crate::trial::preload::preload_library(config.allocator)
            .map_err(|e| UserError::BadValue(format!("--config {}: {e}", config.label())))?;
    }
    let _cores = super::lock_cores(&planned.cpus, &args.lock)?;
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
        objective: match (args.max_latency, args.objective.as_str()) {
            (Some(limit_ms), _) => Objective::MaxLatency { limit_ms },
            (None, "latency") => Objective::Latency {
                percentile: args.percentile,
            },
            (None, _) => Objective::Throughput,
        },
        save_optimized: args.save_optimized.clone(),
        shard,
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| tune::session::default_output(&args.target.model, &planned.suite.name));
    let mut results = tune::tune(&planned, &settings, &output)?;
    let mut gate_report = None;
    if let (Some(baseline), false) = (&baseline, results.interrupted) {
        let (remeasured, report) =
            gate_against(baseline, results, args, &planned, &settings, &output)?;
        results = remeasured;
        gate_report = Some(report);
    }
    if args.profile && !results.interrupted {
        profile_winner(
            &mut results,
            &planned,
            args.profile_rounds,
            args.quiet,
            &output,
        )?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else if !args.quiet {
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
        if !args.quiet && !args.json {
            println!("reports: {}", written.join(", "));
        }
    }
    if results.interrupted {
        return Ok(130);
    }
    match gate_report {
        Some(report) => {
            if !args.json {
                print!("{}", crate::gate::format::markdown(&report));
            }
            Ok(if report.passed {
                exit_code::OK
            } else {
                exit_code::VERDICT_FAILED
            })
        }
        None => Ok(exit_code::OK),
    }
}

/// The shard this run measures: `--shard`, else the scheduler's index
/// (fleet::shard::from_env), else everything.
fn shard(args: &RunArgs) -> Result<Option<crate::record::fleet::Shard>, UserError> {
    let shard = match &args.shard {
        Some(shard) => Some(shard.clone()),
        None => crate::fleet::shard::from_env(&|name| std::env::var(name).ok(), args.shard_count)
            .map_err(UserError::BadValue)?,
    };
    if let (Some(s), false) = (&shard, args.quiet) {
        eprintln!(
            "shard {} (from {}): measuring stock and this shard's part of the candidates",
            s.label(),
            s.source
        );
    }
    Ok(shard)
}

/// `run --profile`: the winner profiled (stock when nothing beat it) into
/// the results file's `profile` section. A profile that fails is a warning
/// in the results: the run's measurements stand.
fn profile_winner(
    results: &mut Results,
    planned: &Planned,
    rounds: usize,
    quiet: bool,
    output: &std::path::Path,
) -> anyhow::Result<()> {
    let config = results
        .winner
        .as_ref()
        .map_or_else(Config::stock, |w| w.config.clone());
    let say = |line: &str| {
        if !quiet {
            eprintln!("profile: {line}");
        }
    };
    match crate::tune::profile::collect(planned, &config, rounds, &say) {
        Ok(record) => results.profile = Some(record),
        Err(e) => results
            .warnings
            .push(format!("the winner's profile failed: {e:#}")),
    }
    results.write_atomic(output)?;
    Ok(())
}

/// A `--config` on IPEX's backend where IPEX cannot be loaded (missing, or
/// built for another libtorch) is refused now, naming why, rather than
/// recorded as a failed trial after stock.
fn check_ipex_for(given: &[Config], planned: &Planned) -> Result<(), UserError> {
    let Some(ipex) = planned.host.as_ref().map(|h| &h.ipex) else {
        return Ok(());
    };
    match given
        .iter()
        .find(|c| c.backend == crate::config::Backend::Ipex)
    {
        Some(config) if !ipex.compatible => Err(UserError::BadValue(format!(
            "--config {}: IPEX cannot be used on this host: {}",
            config.label(),
            ipex.problem.as_deref().unwrap_or("unknown problem")
        ))),
        _ => Ok(()),
    }
}

/// The results file, `--report` and `--save-optimized`: their folders
/// exist or can be made, and a file can be created there.
fn check_outputs(args: &RunArgs) -> Result<(), UserError> {
    let mut outputs = Vec::new();
    if let Some(output) = &args.output {
        outputs.push(("--output", output.as_path(), Output::ReplacedFile));
    }
    if let Some(report) = &args.report {
        outputs.push(("--report", report.as_path(), Output::Folder));
    }
    if let Some(saved) = &args.save_optimized {
        outputs.push(("--save-optimized", saved.as_path(), Output::File));
    }
    super::outputs::check_outputs(&outputs)
}

/// `run --baseline`: the gate's verdict on the finished run. Configs whose
/// comparison is inconclusive are measured once more, with the iterations
/// the gate asks for, before the verdict.
fn gate_against(
    (baseline_path, baseline): &(&std::path::Path, Results),
    results: Results,
    args: &RunArgs,
    planned: &Planned,
    settings: &Settings,
    output: &std::path::Path,
) -> anyhow::Result<(Results, GateReport)> {
    let judge = |r: &Results| gate(baseline, r, args.max_regression, args.inconclusive_passes);
    let report = judge(&results);
    if !report.host_differences.is_empty() {
        return Err(UserError::BadValue(format!(
            "refusing to gate against {}: different host or torch stack ({})",
            baseline_path.display(),
            report.host_differences.join("; ")
        ))
        .into());
    }
    let again = inconclusive_configs(&report, &results);
    if again.is_empty() {
        return Ok((results, report));
    }
    if !args.quiet {
        eprintln!(
            "re-measuring {} config(s) inconclusive against the baseline ...",
            again.len()
        );
    }
    let results = tune::session::remeasure(planned, settings, results, &again, output)?;
    let report = judge(&results);
    Ok((results, report))
}

/// The configs of inconclusive comparisons, each with the timed iterations
/// that would likely resolve it: its own calls plus what the gate asks for
/// per shape, for every shape (at most 10x its calls).
fn inconclusive_configs(report: &GateReport, results: &Results) -> Vec<(Config, usize)> {
    report
        .comparisons
        .iter()
        .filter(|c| c.inconclusive())
        .filter_map(|c| {
            let trial = results.trials.iter().rev().find(|t| t.label == c.label)?;
            if trial.config == Config::stock() {
                return None; // the reference: its inconclusive verdicts are notes
            }
            let calls = trial.stats.as_ref().map_or(0, |s| s.iterations);
            let shapes = trial.per_shape.len().max(1);
            let more = c.more_iterations().unwrap_or(0) * shapes;
            Some((trial.config.clone(), (calls + more).min(10 * calls.max(10))))
        })
        .collect()
}
