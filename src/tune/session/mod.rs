//! The tuning loop: stock first, then the candidates the search picks, each
//! in its own child process; the accuracy verdict, the winner, and the
//! results file rewritten after every trial, so a run stopped at any moment
//! keeps what it measured.
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod expert;
mod families;

pub use expert::summarize as summarize_expert;

use super::progress::Progress;

use super::deploy;
use super::objective::Objective;
use super::plan::Planned;
use crate::config::{Config, Dtype, ALL_KNOBS};
use crate::measure::accuracy;
use crate::measure::shapes::interval_around;
use crate::record::fleet::Shard;
use crate::record::{
    Drift, ExclusionRecord, FiringRecord, Int8Fallback, PlanRecord, Results, Search, Skipped,
    Status, Tie, Tool, TrialRecord, Winner, SCHEMA,
};
use crate::rules::condition::Observed;
use crate::rules::facts::Value;
use crate::rules::Severity;
use crate::search::{guided, space, Candidate};
use crate::trial::spec::SavedModule;
use crate::trial::{
    self, ChildOutcome, Fault, Job, Observer, TrialOptions, TrialSpec, INTERRUPTED,
};

/// How the candidates are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchMode {
    /// Guided by the rules, knob group by knob group.
    Rules,
    /// Every coherent configuration (for comparison).
    Grid,
    /// Exactly these configurations (`--config`).
    Given(Vec<Config>),
}

impl SearchMode {
    fn name(&self) -> &'static str {
        match self {
            SearchMode::Rules => "rules",
            SearchMode::Grid => "grid",
            SearchMode::Given(_) => "given",
        }
    }
}

/// What the command line sets for a tuning run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub search: SearchMode,
    /// Stop starting new trials after this long.
    pub budget: Option<Duration>,
    /// Time limit of one trial (default: 120s + 20 x the minimum time).
    pub trial_timeout: Option<Duration>,
    /// Progress on stderr.
    pub progress: bool,
    /// Make the first trial whose label contains this hang (tests only).
    pub inject_hang: Option<String>,
    /// Record each trial's executed optimized graph.
    pub record_graphs: bool,
    /// What the search and the winner optimize.
    pub objective: Objective,
    /// Write the winner's optimized module here.
    pub save_optimized: Option<PathBuf>,
    /// Measure only this shard's part of the candidates (stock always).
    pub shard: Option<Shard>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A spec that measures `config` of the planned model with `options`: no
/// reference outputs, nothing saved, no fault (what the benchmarks and
/// `profile` run; the session adds its reference and faults).
pub fn plain_spec(planned: &Planned, config: Config, options: TrialOptions) -> TrialSpec {
    TrialSpec {
        model: planned.model_path.clone(),
        method: planned.model.method.clone(),
        config,
        suite: planned.suite.clone(),
        options,
        reference: None,
        save_outputs: None,
        fault: None,
        save_module: None,
        job: Default::default(),
        time_limit_s: None,
        instance: None,
    }
}

/// The trial options the rules' options and the suite set. Every option a
/// rule may set (rules::rule::OPTIONS) is read here.
pub fn trial_options(planned: &Planned, record_graph: bool) -> TrialOptions {
    let usable = planned.usable;
    let option = |name: &str| planned.plan.options.get(name).map(|(v, _)| v.clone());
    let observer = match option("calibration.observer") {
        Some(Value::Str(s)) if s == "minmax" => Observer::Minmax,
        _ => Observer::Histogram,
    };
    let calibration_threads =
        option("calibration.threads").map(|v| v.as_num().map(|n| n as usize).unwrap_or(usable));
    TrialOptions {
        observer,
        calibration_threads,
        min_time_s: planned.suite.measure.min_time_s,
        min_iters: planned.suite.measure.min_iters,
        cpus: planned.cpus.clone(),
        cpu_nodes: planned.cpu_nodes.clone(),
        record_graph,
        profile_rounds: 0,
        onednn_verbose: false,
    }
}

/// Where each knob value came from.
fn provenance(config: &Config, planned: &Planned) -> BTreeMap<String, String> {
    let stock = Config::stock();
    ALL_KNOBS
        .iter()
        .map(|knob| {
            let mut shaping: Vec<&str> = planned
                .plan
                .exclusions
                .iter()
                .filter(|e| e.knob == knob.name())
                .map(|e| e.rule.as_str())
                .collect();
            shaping.dedup();
            let source = if !shaping.is_empty() {
                format!("search within rules: {}", shaping.join(", "))
            } else if knob.value_of(config) == knob.value_of(&stock) {
                "default".to_string()
            } else {
                "search".to_string()
            };
            (knob.name().to_string(), source)
        })
        .collect()
}

/// The warnings of a run before any trial: rule contradictions, and every
/// rule of severity warn or fail that fired (e.g. host-not-quiet, whose
/// threshold lives in its rule).
fn plan_warnings(planned: &Planned) -> Vec<String> {
    let conflicts = planned
        .plan
        .conflicts
        .iter()
        .map(|c| format!("rule conflict: {c}"));
    let firings = planned
        .plan
        .firings
        .iter()
        .filter(|f| matches!(f.severity, Severity::Warn | Severity::Fail))
        .map(|f| {
            format!(
                "{}: {} ({})",
                f.rule,
                f.title,
                Observed::describe_all(&f.facts)
            )
        });
    conflicts.chain(firings).collect()
}

/// The results file before the first trial.
fn results_skeleton(planned: &Planned, settings: &Settings) -> Results {
    Results {
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
            mode: settings.search.name().into(),
            budget_s: settings.budget.map(|b| b.as_secs_f64()),
            space: 0,
            wall_s: 0.0,
        },
        plan: PlanRecord {
            firings: planned
                .plan
                .firings
                .iter()
                .map(|f| FiringRecord::from(f, &planned.explain(&f.rule)))
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
        stock_drift: None,
        deploy: None,
        int8_fallbacks: Vec::new(),
        expert: None,
        stopped_families: Vec::new(),
        profile: None,
        shard: settings.shard.clone(),
        merged: None,
        objective: settings.objective,
        warnings: plan_warnings(planned),
    }
}

/// The measured part of a trial's record (identity, verdicts and speedup
/// are the session's): statistics, steps, peak RSS, and warnings about
/// the measurement itself.
fn measured(outcome: ChildOutcome) -> TrialRecord {
    let mut warnings = Vec::new();
    if let Some(out) = &outcome.output {
        if let Some(why) = out.interference.as_ref().and_then(|i| i.disturbed()) {
            warnings.push(format!("measured under interference: {why}"));
        }
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
    let out = outcome.output;
    TrialRecord {
        id: 0,
        label: String::new(),
        config: Config::stock(),
        provenance: BTreeMap::new(),
        why: String::new(),
        status: outcome.status,
        reason: outcome.reason,
        stats: out.as_ref().map(|o| o.stats.clone()),
        latencies_ms: out
            .as_ref()
            .map(|o| o.latencies_ms.clone())
            .unwrap_or_default(),
        per_shape: out
            .as_ref()
            .map(|o| o.per_shape.clone())
            .unwrap_or_default(),
        interference: out.as_ref().and_then(|o| o.interference.clone()),
        task_top1: out.as_ref().and_then(|o| o.task_top1),
        first_call_ms: out.as_ref().map(|o| o.first_call_ms),
        warmup_iterations: out.as_ref().map(|o| o.warmup_iterations),
        peak_rss_bytes: outcome.peak_rss_bytes,
        wall_s: outcome.wall_s,
        accuracy: out.as_ref().and_then(|o| o.accuracy.clone()),
        accurate: None,
        accuracy_problem: None,
        speedup: None,
        shard: None,
        speedup_ci95: None,
        steps: out.as_ref().map(|o| o.steps.clone()).unwrap_or_default(),
        threads: out.as_ref().map(|o| o.threads),
        executed_graph: out.and_then(|o| o.executed_graph),
        warnings,
    }
}

/// When stock fails on the suite's sizes (a size the model did not fix in a
/// layer ipex-tune reads), which argument and which flag set them.
fn shape_hint(reason: &str, planned: &Planned) -> String {
    let about_sizes = [
        "size",
        "shape",
        "dimension",
        "2D",
        "3D",
        "4D",
        "index out of range",
        "mat1 and mat2",
    ]
    .iter()
    .any(|w| reason.contains(w));
    if !about_sizes || planned.suite.input_file.is_some() {
        return String::new();
    }
    let args: Vec<String> = planned
        .suite
        .inputs
        .iter()
        .map(|i| {
            let dims: Vec<String> = i
                .shape
                .iter()
                .map(|d| match d {
                    crate::suite::Dim::Fixed(n) => n.to_string(),
                    crate::suite::Dim::Named(n) => n.clone(),
                })
                .collect();
            format!("{} [{}]", i.name, dims.join(", "))
        })
        .collect();
    format!(
        "; the suite gave {}: set the sizes with --suite generic --input-shape (one per argument), or real inputs with --inputs",
        args.join(", ")
    )
}

/// Stock's drift over a run within this share is not worth a warning.
const DRIFT_TOLERANCE: f64 = 0.03;

/// Why a finished trial's timed window was disturbed, if it was.
fn disturbed(outcome: &ChildOutcome) -> Option<String> {
    outcome
        .output
        .as_ref()
        .and_then(|o| o.interference.as_ref())
        .and_then(|i| i.disturbed())
}

/// The share of the budget the int8 fallbacks may take in all.
const FALLBACK_BUDGET_SHARE: f64 = 0.25;

/// The shortest time limit a sensitivity child gets within a budget.
const MIN_SENSITIVITY_LIMIT: Duration = Duration::from_secs(30);

/// The sensitivity child's time limit, in trial time limits.
const SENSITIVITY_LIMIT_TRIALS: u32 = 4;

/// A tuning run in progress.
struct Session<'a> {
    settings: &'a Settings,
    planned: &'a Planned,
    results: Results,
    output: &'a Path,
    scratch: tempfile::TempDir,
    options: TrialOptions,
    limit: Duration,
    hang_injected: bool,
    tried: HashSet<Config>,
    start: Instant,
    /// Whether this session's scratch holds stock's outputs (the first
    /// trial of a session is stock and saves them).
    reference_saved: bool,
    /// Trials measured twice because the first window was disturbed.
    reruns: usize,
    /// Per int8 dtype, what its accuracy-aware fallback found: the layers
    /// to keep in fp32 (None: no accurate fallback). Later configs of the
    /// dtype start from it instead of measuring the sensitivity again.
    int8_fp32_layers: BTreeMap<Dtype, Option<Vec<String>>>,
    /// The live line and one line per finished trial on stderr.
    progress: Progress,
    /// Time spent in int8 fallbacks so far (sensitivity and fallback
    /// trials), held to a share of the budget.
    fallback_spent: Duration,
}

impl<'a> Session<'a> {
    fn new(
        planned: &'a Planned,
        settings: &'a Settings,
        results: Results,
        output: &'a Path,
    ) -> anyhow::Result<Session<'a>> {
        Ok(Session {
            settings,
            planned,
            results,
            output,
            scratch: tempfile::tempdir()?,
            options: trial_options(planned, settings.record_graphs),
            limit: settings.trial_timeout.unwrap_or_else(|| {
                Duration::from_secs_f64(120.0 + 20.0 * planned.suite.measure.min_time_s)
            }),
            hang_injected: false,
            tried: HashSet::from([Config::stock()]),
            start: Instant::now(),
            reference_saved: false,
            reruns: 0,
            int8_fp32_layers: BTreeMap::new(),
            progress: Progress::new(settings.progress, settings.budget),
            fallback_spent: Duration::ZERO,
        })
    }
}

/// Runs the tuning loop and returns the final results (also written to
/// `output`). Fails only when stock itself cannot run, or on I/O errors.
pub fn tune(planned: &Planned, settings: &Settings, output: &Path) -> anyhow::Result<Results> {
    let mut session = Session::new(
        planned,
        settings,
        results_skeleton(planned, settings),
        output,
    )?;
    session.results.write_atomic(output)?;
    match &settings.search {
        SearchMode::Given(configs) => session.progress.plan(shard_count(settings, configs.len())),
        SearchMode::Grid => session
            .progress
            .plan(shard_count(settings, space::grid(planned.shape).len())),
        // The guided search decides its trials as it goes.
        SearchMode::Rules => {}
    }
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    session.trial(
        Config::stock(),
        "baseline: the model as loaded, default threads, glibc malloc".into(),
    )?;
    if session.results.trials[0].status != Status::Ok {
        session.results.complete = true;
        session.results.write_atomic(output)?;
        let reason = session.results.trials[0].reason.clone().unwrap_or_default();
        anyhow::bail!(
            "the stock run failed ({reason}); results in {}{}",
            output.display(),
            shape_hint(&reason, planned)
        );
    }
    match &settings.search {
        SearchMode::Given(configs) => session.search_given(configs)?,
        SearchMode::Grid => session.search_grid()?,
        SearchMode::Rules => session.search_guided()?,
    }
    session.stock_again()?;
    session.note_interference();
    session.deploy_winner()?;
    session.results.search.wall_s = session.start.elapsed().as_secs_f64();
    let interrupted = INTERRUPTED.load(Ordering::SeqCst);
    session.results.interrupted = interrupted;
    session.results.complete = !interrupted;
    session.results.write_atomic(output)?;
    Ok(session.results)
}

/// Measures `configs` again, each with at least its number of timed
/// iterations, and appends the new records to `results` (later records of
/// a label supersede earlier ones for the gate). Stock runs first, as this
/// session's accuracy reference (also recorded).
pub fn remeasure(
    planned: &Planned,
    settings: &Settings,
    results: Results,
    configs: &[(Config, usize)],
    output: &Path,
) -> anyhow::Result<Results> {
    let mut session = Session::new(planned, settings, results, output)?;
    session.trial(
        Config::stock(),
        "stock again: the reference for re-measuring".into(),
    )?;
    for (config, min_iters) in configs {
        if INTERRUPTED.load(Ordering::SeqCst) {
            break;
        }
        session.options.min_iters = (*min_iters).max(planned.suite.measure.min_iters);
        session.trial(
            config.clone(),
            format!("re-measured with {min_iters} iterations: inconclusive against the baseline"),
        )?;
    }
    session.results.interrupted |= INTERRUPTED.load(Ordering::SeqCst);
    session.results.write_atomic(output)?;
    Ok(session.results)
}

impl Session<'_> {
    fn stock_samples_per_s(&self) -> Option<f64> {
        self.results
            .trials
            .first()
            .and_then(|t| t.stats.as_ref())
            .map(|s| s.samples_per_s)
    }

    fn should_stop(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
            || self
                .settings
                .budget
                .is_some_and(|b| self.start.elapsed() >= b)
    }

    fn spec(&mut self, config: &Config, is_stock: bool) -> TrialSpec {
        let stock_outputs = self.scratch.path().join("stock-outputs.pt");
        let label = config.label();
        let fault = match &self.settings.inject_hang {
            Some(pattern) if !self.hang_injected && label.contains(pattern.as_str()) => {
                self.hang_injected = true;
                Some(Fault::Hang)
            }
            _ => None,
        };
        TrialSpec {
            reference: (!is_stock).then(|| stock_outputs.clone()),
            save_outputs: is_stock.then_some(stock_outputs),
            fault,
            ..plain_spec(self.planned, config.clone(), self.options.clone())
        }
    }

    /// Runs the child, with the live progress line while it runs.
    fn spawn_with_progress(&self, spec: &TrialSpec, id: usize) -> ChildOutcome {
        let bar = self.progress.started(id, &spec.config.label());
        let outcome = trial::spawn(spec, self.scratch.path(), self.limit);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        outcome
    }

    /// Whether the outputs are within the suite's tolerance for the dtype,
    /// and if not, why. Stock is the reference.
    fn accuracy_verdict(
        &self,
        config: &Config,
        outcome: &ChildOutcome,
        is_stock: bool,
    ) -> (Option<bool>, Option<String>) {
        let Some(out) = &outcome.output else {
            return (None, None);
        };
        if is_stock {
            return (Some(true), None);
        }
        let policy = &self.planned.suite.accuracy;
        // A task criterion (--labels + --max-accuracy-loss) decides instead
        // of the output tolerance; outputs that are not finite never pass.
        let stock_top1 = self.results.trials.first().and_then(|t| t.task_top1);
        if let (Some(loss), Some(top1), Some(stock)) = (policy.max_loss, out.task_top1, stock_top1)
        {
            let broken = out.accuracy.as_ref().is_some_and(|a| a.non_finite > 0);
            let floor = loss.floor(stock);
            return if top1 >= floor && !broken {
                (Some(true), None)
            } else {
                (
                    Some(false),
                    Some(if broken {
                        "outputs are not finite".to_string()
                    } else {
                        format!("task top-1 {top1:.4} below {floor:.4} (stock {stock:.4} less the allowed loss)")
                    }),
                )
            };
        }
        let Some(tolerance) = policy.tolerance.get(&config.dtype) else {
            return (
                Some(false),
                Some(format!("the suite sets no tolerance for {}", config.dtype)),
            );
        };
        match &out.accuracy {
            Some(acc) => match accuracy::verdict(acc, &policy.metric, tolerance) {
                None => (Some(true), None),
                Some(problem) => (Some(false), Some(problem)),
            },
            None => (None, None),
        }
    }

    /// Measures one config in a child and records it; returns its score
    /// under the run's objective (higher is better) when it ran, is
    /// accurate and qualifies.
    fn trial(&mut self, config: Config, why: String) -> anyhow::Result<Option<f64>> {
        let id = self.results.trials.len();
        // The first trial of a session is stock, the accuracy reference.
        let is_stock = !self.reference_saved;
        self.reference_saved = true;
        let spec = self.spec(&config, is_stock);
        let mut outcome = self.spawn_with_progress(&spec, id);
        if let Some(why) = disturbed(&outcome) {
            // Once: a second disturbed window is kept, and says so.
            if self.settings.progress {
                eprintln!("trial #{id} measured under interference ({why}); measuring it again");
            }
            self.reruns += 1;
            outcome = self.spawn_with_progress(&spec, id);
        }
        let (accurate, accuracy_problem) = self.accuracy_verdict(&config, &outcome, is_stock);
        let samples = outcome.output.as_ref().map(|o| o.stats.samples_per_s);
        let base = if id == 0 {
            samples
        } else {
            self.stock_samples_per_s()
        };
        let mut record = TrialRecord {
            id,
            label: config.label(),
            provenance: provenance(&config, self.planned),
            config,
            why,
            accurate,
            accuracy_problem,
            speedup: samples.zip(base).map(|(s, b)| s / b),
            ..measured(outcome)
        };
        if let (Some(speedup), Some(stock)) = (record.speedup, self.results.trials.first()) {
            let stock_shapes = if id == 0 {
                &record.per_shape
            } else {
                &stock.per_shape
            };
            record.speedup_ci95 = interval_around(speedup, stock_shapes, &record.per_shape);
        }
        let usable = record.status == Status::Ok && record.accurate == Some(true);
        let score = usable
            .then(|| self.settings.objective.score(&record))
            .flatten();
        self.progress.finished(&record);
        self.results.trials.push(record);
        self.note_family_failure(id);
        self.update_winner();
        self.results.write_atomic(self.output)?;
        Ok(score)
    }

    fn update_winner(&mut self) {
        self.results.winner = winner(&self.results, self.settings.objective);
        expert::summarize(&mut self.results);
    }

    /// The `deploy` block of the winner; with `--save-optimized`, the
    /// winner's config is prepared once more in a child that saves the
    /// module and checks that it reloads to the same outputs.
    fn deploy_winner(&mut self) -> anyhow::Result<()> {
        let Some(winner) = self.results.winner.clone() else {
            return Ok(());
        };
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Ok(());
        }
        let saved = match &self.settings.save_optimized {
            Some(path) => {
                let path = std::path::absolute(path)?;
                let mut spec = self.spec(&winner.config, false);
                spec.reference = None;
                spec.options.min_time_s = 0.0;
                spec.options.min_iters = 1;
                spec.save_module = Some(path.clone());
                if self.settings.progress {
                    eprintln!(
                        "saving the winner's optimized module to {} ...",
                        path.display()
                    );
                }
                let outcome = trial::spawn(&spec, self.scratch.path(), self.limit);
                Some(outcome.output.and_then(|o| o.saved).unwrap_or(SavedModule {
                    path,
                    error: Some(outcome.reason.unwrap_or_else(|| "the child failed".into())),
                    reload_max_abs: None,
                }))
            }
            None => None,
        };
        let ok_path = saved
            .as_ref()
            .filter(|s| s.error.is_none())
            .map(|s| s.path.display().to_string());
        let mut block = deploy::deploy(
            self.planned,
            &winner.config,
            &self.options.cpus,
            ok_path,
            saved.is_some(),
        );
        if let Some(s) = saved {
            block.notes.push(match (s.error, s.reload_max_abs) {
                (Some(e), _) if winner.config.weights_prepack && winner.config.backend == crate::config::Backend::Stock => format!(
                    "this config's module could not be saved ({e}): oneDNN-prepacked weights do not serialize; save the same config without +prepack"
                ),
                (Some(e), _) => format!("this config's module could not be saved: {e}"),
                (None, Some(d)) => format!(
                    "the saved module, loaded back as a fresh module, gives the winner's outputs within {d:.1e}"
                ),
                (None, None) => "saved".into(),
            });
        }
        self.results.deploy = Some(block);
        self.results.write_atomic(self.output)?;
        Ok(())
    }

    /// The run's warning about trials measured under interference.
    fn note_interference(&mut self) {
        let kept = self
            .results
            .trials
            .iter()
            .filter(|t| {
                t.interference
                    .as_ref()
                    .and_then(|i| i.disturbed())
                    .is_some()
            })
            .count();
        if self.reruns > 0 || kept > 0 {
            self.results.warnings.push(format!(
                "host not quiet: {} trial(s) were disturbed by other processes or memory pressure and measured again; {kept} still were (their figures are marked)",
                self.reruns
            ));
        }
    }

    /// Measures stock again at the end of the run: its speedup over the
    /// first stock is the drift of the reference, and when its interval
    /// excludes 1 the run's ratios are unreliable (another process, thermal
    /// or frequency changes, memory pressure).
    fn stock_again(&mut self) -> anyhow::Result<()> {
        if INTERRUPTED.load(Ordering::SeqCst) || self.results.trials.len() < 2 {
            return Ok(());
        }
        self.trial(
            Config::stock(),
            "stock again at the end of the run: the drift of the reference".into(),
        )?;
        let again = self.results.trials.last().expect("just measured");
        if let (Some(ratio), Some(ci95)) = (again.speedup, again.speedup_ci95) {
            // A drift the interval resolves but smaller than this is below
            // what any figure here is read to.
            let reliable = ci95.0 <= 1.0 + DRIFT_TOLERANCE && 1.0 - DRIFT_TOLERANCE <= ci95.1;
            if !reliable {
                self.results.warnings.push(format!(
                    "stock drifted {:+.1}% (95% CI {:+.1}%..{:+.1}%) between the start and the end of the run: the ratios of this run are uncertain by as much; re-run on a quiet host to trust smaller differences",
                    (ratio - 1.0) * 100.0,
                    (ci95.0 - 1.0) * 100.0,
                    (ci95.1 - 1.0) * 100.0
                ));
            }
            self.results.stock_drift = Some(Drift {
                ratio,
                ci95,
                reliable,
            });
        }
        // The winner's margin is now judged against the drift too.
        self.update_winner();
        self.results.write_atomic(self.output)?;
        Ok(())
    }

    fn search_given(&mut self, configs: &[Config]) -> anyhow::Result<()> {
        let usable = self.planned.usable;
        self.results.search.space = configs.len();
        for (position, config) in configs.iter().enumerate() {
            if !self.shard_takes(position) {
                continue;
            }
            if self.should_stop() {
                break;
            }
            if !space::coherent(config, usable) {
                self.results.skipped.push(Skipped {
                    label: config.label(),
                    reason: format!("not a coherent config on {usable} core(s)"),
                });
                continue;
            }
            if self.tried.insert(config.clone())
                && self
                    .trial(config.clone(), "given with --config".into())?
                    .is_none()
            {
                self.int8_fallback(config)?;
            }
        }
        Ok(())
    }

    fn search_grid(&mut self) -> anyhow::Result<()> {
        let space = space::grid(self.planned.shape);
        self.results.search.space = space.len();
        for (i, config) in space.iter().enumerate() {
            if !self.shard_takes(i) {
                continue;
            }
            if self.should_stop() {
                let rest: Vec<Config> = (i..space.len())
                    .filter(|&j| self.shard_takes(j))
                    .map(|j| space[j].clone())
                    .collect();
                self.skip_rest(&rest);
                break;
            }
            if self.tried.insert(config.clone()) {
                self.trial(config.clone(), "grid".into())?;
            }
        }
        Ok(())
    }

    fn search_guided(&mut self) -> anyhow::Result<()> {
        let usable = self.planned.usable;
        let allowed: Vec<&Candidate> = self
            .planned
            .plan
            .candidates
            .iter()
            .filter(|c| space::uses_all_cores(&c.config, usable))
            .collect();
        self.results.search.space = allowed.len();
        // The floor first: the expert's recipes (a shard measures them all:
        // every shard's winner is held to them).
        let mut best: Option<(Config, f64)> = self.expert_floor(&allowed)?;
        let keep_best = |best: &mut Option<(Config, f64)>, found: Option<(Config, f64)>| {
            if let Some((config, score)) = found {
                if best.as_ref().is_none_or(|(_, s)| score > *s) {
                    *best = Some((config, score));
                }
            }
        };
        if let Some(first) = guided::start(&allowed, usable) {
            if !self.should_stop() && self.tried.insert(first.clone()) {
                let score = self.trial(
                    first.clone(),
                    "start: the allowed config closest to frozen+folded+prepacked fp32 on all cores"
                        .into(),
                )?;
                keep_best(&mut best, score.map(|s| (first.clone(), s)));
                if best.is_none() {
                    best = Some((first, 0.0));
                }
            }
        }
        let found = self.every_family_once(&allowed)?;
        keep_best(&mut best, found);
        let sweep = guided::ORDER
            .iter()
            .cycle()
            .take(guided::ORDER.len() * guided::PASSES);
        // With --shard, the first group's alternatives are split between
        // the shards; each goes on from the best of its share.
        let mut first_group = true;
        'groups: for &group in sweep {
            let Some((current, _)) = best.clone() else {
                break;
            };
            let mut variants = guided::variants(&allowed, &current, group, &self.tried);
            if std::mem::take(&mut first_group) {
                variants = variants
                    .into_iter()
                    .enumerate()
                    .filter(|(position, _)| self.shard_takes(*position))
                    .map(|(_, config)| config)
                    .collect();
            }
            for mut config in variants {
                if self.should_stop() {
                    break 'groups;
                }
                self.with_known_fp32_layers(&mut config);
                if self.family_stopped(&config).is_some() || !self.tried.insert(config.clone()) {
                    continue;
                }
                let why = format!(
                    "varying {} from the best so far ({})",
                    group.name(),
                    current.label()
                );
                let scored = match self.trial(config.clone(), why)? {
                    Some(score) => Some((config, score)),
                    None => self.int8_fallback(&config)?,
                };
                if let Some((config, score)) = scored {
                    if best.as_ref().is_none_or(|(_, s)| score > *s) {
                        best = Some((config, score));
                    }
                }
            }
        }
        if let Some((winner, _)) = best {
            self.runner_up_dtypes(&allowed, winner.dtype)?;
        }
        let untried: Vec<Config> = allowed.iter().map(|c| c.config.clone()).collect();
        self.skip_rest(&untried);
        Ok(())
    }

    /// A second look at the dtypes that lost the dtype group: the sweep
    /// varies the fuser and the layout only around the best so far, so a
    /// dtype that loses with one fuser is never tried with another (bf16
    /// with the oneDNN Graph fuser on a CNN: 124 samples/s where bf16 with
    /// prepacking gave 70). For the best accurate trial of each other dtype,
    /// its fuser and layout alternatives of the same dtype are tried.
    fn runner_up_dtypes(&mut self, allowed: &[&Candidate], winner: Dtype) -> anyhow::Result<()> {
        let mut best_of: BTreeMap<Dtype, (Config, f64)> = BTreeMap::new();
        for t in self.results.trials.iter().skip(1) {
            let Some(stats) = t.stats.as_ref() else {
                continue;
            };
            if t.status != Status::Ok || t.accurate != Some(true) || t.config.dtype == winner {
                continue;
            }
            let entry = best_of
                .entry(t.config.dtype)
                .or_insert((t.config.clone(), stats.samples_per_s));
            if stats.samples_per_s > entry.1 {
                *entry = (t.config.clone(), stats.samples_per_s);
            }
        }
        for (dtype, (mut current, mut score)) in best_of {
            for group in [guided::Group::Fuser, guided::Group::Layout] {
                let variants = guided::variants(allowed, &current, group, &self.tried);
                for mut config in variants.into_iter().filter(|c| c.dtype == dtype) {
                    if self.should_stop() {
                        return Ok(());
                    }
                    self.with_known_fp32_layers(&mut config);
                    if self.family_stopped(&config).is_some() || !self.tried.insert(config.clone())
                    {
                        continue;
                    }
                    let why = format!(
                        "varying {} for the best {dtype} so far ({})",
                        group.name(),
                        current.label()
                    );
                    if let Some(s) = self.trial(config.clone(), why)? {
                        if s > score {
                            (current, score) = (config, s);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The accuracy-aware int8 fallback, for an int8 config that ran but
    /// missed the tolerance: a child measures each layer's sensitivity (the
    /// outputs with that layer alone quantized), then configs keep the 1, 2,
    /// ... most sensitive layers in fp32 until one is accurate, at most
    /// half the layers (beyond that, little int8 is left), within the
    /// budget. Returns the first accurate one and its score.
    fn int8_fallback(&mut self, failed: &Config) -> anyhow::Result<Option<(Config, f64)>> {
        let inaccurate = self.results.trials.last().is_some_and(|t| {
            t.config == *failed && t.status == Status::Ok && t.accurate == Some(false)
        });
        if !inaccurate
            || !failed.dtype.is_int8()
            || !failed.fp32_layers.is_empty()
            || self.int8_fp32_layers.contains_key(&failed.dtype)
            || self.should_stop()
        {
            return Ok(None);
        }
        if self.fallback_budget_spent() {
            self.int8_fp32_layers.insert(failed.dtype, None);
            self.results.int8_fallbacks.push(Int8Fallback {
                config: failed.label(),
                all_int8: None,
                sensitivity: Vec::new(),
                sensitivity_wall_s: 0.0,
                tried: Vec::new(),
                kept_fp32: None,
                problem: Some(format!(
                    "not run: int8 fallbacks already took their share of the budget ({:.0}%)",
                    FALLBACK_BUDGET_SHARE * 100.0
                )),
            });
            return Ok(None);
        }
        let started = Instant::now();
        let found = self.int8_fallback_search(failed);
        self.fallback_spent += started.elapsed();
        found
    }

    /// Whether int8 fallbacks have used their share of the budget (never,
    /// without a budget: they are bounded by their steps).
    fn fallback_budget_spent(&self) -> bool {
        self.settings
            .budget
            .is_some_and(|b| self.fallback_spent >= b.mul_f64(FALLBACK_BUDGET_SHARE))
    }

    /// The fallback itself: the sensitivity child, then the fallback
    /// trials, until one is accurate, one fails (the next would fail the
    /// same way: the layers are the same, one more of them in fp32), the
    /// steps end or the fallbacks' share of the budget is spent.
    fn int8_fallback_search(&mut self, failed: &Config) -> anyhow::Result<Option<(Config, f64)>> {
        let started = Instant::now();
        if self.settings.progress {
            eprintln!(
                "int8 fallback: {} missed the tolerance; measuring each layer's sensitivity ...",
                failed.label()
            );
        }
        let mut spec = self.spec(failed, false);
        spec.job = Job::LayerSensitivity;
        // One quantization (prepare, calibrate, convert) and one pass over
        // the inputs per layer: a longer limit than one trial's, within
        // what is left of the budget.
        let mut limit = self.limit * SENSITIVITY_LIMIT_TRIALS;
        if let Some(budget) = self.settings.budget {
            let share_left = budget
                .mul_f64(FALLBACK_BUDGET_SHARE)
                .saturating_sub(self.fallback_spent);
            limit = limit
                .min(budget.saturating_sub(self.start.elapsed()).max(self.limit))
                .min(share_left.max(MIN_SENSITIVITY_LIMIT));
        }
        spec.time_limit_s = Some(limit.as_secs_f64());
        let outcome = trial::spawn(&spec, self.scratch.path(), limit);
        let mut record = Int8Fallback {
            config: failed.label(),
            all_int8: None,
            sensitivity: Vec::new(),
            sensitivity_wall_s: outcome.wall_s,
            tried: Vec::new(),
            kept_fp32: None,
            problem: None,
        };
        let Some(measured) = outcome.sensitivity else {
            record.problem = Some(outcome.reason.unwrap_or_else(|| "no answer".into()));
            self.results.int8_fallbacks.push(record);
            self.results.write_atomic(self.output)?;
            return Ok(None);
        };
        record.all_int8.clone_from(&measured.all_int8);
        record.sensitivity = measured.ranked();
        let ranked: Vec<String> = record.sensitivity.iter().map(|l| l.layer.clone()).collect();
        let steps = (measured.layers.len() / 2).max(1).min(ranked.len());
        let mut found = None;
        for k in 1..=steps {
            if self.should_stop()
                || self.settings.budget.is_some_and(|b| {
                    self.fallback_spent + started.elapsed() >= b.mul_f64(FALLBACK_BUDGET_SHARE)
                })
            {
                break;
            }
            let mut config = failed.clone();
            config.fp32_layers = ranked[..k].to_vec();
            if !self.tried.insert(config.clone()) {
                continue;
            }
            record.tried.push(config.label());
            let why = format!(
                "int8 fallback: {} with its {k} most sensitive layer(s) in fp32",
                failed.label()
            );
            if let Some(score) = self.trial(config.clone(), why)? {
                record.kept_fp32 = Some(config.fp32_layers.clone());
                found = Some((config, score));
                break;
            }
            let last = self.results.trials.last().expect("just measured");
            if last.status != Status::Ok {
                record.problem =
                    Some(format!(
                    "stopped: the fallback trial {} {} ({}); the next ones keep the same layers",
                    last.label,
                    last.status.name(),
                    last.reason.as_deref().unwrap_or("no reason").lines().next().unwrap_or("")
                ));
                break;
            }
        }
        self.int8_fp32_layers
            .insert(failed.dtype, record.kept_fp32.clone());
        if self.settings.progress {
            match &record.kept_fp32 {
                Some(layers) => {
                    eprintln!("int8 fallback: accurate with {} in fp32", layers.join(", "))
                }
                None => eprintln!("int8 fallback: no accurate config within {steps} step(s)"),
            }
        }
        self.results.int8_fallbacks.push(record);
        self.results.write_atomic(self.output)?;
        Ok(found)
    }

    /// An int8 config whose dtype needed a fallback keeps the same layers
    /// in fp32 (another layout, fuser or allocator does not change which
    /// layers int8 breaks).
    fn with_known_fp32_layers(&self, config: &mut Config) {
        if let Some(Some(layers)) = self.int8_fp32_layers.get(&config.dtype) {
            if config.fp32_layers.is_empty() {
                config.fp32_layers.clone_from(layers);
            }
        }
    }

    /// Whether the candidate at `position` of the list is this shard's
    /// (every candidate without --shard).
    fn shard_takes(&self, position: usize) -> bool {
        self.settings
            .shard
            .as_ref()
            .is_none_or(|shard| shard.takes(position))
    }

    fn skip_rest(&mut self, configs: &[Config]) {
        let reason = if INTERRUPTED.load(Ordering::SeqCst) {
            "run interrupted".to_string()
        } else if self.settings.budget.is_some() && self.settings.search == SearchMode::Grid {
            "time budget exhausted".to_string()
        } else {
            "not on the guided path: a knob group's alternatives lost to the best so far, or the budget ran out".to_string()
        };
        for config in configs.iter().filter(|c| !self.tried.contains(*c)) {
            self.results.skipped.push(Skipped {
                label: config.label(),
                reason: self
                    .family_stopped(config)
                    .unwrap_or_else(|| reason.clone()),
            });
        }
    }
}

/// How many of `total` candidates this run's shard measures.
fn shard_count(settings: &Settings, total: usize) -> usize {
    match &settings.shard {
        Some(shard) => (0..total).filter(|&i| shard.takes(i)).count(),
        None => total,
    }
}

/// The default results path: reports/runs/MODEL-SUITE-TIME.json.
pub fn default_output(model: &Path, suite: &str) -> PathBuf {
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    PathBuf::from("reports/runs").join(format!("{stem}-{suite}-{}.json", now_unix()))
}

/// The best accurate trial of `results` under the objective; for throughput, a tie
/// when it does not beat the runner-up beyond the 95% interval of their
/// ratio, or by more than stock drifted during the run.
pub fn winner(results: &Results, objective: Objective) -> Option<Winner> {
    let stock = results
        .trials
        .first()
        .and_then(|t| t.stats.as_ref())
        .map(|s| s.samples_per_s);
    // Within one run the intervals miss what changes between the start
    // and the end (stock's drift): a margin below it is no margin.
    let drift = results
        .stock_drift
        .as_ref()
        .map_or(0.0, |d| (d.ratio - 1.0).abs());
    // Shards merged from several machines of one host type rank by the
    // speedup over their own shard's stock: machines differ a little.
    let merged = results.merged.is_some() && objective == Objective::Throughput;
    let score = |t: &TrialRecord| {
        if merged {
            t.speedup.filter(|_| t.stats.is_some())
        } else {
            objective.score(t)
        }
    };
    let mut ranked: Vec<(&TrialRecord, f64)> = results
        .trials
        .iter()
        .filter(|t| t.status == Status::Ok && t.accurate == Some(true))
        .filter_map(|t| score(t).map(|score| (t, score)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.first().map(|&(t, _)| {
        let s = t.stats.as_ref().map_or(0.0, |s| s.samples_per_s);
        Winner {
            trial: t.id,
            label: t.label.clone(),
            config: t.config.clone(),
            samples_per_s: s,
            // Against the trial's own stock (a merged file holds one per
            // shard), else the first.
            speedup: t
                .speedup
                .or_else(|| stock.map(|base| s / base))
                .unwrap_or(1.0),
            speedup_ci95: t.speedup_ci95,
            // Ties are judged on throughput, the figure the intervals
            // are computed for.
            // The runner-up is another config (a config measured twice,
            // like stock, does not tie with itself).
            tie: (!matches!(objective, Objective::Latency { .. }))
                .then(|| ranked.iter().find(|(r, _)| r.label != t.label))
                .flatten()
                .and_then(|&(r, _)| {
                    let rs = r.stats.as_ref()?.samples_per_s;
                    let ratio = s / rs;
                    let ci95 = interval_around(ratio, &r.per_shape, &t.per_shape)?;
                    (ci95.0 <= 1.0 || ratio - 1.0 <= drift).then(|| Tie {
                        trial: r.id,
                        label: r.label.clone(),
                        ratio,
                        ci95,
                    })
                }),
        }
    })
}
