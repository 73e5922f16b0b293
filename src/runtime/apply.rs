//! Applying a `Config` to a model: process-wide settings first (threads,
//! fusers, IPEX), then the module passes.
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::config::{Backend, Config, Dtype, Fuser, Level};
use super::ipex;
use crate::model::load_module;
use crate::native::{self, Module, ModuleDtype, Outputs};

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

/// One pass that was run, and whether it changed the graph.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub pass: String,
    pub changed: bool,
}

impl Step {
    fn new(pass: &str, changed: bool) -> Step {
        Step {
            pass: pass.to_string(),
            changed,
        }
    }
}

/// A module with a config applied, ready to run.
pub struct Prepared {
    pub module: Module,
    pub method: String,
    pub dtype: Dtype,
    pub steps: Vec<Step>,
}

/// Process-wide settings. Call once per process, before loading the model:
/// the thread count must be fixed before any weight is prepacked (Known
/// Issues, Correctness: oneDNN layouts depend on the OpenMP thread count) and
/// IPEX must be loaded before the module for its passes to see it.
pub fn apply_process_settings(config: &Config) -> anyhow::Result<()> {
    if let Some(threads) = config.threads {
        native::set_num_threads(threads)?;
    }
    if config.backend == Backend::Ipex {
        ipex::load()?;
    }
    Ok(())
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

/// Loads the model and applies the module passes of `config`.
pub fn prepare(path: &Path, method: &str, config: &Config) -> anyhow::Result<Prepared> {
    let module = load_module(path)?;
    let prepared = apply_to_module(module, method, config)?;
    enable_fuser(config)?;
    Ok(prepared)
}

fn apply_to_module(mut module: Module, method: &str, config: &Config) -> anyhow::Result<Prepared> {
    let mut steps = Vec::new();
    if config.level == Level::O0
        && (config.conv_bn_folding || config.weights_prepack || config.backend == Backend::Ipex)
    {
        return Err(cannot(
            "level",
            "O0 runs the module as loaded: folding, prepacking and IPEX's rewrites need O1 (a frozen module)",
        ));
    }
    match config.dtype {
        Dtype::Fp32 => {}
        Dtype::Bf16 => {
            module.cast(ModuleDtype::BFloat16)?;
        }
        Dtype::Int8Dynamic => {
            let (activation, weight) = super::quant::dynamic_observers()?;
            module = module
                .quantize_dynamic(method, &activation, &weight)
                .map_err(|e| cannot("dtype", format!("dynamic int8: {}", e.first_line())))?;
            steps.push(Step::new("quantize_dynamic", true));
        }
        Dtype::Int8Static => {
            return Err(cannot(
                "dtype",
                "int8-static needs calibration on suite inputs, which `bench` does not do",
            ));
        }
    }
    if config.level == Level::O1 {
        // Dynamic quantization's Finalize already froze the module.
        if config.dtype != Dtype::Int8Dynamic {
            module = module
                .freeze(method)
                .map_err(|e| cannot("level", format!("freeze: {}", e.first_line())))?;
            steps.push(Step::new("freeze", true));
        }
        steps.push(Step::new("remove_dropout", module.remove_dropout(method)?));
        if config.conv_bn_folding {
            steps.push(Step::new("fold_conv_bn", module.fold_conv_bn(method)?));
        }
        if config.weights_prepack {
            match config.backend {
                // IPEX prepacks frozen conv/linear weights in its own JIT
                // passes, which do not match graphs already converted to MKLDNN.
                Backend::Ipex => {}
                Backend::Stock => {
                    steps.push(Step::new("mkldnn_prepack", module.mkldnn_prepack(method)?))
                }
            }
        }
    }
    Ok(Prepared {
        module,
        method: method.to_string(),
        dtype: config.dtype,
        steps,
    })
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

    /// Runs the entry method, returning outputs as the module made them.
    pub fn run_raw(&self, inputs: &[Tensor]) -> anyhow::Result<Outputs> {
        Ok(self.module.run(&self.method, inputs)?)
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
