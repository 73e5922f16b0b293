//! The command line: subcommands and their flags (clap derive).
use std::path::PathBuf;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Find the fastest configuration for a TorchScript model on this CPU host
/// that keeps accuracy, prove it against stock execution, and guard it in CI.
#[derive(Debug, Parser)]
#[command(name = "ipex-tune", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The host profile and every environment check (exit 1 when any FAILs).
    Doctor(DoctorArgs),
    /// What a model is: methods, schemas, parameters, op histogram, control flow.
    Inspect(InspectArgs),
    /// The candidate configurations the rules allow for a model and suite, and why.
    Plan(Box<PlanArgs>),
    /// Measure stock and the candidates, check accuracy, pick the winner, write the results.
    Run(Box<RunArgs>),
    /// Render a results file as HTML (with charts), PNG charts and Markdown.
    Report(ReportArgs),
    /// Compare a run with a baseline run, shape by shape: exit 1 on a regression or an inconclusive comparison.
    Gate(GateArgs),
    /// Where one config's time goes: per-op times by kind and by node, and
    /// the oneDNN kernels and ISA that really ran.
    Profile(Box<ProfileArgs>),
    /// Combine the results files of `run --shard` shards into one results
    /// file per host type (winner recomputed; missing shards reported).
    Merge(MergeArgs),
    /// Measure one configuration in this process (used by `run`).
    #[command(hide = true)]
    Trial(TrialArgs),
    /// The rule set: list, explain ID, check [DIR], facts.
    Rules(RulesArgs),
    /// The JSON Schema of a results file or of `gate --json` (as in docs/schemas).
    Schema(SchemaArgs),
    /// A shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(CompletionsArgs),
    /// The man page (roff) on stdout: `ipex-tune man > ipex-tune.1`.
    Man,
    /// Measure the optimized runtime against stock on the fixture models
    /// (the proof that the optimizations are real).
    Bench(BenchArgs),
    /// Compare the rules-guided search with the grid on fixture models:
    /// speedup over stock, the grid's best, and the wall time of each.
    BenchSearch(BenchSearchArgs),
    /// Benchmark the measuring harness itself: P3, the timed loop's
    /// overhead against a bare loop; P4, five repeats of one config.
    BenchHarness(BenchHarnessArgs),
}

/// The fixture models a benchmark runs, each with its suite.
#[derive(Debug, Args)]
pub struct FixtureModels {
    /// Fixture models and their suites, as MODEL:SUITE[=SHAPE] (MODEL under
    /// --fixtures, without .pt; SHAPE for the generic suite).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mlp:generic=64x512,cnn:cv"
    )]
    pub models: Vec<String>,
    /// Folder with the fixture models (relative to the working directory:
    /// run from the repository, or point it at a copy).
    #[arg(long, default_value = "tests/fixtures")]
    pub fixtures: PathBuf,
}

/// One `MODEL:SUITE[=SHAPE]` entry of --models.
pub struct FixtureModel {
    pub model: String,
    pub path: PathBuf,
    pub suite: String,
    pub shape: Option<String>,
}

impl FixtureModels {
    /// The entries, each checked: the syntax and that the file exists.
    pub fn entries(&self) -> Result<Vec<FixtureModel>, crate::error::UserError> {
        self.models
            .iter()
            .map(|entry| {
                let (model, suite_spec) = entry.split_once(':').ok_or_else(|| {
                    crate::error::UserError::BadValue(format!(
                        "--models '{entry}': expected MODEL:SUITE"
                    ))
                })?;
                let (suite, shape) = match suite_spec.split_once('=') {
                    Some((suite, shape)) => (suite, Some(shape.to_string())),
                    None => (suite_spec, None),
                };
                let path = self.fixtures.join(format!("{model}.pt"));
                if !path.is_file() {
                    return Err(crate::error::UserError::bad_model(
                        &path,
                        "no such fixture; expected a TorchScript file (--fixtures DIR)",
                    ));
                }
                Ok(FixtureModel {
                    model: model.to_string(),
                    path,
                    suite: suite.to_string(),
                    shape,
                })
            })
            .collect()
    }
}

/// The lock that keeps two timing runs off the same cores (tune::lock).
#[derive(Debug, Args)]
pub struct LockArgs {
    /// Time even if another ipex-tune run is timing on the same cores
    /// (both measurements suffer).
    #[arg(long)]
    pub no_lock: bool,
    /// When another run holds some of these cores, wait this long for them
    /// (e.g. 30m) instead of stopping at once with exit code 4.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", conflicts_with = "no_lock")]
    pub lock_wait: Option<Duration>,
}

impl LockArgs {
    pub fn policy(&self) -> crate::tune::lock::LockPolicy {
        use crate::tune::lock::LockPolicy;
        match (self.no_lock, self.lock_wait) {
            (true, _) => LockPolicy::Skip,
            (false, wait) => LockPolicy::WaitUpTo(wait.unwrap_or_default()),
        }
    }
}

#[derive(Debug, Args)]
pub struct BenchHarnessArgs {
    #[command(flatten)]
    pub set: FixtureModels,
    #[command(flatten)]
    pub lock: LockArgs,
    /// P3: calls per block (bare and timed blocks alternate).
    #[arg(long, default_value_t = 500)]
    pub calls: usize,
    /// P3: blocks of each kind (the pairs the overhead's median is over).
    #[arg(long, default_value_t = 20)]
    pub blocks: usize,
    /// P4: repeats of the config.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// P4: minimum timed seconds per repeat.
    #[arg(long, default_value_t = 3.0, value_parser = parse_seconds, allow_negative_numbers = true)]
    pub min_time: f64,
    /// P4: the configs measured beside stock (labels as the results show
    /// them, e.g. a run's winner); default: frozen fp32 on every core, one
    /// instance per core, and IPEX fp32.
    #[arg(long, value_delimiter = ',')]
    pub configs: Vec<String>,
    /// P4: windows of each config per repeat, taken in turn; the repeat's
    /// figure is their median, as `run`'s playoff ranks its finalists (1:
    /// one window, as the search measures a candidate).
    #[arg(long, default_value_t = 3)]
    pub windows: usize,
    /// P5: windows of each variant of stock (as run times it, one process,
    /// one process timed as long as a pooled one, glibc's thresholds fixed,
    /// jemalloc, one thread); 0: skip P5.
    #[arg(long, default_value_t = 6)]
    pub cause_windows: usize,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// TorchScript file (torch.jit.save output), or a program saved by torch.export.save (.pt2).
    pub model: PathBuf,
    /// The entry method to inspect.
    #[arg(long, default_value = "forward")]
    pub method: String,
    /// Print JSON (stable, documented in the README) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also print the method's inlined TorchScript graph.
    #[arg(long, conflicts_with = "json")]
    pub graph: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Fixture models to measure (file names under --fixtures, without .pt).
    #[arg(long, value_delimiter = ',', default_value = "cnn,mlp,encoder")]
    pub models: Vec<String>,
    /// Folder with the fixture models (relative to the working directory:
    /// run from the repository, or point it at a copy).
    #[arg(long, default_value = "tests/fixtures")]
    pub fixtures: PathBuf,
    /// Minimum timed duration per mode, in seconds.
    #[arg(long, default_value_t = 2.0, value_parser = parse_seconds, allow_negative_numbers = true)]
    pub min_time: f64,
    /// Minimum timed iterations per mode.
    #[arg(long, default_value_t = 10, value_parser = parse_count, allow_negative_numbers = true)]
    pub min_iters: usize,
    /// Allocators to measure each mode with (glibc, glibc-tuned, jemalloc, tcmalloc).
    #[arg(long, value_delimiter = ',', default_value = "glibc,glibc-tuned")]
    pub allocators: Vec<String>,
    /// Only modes whose name contains one of these substrings.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    #[command(flatten)]
    pub lock: LockArgs,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Print the optimized graph each mode executed (after warm-up).
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON (host profile and checks) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Extra rule directories (in addition to the bundled rules).
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// How long to watch other processes' CPU use, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub sample_ms: u64,
    /// Use host/env/torch/ipex facts from this JSON file instead of profiling
    /// the host (for reproducible output in tests).
    #[arg(long, hide = true)]
    pub host_facts: Option<PathBuf>,
}

/// What to tune and with which inputs: shared by `plan` and `run`.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// TorchScript file (torch.jit.save output), or a program saved by torch.export.save (.pt2).
    pub model: PathBuf,
    /// Input suite: nlp, cv, recsys, speech, generic (with --input-shape), or one of --suites.
    #[arg(long)]
    pub suite: String,
    /// The entry method.
    #[arg(long, default_value = "forward")]
    pub method: String,
    /// For --suite generic: the shape of each tensor argument, in order
    /// (e.g. 8x3x224x224; append :intN for int64 ids below N).
    #[arg(long, allow_hyphen_values = true)]
    pub input_shape: Vec<String>,
    /// Replace the suite's batch sizes with this one.
    #[arg(long)]
    pub batch_size: Option<i64>,
    /// Cores the run may use (default: the usable cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Only these CPUs (e.g. 0-3,8), a subset of what the process may use.
    #[arg(long, value_name = "LIST", conflicts_with = "nodes")]
    pub cores: Option<String>,
    /// Only the CPUs of these NUMA nodes (e.g. 0 or 0,1).
    #[arg(long, value_name = "LIST")]
    pub nodes: Option<String>,
    /// Measure and check accuracy on these inputs instead of the suite's
    /// generated ones (torch.save list/dict of tensors, .npy, .npz, .safetensors).
    #[arg(long, value_name = "PATH")]
    pub inputs: Option<PathBuf>,
    /// Calibrate static int8 on these inputs (same formats as --inputs).
    #[arg(long, value_name = "PATH")]
    pub calibration: Option<PathBuf>,
    /// The class of every row of --inputs' batches (same structure): the
    /// task's top-1 accuracy of stock and of every config is reported.
    #[arg(long, value_name = "PATH", requires = "inputs")]
    pub labels: Option<PathBuf>,
    /// With --labels: a config is accurate when its top-1 is within this
    /// loss of stock's: "1%" (relative) or "0.01abs" (absolute).
    #[arg(long, value_parser = parse_accuracy_loss, requires = "labels")]
    pub max_accuracy_loss: Option<crate::suite::AccuracyLoss>,
    /// Extra rule directories.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Extra suite directories.
    #[arg(long = "suites", value_name = "DIR")]
    pub suites: Vec<PathBuf>,
}

impl TargetArgs {
    /// The target as the tuning stage takes it.
    pub fn target(&self) -> crate::tune::Target {
        crate::tune::Target {
            model: self.model.clone(),
            suite: self.suite.clone(),
            method: self.method.clone(),
            input_shapes: self.input_shape.clone(),
            batch_size: self.batch_size,
            threads: self.threads,
            cores: self.cores.clone(),
            nodes: self.nodes.clone(),
            inputs: self.inputs.clone(),
            calibration: self.calibration.clone(),
            labels: self.labels.clone(),
            max_accuracy_loss: self.max_accuracy_loss,
            rule_dirs: self.rules.clone(),
            suite_dirs: self.suites.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// How many candidates to list in the table output.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Use host/env/torch/ipex facts from this JSON file instead of profiling
    /// the host (for reproducible output in tests).
    #[arg(long, hide = true)]
    pub host_facts: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
    /// Extra rule directories (in addition to the bundled rules).
    #[arg(long = "rules", value_name = "DIR", global = true)]
    pub rules: Vec<PathBuf>,
    /// Print JSON (with a `schema` field) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Every rule: id, severity, source, title.
    List,
    /// One rule in full: source, condition, actions, examples, explanation.
    Explain {
        /// The rule id.
        id: String,
    },
    /// Validate a rule directory (default: the bundled rules) and run every rule's examples.
    Check {
        /// Directory of rule files.
        dir: Option<PathBuf>,
    },
    /// The facts rules may use.
    Facts,
}

/// Parses a duration such as `90s`, `5m`, `1h` or plain seconds.
/// A count >= 1.
pub fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{text}': expected a whole number >= 1")),
    }
}

/// Seconds as a finite number >= 0 (e.g. 0.5).
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("'{text}': expected seconds >= 0, e.g. 0.5")),
    }
}

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

/// Parses "1%" (relative to stock's accuracy) or "0.01abs" (absolute).
pub fn parse_accuracy_loss(text: &str) -> Result<crate::suite::AccuracyLoss, String> {
    let t = text.trim();
    let (number, relative, scale) = if let Some(p) = t.strip_suffix('%') {
        (p, true, 0.01)
    } else if let Some(a) = t.strip_suffix("abs") {
        (a, false, 1.0)
    } else {
        return Err(format!(
            "'{text}': expected a relative loss like 1% or an absolute one like 0.01abs"
        ));
    };
    match number.trim().parse::<f64>() {
        Ok(v) if (0.0..100.0).contains(&v) => Ok(crate::suite::AccuracyLoss {
            value: v * scale,
            relative,
        }),
        _ => Err(format!(
            "'{text}': expected a relative loss like 1% or an absolute one like 0.01abs"
        )),
    }
}

/// Parses a latency percentile: 50, 90 or 99.
pub fn parse_percentile(text: &str) -> Result<u8, String> {
    match text.trim() {
        "50" => Ok(50),
        "90" => Ok(90),
        "99" => Ok(99),
        _ => Err(format!("'{text}': expected 50, 90 or 99")),
    }
}

/// Parses a latency limit, "20ms", "0.5s" or "20" (ms), into milliseconds.
pub fn parse_latency(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1e3)
    } else {
        (t, 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v * scale),
        _ => Err(format!(
            "'{text}' is not a latency; expected e.g. 20ms, 500us or 0.5s"
        )),
    }
}

/// Parses "5%", "5" (percent) or "0.05".
pub fn parse_threshold(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = if let Some(p) = t.strip_suffix('%') {
        p.trim().parse::<f64>().map(|v| v / 100.0)
    } else {
        t.parse::<f64>()
            .map(|v| if v >= 1.0 { v / 100.0 } else { v })
    }
    .map_err(|_| format!("'{text}' is not a threshold; expected e.g. 5% or 0.05"))?;
    if !(0.0..1.0).contains(&value) {
        return Err(format!(
            "'{text}': expected a threshold between 0% and 100%"
        ));
    }
    Ok(value)
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Stop starting new trials after this long (e.g. 90s, 5m, 1h); one
    /// config besides stock always runs.
    #[arg(long, value_parser = parse_duration)]
    pub budget: Option<Duration>,
    /// Measure exactly these configurations after stock (labels as the
    /// results show them, e.g. stock/O1+fold+prepack/fp32/t2/glibc-tuned),
    /// instead of searching.
    #[arg(long = "config", value_name = "LABEL")]
    pub configs: Vec<String>,
    /// rules: guided by the rules; grid: every coherent configuration (for comparison).
    #[arg(long, default_value = "rules", value_parser = ["rules", "grid"])]
    pub search: String,
    /// Results file (default: reports/runs/MODEL-SUITE-TIME.json).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Override the suite's minimum timed seconds per trial.
    #[arg(long, value_parser = parse_seconds, allow_negative_numbers = true)]
    pub min_time: Option<f64>,
    /// Override the suite's minimum timed iterations per trial.
    #[arg(long, value_parser = parse_count, allow_negative_numbers = true)]
    pub min_iters: Option<usize>,
    /// Time limit of one trial (default: 120s + 20 x the minimum time).
    #[arg(long, value_parser = parse_duration)]
    pub trial_timeout: Option<Duration>,
    /// Record the optimized graph each trial executed in the results file.
    #[arg(long)]
    pub record_graphs: bool,
    /// No progress or summary on the terminal.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the results file's JSON on stdout at the end instead of the
    /// summary (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// Write report.html, report.md and the PNG charts into this folder at the end.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Gate the finished run against this baseline results file (exit 1 on a regression).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Regression threshold for --baseline (e.g. 5%).
    #[arg(long, default_value = "5%", value_parser = parse_threshold)]
    pub max_regression: f64,
    /// What the winner is: throughput (highest samples/s) or latency
    /// (lowest latency at the given batch sizes; see --percentile).
    #[arg(long, value_parser = ["throughput", "latency"], default_value = "throughput")]
    pub objective: String,
    /// Write the winner's optimized TorchScript module here (frozen,
    /// folded, quantized as its config says); the results' `deploy` block
    /// says how to run it.
    #[arg(long, value_name = "PATH")]
    pub save_optimized: Option<PathBuf>,
    /// With --objective latency: the percentile to minimise (50, 90 or 99).
    #[arg(long, default_value_t = 50, value_parser = parse_percentile)]
    pub percentile: u8,
    /// The highest throughput whose p99 latency stays within this limit on
    /// every input shape (e.g. 20ms, 0.5s).
    #[arg(long, value_parser = parse_latency, conflicts_with = "objective")]
    pub max_latency: Option<f64>,
    /// With --baseline: let comparisons whose interval straddles the
    /// threshold pass (they fail by default, after one re-measurement).
    #[arg(long)]
    pub inconclusive_passes: bool,
    /// Profile the winner at the end (ops, oneDNN kernels and ISA, the
    /// roofline) into the results file's `profile` section (see `ipex-tune
    /// profile`).
    #[arg(long)]
    pub profile: bool,
    /// Measure only shard I of N of the candidates (a --config list, the
    /// grid, or the guided search's first knob group; stock in every
    /// shard); 1/1 measures everything. Default: from the scheduler
    /// (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX), else everything.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<crate::record::fleet::Shard>,
    /// The number of shards when the scheduler gives only the index
    /// (Kubernetes' JOB_COMPLETION_INDEX); or IPEX_TUNE_SHARD_COUNT.
    #[arg(long, value_name = "N", value_parser = parse_count, conflicts_with = "shard")]
    pub shard_count: Option<usize>,
    /// With --profile: rounds over the suite's batches to profile.
    #[arg(long, default_value_t = 20, value_parser = parse_count, requires = "profile")]
    pub profile_rounds: usize,
    /// Make the first trial whose label contains this hang (tests only).
    #[arg(long, hide = true)]
    pub inject_hang: Option<String>,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct TrialArgs {
    /// The trial spec (JSON, see trial::spec::TrialSpec).
    #[arg(long)]
    pub spec_file: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchSearchArgs {
    #[command(flatten)]
    pub set: FixtureModels,
    /// Minimum timed seconds per trial (both searches).
    #[arg(long, default_value_t = 0.3, value_parser = parse_seconds, allow_negative_numbers = true)]
    pub min_time: f64,
    /// Minimum timed iterations per trial (both searches).
    #[arg(long, default_value_t = 5, value_parser = parse_count, allow_negative_numbers = true)]
    pub min_iters: usize,
    /// Folder for the two results files of each model.
    #[arg(long, default_value = "reports/bench-search")]
    pub out: PathBuf,
    /// Reuse results files already in --out instead of running again.
    #[arg(long)]
    pub reuse: bool,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The config to profile, as the results label it (default: stock).
    #[arg(long = "config", value_name = "LABEL")]
    pub config: Option<String>,
    /// Rounds over the suite's batches with every op timed.
    #[arg(long, default_value_t = 20, value_parser = parse_count)]
    pub rounds: usize,
    /// Rows of the per-node table.
    #[arg(long, default_value_t = 15, value_parser = parse_count)]
    pub top: usize,
    /// Print JSON (with a `schema` field) instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which format: results (the results file) or gate (`gate --json`).
    #[arg(value_parser = ["results", "gate"])]
    pub kind: String,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The baseline results file (ipex-tune/results/v2, or v1).
    #[arg(long)]
    pub baseline: PathBuf,
    /// The current results file.
    #[arg(long)]
    pub current: PathBuf,
    /// Largest slowdown allowed (e.g. 5% or 0.05); a confident slowdown
    /// beyond it fails.
    #[arg(long, default_value = "5%", value_parser = parse_threshold)]
    pub max_regression: f64,
    /// Let comparisons whose 95% interval straddles the threshold pass
    /// (inconclusive: they fail by default).
    #[arg(long)]
    pub inconclusive_passes: bool,
    /// Write JUnit XML (one test case per config) here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write the Markdown summary here.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Compare runs from different hosts or torch/IPEX versions anyway.
    #[arg(long)]
    pub allow_host_change: bool,
    /// Print the comparison as JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Print what was written and the verdict as JSON (with a `schema` field).
    #[arg(long)]
    pub json: bool,
    /// A results file (ipex-tune/results/v2, or v1).
    pub results: PathBuf,
    /// Write the self-contained HTML report here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write one PNG per chart into this folder.
    #[arg(long, value_name = "DIR")]
    pub png: Option<PathBuf>,
    /// Write the Markdown summary here (printed when no output is given).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

fn parse_shard(s: &str) -> Result<crate::record::fleet::Shard, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' results files.
    #[arg(required = true, value_name = "RESULTS")]
    pub files: Vec<PathBuf>,
    /// The merged results file (with several host types, one file per host
    /// type beside it: STEM.host1.json, ...).
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
    /// Print what was merged as JSON (with a `schema` field).
    #[arg(long)]
    pub json: bool,
    /// Exit 0 even when shards are missing (exit 1 by default).
    #[arg(long)]
    pub allow_missing: bool,
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

    #[test]
    fn thresholds() {
        assert_eq!(parse_threshold("5%"), Ok(0.05));
        assert_eq!(parse_threshold("0.05"), Ok(0.05));
        assert_eq!(parse_threshold("5"), Ok(0.05));
        assert!(parse_threshold("lots").is_err());
        assert!(parse_threshold("150%").is_err());
    }
}
