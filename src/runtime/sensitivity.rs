//! The int8 fallback's measurement (`Job::LayerSensitivity`): for each
//! quantizable layer, the model's outputs against stock's when that layer
//! alone is quantized and every other one stays fp32. Neural Compressor
//! ranks ops for its fallback the same way (one op at a time); measuring
//! the whole model's outputs rather than the layer's own output catches a
//! layer whose int8 output is fine but whose input quantization is not
//! (the layer after an outlier-heavy activation). Nothing is timed.
use tch::Tensor;

use super::allocator;
use super::apply::{self, Calibration};
use super::child::compare_with_stock;
use crate::config::Dtype;
use crate::measure::accuracy::LayerError;
use crate::model::load_module;
use crate::native;
use crate::suite::{calibration_batches, suite_batches};
use crate::trial::{SensitivityOutput, TrialSpec};

/// Measures every layer the config does not already keep in fp32.
pub fn run_sensitivity_child(spec: &TrialSpec) -> anyhow::Result<SensitivityOutput> {
    anyhow::ensure!(
        spec.config.dtype.is_int8(),
        "layer sensitivity needs an int8 config, not {}",
        spec.config.label()
    );
    allocator::apply_in_process(spec.config.allocator)?;
    native::os::set_process_affinity(&spec.options.cpus)?;
    apply::apply_process_settings(&spec.config)?;
    let batches: Vec<Vec<Tensor>> = suite_batches(&spec.suite)?
        .into_iter()
        .map(|b| b.tensors)
        .collect();
    let calibration_set = calibration_batches(&spec.suite)?;
    let calibrate_on = calibration_set.as_deref().unwrap_or(&batches);
    let layers = load_module(&spec.model)?.quantizable_layers()?;
    let mut layer_errors = Vec::new();
    for layer in layers
        .iter()
        .filter(|l| !spec.config.fp32_layers.contains(l))
    {
        let mut only_this = spec.config.clone();
        only_this.fp32_layers = layers.iter().filter(|l| *l != layer).cloned().collect();
        let measured = outputs_with(spec, &only_this, &batches, calibrate_on)
            .and_then(|named| compare_with_stock(spec, named));
        layer_errors.push(match measured {
            Ok(accuracy) => LayerError {
                layer: layer.clone(),
                accuracy,
                error: None,
            },
            Err(e) => LayerError {
                layer: layer.clone(),
                accuracy: None,
                error: Some(
                    format!("{e:#}")
                        .lines()
                        .next()
                        .unwrap_or("failed")
                        .to_string(),
                ),
            },
        });
    }
    Ok(SensitivityOutput {
        layers,
        layer_errors,
    })
}

/// The outputs of `config` on every batch, named as the trial names them.
/// The fuser stays off: oneDNN Graph's process-wide pass would rewrite the
/// next layer's observed module (and its int8 kernels compute what the
/// quantize/dequantize graph simulates).
fn outputs_with(
    spec: &TrialSpec,
    config: &crate::config::Config,
    batches: &[Vec<Tensor>],
    calibrate_on: &[Vec<Tensor>],
) -> anyhow::Result<Vec<(String, Tensor)>> {
    // One thread count for every layer's module (calibration threads would
    // change it after the first packing).
    let calibration = (config.dtype == Dtype::Int8Static).then_some(Calibration {
        observer: spec.options.observer,
        batches: calibrate_on,
        threads: None,
    });
    let prepared = apply::prepare_module(&spec.model, &spec.method, config, calibration.as_ref())?;
    let mut named = Vec::new();
    for (i, batch) in batches.iter().enumerate() {
        for (j, t) in prepared
            .run(&prepared.convert_inputs(batch))?
            .into_iter()
            .enumerate()
        {
            named.push((format!("b{i}_o{j}"), t));
        }
    }
    Ok(named)
}
