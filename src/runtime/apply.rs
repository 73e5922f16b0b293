//! Applying a `Config` to a model: process-wide settings first (threads,
//! fusers, IPEX), then the module passes.
use std::path::Path;

use tch::{Kind, Tensor};

use super::threads;
use crate::backend::{self, PassRun};
use crate::config::{Config, Dtype, Fuser, Level};
use crate::model::load_module;
use crate::native::{self, Module, ModuleDtype, Outputs};
use crate::record::{CompileRecord, Step};
use crate::runtime::compiled::{self, Packages};
use crate::trial::Observer;

/// A knob value that cannot be applied to this model or host.
#[derive(Debug, thiserror::Error)]
#[error("{knob}: {reason}")]
pub struct CannotApply {
    pub knob: &'static str,
    pub reason: String,
}

fn cannot(knob: &'static str, reason: impl Into<String>) -> anyhow::Error {
    CannotApply {
        knob,
        reason: reason.into(),
    }
    .into()
}

/// What a prepared config runs: the TorchScript module with the config's
/// passes applied, or packages a backend compiled ahead of time.
pub enum Runnable {
    Script(Module),
    Compiled(Packages),
}

/// A module with a config applied, ready to run.
pub struct Prepared {
    pub runnable: Runnable,
    pub method: String,
    pub dtype: Dtype,
    pub steps: Vec<Step>,
    /// A backend that compiles ahead of time: its compile.
    pub compile: Option<CompileRecord>,
}

/// Process-wide settings. Call once per process, before loading the model:
/// the thread count must be fixed before any weight is prepacked (Known
/// Issues, Correctness: oneDNN layouts depend on the OpenMP thread count) and
/// IPEX must be loaded before the module for its passes to see it.
pub fn apply_process_settings(config: &Config) -> anyhow::Result<()> {
    if let Some(threads) = config.threads {
        threads::set(threads)?;
    }
    backend::spec(config.backend).load()
}

/// Enables the config's fuser. Call after the module passes: the fusers act
/// when the graph executor optimizes a graph, and graph-mode quantization's
/// own passes fail with the oneDNN Graph pre-pass registered ("bad optional
/// access" on the fixture MLP).
pub fn enable_fuser(config: &Config) -> anyhow::Result<()> {
    match config.fuser {
        Fuser::None => {}
        Fuser::Texpr => {
            native::set_texpr_fuser(true)?;
        }
        Fuser::Onednn => {
            native::set_onednn_fuser(true)?;
        }
    }
    Ok(())
}

/// What static quantization calibrates on, and how.
pub struct Calibration<'a> {
    pub observer: Observer,
    /// Batches of model inputs (fp32, as the suite makes them).
    pub batches: &'a [Vec<Tensor>],
    /// Calibrate with this many threads when the config runs with one
    /// (Known Issues, INT8: calibration with one OpenMP thread can be wrong).
    pub threads: Option<usize>,
}

/// Loads the model and applies the module passes of `config`; for a
/// backend that compiles ahead of time, the packages compiled (or cached)
/// for `batches` instead.
pub fn prepare(
    path: &Path,
    method: &str,
    config: &Config,
    calibration: Option<&Calibration>,
    batches: &[Vec<Tensor>],
) -> anyhow::Result<Prepared> {
    if backend::spec(config.backend).compiles_ahead() {
        return prepare_compiled(path, method, config, calibration, batches);
    }
    let prepared = prepare_module(path, method, config, calibration)?;
    enable_fuser(config)?;
    Ok(prepared)
}

/// The packages of a backend that compiles ahead of time, for the shapes
/// of `batches`, with kernels for this process's thread count (static int8
/// calibrated on the calibration batches).
fn prepare_compiled(
    path: &Path,
    method: &str,
    config: &Config,
    calibration: Option<&Calibration>,
    batches: &[Vec<Tensor>],
) -> anyhow::Result<Prepared> {
    let threads = config.threads.unwrap_or(native::num_threads()?);
    let calibrate_on = calibration.map_or(&[][..], |c| c.batches);
    let (packages, record) =
        compiled::prepare(path, method, config, threads, batches, calibrate_on)
            .map_err(|e| cannot("backend", format!("{e:#}")))?;
    threads::mark_packed()?;
    let step = if record.cached {
        "aot_compile (cached)"
    } else {
        "aot_compile"
    };
    Ok(Prepared {
        runnable: Runnable::Compiled(packages),
        method: method.to_string(),
        dtype: config.dtype,
        steps: vec![Step::new(step, true)],
        compile: Some(record),
    })
}

/// [`prepare`] without enabling the fuser, for callers that prepare several
/// modules first (the fuser's pass is process-wide and breaks calibration).
pub fn prepare_module(
    path: &Path,
    method: &str,
    config: &Config,
    calibration: Option<&Calibration>,
) -> anyhow::Result<Prepared> {
    apply_to_module(load_module(path)?, method, config, calibration)
}

/// Static int8: observe, calibrate on the suite's inputs, convert. The
/// thread count may differ during calibration (observers pack nothing) and
/// is set to the config's before convert packs the weights.
fn quantize_static(
    module: &Module,
    method: &str,
    config: &Config,
    calibration: &Calibration,
) -> anyhow::Result<Module> {
    let qdq = backend::spec(config.backend).int8_as_qdq();
    if config.signed_activations && !qdq {
        return Err(cannot(
            "dtype",
            "signed activations (+s8) need IPEX's int8 kernels: libtorch's quantized ops take unsigned activations",
        ));
    }
    let (activation, weight) =
        super::quant::static_observers(calibration.observer, config.signed_activations)?;
    let observed = module
        .quantize_static_prepare(method, &activation, &weight, &config.fp32_layers)
        .map_err(|e| cannot("dtype", format!("int8-static prepare: {}", e.headline())))?;
    // Unset threads are libtorch's default here, which num_threads reports
    // (the reading of Config::threads_per_worker in this worker's thread).
    let run_threads = config.threads.unwrap_or(native::num_threads()?);
    if let Some(n) = calibration.threads.filter(|_| run_threads == 1) {
        threads::set(n)?;
    }
    for batch in calibration.batches {
        observed.run(method, batch).map_err(|e| {
            cannot(
                "dtype",
                format!("int8-static calibration: {}", e.headline()),
            )
        })?;
    }
    threads::set(run_threads)?;
    let converted = observed
        .quantize_static_convert(method, qdq)
        .map_err(|e| cannot("dtype", format!("int8-static convert: {}", e.headline())))?;
    threads::mark_packed()?;
    Ok(converted)
}

/// A layer kept in fp32 must be one graph-mode quantization would quantize
/// (libtorch ignores a name it does not know).
fn check_fp32_layers(module: &Module, config: &Config) -> anyhow::Result<()> {
    if config.fp32_layers.is_empty() {
        return Ok(());
    }
    let layers = module.quantizable_layers()?;
    for name in &config.fp32_layers {
        if !layers.contains(name) {
            return Err(cannot(
                "dtype",
                format!(
                    "'{name}' is not a quantizable layer of the model (its layers: {})",
                    layers.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn apply_to_module(
    mut module: Module,
    method: &str,
    config: &Config,
    calibration: Option<&Calibration>,
) -> anyhow::Result<Prepared> {
    let backend = backend::spec(config.backend);
    let mut steps = Vec::new();
    if config.level == Level::O0
        && (config.conv_bn_folding || config.weights_prepack || !backend.coherent(config))
    {
        return Err(cannot(
            "level",
            "O0 runs the module as loaded: folding, prepacking and IPEX's rewrites need O1 (a frozen module)",
        ));
    }
    check_fp32_layers(&module, config)?;
    push_passes(&mut steps, backend.before_quantization(&mut module)?);
    match config.dtype {
        // Autocast acts on the frozen graph, below.
        Dtype::Fp32 | Dtype::Bf16Autocast => {}
        Dtype::Bf16 => {
            module.cast(ModuleDtype::BFloat16)?;
        }
        Dtype::Int8Dynamic => {
            let (activation, weight) = super::quant::dynamic_observers()?;
            module = module
                .quantize_dynamic(method, &activation, &weight, &config.fp32_layers)
                .map_err(|e| cannot("dtype", format!("dynamic int8: {}", e.headline())))?;
            threads::mark_packed()?;
            steps.push(Step::new("quantize_dynamic", true));
        }
        Dtype::Int8Static => {
            let calibration = calibration
                .ok_or_else(|| cannot("dtype", "int8-static needs calibration inputs (a suite)"))?;
            module = quantize_static(&module, method, config, calibration)?;
            steps.push(Step::new("quantize_static", true));
        }
    }
    if config.level == Level::O1 {
        // Quantization's Finalize already froze the module.
        if !config.dtype.is_int8() {
            module = module
                .freeze(method)
                .map_err(|e| cannot("level", format!("freeze: {}", e.headline())))?;
            steps.push(Step::new("freeze", true));
        }
        steps.push(Step::new("remove_dropout", module.remove_dropout(method)?));
        push_passes(
            &mut steps,
            backend.after_freeze(&mut module, method, config)?,
        );
        if config.conv_bn_folding {
            steps.push(Step::new("fold_conv_bn", module.fold_conv_bn(method)?));
        }
        if config.dtype == Dtype::Bf16 {
            let changed = module
                .cast_constants(method, ModuleDtype::BFloat16)
                .map_err(|e| cannot("dtype", format!("bf16 constants: {}", e.headline())))?;
            steps.push(Step::new("bf16_constants", changed));
        }
        if config.dtype == Dtype::Bf16Autocast {
            // IPEX's recipe: bf16 conv/linear/embedding weights, folded
            // first (folding wants them fp32) and cast before prepacking (it
            // packs them in bf16); casts where autocast makes them, and
            // every call under CPU autocast.
            let changed = module
                .autocast_as_traced(method, ModuleDtype::BFloat16)
                .map_err(|e| cannot("dtype", format!("bf16 autocast: {}", e.headline())))?;
            steps.push(Step::new("autocast_bf16", changed));
            module.run_under_autocast(ModuleDtype::BFloat16)?;
        }
        if config.weights_prepack {
            push_passes(&mut steps, backend.prepack(&mut module, method)?);
        }
        // Frozen conv/linear weights are packed here or, with IPEX or a
        // fuser, on the first run: either way, with this thread count.
        threads::mark_packed()?;
    }
    Ok(Prepared {
        runnable: Runnable::Script(module),
        method: method.to_string(),
        dtype: config.dtype,
        steps,
        compile: None,
    })
}

fn push_passes(steps: &mut Vec<Step>, passes: Vec<PassRun>) {
    steps.extend(
        passes
            .into_iter()
            .map(|(pass, changed)| Step::new(pass, changed)),
    );
}

impl Prepared {
    /// Converts suite inputs to what the prepared module expects (bf16
    /// modules take bf16 floating inputs).
    pub fn convert_inputs(&self, inputs: &[Tensor]) -> Vec<Tensor> {
        inputs
            .iter()
            .map(|t| {
                if self.dtype == Dtype::Bf16 && t.is_floating_point() {
                    t.to_kind(Kind::BFloat16)
                } else {
                    t.shallow_clone()
                }
            })
            .collect()
    }

    /// The TorchScript module, unless the config runs compiled packages.
    pub fn module(&self) -> Option<&Module> {
        match &self.runnable {
            Runnable::Script(module) => Some(module),
            Runnable::Compiled(_) => None,
        }
    }

    /// Runs the entry method, returning outputs as the module made them
    /// (a compiled package returns its outputs flattened).
    pub fn run_raw(&self, inputs: &[Tensor]) -> anyhow::Result<Outputs> {
        match &self.runnable {
            Runnable::Script(module) => Ok(module.run(&self.method, inputs)?),
            Runnable::Compiled(packages) => {
                let tensors = packages.run(inputs)?;
                let structure = match tensors.len() {
                    1 => "tensor".to_string(),
                    n => format!("tuple({})", vec!["tensor"; n].join(",")),
                };
                Ok(Outputs { tensors, structure })
            }
        }
    }

    /// Runs the entry method; outputs come back as fp32 for comparison.
    pub fn run(&self, inputs: &[Tensor]) -> anyhow::Result<Vec<Tensor>> {
        let outputs = self.run_raw(inputs)?;
        Ok(outputs
            .tensors
            .into_iter()
            .map(|t| {
                if t.is_floating_point() && t.kind() != Kind::Float {
                    t.to_kind(Kind::Float)
                } else {
                    t
                }
            })
            .collect())
    }
}
