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
mod fallback;
mod migration;
mod playoff;
mod reference;
mod results;
mod search;
mod trial;
mod winner;

pub use expert::summarize as summarize_expert;
pub use migration::summarize as summarize_migration;
pub use winner::winner;

use results::{provenance, results_skeleton};
use trial::shape_hint;

use super::progress::Progress;

use super::deploy;
use super::objective::Objective;
use super::plan::Planned;
use crate::config::{Config, Dtype, Fuser, ALL_KNOBS};
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
use crate::trial::{ChildOutcome, Fault, Job, Observer, TrialOptions, TrialSpec, INTERRUPTED};

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
pub fn plain_spec(planned: &Planned, config: Config, mut options: TrialOptions) -> TrialSpec {
    if config == Config::stock() {
        options.processes = crate::trial::spec::STOCK_PROCESSES;
    }
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
        model_state: planned.model.assigned_attributes.clone(),
        processes: 1,
    }
}

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
    /// Whether a pure-bf16 config without conv-bn folding also missed the
    /// tolerance (then no other inaccurate bf16 config gets that retry).
    bf16_unfolded_missed: bool,
    /// When each stock trial ended, and its id: the reference measured
    /// through the run (see `reference`).
    reference_points: Vec<(Duration, usize)>,
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
            bf16_unfolded_missed: false,
            reference_points: Vec::new(),
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
    session.playoff()?;
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
/// iterations, and appends the new records to `results` (the gate pools a
/// label's measurements). Stock runs first, as this
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

    /// Whether the search starts no more trials: an interrupt, or a spent
    /// budget once one config besides stock has run (a run of stock alone
    /// answers nothing; on a busy host stock's measurement alone can take a
    /// short budget).
    fn should_stop(&self) -> bool {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return true;
        }
        let stock = Config::stock();
        let candidate_ran = self.results.trials.iter().any(|t| t.config != stock);
        candidate_ran
            && self
                .search_budget()
                .is_some_and(|b| self.start.elapsed() >= b)
    }

    /// Why the search should not start `config` now: the budget it may
    /// use would run out before the trial ends, going by the trials of
    /// its family (backend x dtype), else of its backend (an Inductor
    /// trial compiles for about 30 s; one started with seconds left ran
    /// 34 s past the search's budget and took the playoff's time).
    /// Cheaper candidates may still fit.
    pub(super) fn would_overrun(&self, config: &Config) -> Option<String> {
        let budget = self.search_budget()?;
        let predicted = predicted_wall_s(&self.results.trials, config)?;
        let left = budget.saturating_sub(self.start.elapsed()).as_secs_f64();
        (predicted > left).then(|| {
            format!(
                "would not end within the search's budget: a trial like it took {predicted:.0} s, {left:.0} s were left"
            )
        })
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
        let outcome = crate::trial::spawn(spec, self.scratch.path(), self.limit);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        outcome
    }
}

/// About how long a trial of `config`, a config not measured yet, takes:
/// the longest trial (stock's first aside) of its family, else of its
/// backend (None: nothing alike ran yet). The longest: a new config
/// compiles or quantizes anew as its family's first trial did (an
/// Inductor package is cached per level, dtype and threads).
///
/// A config with a JIT fuser goes by measured trials with that fuser: the
/// oneDNN Graph fuser profiles and compiles its partitions on the first
/// calls, which no trial without it predicts, nor it them (MobileNetV3:
/// its family's trials took 2-4 s, `stock/O0/onednn/fp32` took 38 s and
/// ran the search 23 s past its budget, leaving no playoff round). A fuser
/// trial that failed ended before its compile (`ipex/.../onednn` fails in
/// 0.9 s on MobileNetV3) and predicts nothing. When no trial with the
/// fuser was measured, the run's longest trial bounds it.
fn predicted_wall_s(trials: &[TrialRecord], config: &Config) -> Option<f64> {
    if let Some(cached) = cached_package_wall_s(trials, config) {
        return Some(cached);
    }
    // The longest of the trials (stock's first aside) that `counts`.
    let longest = |counts: &dyn Fn(&TrialRecord) -> bool| {
        trials
            .iter()
            .skip(1)
            .filter(|t| counts(t))
            .map(|t| t.wall_s)
            .max_by(f64::total_cmp)
    };
    if config.fuser != Fuser::None {
        let measured = |t: &TrialRecord| t.status == Status::Ok;
        return longest(&|t| {
            measured(t) && families::stop_scope(&t.config) == families::stop_scope(config)
        })
        .or_else(|| longest(&|t| measured(t) && t.config.fuser == config.fuser))
        .or_else(|| longest(&|_| true));
    }
    longest(&|t| {
        t.config.fuser == Fuser::None && families::family(&t.config) == families::family(config)
    })
    .or_else(|| longest(&|t| t.config.backend == config.backend))
}

/// For a config whose compiled packages a measured trial made (the same
/// Inductor compile: level, dtype and its variants, threads; allocator and
/// instances do not enter the package), that trial's wall time less the
/// compile the cache now holds.
fn cached_package_wall_s(trials: &[TrialRecord], config: &Config) -> Option<f64> {
    let same_package = |c: &Config| {
        c.backend == config.backend
            && c.level == config.level
            && c.dtype == config.dtype
            && c.signed_activations == config.signed_activations
            && c.fp32_layers == config.fp32_layers
            && c.dynamic_shapes == config.dynamic_shapes
            && c.threads == config.threads
    };
    let compiled = trials
        .iter()
        .rev()
        .find(|t| t.status == Status::Ok && t.compile.is_some() && same_package(&t.config))?;
    Some(wall_without_compile_s(compiled))
}

/// A trial's wall time less the compile it did (none when the cache held
/// its packages): what measuring its config again takes.
pub(super) fn wall_without_compile_s(t: &TrialRecord) -> f64 {
    let compiled = t.compile.as_ref().filter(|c| !c.cached);
    (t.wall_s - compiled.map_or(0.0, |c| c.seconds)).max(0.0)
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

/// A trial record of `config` with nothing measured, for unit tests.
#[cfg(test)]
fn record_for_tests(config: Config, status: Status) -> TrialRecord {
    TrialRecord {
        id: 1,
        label: config.label(),
        config,
        provenance: Default::default(),
        why: String::new(),
        status,
        reason: None,
        stats: None,
        latencies_ms: Vec::new(),
        per_shape: Vec::new(),
        interference: None,
        first_call_ms: None,
        warmup_iterations: None,
        peak_rss_bytes: 0,
        wall_s: 0.0,
        accuracy: None,
        task_top1: None,
        accurate: None,
        accuracy_problem: None,
        speedup: None,
        speedup_ci95: None,
        steps: Vec::new(),
        threads: None,
        compile: None,
        executed_graph: None,
        warnings: Vec::new(),
        shard: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn took(label: &str, wall_s: f64) -> TrialRecord {
        let mut t = record_for_tests(label.parse().unwrap(), Status::Ok);
        t.wall_s = wall_s;
        t
    }

    #[test]
    fn a_new_trial_takes_about_the_longest_of_its_family_else_its_backend() {
        let trials = vec![
            took("stock/O0/fp32/glibc", 2.0),
            took("inductor/O1/bf16-autocast/t2/tcmalloc", 31.0),
            took("ipex/O1+fold+prepack/bf16-autocast/t2/tcmalloc", 1.9),
            took("inductor/O1/int8-static/t2/tcmalloc", 36.0),
            took("inductor/O2/bf16-autocast/t2/tcmalloc", 3.0),
        ];
        let predict = |label: &str| predicted_wall_s(&trials, &label.parse().unwrap());
        // Its family's first trial compiled: 31 s, not the 3 s of a
        // package the cache held.
        assert_eq!(
            predict("inductor/O1/bf16-autocast/t1/i2/tcmalloc"),
            Some(31.0)
        );
        // A family not measured yet: its backend's longest.
        assert_eq!(predict("inductor/O1/fp32/t2/tcmalloc"), Some(36.0));
        assert_eq!(
            predict("ipex/O1+fold+prepack/int8-static/t2/tcmalloc"),
            Some(1.9)
        );
        // Stock's first measurement says nothing of a stock config's.
        assert_eq!(predict("stock/O1+fold/fp32/t2/tcmalloc"), None);
    }

    #[test]
    fn a_fuser_variant_goes_by_trials_with_its_fuser_else_the_longest() {
        let mut trials = vec![
            took("stock/O0/fp32/glibc", 2.0),
            took("stock/O1+fold/fp32/t1/i2/tcmalloc", 3.0),
            took("ipex/O1+fold+prepack/int8-static/t1/i2/tcmalloc", 17.0),
        ];
        let predict =
            |trials: &[TrialRecord], label: &str| predicted_wall_s(trials, &label.parse().unwrap());
        // No oneDNN Graph trial yet: its compile is unknown, the run's
        // longest trial bounds it (not its family's 3 s). A fuser trial
        // that failed at once says nothing of the compile.
        assert_eq!(
            predict(&trials, "stock/O0/onednn/fp32/t1/i2/tcmalloc"),
            Some(17.0)
        );
        let mut failed = took("ipex/O1+fold+prepack/onednn/fp32/t1/i2/tcmalloc", 0.9);
        failed.status = Status::Failed;
        trials.push(failed);
        assert_eq!(
            predict(&trials, "stock/O0/onednn/fp32/t1/i2/tcmalloc"),
            Some(17.0)
        );
        trials.push(took(
            "ipex/O1+fold+prepack/onednn/bf16/t1/i2/tcmalloc",
            38.0,
        ));
        // A fuser trial of another family: its compile on this model.
        assert_eq!(
            predict(&trials, "stock/O0/onednn/fp32/t1/i2/tcmalloc"),
            Some(38.0)
        );
        trials.push(took("stock/O0/onednn/fp32/t1/i2/tcmalloc", 30.0));
        assert_eq!(
            predict(&trials, "stock/O1+fold/onednn/fp32/t1/i2/jemalloc"),
            Some(30.0)
        );
        // Without the fuser, the family's trials without it.
        assert_eq!(
            predict(&trials, "stock/O1+fold/fp32/t2/jemalloc"),
            Some(3.0)
        );
    }

    #[test]
    fn a_package_the_cache_holds_costs_its_trial_less_the_compile() {
        let mut compiled = took("inductor/O1/bf16/t1/i2/tcmalloc", 31.0);
        compiled.compile = Some(crate::record::CompileRecord {
            seconds: 29.0,
            cached: false,
            stages: Default::default(),
            folder: Default::default(),
        });
        let trials = vec![took("stock/O0/fp32/glibc", 2.0), compiled];
        let predict = |label: &str| predicted_wall_s(&trials, &label.parse().unwrap());
        // Another allocator: the same package.
        assert_eq!(predict("inductor/O1/bf16/t1/i2/jemalloc"), Some(2.0));
        // Another level or thread count compiles anew.
        assert_eq!(predict("inductor/O2/bf16/t1/i2/tcmalloc"), Some(31.0));
        assert_eq!(predict("inductor/O1/bf16/t2/tcmalloc"), Some(31.0));
    }
}
