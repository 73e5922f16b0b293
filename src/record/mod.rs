//! The `record` stage: the results file, schema `ipex-tune/results/v2`
//! (documented in the README), which `report` and `gate` read. v2 added
//! per-shape statistics and intervals on the speedups; v1 files (no
//! per-shape figures) are still read, e.g. as gate baselines. The tuning
//! session writes it after every trial, atomically, so a run that is
//! stopped at any moment leaves a valid file with every finished trial.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::host::HostProfile;
use crate::measure::accuracy::Accuracy;
use crate::measure::interference::Interference;
use crate::measure::profile::ProfileRecord;
use crate::measure::shapes::ShapeStats;
use crate::measure::stats::LatencyStats;
use crate::model::ModelFacts;
use crate::rules::condition::Observed;
use crate::rules::engine::{Exclusion, Firing};
use crate::rules::facts::{Facts, Value};
use crate::suite::Suite;

pub mod fleet;

use fleet::{MergeRecord, Shard};

pub const SCHEMA: &str = "ipex-tune/results/v2";
/// Older schemas this version reads.
pub const READS: [&str; 2] = [SCHEMA, "ipex-tune/results/v1"];

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    /// The config could not be applied or run (an error, exit code != 0).
    Failed,
    /// Killed by a signal (segfault, abort).
    Crashed,
    Timeout,
    OutOfMemory,
    /// Stopped by Ctrl-C.
    Interrupted,
}

impl Status {
    /// The name the results file uses ("out-of-memory").
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Crashed => "crashed",
            Status::Timeout => "timeout",
            Status::OutOfMemory => "out-of-memory",
            Status::Interrupted => "interrupted",
        }
    }
}

/// One graph pass the trial ran, and whether it changed the graph.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Step {
    pub pass: String,
    pub changed: bool,
}

impl Step {
    pub fn new(pass: &str, changed: bool) -> Step {
        Step {
            pass: pass.to_string(),
            changed,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// The objective of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Objective {
    /// Highest summary samples/s.
    Throughput,
    /// Lowest latency: the sum over input shapes of each shape's
    /// `percentile` latency (one call of each shape in turn, as a caller
    /// serving one request at a time sees them).
    Latency { percentile: u8 },
    /// Highest summary samples/s among the configs whose p99 latency stays
    /// within `limit_ms` on every input shape.
    MaxLatency { limit_ms: f64 },
}

/// How the candidates were searched.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Search {
    /// "rules" (guided by the rules, knob group by knob group) or "grid"
    /// (every coherent configuration).
    pub mode: String,
    pub budget_s: Option<f64>,
    /// Candidates the search could consider (after the rules, for "rules").
    pub space: usize,
    pub wall_s: f64,
}

/// The rules' part of the results: what shaped the plan.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanRecord {
    pub firings: Vec<FiringRecord>,
    pub exclusions: Vec<ExclusionRecord>,
    pub candidate_exclusions: BTreeMap<String, usize>,
    pub options: BTreeMap<String, (Value, String)>,
    pub conflicts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FiringRecord {
    pub rule: String,
    pub title: String,
    pub severity: String,
    pub facts: Vec<(String, Option<Value>)>,
    pub actions: Vec<String>,
    /// The rule's explanation, for reports.
    pub explain: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExclusionRecord {
    pub knob: String,
    pub value: String,
    pub how: String,
    pub rule: String,
    pub reason: String,
}

impl FiringRecord {
    pub fn from(f: &Firing, explain: &str) -> FiringRecord {
        FiringRecord {
            rule: f.rule.clone(),
            title: f.title.clone(),
            severity: f.severity.name().to_string(),
            facts: f
                .facts
                .iter()
                .map(|Observed { fact, value }| (fact.clone(), value.clone()))
                .collect(),
            actions: f.actions.clone(),
            explain: explain.to_string(),
        }
    }
}

impl From<&Exclusion> for ExclusionRecord {
    fn from(e: &Exclusion) -> Self {
        ExclusionRecord {
            knob: e.knob.clone(),
            value: e.value.clone(),
            how: e.how.clone(),
            rule: e.rule.clone(),
            reason: e.reason.clone(),
        }
    }
}

/// One measured (or failed) configuration.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrialRecord {
    pub id: usize,
    pub label: String,
    pub config: Config,
    /// Knob -> where its value came from: "default", "rule:<id>" or "search".
    pub provenance: BTreeMap<String, String>,
    /// Why this candidate was tried.
    pub why: String,
    pub status: Status,
    pub reason: Option<String>,
    /// Over every call of every shape (the samples/s is the run's summary
    /// figure; percentiles mix shapes: see `per_shape`).
    pub stats: Option<LatencyStats>,
    pub latencies_ms: Vec<f64>,
    /// Every input shape's own statistics (v2; empty in v1 files).
    #[serde(default)]
    pub per_shape: Vec<ShapeStats>,
    /// What else the machine did during the timed window (v2).
    #[serde(default)]
    pub interference: Option<Interference>,
    pub first_call_ms: Option<f64>,
    pub warmup_iterations: Option<usize>,
    pub peak_rss_bytes: u64,
    pub wall_s: f64,
    pub accuracy: Option<Accuracy>,
    /// With `--labels`: the task's top-1 accuracy (share of rows whose
    /// top class is the label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_top1: Option<f64>,
    /// Whether the outputs are within the suite's tolerance for the dtype
    /// (or, with `--max-accuracy-loss`, the task accuracy within the loss).
    pub accurate: Option<bool>,
    pub accuracy_problem: Option<String>,
    /// samples/s over stock's.
    pub speedup: Option<f64>,
    /// Bootstrap 95% interval of the speedup, estimated shape by shape.
    #[serde(default)]
    pub speedup_ci95: Option<(f64, f64)>,
    pub steps: Vec<Step>,
    pub threads: Option<usize>,
    /// A backend that compiles ahead of time (inductor): how long its
    /// compile took and whether this trial found it cached. Not part of
    /// the timed figures; part of the trial's wall time when compiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile: Option<CompileRecord>,
    /// The optimized graph the trial executed (`run --record-graphs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_graph: Option<String>,
    pub warnings: Vec<String>,
    /// The shard it was measured in (merged files only): its speedup is
    /// against that shard's stock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<usize>,
}

/// The compile of a backend that compiles ahead of time (inductor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CompileRecord {
    /// The compile's wall time (export, quantization, AOTInductor), seconds.
    pub seconds: f64,
    /// The packages came from the cache: this trial compiled nothing.
    pub cached: bool,
    /// Seconds per stage of the compile (convert_s, export_s, quantize_s, compile_s).
    pub stages: BTreeMap<String, f64>,
    /// The cache folder holding the packages (one .pt2 per input shape).
    pub folder: std::path::PathBuf,
}

/// The accuracy-aware int8 fallback for one int8 config that missed the
/// tolerance: every layer's sensitivity (most sensitive first), the configs
/// tried with one more sensitive layer kept in fp32 each, and the layers
/// the first accurate one kept in fp32.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Int8Fallback {
    /// The int8 config that missed the tolerance.
    pub config: String,
    /// The config's outputs against stock's, as the sensitivity child
    /// measured them (every layer int8).
    #[serde(default)]
    pub all_int8: Option<crate::measure::accuracy::Accuracy>,
    /// Each layer alone int8 and alone fp32, most sensitive first.
    pub sensitivity: Vec<crate::measure::accuracy::LayerError>,
    /// How long measuring the sensitivity took (two quantizations per layer).
    #[serde(default)]
    pub sensitivity_wall_s: f64,
    /// Labels of the fallback trials, in order.
    pub tried: Vec<String>,
    /// The layers kept in fp32 by the first accurate fallback (None: none
    /// was accurate within the steps and budget).
    pub kept_fp32: Option<Vec<String>>,
    /// Why the sensitivity could not be measured, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// IPEX's documented recipes for CPU inference, each in the launcher's
/// layouts, as the guided search measured them before exploring: the floor
/// the winner is held to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Expert {
    pub recipes: Vec<ExpertRecipe>,
    /// The fastest accurate recipe trial (None: none ran accurately).
    pub best: Option<ExpertBest>,
    /// The winner's samples/s over the best recipe's.
    pub winner_ratio: Option<f64>,
    /// Bootstrap 95% interval of that ratio, estimated shape by shape.
    pub winner_ratio_ci95: Option<(f64, f64)>,
}

/// One recipe in one layout: the trial that measured it, or why not.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExpertRecipe {
    /// e.g. "ipex int8".
    pub recipe: String,
    /// What the expert writes in Python for it.
    pub python: String,
    /// e.g. "2 instances x 1 core (throughput mode)".
    pub layout: String,
    /// The config that runs it here (None when skipped).
    pub label: Option<String>,
    pub trial: Option<usize>,
    /// Why it was not measured (a rule, the budget).
    pub skipped: Option<String>,
}

/// The best accurate recipe trial.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExpertBest {
    pub trial: usize,
    pub recipe: String,
    pub layout: String,
    pub label: String,
    pub samples_per_s: f64,
}

/// The best accurate IPEX trial against the best accurate Inductor trial.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Migration {
    pub ipex: Option<BackendBest>,
    pub inductor: Option<BackendBest>,
    /// Inductor's samples/s over IPEX's (above 1: Inductor is faster).
    pub inductor_over_ipex: Option<f64>,
    /// Bootstrap 95% interval of that ratio, estimated shape by shape.
    pub ci95: Option<(f64, f64)>,
    /// One sentence: which to deploy here, or why it cannot be said.
    pub verdict: String,
}

/// A backend's fastest accurate trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BackendBest {
    pub trial: usize,
    pub label: String,
    pub samples_per_s: f64,
    /// Its outputs' cosine similarity to stock's (worst batch).
    pub min_cosine: Option<f64>,
    /// Its largest absolute difference from stock's outputs.
    pub max_abs: Option<f64>,
    /// The inductor trial's compile seconds (none for IPEX).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_s: Option<f64>,
}

/// A family of candidates (backend x dtype) whose trials failed the same
/// way: the search tried no more of it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StoppedFamily {
    /// e.g. "ipex/int8-static", or with a fuser "ipex/onednn/int8-static"
    /// (a fuser that fails stops only the configs that use it).
    pub family: String,
    /// The failure its trials shared.
    pub reason: String,
    /// The trials that failed that way.
    pub trials: Vec<usize>,
}

/// The playoff: the configs within `margin` of the best single
/// measurement, measured again in turn, `rounds` times.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Playoff {
    /// Finalists were within this share of the best measurement (0.1: 10%).
    pub margin: f64,
    /// Rounds measured: every finalist once per round, the order rotating.
    pub rounds: usize,
    pub finalists: Vec<Finalist>,
    /// Why fewer rounds ran than planned (the budget, an interrupt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_short: Option<String>,
}

/// One finalist of the playoff and what it measured.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finalist {
    pub label: String,
    /// Its accurate measurements, in order: the search's first.
    pub trials: Vec<usize>,
    pub samples_per_s: Vec<f64>,
    /// The figure it is ranked by: the median measurement's.
    pub median_samples_per_s: f64,
}

/// A candidate the search did not try, and why.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Skipped {
    pub label: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Winner {
    pub trial: usize,
    pub label: String,
    pub config: Config,
    pub samples_per_s: f64,
    pub speedup: f64,
    #[serde(default)]
    pub speedup_ci95: Option<(f64, f64)>,
    /// The runner-up, when the winner does not beat it beyond the 95%
    /// interval of their ratio: the two tie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie: Option<Tie>,
}

/// A runner-up the winner does not beat with confidence.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tie {
    pub trial: usize,
    pub label: String,
    /// Winner's samples/s over the runner-up's, and its 95% interval.
    pub ratio: f64,
    pub ci95: (f64, f64),
}

/// The whole results file.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Results {
    pub schema: String,
    pub tool: Tool,
    pub started_unix: u64,
    pub command: Vec<String>,
    /// False while the run goes on (or when it was killed).
    pub complete: bool,
    pub interrupted: bool,
    pub host: Option<HostProfile>,
    pub facts: Facts,
    pub model: ModelFacts,
    pub suite: Suite,
    pub search: Search,
    /// What "fastest" means in this run (v2; v1 runs were throughput).
    #[serde(default = "throughput")]
    pub objective: Objective,
    pub plan: PlanRecord,
    pub trials: Vec<TrialRecord>,
    pub skipped: Vec<Skipped>,
    pub winner: Option<Winner>,
    /// Stock measured again at the end against the first stock (v2).
    #[serde(default)]
    pub stock_drift: Option<Drift>,
    /// Stock measured through the run (start, middle, end) and whether it
    /// moved: the host was noisy and the trials measured meanwhile are
    /// marked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    /// How to run the winner (v2).
    #[serde(default)]
    pub deploy: Option<Deploy>,
    /// The int8 fallbacks the search ran (v2, when int8 missed the tolerance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub int8_fallbacks: Vec<Int8Fallback>,
    /// The expert's recipes the guided search measured first, and the
    /// winner against the best of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert: Option<Expert>,
    /// The answer to "should I leave IPEX for Inductor?" on this model and
    /// host: the best accurate trial of each backend, and their ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
    /// Families of candidates (backend x dtype) the search stopped trying,
    /// and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped_families: Vec<StoppedFamily>,
    /// The search's finalists measured again in turn; each config then
    /// stands on the median of its measurements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playoff: Option<Playoff>,
    pub warnings: Vec<String>,
    /// Where the winner's time goes (`run --profile`): ops, kernels and
    /// ISA, the model against the host's measured roofs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileRecord>,
    /// The shard of the candidates this run measured (`run --shard`, or
    /// the scheduler's array index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// How this file was merged from shards (`ipex-tune merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergeRecord>,
}

/// How to run the winner outside ipex-tune: the environment, one launch
/// line per instance, IPEX's launcher equivalent, and what cannot be
/// expressed that way.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Deploy {
    /// The winner's config label.
    pub config: String,
    /// Environment variables to set (allocator preload and settings,
    /// OpenMP threads).
    pub env: BTreeMap<String, String>,
    /// One line per instance (`{command}` stands for the user's program).
    pub launch: Vec<String>,
    /// The equivalent IPEX launcher command.
    pub ipex_launcher: String,
    /// The optimized module written by `--save-optimized`, if any.
    pub saved_module: Option<String>,
    /// What the lines above cannot carry, and what to do instead.
    pub notes: Vec<String>,
}

/// How far the reference moved during the run: samples/s of stock at the
/// end over stock at the start, with its 95% interval.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Drift {
    pub ratio: f64,
    pub ci95: (f64, f64),
    /// False when the interval excludes 1: the run's ratios are unreliable.
    pub reliable: bool,
}

/// The reference (stock, as loaded) measured again through the run: at the
/// start, every half budget (or every few trials without one) and at the
/// end. Every "x stock" figure assumes the reference stood still.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reference {
    pub points: Vec<ReferencePoint>,
    /// (fastest - slowest) / median of the points' samples/s.
    pub spread: f64,
    /// Fastest over slowest point with its 95% interval.
    pub movement: f64,
    pub movement_ci95: (f64, f64),
    /// A movement below this share is not a noisy host.
    pub threshold: f64,
    /// The movement's interval lies beyond the threshold: the host was
    /// noisy during the run, and the ratios carry it.
    pub noisy: bool,
    /// Trials measured between two points that moved beyond the
    /// threshold (their records say so).
    pub marked: Vec<usize>,
    /// The stock trial every `speedup` divides by: with three points or
    /// more, the one of median throughput (a reference measured once may
    /// catch the host in a fast or a slow stretch); else the first.
    #[serde(default)]
    pub stock_trial: usize,
}

/// One measurement of the reference.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReferencePoint {
    pub trial: usize,
    /// Seconds since the run started, when the trial ended.
    pub at_s: f64,
    pub samples_per_s: f64,
    /// Minor page faults per timed call (stock's processes together): in
    /// the processes where glibc gives its heap back after every call and
    /// faults it in again, hundreds; elsewhere next to none.
    #[serde(default)]
    pub faults_per_call: Option<f64>,
}

fn throughput() -> Objective {
    Objective::Throughput
}

/// The results file could not be written (the previous one is intact).
#[derive(Debug, thiserror::Error)]
#[error("cannot write the results file {}: {reason}; the file as it was before is intact", path.display())]
pub struct NotWritten {
    pub path: PathBuf,
    pub reason: String,
}

impl Results {
    /// Writes the file atomically: a temporary file in the same folder,
    /// flushed to disk, then renamed over the target. On any failure (full
    /// disk, file size limit, read-only folder) the previous file is left as
    /// it was and the error names the path.
    pub fn write_atomic(&self, path: &Path) -> Result<(), NotWritten> {
        self.try_write_atomic(path).map_err(|e| NotWritten {
            path: path.to_path_buf(),
            // tempfile appends the temporary file's name, which is gone.
            reason: e
                .to_string()
                .split(" at path ")
                .next()
                .unwrap_or_default()
                .to_string(),
        })
    }

    fn try_write_atomic(&self, path: &Path) -> std::io::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        // Renaming over a device or a folder would replace it (as root,
        // even /dev/full): only regular files are replaced.
        if path.exists() && !path.is_file() {
            return Err(std::io::Error::other(
                "not a regular file; expected a path for a results file",
            ));
        }
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        // Results are for sharing (CI artifacts): not the temp file's 0600.
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        serde_json::to_writer_pretty(&mut tmp, self)?;
        tmp.write_all(b"\n")?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Reads and checks a results file.
    pub fn read(path: &Path) -> Result<Results, crate::error::UserError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            crate::error::UserError::BadValue(format!("{}: cannot read: {e}", path.display()))
        })?;
        Results::from_text(path, &text)
    }

    /// Checks and reads a results file's text; `path` names it in errors.
    pub fn from_text(path: &Path, text: &str) -> Result<Results, crate::error::UserError> {
        let bad =
            |what: String| crate::error::UserError::BadValue(format!("{}: {what}", path.display()));
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(known) if READS.contains(&known) => {}
            Some(other) => return Err(bad(format!("schema '{other}', expected '{SCHEMA}'"))),
            None => return Err(bad(format!("no `schema` field; expected '{SCHEMA}'"))),
        }
        serde_json::from_value(value).map_err(|e| bad(format!("not a valid {SCHEMA} file: {e}")))
    }
}
