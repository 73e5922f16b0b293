//! The child's side of a trial (`ipex-tune trial`): apply the config, warm
//! up every input shape, time a loop over the suite's batches, compare the
//! outputs with stock's, and return what was measured. The parent's side
//! and the protocol are `trial`.
use std::sync::Arc;
use std::time::{Duration, Instant};

use tch::Tensor;

use super::allocator;
use super::apply::{self, Calibration, Prepared};
use super::parallel::{bind_memory, split_cores, Streams};
use super::threads;
use crate::config::Dtype;
use crate::measure::accuracy::{self, Accuracy};
use crate::measure::interference::Probe;
use crate::measure::timing::{self, Timed, WarmUp};
use crate::native;
use crate::record::CompileRecord;
use crate::suite::{calibration_batches, suite_batches};
use crate::trial::spec::{FuserState, InstanceOutput, InstanceSlot, SavedModule, WarmedUp};
use crate::trial::{Fault, TrialOutput, TrialSpec};

/// Measures `spec` in this process.
pub fn run_child(spec: &TrialSpec) -> anyhow::Result<TrialOutput> {
    if spec.fault == Some(Fault::Hang) {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    enter_trial_process(spec)?;
    let suite_batches = suite_batches(&spec.suite)?;
    // Calibration on --calibration's batches when given, else the suite's.
    let calibration_set = calibration_batches(&spec.suite)?;
    let shapes: Vec<(String, u64)> = suite_batches
        .iter()
        .map(|b| (b.shape_key.clone(), samples_in(&b.tensors)))
        .collect();
    let batches: Vec<Vec<Tensor>> = suite_batches.into_iter().map(|b| b.tensors).collect();
    let calibrate_on = calibration_set.as_deref().unwrap_or(&batches);
    let mut output = if spec.config.instances > 1 {
        if crate::backend::spec(spec.config.backend).compiles_ahead() {
            // Compiled (or found) once here, for the instances' thread
            // count, so that the instances load it from the cache rather
            // than each compiling the same packages at once.
            compile_packages(spec, &batches, calibrate_on)?;
        }
        run_instances(spec, &batches, calibrate_on, &shapes)?
    } else if spec.options.processes > 1
        && spec.config.streams == 1
        && spec.options.profile_rounds == 0
    {
        run_in_turn(spec, &batches, calibrate_on, &shapes)?
    } else {
        run_streams(spec, &batches, calibrate_on, &shapes)?
    };
    output.threads = native::num_threads()?;
    output.fusers = FuserState {
        texpr: native::texpr_fuser_enabled()?,
        cpu_fusion: native::can_fuse_on_cpu()?,
        onednn_graph: native::onednn_fuser_enabled()?,
    };
    Ok(output)
}

/// The packages of a backend that compiles ahead of time, for the thread
/// count each of the config's workers runs with: compiled now, or found in
/// the cache.
fn compile_packages(
    spec: &TrialSpec,
    batches: &[Vec<Tensor>],
    calibrate_on: &[Vec<Tensor>],
) -> anyhow::Result<CompileRecord> {
    let mut each = spec.config.clone();
    each.threads = Some(spec.config.threads_per_worker(spec.options.cpus.len()));
    let calibration = calibration(spec, calibrate_on);
    let prepared = apply::prepare(
        &spec.model,
        &spec.method,
        &each,
        calibration.as_ref(),
        batches,
    )?;
    prepared
        .compile
        .ok_or_else(|| anyhow::anyhow!("{} compiles nothing", spec.config.backend))
}

/// Batches of model inputs, one tensor per argument.
pub(super) type Batches = Vec<Vec<Tensor>>;

/// The suite's batches (tensors only) and, with --calibration, the
/// calibration batches (static int8 calibrates on the suite's otherwise).
pub(super) fn batches_and_calibration(
    spec: &TrialSpec,
) -> anyhow::Result<(Batches, Option<Batches>)> {
    let batches = suite_batches(&spec.suite)?
        .into_iter()
        .map(|b| b.tensors)
        .collect();
    Ok((batches, calibration_batches(&spec.suite)?))
}

/// `Job::Compile`: this config's packages compiled (or found cached) in
/// this process, which then ends; what the compile took.
pub fn run_compile_child(spec: &TrialSpec) -> anyhow::Result<CompileRecord> {
    enter_trial_process(spec)?;
    let (batches, calibration_set) = batches_and_calibration(spec)?;
    let calibrate_on = calibration_set.as_deref().unwrap_or(&batches);
    compile_packages(spec, &batches, calibrate_on)
}

/// What every measuring process does first: the allocator's settings, its
/// CPUs, its memory on their NUMA node (when they share one), and the
/// config's process-wide settings.
fn enter_trial_process(spec: &TrialSpec) -> anyhow::Result<()> {
    allocator::apply_in_process(spec.config.allocator)?;
    native::os::set_process_affinity(&spec.options.cpus)?;
    bind_memory(
        &spec.options.cpus,
        &spec.options.cpus,
        &spec.options.cpu_nodes,
    )?;
    apply::apply_process_settings(&spec.config)
}

/// The calibration of a static int8 config, on the suite's batches.
fn calibration<'a>(spec: &TrialSpec, batches: &'a [Vec<Tensor>]) -> Option<Calibration<'a>> {
    (spec.config.dtype == Dtype::Int8Static).then_some(Calibration {
        observer: spec.options.observer,
        batches,
        threads: spec.options.calibration_threads,
    })
}

/// The config applied to the model (calibrated on `calibrate_on` for
/// static int8), and the batches converted to what it takes.
fn prepare_with_inputs(
    spec: &TrialSpec,
    batches: &[Vec<Tensor>],
    calibrate_on: &[Vec<Tensor>],
) -> anyhow::Result<(Prepared, Vec<Vec<Tensor>>)> {
    let prepared = apply::prepare(
        &spec.model,
        &spec.method,
        &spec.config,
        calibration(spec, calibrate_on).as_ref(),
        batches,
    )?;
    let inputs = batches.iter().map(|b| prepared.convert_inputs(b)).collect();
    Ok((prepared, inputs))
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

/// Times the first call, then warms up every distinct input shape (the JIT
/// profiles and optimizes per shape).
fn warm_up(
    inputs: &[Vec<Tensor>],
    run: impl Fn(&[Tensor]) -> anyhow::Result<Vec<Tensor>>,
) -> anyhow::Result<WarmedUp> {
    let first = Instant::now();
    run(&inputs[0])?;
    let mut warm = WarmedUp {
        iterations: 0,
        steady: true,
        first_call_ms: first.elapsed().as_secs_f64() * 1e3,
    };
    for batch in inputs {
        let report = timing::warm_up(&WarmUp::default(), || run(batch).map(|_| ()))?;
        warm.iterations += report.latencies.len();
        warm.steady &= report.steady;
    }
    Ok(warm)
}

/// Times batches (one per shape) round-robin from `offset` until the
/// minimums are met.
fn time_round_robin(
    spec: &TrialSpec,
    inputs: &[Vec<Tensor>],
    offset: usize,
    run: impl Fn(&[Tensor]) -> anyhow::Result<Vec<Tensor>>,
) -> anyhow::Result<Timed> {
    let shape = |i: usize| (offset + i) % inputs.len();
    let probe = Probe::start(&spec.options.cpus);
    let mut timed = timing::timed_loop(
        Duration::from_secs_f64(spec.options.min_time_s),
        spec.options.min_iters,
        |i| {
            let batch = &inputs[shape(i)];
            run(batch)?;
            Ok(samples_in(batch))
        },
    )?;
    timed.shape_of = (0..timed.latencies_s.len()).map(shape).collect();
    timed.interference = Some(probe.finish());
    Ok(timed)
}

/// One module, run directly or split across streams.
fn run_streams(
    spec: &TrialSpec,
    batches: &[Vec<Tensor>],
    calibrate_on: &[Vec<Tensor>],
    shapes: &[(String, u64)],
) -> anyhow::Result<TrialOutput> {
    let (prepared, inputs) = prepare_with_inputs(spec, batches, calibrate_on)?;
    let prepared = Arc::new(prepared);
    let executor = if spec.config.streams > 1 {
        let cores = split_cores(&spec.options.cpus, spec.config.streams);
        let threads = spec.config.threads_per_worker(spec.options.cpus.len());
        Executor::Streams(
            Arc::clone(&prepared),
            Streams::start(Arc::clone(&prepared), cores, threads)?,
        )
    } else {
        Executor::Direct(Arc::clone(&prepared))
    };
    let loaded = LoadedState::read(spec)?;
    let warm = warm_up(&inputs, |b| executor.run(b))?;
    let timed = time_round_robin(spec, &inputs, 0, |b| executor.run(b))?;
    loaded.restore(executor.prepared())?;
    let (accuracy, task_top1) =
        outputs_and_accuracy(spec, batches.len(), |i| executor.run(&inputs[i]))?;
    let mut output = TrialOutput::new(
        &timed,
        warm,
        accuracy,
        &executor.prepared().steps,
        shapes,
        1,
    );
    output.task_top1 = task_top1;
    if spec.options.profile_rounds > 0 {
        let rounds = spec.options.profile_rounds;
        let mut profile = profile_rounds(rounds, &inputs, |b| executor.run(b))?;
        // The same rounds on a copy with every graph node named and timed
        // (warmed up first: the executor optimizes it afresh). A compiled
        // package has no graph nodes to name.
        if let Some(module) = prepared.module() {
            let instrumented = Prepared {
                runnable: apply::Runnable::Script(module.instrumented(&prepared.method)?),
                method: prepared.method.clone(),
                dtype: prepared.dtype,
                steps: Vec::new(),
                compile: None,
            };
            warm_up(&inputs, |b| instrumented.run(b))?;
            let by_node = profile_rounds(rounds, &inputs, |b| instrumented.run(b))?;
            profile.nodes = by_node.ops;
            profile.nodes_wall_ms = by_node.wall_ms;
        }
        output.profile = Some(profile);
    }
    describe_last_call(&mut output, &prepared, &inputs[0], spec)?;
    Ok(output)
}

/// `rounds` passes over the batches with every graph op timed (libtorch's
/// RecordFunction callbacks through the shim), after the timed loop so that
/// the profiler's own cost never touches the measured figures.
fn profile_rounds(
    rounds: usize,
    inputs: &[Vec<Tensor>],
    run: impl Fn(&[Tensor]) -> anyhow::Result<Vec<Tensor>>,
) -> anyhow::Result<crate::trial::spec::OpProfile> {
    native::profile_start()?;
    let start = std::time::Instant::now();
    let mut calls = 0;
    let result = (|| -> anyhow::Result<()> {
        for _ in 0..rounds {
            for batch in inputs {
                run(batch)?;
                calls += 1;
            }
        }
        Ok(())
    })();
    let wall_ms = start.elapsed().as_secs_f64() * 1e3;
    let ops = native::profile_stop()?;
    result?;
    Ok(crate::trial::spec::OpProfile {
        rounds,
        calls,
        wall_ms,
        nodes: Vec::new(),
        nodes_wall_ms: 0.0,
        ops: ops
            .into_iter()
            .map(|o| crate::trial::spec::ProfiledOp {
                name: o.name,
                shapes: o.shapes,
                dtypes: o.dtypes,
                out_shapes: o.out_shapes,
                calls: o.calls,
                total_ms: o.total_ns as f64 * 1e-6,
            })
            .collect(),
    })
}

/// Calls the module once more on this thread and records how its outputs
/// nest and, when asked, the optimized graph that call executed. libtorch
/// keeps that graph per thread behind a weak pointer: it must be read while
/// the module is alive.
fn describe_last_call(
    output: &mut TrialOutput,
    prepared: &Prepared,
    inputs: &[Tensor],
    spec: &TrialSpec,
) -> anyhow::Result<()> {
    output.output_structure = prepared.run_raw(inputs)?.structure;
    output.compile = prepared.compile.clone();
    if let Some(path) = &spec.save_module {
        output.saved = Some(save_prepared(prepared, inputs, path));
    }
    if spec.options.record_graph {
        // A module run as loaded (O0, stock) may have no optimized graph.
        output.executed_graph = native::last_executed_graph().ok();
    }
    Ok(())
}

/// Saves the prepared module, loads it back as a fresh module and
/// compares its outputs with the prepared module's on `inputs`.
fn save_prepared(prepared: &Prepared, inputs: &[Tensor], path: &std::path::Path) -> SavedModule {
    let check = || -> anyhow::Result<f64> {
        let Some(module) = prepared.module() else {
            anyhow::bail!(
                "a compiled backend's deliverable is its packages (one .pt2 per shape){}",
                prepared
                    .compile
                    .as_ref()
                    .map(|c| format!(", in {}", c.folder.display()))
                    .unwrap_or_default()
            );
        };
        module.save(path)?;
        let reloaded = native::Module::load(path)?;
        let again = reloaded.run(&prepared.method, inputs)?.tensors;
        let want = prepared.run_raw(inputs)?.tensors;
        anyhow::ensure!(
            again.len() == want.len(),
            "the reloaded module returns {} outputs, not {}",
            again.len(),
            want.len()
        );
        let mut worst = 0.0f64;
        for (a, b) in again.iter().zip(&want) {
            let diff = (a.to_kind(tch::Kind::Double) - b.to_kind(tch::Kind::Double))
                .abs()
                .max()
                .double_value(&[]);
            worst = worst.max(diff);
        }
        Ok(worst)
    };
    let checked = check();
    if checked.is_err() {
        // A file that does not load back is no deliverable.
        let _ = std::fs::remove_file(path);
    }
    match checked {
        Ok(max_abs) => SavedModule {
            path: path.to_path_buf(),
            error: None,
            reload_max_abs: Some(max_abs),
        },
        Err(e) => SavedModule {
            path: path.to_path_buf(),
            error: Some(
                format!("{e:#}")
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            ),
            reload_max_abs: None,
        },
    }
}

/// A stateful model's state as it loaded (the attributes its entry method
/// assigns), from a copy loaded for that alone. Stock and every config
/// then compute the outputs they compare from the same state, whatever
/// number of calls their warm-up, calibration and timing made.
struct LoadedState(Option<(crate::native::Module, Vec<String>)>);

impl LoadedState {
    fn read(spec: &TrialSpec) -> anyhow::Result<LoadedState> {
        if spec.options.model_state.is_empty() {
            return Ok(LoadedState(None));
        }
        let module = crate::model::load_module(&spec.model)?;
        Ok(LoadedState(Some((
            module,
            spec.options.model_state.clone(),
        ))))
    }

    /// Puts the state back into `prepared` (a compiled package keeps none).
    fn restore(&self, prepared: &Prepared) -> anyhow::Result<()> {
        if let (Some((loaded, paths)), Some(module)) = (&self.0, prepared.module()) {
            loaded.copy_attributes_to(module, paths)?;
        }
        Ok(())
    }
}

/// Runs every batch once more, saves the outputs (stock) or compares them
/// with stock's.
fn outputs_and_accuracy(
    spec: &TrialSpec,
    count: usize,
    mut run: impl FnMut(usize) -> anyhow::Result<Vec<Tensor>>,
) -> anyhow::Result<(Option<Accuracy>, Option<f64>)> {
    let mut named: Vec<(String, Tensor)> = Vec::new();
    let mut firsts: Vec<Tensor> = Vec::new();
    for i in 0..count {
        for (j, t) in run(i)?.into_iter().enumerate() {
            if j == 0 {
                firsts.push(t.shallow_clone());
            }
            named.push((format!("b{i}_o{j}"), t));
        }
    }
    let task_top1 = match &spec.suite.labels_file {
        Some(file) => Some(task_top1(&firsts, &crate::suite::load_labels(file)?)?),
        None => None,
    };
    Ok((compare_with_stock(spec, named)?, task_top1))
}

/// The task's top-1 accuracy: the share of rows whose first output's argmax
/// is the row's label. Labels are one class id per input row, in input
/// order, however the file batches them.
fn task_top1(outputs: &[Tensor], labels: &[Vec<Tensor>]) -> anyhow::Result<f64> {
    let all: Vec<Tensor> = labels
        .iter()
        .filter_map(|batch| batch.first())
        .map(|t| t.to_kind(tch::Kind::Int64).flatten(0, -1))
        .collect();
    let labels = Tensor::cat(&all, 0);
    let rows: i64 = outputs
        .iter()
        .map(|o| o.size().first().copied().unwrap_or(0))
        .sum();
    anyhow::ensure!(
        labels.size()[0] == rows,
        "--labels has {} class ids for {rows} input rows",
        labels.size()[0]
    );
    let (mut right, mut start) = (0i64, 0i64);
    for out in outputs {
        anyhow::ensure!(
            out.dim() == 2,
            "labels for an output of shape {:?}: expected [rows, classes] outputs",
            out.size()
        );
        let n = out.size()[0];
        right += out
            .argmax(-1, false)
            .eq_tensor(&labels.narrow(0, start, n))
            .sum(tch::Kind::Int64)
            .int64_value(&[]);
        start += n;
    }
    Ok(right as f64 / rows.max(1) as f64)
}

/// Saves the outputs (stock) or compares them with stock's.
pub(super) fn compare_with_stock(
    spec: &TrialSpec,
    named: Vec<(String, Tensor)>,
) -> anyhow::Result<Option<Accuracy>> {
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
    // Top-1 counts rows decisive beyond the dtype's allowed error.
    let margin = spec
        .suite
        .accuracy
        .tolerance
        .get(&spec.config.dtype)
        .map_or(0.0, |t| t.max_abs);
    let mut all = Vec::new();
    let mut leaves = Vec::new();
    for ((name, got), (ref_name, want)) in named.iter().zip(expected.iter()) {
        anyhow::ensure!(
            name == ref_name,
            "output {name} does not match stock's {ref_name}"
        );
        all.push(accuracy::compare(got, want, margin)?);
        // "b{batch}_o{leaf}": the leaf's index in the flattened outputs.
        leaves.push(
            name.rsplit_once("_o")
                .and_then(|(_, j)| j.parse::<usize>().ok()),
        );
    }
    let mut worst = accuracy::worst(&all);
    if leaves.iter().any(|j| j.is_some_and(|j| j > 0)) {
        worst.worst_output = accuracy::worst_index(&all).and_then(|i| leaves[i]);
    }
    Ok(Some(worst))
}

/// Throughput mode: independent copies of the model, one per core group,
/// each running whole batches, each **a process of its own** (`ipex-tune
/// trial` on an instance slot), as the deploy block and IPEX's launcher run
/// them: measured on ResNet-18 int8 here, two instances as threads of one
/// process reached 220-226 samples/s where two processes reached 233-237
/// (and IPEX's Python recipe, two processes, 231-236). The instances warm
/// up, meet (files in a rendezvous folder), then time together; their
/// figures are merged over the common window. This process then prepares
/// one copy itself for the accuracy check, after the timing.
fn run_instances(
    spec: &TrialSpec,
    batches: &[Vec<Tensor>],
    calibrate_on: &[Vec<Tensor>],
    shapes: &[(String, u64)],
) -> anyhow::Result<TrialOutput> {
    let instances = spec.config.instances;
    let rendezvous = tempfile::tempdir()?;
    let threads_each = spec.config.threads_per_worker(spec.options.cpus.len());
    let children = split_cores(&spec.options.cpus, instances)
        .into_iter()
        .enumerate()
        .map(|(index, cores)| {
            let mut own = spec.clone();
            own.config.instances = 1;
            own.config.threads = Some(threads_each);
            own.options.cpu_nodes = cores
                .iter()
                .filter_map(|c| {
                    let i = spec.options.cpus.iter().position(|x| x == c)?;
                    spec.options.cpu_nodes.get(i).copied()
                })
                .collect();
            own.options.cpus = cores;
            let own = worker_spec(own, index, instances, rendezvous.path());
            start_instance(&own, rendezvous.path())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    for (index, child) in children.into_iter().enumerate() {
        match finish_instance(child) {
            Ok(run) => runs.push(run),
            Err(e) => failures.push(format!("instance {}: {e:#}", index + 1)),
        }
    }
    if !failures.is_empty() {
        // The first failure is the cause; the others stopped for it.
        anyhow::bail!("{}", failures[0]);
    }
    merge_runs(spec, batches, calibrate_on, shapes, runs, Windows::AtOnce)
}

/// The spec of one worker process (instance `index` of `of`, meeting in
/// `rendezvous`): it times and answers; the trial child that started it
/// keeps the accuracy check, the saved outputs and module, and profiling.
fn worker_spec(
    mut own: TrialSpec,
    index: usize,
    of: usize,
    rendezvous: &std::path::Path,
) -> TrialSpec {
    own.options.profile_rounds = 0;
    own.reference = None;
    own.save_outputs = None;
    own.save_module = None;
    own.instance = Some(InstanceSlot {
        index,
        of,
        rendezvous: rendezvous.to_path_buf(),
    });
    own
}

/// One config timed in `spec.options.processes` fresh processes, one after
/// another (each an instance slot of one, for its share of the minimums),
/// their windows pooled into one figure. Stock's trials are (see
/// `trial::spec::STOCK_PROCESSES`): where glibc's malloc thresholds settle
/// differs from one process to the next, and one process's figure with it.
fn run_in_turn(
    spec: &TrialSpec,
    batches: &[Vec<Tensor>],
    calibrate_on: &[Vec<Tensor>],
    shapes: &[(String, u64)],
) -> anyhow::Result<TrialOutput> {
    let processes = spec.options.processes;
    let mut runs = Vec::with_capacity(processes);
    for index in 0..processes {
        let rendezvous = tempfile::tempdir()?;
        let mut own = spec.clone();
        own.options.processes = 1;
        own.options.min_time_s = spec.options.min_time_s / processes as f64;
        own.options.min_iters = spec.options.min_iters.div_ceil(processes).max(1);
        let own = worker_spec(own, 0, 1, rendezvous.path());
        let child = start_instance(&own, rendezvous.path())?;
        runs.push(
            finish_instance(child)
                .map_err(|e| anyhow::anyhow!("process {} of {processes}: {e:#}", index + 1))?,
        );
    }
    merge_runs(spec, batches, calibrate_on, shapes, runs, Windows::InTurn)
}

/// Starts one instance process (dying with this one).
fn start_instance(spec: &TrialSpec, dir: &std::path::Path) -> anyhow::Result<std::process::Child> {
    let slot = spec.instance.as_ref().expect("an instance slot");
    let path = dir.join(format!("spec-{}.json", slot.index));
    std::fs::write(&path, serde_json::to_vec(spec)?)?;
    let exe = std::env::current_exe()?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("trial")
        .arg("--spec-file")
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    Ok(native::os::spawn_dying_with_parent(
        &mut command,
        &spec.options.cpus,
    )?)
}

/// Waits for one instance process and reads what it measured; an error
/// carries its last line of stderr (or the signal that ended it).
fn finish_instance(child: std::process::Child) -> anyhow::Result<InstanceOutput> {
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        use std::os::unix::process::ExitStatusExt;
        let why = match out.status.signal() {
            Some(signal) => format!("killed by signal {signal}"),
            // The instance fails as a trial child does: the line that says
            // why, not the dispatcher registration libtorch prints last.
            None => Some(crate::trial::parent::error_line(&stderr))
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "failed".to_string()),
        };
        anyhow::bail!("{why}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(crate::native::os::last_json_line(&stdout))
        .map_err(|e| anyhow::anyhow!("unreadable instance result ({e})"))
}

/// One instance, in its own process (`spec.instance`): prepares its copy,
/// warms up, meets the others, times, and returns what it measured.
pub fn run_instance_child(spec: &TrialSpec) -> anyhow::Result<InstanceOutput> {
    let slot = spec.instance.clone().expect("an instance slot");
    let mark =
        |name: &str| std::fs::write(slot.rendezvous.join(format!("{name}-{}", slot.index)), b"");
    let ready = (|| -> anyhow::Result<_> {
        enter_trial_process(spec)?;
        let (batches, calibration_set) = batches_and_calibration(spec)?;
        let calibrate_on = calibration_set.as_deref().unwrap_or(&batches);
        let (prepared, inputs) = prepare_with_inputs(spec, &batches, calibrate_on)?;
        let warm = warm_up(&inputs, |b| prepared.run(b))?;
        Ok((prepared, inputs, warm))
    })();
    let (prepared, inputs, warm) = match ready {
        Ok(ready) => ready,
        Err(e) => {
            let _ = mark("failed");
            return Err(e);
        }
    };
    mark("ready")?;
    // Time together: wait for every instance to be warm, or stop when one
    // failed (the parent's time limit ends a wait that never resolves).
    loop {
        let names: Vec<String> = std::fs::read_dir(&slot.rendezvous)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if names.iter().any(|n| n.starts_with("failed-")) {
            anyhow::bail!("another instance failed before timing");
        }
        if names.iter().filter(|n| n.starts_with("ready-")).count() >= slot.of {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let unix = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let start_unix = unix();
    let timed = time_round_robin(spec, &inputs, slot.index, |b| prepared.run(b))?;
    Ok(InstanceOutput {
        latencies_s: timed.latencies_s,
        samples: timed.samples,
        shape_of: timed.shape_of,
        interference: timed.interference,
        warm_iterations: warm.iterations,
        steady: warm.steady,
        first_call_ms: warm.first_call_ms,
        start_unix,
        end_unix: unix(),
    })
}

/// How the processes' timed windows lay in time.
#[derive(Clone, Copy)]
enum Windows {
    /// Instances, timed together, every instance a worker: their common
    /// window; the trial's interference is the worst process's (each had
    /// its own cores).
    AtOnce,
    /// One after another on the same cores, one call in flight: their
    /// windows and their interference add up (page faults per call are the
    /// processes' together).
    InTurn,
}

/// The latencies and samples of processes' timed windows, laid in time as
/// `windows` says; the outputs of a copy prepared here (as each process
/// prepared its own) for the accuracy check.
fn merge_runs(
    spec: &TrialSpec,
    batches: &[Vec<Tensor>],
    calibrate_on: &[Vec<Tensor>],
    shapes: &[(String, u64)],
    runs: Vec<InstanceOutput>,
    windows: Windows,
) -> anyhow::Result<TrialOutput> {
    let (elapsed_s, workers) = match windows {
        Windows::AtOnce => {
            let start = runs
                .iter()
                .map(|r| r.start_unix)
                .fold(f64::INFINITY, f64::min);
            let end = runs.iter().map(|r| r.end_unix).fold(0.0, f64::max);
            ((end - start).max(0.0), runs.len())
        }
        Windows::InTurn => (
            runs.iter()
                .map(|r| (r.end_unix - r.start_unix).max(0.0))
                .sum(),
            1,
        ),
    };
    let mut timed = Timed {
        elapsed_s,
        ..Timed::default()
    };
    let mut warm = WarmedUp {
        steady: true,
        ..WarmedUp::default()
    };
    for run in runs {
        timed.latencies_s.extend(run.latencies_s);
        timed.shape_of.extend(run.shape_of);
        timed.interference = match (timed.interference.take(), run.interference) {
            (Some(a), Some(b)) => Some(match windows {
                Windows::InTurn => a.plus(b),
                Windows::AtOnce => a.worse(b),
            }),
            (a, b) => a.or(b),
        };
        timed.samples += run.samples;
        warm.iterations += run.warm_iterations;
        warm.steady &= run.steady;
        warm.first_call_ms = warm.first_call_ms.max(run.first_call_ms);
    }
    threads::set(spec.config.threads_per_worker(spec.options.cpus.len()))?;
    let loaded = LoadedState::read(spec)?;
    let (prepared, inputs) = prepare_with_inputs(spec, batches, calibrate_on)?;
    // Calibration ran the model: its state goes back to how it loaded.
    loaded.restore(&prepared)?;
    let (accuracy, task_top1) =
        outputs_and_accuracy(spec, batches.len(), |i| prepared.run(&inputs[i]))?;
    let mut output = TrialOutput::new(&timed, warm, accuracy, &prepared.steps, shapes, workers);
    output.task_top1 = task_top1;
    describe_last_call(&mut output, &prepared, &inputs[0], spec)?;
    Ok(output)
}
