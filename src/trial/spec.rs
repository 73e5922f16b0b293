//! The trial protocol: what the parent asks of a child (`TrialSpec`, as a
//! JSON file) and what the child answers (`TrialOutput`, one JSON line on
//! stdout). Both sides use these types; nothing else crosses the boundary.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::measure::accuracy::{damage, Accuracy, LayerError};
use crate::measure::interference::Interference;
use crate::measure::shapes::{split_by_shape, ShapeStats};
use crate::measure::stats::{thin, LatencyStats};
use crate::measure::timing::Timed;
use crate::record::{CompileRecord, Step};
use crate::suite::Suite;

/// Activation observer for static int8 calibration (a rule option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Observer {
    /// Running min/max (robust to huge values: Known Issues' overflow workaround).
    Minmax,
    /// Histogram with L2-optimal range (IPEX's default; better accuracy).
    Histogram,
}

/// Options the rules and the command line set for a trial.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialOptions {
    /// Activation observer for static int8 calibration.
    pub observer: Observer,
    /// Calibrate with this many threads when the config runs one thread.
    pub calibration_threads: Option<usize>,
    pub min_time_s: f64,
    pub min_iters: usize,
    /// CPUs the trial may use.
    pub cpus: Vec<u32>,
    /// The NUMA node of each of `cpus` (empty when unknown): workers bind
    /// their memory to their cores' node.
    #[serde(default)]
    pub cpu_nodes: Vec<u32>,
    /// Report the optimized graph the last timed call executed.
    #[serde(default)]
    pub record_graph: bool,
    /// After the timed loop, this many rounds over the batches with every
    /// graph op timed (`ipex-tune profile`); 0: none.
    #[serde(default)]
    pub profile_rounds: usize,
    /// Start the child with oneDNN's verbose log on (which kernels ran).
    #[serde(default)]
    pub onednn_verbose: bool,
    /// The attributes the model's entry method assigns (its state between
    /// calls): put back as the model loaded before the outputs are compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_state: Vec<String>,
    /// Time the window in this many fresh processes in turn, each for its
    /// share of the minimums, pooled (stock: [`STOCK_PROCESSES`]); 1: in
    /// the trial child itself.
    #[serde(default = "one_process")]
    pub processes: usize,
}

fn one_process() -> usize {
    1
}

/// The processes stock's every trial is timed in, one after another.
/// Stock allocates its activations through glibc, whose mmap and trim
/// thresholds move with the allocations a process has seen: where they
/// settle differs from one process to the next, and stock's speed with it
/// (bimodal). Measured on the cv fixture `cnn` (2 threads, an Intel Xeon
/// VM), one stock trial per `run`, eight runs: in one process, batch 1 took
/// 1.90 or 2.89 ms and batch 8 14.4 or 18.7 ms (spread 51% and 26%, sd 20%
/// and 11%); in three processes pooled, 5.4% and 6.5% (sd 2.0% and 2.6%).
/// Within one process eight windows stay within 3% (Python, same model),
/// and with glibc's thresholds fixed, or jemalloc, processes differ by 8%;
/// ASLR off does not narrow it.
pub const STOCK_PROCESSES: usize = 3;

/// A deliberate failure, for testing the parent's handling (hidden flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// Never return (the parent's time limit must end it).
    Hang,
}

/// What the child is asked to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Job {
    /// Apply the config, time it, compare its outputs (a `TrialOutput`).
    #[default]
    Measure,
    /// For an int8 config: each quantizable layer's effect on the outputs
    /// when it alone is quantized (a `SensitivityOutput`; nothing timed).
    LayerSensitivity,
    /// For a backend that compiles ahead of time: compile the config's
    /// packages, or find them cached (a `CompileRecord`; nothing timed).
    /// Run in its own process before the measuring child, so that the
    /// compile's memory and time never count as the trial's.
    Compile,
}

/// What a `Job::LayerSensitivity` child answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SensitivityOutput {
    /// Every quantizable layer of the model, in module order.
    pub layers: Vec<String>,
    /// The config as given (every measured layer int8).
    pub all_int8: Option<Accuracy>,
    /// The layers measured (those the config does not already keep fp32).
    pub layer_errors: Vec<LayerError>,
}

impl SensitivityOutput {
    /// The measured layers, most sensitive first. Score: the damage keeping
    /// the layer fp32 removes, over the largest such gain, plus the damage
    /// it does alone, over the largest such damage (both in [0, 1]; the two
    /// measures find different culprits, see [`LayerError`]). A layer whose
    /// int8 could not run at all ranks first. Ties keep module order.
    pub fn ranked(&self) -> Vec<LayerError> {
        let full = damage(self.all_int8.as_ref());
        let gain = |l: &LayerError| {
            let kept = damage(l.kept_fp32.as_ref());
            if full.is_finite() && kept.is_finite() {
                (full - kept).max(0.0)
            } else {
                0.0
            }
        };
        let alone = |l: &LayerError| damage(l.alone.as_ref());
        let largest = |f: &dyn Fn(&LayerError) -> f64| {
            self.layer_errors
                .iter()
                .map(f)
                .filter(|x| x.is_finite())
                .fold(0.0, f64::max)
        };
        let (max_gain, max_alone) = (largest(&gain), largest(&alone));
        let share = |x: f64, max: f64| if max > 0.0 { x / max } else { 0.0 };
        let mut ranked: Vec<LayerError> = self
            .layer_errors
            .iter()
            .map(|l| {
                let a = alone(l);
                let score = if a.is_finite() {
                    share(gain(l), max_gain) + share(a, max_alone)
                } else {
                    f64::INFINITY
                };
                LayerError { score, ..l.clone() }
            })
            .collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
        ranked
    }
}

/// Everything a child needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialSpec {
    pub model: PathBuf,
    pub method: String,
    pub config: Config,
    pub suite: Suite,
    pub options: TrialOptions,
    /// Stock's outputs to compare with (None for the stock trial itself).
    pub reference: Option<PathBuf>,
    /// Where to save this trial's outputs (the stock trial does).
    pub save_outputs: Option<PathBuf>,
    #[serde(default)]
    pub fault: Option<Fault>,
    /// Write the prepared (optimized) module here (`run --save-optimized`).
    #[serde(default)]
    pub save_module: Option<PathBuf>,
    #[serde(default)]
    pub job: Job,
    /// The parent's time limit for this child, in seconds (a job that can
    /// do part of its work, the layer sensitivity, stops in time).
    #[serde(default)]
    pub time_limit_s: Option<f64>,
    /// Set for one instance of a multi-instance config: the trial child
    /// runs each instance as a process of its own (as the deploy block
    /// launches them), and this process is that instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceSlot>,
}

/// What saving the optimized module gave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedModule {
    pub path: PathBuf,
    /// Why it could not be saved (or reloaded), if it could not.
    pub error: Option<String>,
    /// Largest difference between the reloaded module's outputs and the
    /// prepared module's, on the suite's first batch.
    pub reload_max_abs: Option<f64>,
}

/// At most this many raw latencies are kept per trial (evenly spaced in
/// time): enough for the gate's bootstrap, and results files stay small
/// when trials are fast. Statistics are computed from all of them.
pub const MAX_RAW_LATENCIES: usize = 2000;

/// Which fusers were active in the child after the config was applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FuserState {
    pub texpr: bool,
    pub cpu_fusion: bool,
    pub onednn_graph: bool,
}

/// What the child measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialOutput {
    pub stats: LatencyStats,
    /// Per-iteration latencies in ms (all instances together; at most
    /// MAX_RAW_LATENCIES, evenly spaced).
    pub latencies_ms: Vec<f64>,
    /// Every input shape's own statistics.
    #[serde(default)]
    pub per_shape: Vec<ShapeStats>,
    /// What else the machine did during the timed window.
    #[serde(default)]
    pub interference: Option<Interference>,
    pub first_call_ms: f64,
    pub warmup_iterations: usize,
    /// Every shape's warm-up reached steady timings.
    pub warmup_steady: bool,
    pub accuracy: Option<Accuracy>,
    pub steps: Vec<Step>,
    /// Intra-op threads per stream/instance, as libtorch reports it.
    pub threads: usize,
    pub shapes: usize,
    #[serde(default)]
    pub fusers: FuserState,
    /// The optimized graph the last call executed (with `record_graph`).
    #[serde(default)]
    pub executed_graph: Option<String>,
    /// How the outputs nest, e.g. `tuple(tensor,tensor)`.
    #[serde(default)]
    pub output_structure: String,
    /// With `save_module`: the saved module and its reload check.
    #[serde(default)]
    pub saved: Option<SavedModule>,
    /// With `--labels`: the task's top-1 accuracy of this trial's outputs.
    #[serde(default)]
    pub task_top1: Option<f64>,
    /// With `profile_rounds`: the time of every graph op.
    #[serde(default)]
    pub profile: Option<OpProfile>,
    /// A backend that compiles ahead of time: its compile.
    #[serde(default)]
    pub compile: Option<CompileRecord>,
}

pub use crate::measure::profile::{OpProfile, ProfiledOp};

/// Which instance a process is, and where the instances meet before timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSlot {
    pub index: usize,
    pub of: usize,
    /// A folder: each instance writes `ready-INDEX` when warm (or
    /// `failed-INDEX`), and starts timing once all are ready.
    pub rendezvous: PathBuf,
}

/// What one instance process measured: its timed window (with wall-clock
/// start and end, to find the instances' common window) and its warm-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceOutput {
    pub latencies_s: Vec<f64>,
    pub samples: u64,
    pub shape_of: Vec<usize>,
    pub interference: Option<Interference>,
    pub warm_iterations: usize,
    pub steady: bool,
    pub first_call_ms: f64,
    /// Seconds since the Unix epoch.
    pub start_unix: f64,
    pub end_unix: f64,
}

/// The warm-up: calls made, whether every shape became steady, and the
/// first call's time.
#[derive(Debug, Clone, Copy, Default)]
pub struct WarmedUp {
    pub iterations: usize,
    pub steady: bool,
    pub first_call_ms: f64,
}

impl TrialOutput {
    /// The output of a timed window over `shapes` ((key, batch size), the
    /// indexes of `timed.shape_of`) with `workers` calls in flight at once;
    /// `threads`, `fusers` and `executed_graph` are filled in by the caller.
    pub fn new(
        timed: &Timed,
        warm: WarmedUp,
        accuracy: Option<Accuracy>,
        steps: &[Step],
        shapes: &[(String, u64)],
        workers: usize,
    ) -> TrialOutput {
        TrialOutput {
            stats: LatencyStats::from_latencies(&timed.latencies_s, timed.samples, timed.elapsed_s),
            latencies_ms: thin(&timed.latencies_s, MAX_RAW_LATENCIES)
                .iter()
                .map(|s| s * 1e3)
                .collect(),
            per_shape: split_by_shape(
                &timed.latencies_s,
                &timed.shape_of,
                shapes,
                workers,
                MAX_RAW_LATENCIES,
            ),
            interference: timed.interference.clone(),
            first_call_ms: warm.first_call_ms,
            warmup_iterations: warm.iterations,
            warmup_steady: warm.steady,
            accuracy,
            steps: steps.to_vec(),
            threads: 0,
            shapes: shapes.len(),
            fusers: FuserState::default(),
            executed_graph: None,
            output_structure: String::new(),
            compile: None,
            saved: None,
            task_top1: None,
            profile: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(c: f64) -> Option<Accuracy> {
        Some(Accuracy {
            cosine: c,
            ..Accuracy::default()
        })
    }

    fn layer(name: &str, alone: f64, kept_fp32: f64) -> LayerError {
        LayerError {
            layer: name.into(),
            alone: cosine(alone),
            kept_fp32: cosine(kept_fp32),
            error: None,
            score: 0.0,
        }
    }

    /// The two culprits of the outlier MLP (each damages alone; keeping
    /// only one fp32 barely helps), a layer that hurts only together with
    /// the others (BERT's), a layer whose int8 does not run, harmless ones.
    #[test]
    fn both_kinds_of_culprit_rank_before_harmless_layers() {
        let failed = LayerError {
            layer: "broken".into(),
            alone: None,
            kept_fp32: None,
            error: Some("convert failed".into()),
            score: 0.0,
        };
        let out = SensitivityOutput {
            layers: vec![],
            all_int8: cosine(0.95),
            layer_errors: vec![
                layer("harmless", 0.99999, 0.95),
                layer("writes_outliers", 0.98, 0.951),
                failed,
                layer("together", 0.9999, 0.9999),
                layer("reads_outliers", 0.96, 0.96),
                layer("harmless_too", 0.99998, 0.9501),
            ],
        };
        let order: Vec<String> = out.ranked().into_iter().map(|l| l.layer).collect();
        assert_eq!(order[0], "broken");
        let next: std::collections::BTreeSet<&str> =
            order[1..4].iter().map(|s| s.as_str()).collect();
        assert_eq!(
            next,
            ["reads_outliers", "together", "writes_outliers"].into(),
            "{order:?}"
        );
        assert!(order[4..].iter().all(|l| l.starts_with("harmless")));
    }
}
