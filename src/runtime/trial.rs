//! One trial: a config measured in its own child process (`ipex-tune trial`).
//!
//! The child applies the config, warms up every input shape, times a loop
//! over the suite's batches, compares its outputs with stock's, and prints
//! one JSON line. The parent starts it with the config's allocator, enforces
//! a time limit, reads its peak RSS from wait4, and turns crashes, timeouts
//! and out-of-memory kills into failed trials instead of failing the run.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::allocator;
use super::apply::{self, Calibration, Prepared, Step};
use super::config::{Config, Dtype};
use super::parallel::{pin_current_thread, split_cores, Streams};
use super::quant::Observer;
use super::threads;
use crate::measure::accuracy::{self, Accuracy};
use crate::measure::stats::LatencyStats;
use crate::measure::timing::{self, WarmUp};
use crate::native;
use crate::suite::{batches, Suite};

/// Options the rules set for a trial.
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
}

/// A deliberate failure, for testing the parent's handling (hidden flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// Never return (the parent's time limit must end it).
    Hang,
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
}

/// At most this many raw latencies are kept per trial (evenly spaced in
/// time): enough for the gate's bootstrap, and results files stay small
/// when trials are fast. Statistics are computed from all of them.
pub const MAX_RAW_LATENCIES: usize = 2000;

/// Every `len / max`-th value, at most `max` of them, in order.
pub fn thin(values: &[f64], max: usize) -> Vec<f64> {
    if values.len() <= max {
        return values.to_vec();
    }
    let step = values.len() as f64 / max as f64;
    (0..max)
        .map(|i| values[(i as f64 * step) as usize])
        .collect()
}

/// What the child measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialOutput {
    pub stats: LatencyStats,
    /// Per-iteration latencies in ms (all instances together; at most
    /// MAX_RAW_LATENCIES, evenly spaced).
    pub latencies_ms: Vec<f64>,
    pub first_call_ms: f64,
    pub warmup_iterations: usize,
    /// Every shape's warm-up reached steady timings.
    pub warmup_steady: bool,
    pub accuracy: Option<Accuracy>,
    pub steps: Vec<Step>,
    /// Intra-op threads per stream/instance, as libtorch reports it.
    pub threads: usize,
    pub shapes: usize,
}

impl TrialOutput {
    /// The output of `latencies` (seconds) that processed `samples` in
    /// `elapsed_s`; `threads` is filled in by the caller.
    #[allow(clippy::too_many_arguments)]
    fn new(
        latencies: &[f64],
        samples: u64,
        elapsed_s: f64,
        first_call_ms: f64,
        (warmup_iterations, warmup_steady): (usize, bool),
        accuracy: Option<Accuracy>,
        steps: &[Step],
        shapes: usize,
    ) -> TrialOutput {
        TrialOutput {
            stats: LatencyStats::from_latencies(latencies, samples, elapsed_s),
            latencies_ms: thin(latencies, MAX_RAW_LATENCIES)
                .iter()
                .map(|s| s * 1e3)
                .collect(),
            first_call_ms,
            warmup_iterations,
            warmup_steady,
            accuracy,
            steps: steps.to_vec(),
            threads: 0,
            shapes,
        }
    }
}

/// Warms up every distinct input shape (the JIT profiles and optimizes per
/// shape); returns the warm-up calls made and whether all became steady.
fn warm_up_every_shape(
    inputs: &[Vec<Tensor>],
    run: impl Fn(&[Tensor]) -> anyhow::Result<Vec<Tensor>>,
) -> anyhow::Result<(usize, bool)> {
    let mut iterations = 0;
    let mut steady = true;
    for batch in inputs {
        let report = timing::warm_up(&WarmUp::default(), || run(batch).map(|_| ()))?;
        iterations += report.latencies.len();
        steady &= report.steady;
    }
    Ok((iterations, steady))
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// The parent's record of a child.
#[derive(Debug, Clone)]
pub struct ChildOutcome {
    pub status: Status,
    pub reason: Option<String>,
    pub output: Option<TrialOutput>,
    pub peak_rss_bytes: u64,
    pub wall_s: f64,
}

/// Set by the run's Ctrl-C handler: the current child is stopped and the run ends.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Runs `spec` in a child process and waits for it (at most `limit`).
pub fn spawn(spec: &TrialSpec, scratch: &Path, limit: Duration) -> ChildOutcome {
    let start = Instant::now();
    let fail = |status, reason: String| ChildOutcome {
        status,
        reason: Some(reason),
        output: None,
        peak_rss_bytes: 0,
        wall_s: start.elapsed().as_secs_f64(),
    };
    let spec_path = scratch.join(format!("trial-{}.json", std::process::id()));
    let written = serde_json::to_vec(spec)
        .map_err(|e| e.to_string())
        .and_then(|bytes| std::fs::write(&spec_path, bytes).map_err(|e| e.to_string()));
    if let Err(e) = written {
        return fail(Status::Failed, format!("cannot write the trial spec: {e}"));
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return fail(Status::Failed, format!("cannot find ipex-tune itself: {e}")),
    };
    let mut command = Command::new(exe);
    command
        .arg("trial")
        .arg("--spec-file")
        .arg(&spec_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Err(e) = allocator::configure_child(&mut command, spec.config.allocator) {
        return fail(Status::Failed, e);
    }
    let mut child = match native::os::spawn_dying_with_parent(&mut command) {
        Ok(child) => child,
        Err(e) => return fail(Status::Failed, format!("cannot start the trial: {e}")),
    };
    // Drain the pipes while waiting, so a chatty child cannot block.
    let mut stdout_pipe = child.stdout.take().expect("piped");
    let mut stderr_pipe = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let pid = child.id() as i32;
    let mut timed_out = false;
    let mut interrupted = false;
    let exit = loop {
        if let Some(exit) = native::os::wait4_nohang(pid) {
            break exit;
        }
        if INTERRUPTED.load(Ordering::SeqCst) && !interrupted {
            interrupted = true;
            let _ = child.kill();
        } else if start.elapsed() > limit && !timed_out {
            timed_out = true;
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let _ = std::fs::remove_file(&spec_path);
    let last_error = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .trim_start_matches("ipex-tune: error: ")
                .to_string()
        })
        .unwrap_or_default();
    let mut outcome = ChildOutcome {
        status: Status::Ok,
        reason: None,
        output: None,
        peak_rss_bytes: exit.max_rss_bytes,
        wall_s: start.elapsed().as_secs_f64(),
    };
    let oom_message = stderr.contains("not enough memory") || stderr.contains("std::bad_alloc");
    match (exit.signal, exit.code) {
        _ if interrupted => {
            outcome.status = Status::Interrupted;
            outcome.reason = Some("interrupted (Ctrl-C)".into());
        }
        _ if timed_out => {
            outcome.status = Status::Timeout;
            outcome.reason = Some(format!(
                "no result within the time limit of {}s",
                limit.as_secs()
            ));
        }
        (Some(9), _) => {
            outcome.status = Status::OutOfMemory;
            outcome.reason = Some(format!(
                "killed by SIGKILL (the kernel's out-of-memory killer?) at {} MiB",
                exit.max_rss_bytes >> 20
            ));
        }
        (Some(sig), _) => {
            outcome.status = Status::Crashed;
            outcome.reason = Some(format!("signal {sig} ({})", native::os::signal_name(sig)));
        }
        (None, Some(0)) => {
            let line = stdout
                .lines()
                .rev()
                .find(|l| l.starts_with('{'))
                .unwrap_or("");
            match serde_json::from_str::<TrialOutput>(line) {
                Ok(output) => outcome.output = Some(output),
                Err(e) => {
                    outcome.status = Status::Failed;
                    outcome.reason = Some(format!("unreadable trial result ({e})"));
                }
            }
        }
        (None, code) => {
            outcome.status = if oom_message {
                Status::OutOfMemory
            } else {
                Status::Failed
            };
            outcome.reason = Some(format!("exit {}: {last_error}", code.unwrap_or(-1)));
        }
    }
    outcome
}

/// The child: measure `spec` in this process and print the result as JSON.
pub fn run_child(spec: &TrialSpec) -> anyhow::Result<TrialOutput> {
    allocator::apply_in_process(spec.config.allocator).map_err(anyhow::Error::msg)?;
    if spec.fault == Some(Fault::Hang) {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    native::os::set_process_affinity(&spec.options.cpus).map_err(anyhow::Error::msg)?;
    apply::apply_process_settings(&spec.config)?;
    let batches: Vec<Vec<Tensor>> = batches(&spec.suite)
        .into_iter()
        .map(|b| b.tensors)
        .collect();
    let calibration = Calibration {
        observer: spec.options.observer,
        batches: &batches,
        threads: spec.options.calibration_threads,
    };
    let calibration = (spec.config.dtype == Dtype::Int8Static).then_some(&calibration);
    let mut output = if spec.config.instances > 1 {
        run_instances(spec, &batches)?
    } else {
        run_streams(spec, &batches, calibration)?
    };
    output.threads = native::num_threads()?;
    Ok(output)
}

/// A prepared module behind one stream or several.
enum Executor {
    Direct(Arc<Prepared>),
    Streams(Arc<Prepared>, Streams),
}

impl Executor {
    fn prepared(&self) -> &Prepared {
        match self {
            Executor::Direct(p) | Executor::Streams(p, _) => p,
        }
    }

    fn run(&self, inputs: &[Tensor]) -> anyhow::Result<Vec<Tensor>> {
        match self {
            Executor::Direct(p) => p.run(inputs),
            Executor::Streams(_, s) => s.run(inputs),
        }
    }
}

fn samples_in(batch: &[Tensor]) -> u64 {
    batch
        .first()
        .map(|t| t.size().first().copied().unwrap_or(1) as u64)
        .unwrap_or(1)
}

fn run_streams(
    spec: &TrialSpec,
    batches: &[Vec<Tensor>],
    calibration: Option<&Calibration>,
) -> anyhow::Result<TrialOutput> {
    let prepared = Arc::new(apply::prepare(
        &spec.model,
        &spec.method,
        &spec.config,
        calibration,
    )?);
    let inputs: Vec<Vec<Tensor>> = batches.iter().map(|b| prepared.convert_inputs(b)).collect();
    let executor = if spec.config.streams > 1 {
        let cores = split_cores(&spec.options.cpus, spec.config.streams);
        let threads = spec.config.threads.unwrap_or(1);
        Executor::Streams(
            Arc::clone(&prepared),
            Streams::start(Arc::clone(&prepared), cores, threads)?,
        )
    } else {
        Executor::Direct(Arc::clone(&prepared))
    };
    let first = Instant::now();
    executor.run(&inputs[0])?;
    let first_call_ms = first.elapsed().as_secs_f64() * 1e3;
    let (warmup_iterations, warmup_steady) = warm_up_every_shape(&inputs, |b| executor.run(b))?;
    let (latencies, samples, elapsed) = timed_round_robin(&executor, &inputs, spec)?;
    let accuracy = outputs_and_accuracy(spec, batches.len(), |i| executor.run(&inputs[i]))?;
    Ok(TrialOutput::new(
        &latencies,
        samples,
        elapsed,
        first_call_ms,
        (warmup_iterations, warmup_steady),
        accuracy,
        &executor.prepared().steps,
        inputs.len(),
    ))
}

/// Times batches round-robin until both the minimum time and iterations are met.
fn timed_round_robin(
    executor: &Executor,
    inputs: &[Vec<Tensor>],
    spec: &TrialSpec,
) -> anyhow::Result<(Vec<f64>, u64, f64)> {
    let min_time = Duration::from_secs_f64(spec.options.min_time_s);
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut samples = 0;
    let mut i = 0;
    while latencies.len() < spec.options.min_iters || start.elapsed() < min_time {
        let batch = &inputs[i % inputs.len()];
        let t = Instant::now();
        executor.run(batch)?;
        latencies.push(t.elapsed().as_secs_f64());
        samples += samples_in(batch);
        i += 1;
    }
    Ok((latencies, samples, start.elapsed().as_secs_f64()))
}

/// Runs every batch once more, saves the outputs (stock) or compares them
/// with stock's.
fn outputs_and_accuracy(
    spec: &TrialSpec,
    count: usize,
    mut run: impl FnMut(usize) -> anyhow::Result<Vec<Tensor>>,
) -> anyhow::Result<Option<Accuracy>> {
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for i in 0..count {
        for (j, t) in run(i)?.into_iter().enumerate() {
            named.push((format!("b{i}_o{j}"), t));
        }
    }
    if let Some(path) = &spec.save_outputs {
        Tensor::save_multi(&named, path)?;
    }
    let Some(reference) = &spec.reference else {
        return Ok(None);
    };
    let expected = Tensor::load_multi(reference)?;
    anyhow::ensure!(
        expected.len() == named.len(),
        "{} outputs, stock had {}",
        named.len(),
        expected.len()
    );
    let mut all = Vec::new();
    for ((name, got), (ref_name, want)) in named.iter().zip(expected.iter()) {
        anyhow::ensure!(
            name == ref_name,
            "output {name} does not match stock's {ref_name}"
        );
        all.push(accuracy::compare(got, want).map_err(anyhow::Error::msg)?);
    }
    Ok(Some(accuracy::worst(&all)))
}

/// Serializes module preparation across instance threads.
static PREPARE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What one instance thread measured.
struct InstanceRun {
    latencies: Vec<f64>,
    samples: u64,
    start: Instant,
    end: Instant,
    warmup_iterations: usize,
    warmup_steady: bool,
    prepared: Prepared,
    first_call_ms: f64,
}

/// Throughput mode: independent copies of the model, one per core group,
/// each running whole batches; aggregate throughput over a common window.
fn run_instances(spec: &TrialSpec, batches: &[Vec<Tensor>]) -> anyhow::Result<TrialOutput> {
    let instances = spec.config.instances;
    let groups = split_cores(&spec.options.cpus, instances);
    let threads_each = spec.config.threads.unwrap_or(1);
    // Every instance loads, calibrates and prepares its own copy, pinned to
    // its cores, then all time together.
    let barrier = Arc::new(Barrier::new(instances));
    let prepared_barrier = Arc::new(Barrier::new(instances));
    let min_time = Duration::from_secs_f64(spec.options.min_time_s);
    let min_iters = spec.options.min_iters;
    let mut handles = Vec::new();
    for (index, group) in groups.into_iter().enumerate() {
        let spec = spec.clone();
        let barrier = Arc::clone(&barrier);
        let prepared_barrier = Arc::clone(&prepared_barrier);
        // Each instance gets its own deep copies of the inputs.
        let own: Vec<Vec<Tensor>> = batches
            .iter()
            .map(|b| b.iter().map(|t| t.copy()).collect())
            .collect();
        handles.push(std::thread::spawn(
            move || -> anyhow::Result<InstanceRun> {
                // Every instance reaches the barrier, even after an error, so
                // the others never wait forever.
                let ready = (|| -> anyhow::Result<_> {
                    let setup = pin_current_thread(&group).and_then(|_| threads::set(threads_each));
                    if let Err(e) = setup {
                        prepared_barrier.wait();
                        return Err(e);
                    }
                    let calibration = Calibration {
                        observer: spec.options.observer,
                        batches: &own,
                        threads: spec.options.calibration_threads,
                    };
                    let calibration =
                        (spec.config.dtype == Dtype::Int8Static).then_some(&calibration);
                    // Instances prepare one at a time: libtorch's graph passes and
                    // quantization crashed (SIGSEGV/SIGABRT) now and then when two
                    // threads ran them at once here. They measure concurrently.
                    let prepared = {
                        let _one_at_a_time = PREPARE.lock().unwrap_or_else(|e| e.into_inner());
                        apply::prepare_module(&spec.model, &spec.method, &spec.config, calibration)
                    };
                    // The fuser is enabled (process-wide) only once every
                    // instance has prepared: its pass breaks calibration.
                    prepared_barrier.wait();
                    let prepared = prepared?;
                    apply::enable_fuser(&spec.config)?;
                    let inputs: Vec<Vec<Tensor>> =
                        own.iter().map(|b| prepared.convert_inputs(b)).collect();
                    let first = Instant::now();
                    prepared.run(&inputs[0])?;
                    let first_ms = first.elapsed().as_secs_f64() * 1e3;
                    let (warm, steady) = warm_up_every_shape(&inputs, |b| prepared.run(b))?;
                    Ok((prepared, inputs, first_ms, warm, steady))
                })();
                barrier.wait();
                let (prepared, inputs, first_ms, warm, steady) = ready?;
                let start = Instant::now();
                let mut latencies = Vec::new();
                let mut samples = 0;
                let mut i = index;
                while latencies.len() < min_iters || start.elapsed() < min_time {
                    let batch = &inputs[i % inputs.len()];
                    let t = Instant::now();
                    prepared.run(batch)?;
                    latencies.push(t.elapsed().as_secs_f64());
                    samples += samples_in(batch);
                    i += 1;
                }
                Ok(InstanceRun {
                    latencies,
                    samples,
                    start,
                    end: Instant::now(),
                    warmup_iterations: warm,
                    warmup_steady: steady,
                    prepared,
                    first_call_ms: first_ms,
                })
            },
        ));
    }
    let mut latencies = Vec::new();
    let mut samples = 0;
    let mut window: Option<(Instant, Instant)> = None;
    let mut warmup_iterations = 0;
    let mut warmup_steady = true;
    let mut first_call_ms = 0.0f64;
    let mut first_prepared = None;
    for handle in handles {
        let r = handle
            .join()
            .map_err(|_| anyhow::anyhow!("an instance thread panicked"))??;
        latencies.extend(r.latencies);
        samples += r.samples;
        window = Some(match window {
            None => (r.start, r.end),
            Some((s, e)) => (s.min(r.start), e.max(r.end)),
        });
        warmup_iterations += r.warmup_iterations;
        warmup_steady &= r.warmup_steady;
        first_call_ms = first_call_ms.max(r.first_call_ms);
        first_prepared.get_or_insert(r.prepared);
    }
    let (start, end) = window.expect("at least one instance");
    let prepared = first_prepared.expect("at least one instance");
    let inputs: Vec<Vec<Tensor>> = batches.iter().map(|b| prepared.convert_inputs(b)).collect();
    let accuracy = outputs_and_accuracy(spec, batches.len(), |i| prepared.run(&inputs[i]))?;
    Ok(TrialOutput::new(
        &latencies,
        samples,
        (end - start).as_secs_f64(),
        first_call_ms,
        (warmup_iterations, warmup_steady),
        accuracy,
        &prepared.steps,
        batches.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_order_and_bounds() {
        let v: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(thin(&v, 20), v);
        assert_eq!(thin(&v, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
    }
}
