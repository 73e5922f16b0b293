//! `ipex-tune run MODEL --suite NAME`: profile -> plan -> measure -> results.
//!
//! Stock first, then candidates (guided by the rules, or the whole grid),
//! each in its own child process; the results file is rewritten after every
//! trial, so a run stopped at any moment keeps what it measured.
use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};

use super::plan::{make_plan, Planned};
use crate::cli::RunArgs;
use crate::error::{exit_code, UserError};
use crate::measure::accuracy;
use crate::report::results::{
    ExclusionRecord, FiringRecord, PlanRecord, Results, Search, Skipped, Tool, TrialRecord, Winner,
    SCHEMA,
};
use crate::report::summary;
use crate::rules::{self, facts::Value, knobs};
use crate::runtime::config::Config;
use crate::runtime::quant::Observer;
use crate::runtime::search;
use crate::runtime::trial::{self, Fault, Status, TrialOptions, TrialSpec, INTERRUPTED};

/// Parses a duration such as `90s`, `5m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; expected e.g. 90s, 5m or 1h"))?;
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "'{text}': unknown unit '{unit}'; expected s, m or h"
            ))
        }
    };
    if value <= 0.0 {
        return Err(format!("'{text}': a duration must be positive"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where each knob value came from.
fn provenance(config: &Config, planned: &Planned) -> BTreeMap<String, String> {
    let stock = Config::stock();
    knobs::ALL_KNOBS
        .iter()
        .map(|knob| {
            let shaping: Vec<&str> = planned
                .plan
                .exclusions
                .iter()
                .filter(|e| e.knob == knob.name())
                .map(|e| e.rule.as_str())
                .collect();
            let source = if !shaping.is_empty() {
                let mut ids = shaping.clone();
                ids.dedup();
                format!("search within rules: {}", ids.join(", "))
            } else if knob.value_of(config) == knob.value_of(&stock) {
                "default".to_string()
            } else {
                "search".to_string()
            };
            (knob.name().to_string(), source)
        })
        .collect()
}

struct Run<'a> {
    args: &'a RunArgs,
    planned: &'a Planned,
    results: Results,
    output: PathBuf,
    scratch: tempfile::TempDir,
    options: TrialOptions,
    limit: Duration,
    hang_injected: bool,
}

impl Run<'_> {
    fn stock_samples_per_s(&self) -> Option<f64> {
        self.results
            .trials
            .first()
            .and_then(|t| t.stats.as_ref())
            .map(|s| s.samples_per_s)
    }

    /// Measures one config in a child and records it.
    fn trial(&mut self, config: Config, why: String) -> anyhow::Result<Option<f64>> {
        let id = self.results.trials.len();
        let is_stock = id == 0;
        let stock_outputs = self.scratch.path().join("stock-outputs.pt");
        let label = config.label();
        let fault = match &self.args.inject_hang {
            Some(pattern) if !self.hang_injected && label.contains(pattern.as_str()) => {
                self.hang_injected = true;
                Some(Fault::Hang)
            }
            _ => None,
        };
        let spec = TrialSpec {
            model: self.planned.model_path.clone(),
            method: self.planned.model.method.clone(),
            config: config.clone(),
            suite: self.planned.suite.clone(),
            options: self.options.clone(),
            reference: (!is_stock).then(|| stock_outputs.clone()),
            save_outputs: is_stock.then(|| stock_outputs.clone()),
            fault,
        };
        let progress = if std::io::stderr().is_terminal() && !self.args.quiet {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed}] trial {msg}").unwrap(),
            );
            bar.set_message(format!("#{id} {label}"));
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            if !self.args.quiet {
                eprintln!("trial #{id} {label} ...");
            }
            None
        };
        let outcome = trial::spawn(&spec, self.scratch.path(), self.limit);
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        let tolerance = self
            .planned
            .suite
            .accuracy
            .tolerance
            .get(knobs::dtype_name(config.dtype));
        let (accurate, accuracy_problem) = match (&outcome.output, tolerance) {
            (Some(out), _) if is_stock => (out.accuracy.as_ref().map(|_| true), None),
            (Some(out), Some(tol)) => match &out.accuracy {
                Some(acc) => match accuracy::verdict(acc, &self.planned.suite.accuracy.metric, tol)
                {
                    None => (Some(true), None),
                    Some(problem) => (Some(false), Some(problem)),
                },
                None => (None, None),
            },
            (Some(_), None) => (
                Some(false),
                Some(format!(
                    "the suite sets no tolerance for {}",
                    knobs::dtype_name(config.dtype)
                )),
            ),
            _ => (None, None),
        };
        let samples = outcome.output.as_ref().map(|o| o.stats.samples_per_s);
        let speedup = samples
            .zip(if is_stock {
                samples
            } else {
                self.stock_samples_per_s()
            })
            .map(|(s, base)| s / base);
        let mut warnings = Vec::new();
        if let Some(out) = &outcome.output {
            if !out.warmup_steady {
                warnings.push("timings were not steady after warm-up".to_string());
            }
            if out.stats.cv > 0.25 {
                warnings.push(format!(
                    "large spread: coefficient of variation {:.2}",
                    out.stats.cv
                ));
            }
        }
        let record = TrialRecord {
            id,
            label: label.clone(),
            provenance: provenance(&config, self.planned),
            config,
            why,
            status: outcome.status,
            reason: outcome.reason.clone(),
            stats: outcome.output.as_ref().map(|o| o.stats.clone()),
            latencies_ms: outcome
                .output
                .as_ref()
                .map(|o| o.latencies_ms.clone())
                .unwrap_or_default(),
            first_call_ms: outcome.output.as_ref().map(|o| o.first_call_ms),
            warmup_iterations: outcome.output.as_ref().map(|o| o.warmup_iterations),
            peak_rss_bytes: outcome.peak_rss_bytes,
            wall_s: outcome.wall_s,
            accuracy: outcome.output.as_ref().and_then(|o| o.accuracy.clone()),
            accurate: if is_stock && outcome.status == Status::Ok {
                Some(true)
            } else {
                accurate
            },
            accuracy_problem,
            speedup,
            steps: outcome
                .output
                .as_ref()
                .map(|o| o.steps.clone())
                .unwrap_or_default(),
            threads: outcome.output.as_ref().map(|o| o.threads),
            warnings,
        };
        let usable = record.status == Status::Ok && record.accurate == Some(true);
        let score = usable.then_some(samples).flatten();
        self.results.trials.push(record);
        self.update_winner();
        self.results.write_atomic(&self.output)?;
        Ok(score)
    }

    /// The fastest accurate trial.
    fn update_winner(&mut self) {
        let stock = self.stock_samples_per_s();
        self.results.winner = self
            .results
            .trials
            .iter()
            .filter(|t| t.status == Status::Ok && t.accurate == Some(true))
            .filter_map(|t| t.stats.as_ref().map(|s| (t, s.samples_per_s)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, s)| Winner {
                trial: t.id,
                label: t.label.clone(),
                config: t.config.clone(),
                samples_per_s: s,
                speedup: stock.map(|base| s / base).unwrap_or(1.0),
            });
    }

    fn out_of_time(&self, start: Instant) -> bool {
        self.args.budget.is_some_and(|b| start.elapsed() >= b)
    }
}

pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    let explicit: Vec<Config> = args
        .configs
        .iter()
        .map(|l| l.parse::<Config>().map_err(UserError::BadValue))
        .collect::<Result<_, _>>()?;
    let mut planned = make_plan(&args.target, None)?;
    if let Some(min_time) = args.min_time {
        planned.suite.measure.min_time_s = min_time;
    }
    if let Some(min_iters) = args.min_iters {
        planned.suite.measure.min_iters = min_iters;
    }
    let rules = rules::load(&args.target.rules)?;
    let usable = planned.usable;
    let cpus: Vec<u32> = planned
        .host
        .as_ref()
        .map(|h| h.limits.affinity.iter().copied().take(usable).collect())
        .unwrap_or_default();
    let option = |name: &str| planned.plan.options.get(name).map(|(v, _)| v.clone());
    let observer = match option("calibration.observer") {
        Some(Value::Str(s)) if s == "minmax" => Observer::Minmax,
        _ => Observer::Histogram,
    };
    let calibration_threads =
        option("calibration.threads").map(|v| v.as_num().map(|n| n as usize).unwrap_or(usable));
    let options = TrialOptions {
        observer,
        calibration_threads,
        min_time_s: planned.suite.measure.min_time_s,
        min_iters: planned.suite.measure.min_iters,
        cpus,
    };
    let output = args.output.clone().unwrap_or_else(|| {
        let stem = args
            .target
            .model
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        PathBuf::from("reports/runs").join(format!(
            "{stem}-{}-{}.json",
            planned.suite.name,
            now_unix()
        ))
    });
    let explain = |id: &str| {
        rules
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.explain.clone())
            .unwrap_or_default()
    };
    let mut warnings: Vec<String> = planned
        .plan
        .conflicts
        .iter()
        .map(|c| format!("rule conflict: {c}"))
        .collect();
    if let Some(host) = &planned.host {
        if host.quietness.others_cpu_percent > 20.0 {
            warnings.push(format!(
                "host not quiet: other processes used {:.0}% of a CPU while profiling; timings are noisy",
                host.quietness.others_cpu_percent
            ));
        }
    }
    let results = Results {
        schema: SCHEMA.to_string(),
        tool: Tool {
            name: "ipex-tune".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        started_unix: now_unix(),
        command: std::env::args().collect(),
        complete: false,
        interrupted: false,
        host: planned.host.clone(),
        facts: planned.facts.clone(),
        model: planned.model.clone(),
        suite: planned.suite.clone(),
        search: Search {
            mode: args.search.clone(),
            budget_s: args.budget.map(|b| b.as_secs_f64()),
            space: 0,
            wall_s: 0.0,
        },
        plan: PlanRecord {
            firings: planned
                .plan
                .firings
                .iter()
                .map(|f| FiringRecord::from(f, &explain(&f.rule)))
                .collect(),
            exclusions: planned
                .plan
                .exclusions
                .iter()
                .map(ExclusionRecord::from)
                .collect(),
            candidate_exclusions: planned.plan.candidate_exclusions.clone(),
            options: planned.plan.options.clone(),
            conflicts: planned.plan.conflicts.clone(),
        },
        trials: Vec::new(),
        skipped: Vec::new(),
        winner: None,
        warnings,
    };
    let mut run = Run {
        args,
        planned: &planned,
        results,
        output: output.clone(),
        scratch: tempfile::tempdir()?,
        options,
        limit: args.trial_timeout.unwrap_or_else(|| {
            Duration::from_secs_f64(120.0 + 20.0 * planned.suite.measure.min_time_s)
        }),
        hang_injected: false,
    };
    run.results.write_atomic(&output)?;
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));

    let start = Instant::now();
    run.trial(
        Config::stock(),
        "baseline: the model as loaded, default threads, glibc malloc".into(),
    )?;
    if run.results.trials[0].status != Status::Ok {
        run.results.complete = true;
        run.results.write_atomic(&output)?;
        anyhow::bail!(
            "the stock run failed ({}); results in {}",
            run.results.trials[0].reason.clone().unwrap_or_default(),
            output.display()
        );
    }
    let mut tried: HashSet<Config> = HashSet::new();
    tried.insert(Config::stock());
    let search_mode = if explicit.is_empty() {
        args.search.as_str()
    } else {
        "given"
    };
    match search_mode {
        "given" => {
            run.results.search.mode = "given".into();
            run.results.search.space = explicit.len();
            for config in explicit {
                if INTERRUPTED.load(Ordering::SeqCst) || run.out_of_time(start) {
                    break;
                }
                if !search::coherent_for(&config, usable) {
                    run.results.skipped.push(Skipped {
                        label: config.label(),
                        reason: format!("not a coherent config on {usable} core(s)"),
                    });
                    continue;
                }
                if tried.insert(config.clone()) {
                    run.trial(config, "given with --config".into())?;
                }
            }
        }
        "grid" => {
            let space = search::grid(usable);
            run.results.search.space = space.len();
            for (i, config) in space.iter().enumerate() {
                if INTERRUPTED.load(Ordering::SeqCst) || run.out_of_time(start) {
                    skip_rest(&mut run, &space[i..], &tried);
                    break;
                }
                if tried.insert(config.clone()) {
                    run.trial(config.clone(), "grid".into())?;
                }
            }
        }
        _ => {
            let allowed: Vec<&rules::engine::Candidate> = planned
                .plan
                .candidates
                .iter()
                .filter(|c| search::uses_all_cores(&c.config, usable))
                .collect();
            run.results.search.space = allowed.len();
            let mut best: Option<(Config, f64)> = None;
            if let Some(first) = search::start(&allowed, usable) {
                tried.insert(first.clone());
                let score = run.trial(first.clone(), "start: the allowed config closest to frozen+folded+prepacked fp32 on all cores".into())?;
                best = Some((first, score.unwrap_or(0.0)));
            }
            let sweep = search::ORDER
                .iter()
                .cycle()
                .take(search::ORDER.len() * search::PASSES);
            'groups: for &group in sweep {
                let Some((current, _)) = best.clone() else {
                    break;
                };
                for config in search::variants(&allowed, &current, group, &tried) {
                    if INTERRUPTED.load(Ordering::SeqCst) || run.out_of_time(start) {
                        break 'groups;
                    }
                    tried.insert(config.clone());
                    let why = format!(
                        "varying {} from the best so far ({})",
                        group.name(),
                        current.label()
                    );
                    if let Some(score) = run.trial(config.clone(), why)? {
                        if best.as_ref().is_none_or(|(_, s)| score > *s) {
                            best = Some((config, score));
                        }
                    }
                }
            }
            let untried: Vec<Config> = allowed.iter().map(|c| c.config.clone()).collect();
            skip_rest(&mut run, &untried, &tried);
        }
    }
    run.results.search.wall_s = start.elapsed().as_secs_f64();
    let interrupted = INTERRUPTED.load(Ordering::SeqCst);
    run.results.interrupted = interrupted;
    run.results.complete = !interrupted;
    run.results.write_atomic(&output)?;
    if !args.quiet {
        print!("{}", summary::render(&run.results));
        println!("results: {}", output.display());
    }
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir)?;
        let written = crate::report::write_reports(
            &run.results,
            Some(&dir.join("report.html")),
            Some(dir),
            Some(&dir.join("report.md")),
        )?;
        if !args.quiet {
            println!("reports: {}", written.join(", "));
        }
    }
    if interrupted {
        return Ok(130);
    }
    if let Some(baseline_path) = &args.baseline {
        let baseline = Results::read(baseline_path)?;
        let report = crate::gate::gate(&baseline, &run.results, args.max_regression);
        if !report.host_differences.is_empty() {
            return Err(UserError::BadValue(format!(
                "refusing to gate against {}: different host or torch stack ({})",
                baseline_path.display(),
                report.host_differences.join("; ")
            ))
            .into());
        }
        print!("{}", crate::gate::format::markdown(&report));
        if !report.passed {
            return Ok(exit_code::VERDICT_FAILED);
        }
    }
    Ok(exit_code::OK)
}

fn skip_rest(run: &mut Run, configs: &[Config], tried: &HashSet<Config>) {
    let reason = if INTERRUPTED.load(Ordering::SeqCst) {
        "run interrupted".to_string()
    } else if run.args.budget.is_some() && run.args.search == "grid" {
        "time budget exhausted".to_string()
    } else {
        "not on the guided path: a knob group's alternatives lost to the best so far, or the budget ran out".to_string()
    };
    for config in configs.iter().filter(|c| !tried.contains(*c)) {
        run.results.skipped.push(Skipped {
            label: config.label(),
            reason: reason.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("42"), Ok(Duration::from_secs(42)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
