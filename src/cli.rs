//! The command line: subcommands and their flags (clap derive).
use std::path::PathBuf;

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
    Plan(PlanArgs),
    /// Measure stock and the candidates, check accuracy, pick the winner, write the results.
    Run(Box<RunArgs>),
    /// Render a results file as HTML (with charts), PNG charts and Markdown.
    Report(ReportArgs),
    /// Compare a run with a baseline run: exit 1 on a regression beyond noise.
    Gate(GateArgs),
    /// Measure one configuration in this process (used by `run`).
    #[command(hide = true)]
    Trial(TrialArgs),
    /// The rule set: list, explain ID, check [DIR], facts.
    Rules(RulesArgs),
    /// Measure the optimized runtime against stock on the fixture models
    /// (the proof that the optimizations are real).
    Bench(BenchArgs),
    /// Compare the rules-guided search with the grid on fixture models:
    /// speedup over stock, the grid's best, and the wall time of each.
    BenchSearch(BenchSearchArgs),
    /// Run one benchmark mode in this process and print a JSON result (used by `bench`).
    #[command(hide = true)]
    BenchChild(BenchChildArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// TorchScript file (torch.jit.save output).
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
    /// Folder with the fixture models.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))]
    pub fixtures: PathBuf,
    /// Minimum timed duration per mode, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub min_time: f64,
    /// Minimum timed iterations per mode.
    #[arg(long, default_value_t = 10)]
    pub min_iters: usize,
    /// Allocators to measure each mode with (glibc, glibc-tuned, jemalloc, tcmalloc).
    #[arg(long, value_delimiter = ',', default_value = "glibc,glibc-tuned")]
    pub allocators: Vec<String>,
    /// Only modes whose name contains one of these substrings.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Print the optimized graph each mode executed (after warm-up).
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct BenchChildArgs {
    /// The mode, as JSON (see commands::bench::ChildSpec).
    #[arg(long)]
    pub spec: String,
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
    /// TorchScript file (torch.jit.save output).
    pub model: PathBuf,
    /// Input suite: nlp, cv, recsys, speech, generic (with --input-shape), or one of --suites.
    #[arg(long)]
    pub suite: String,
    /// The entry method.
    #[arg(long, default_value = "forward")]
    pub method: String,
    /// For --suite generic: the shape of each tensor argument, in order
    /// (e.g. 8x3x224x224; append :intN for int64 ids below N).
    #[arg(long)]
    pub input_shape: Vec<String>,
    /// Replace the suite's batch sizes with this one.
    #[arg(long)]
    pub batch_size: Option<i64>,
    /// Cores the run may use (default: the usable cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Extra rule directories.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Extra suite directories.
    #[arg(long = "suites", value_name = "DIR")]
    pub suites: Vec<PathBuf>,
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

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::commands::parse_duration(text)
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Stop starting new trials after this long (e.g. 90s, 5m, 1h).
    #[arg(long, value_parser = parse_duration)]
    pub budget: Option<std::time::Duration>,
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
    #[arg(long)]
    pub min_time: Option<f64>,
    /// Override the suite's minimum timed iterations per trial.
    #[arg(long)]
    pub min_iters: Option<usize>,
    /// Time limit of one trial (default: 120s + 20 x the minimum time).
    #[arg(long, value_parser = parse_duration)]
    pub trial_timeout: Option<std::time::Duration>,
    /// No progress or summary on the terminal.
    #[arg(long, short)]
    pub quiet: bool,
    /// Write report.html, report.md and the PNG charts into this folder at the end.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Gate the finished run against this baseline results file (exit 1 on a regression).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Regression threshold for --baseline (e.g. 5%).
    #[arg(long, default_value = "5%", value_parser = parse_threshold)]
    pub max_regression: f64,
    /// Make the first trial whose label contains this hang (tests only).
    #[arg(long, hide = true)]
    pub inject_hang: Option<String>,
}

#[derive(Debug, Args)]
pub struct TrialArgs {
    /// The trial spec (JSON, see runtime::trial::TrialSpec).
    #[arg(long)]
    pub spec_file: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchSearchArgs {
    /// Fixture models and their suites, as MODEL:SUITE (MODEL under --fixtures, without .pt).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mlp:generic=64x512,cnn:cv"
    )]
    pub models: Vec<String>,
    /// Folder with the fixture models.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))]
    pub fixtures: PathBuf,
    /// Minimum timed seconds per trial (both searches).
    #[arg(long, default_value_t = 0.3)]
    pub min_time: f64,
    /// Minimum timed iterations per trial (both searches).
    #[arg(long, default_value_t = 5)]
    pub min_iters: usize,
    /// Folder for the two results files of each model.
    #[arg(long, default_value = "reports/bench-search")]
    pub out: PathBuf,
    /// Reuse results files already in --out instead of running again.
    #[arg(long)]
    pub reuse: bool,
}

fn parse_threshold(text: &str) -> Result<f64, String> {
    crate::commands::parse_threshold(text)
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The baseline results file (ipex-tune/results/v1).
    #[arg(long)]
    pub baseline: PathBuf,
    /// The current results file.
    #[arg(long)]
    pub current: PathBuf,
    /// Largest slowdown treated as noise (e.g. 5% or 0.05); a confident
    /// slowdown beyond it fails.
    #[arg(long, default_value = "5%", value_parser = parse_threshold)]
    pub max_regression: f64,
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
    /// A results file (ipex-tune/results/v1).
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
