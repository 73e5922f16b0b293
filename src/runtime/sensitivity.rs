//! The int8 fallback's measurement (`Job::LayerSensitivity`): for each
//! quantizable layer, the model's outputs against stock's with that layer
//! alone quantized, and with that layer alone kept fp32 (see
//! [`LayerError`] for what each finds). Two quantizations (prepare,
//! calibrate, convert) and one pass over the inputs per layer, on the whole
//! model's outputs; nothing is timed.
use std::time::{Duration, Instant};

use tch::Tensor;

use super::allocator;
use super::apply::{self, Calibration};
use super::child::compare_with_stock;
use crate::config::{Config, Dtype};
use crate::measure::accuracy::{damage, LayerError};
use crate::model::load_module;
use crate::native;
use crate::trial::{SensitivityOutput, TrialSpec};

/// The share of the parent's time limit spent measuring (the rest is the
/// margin for the measurement under way and the answer).
const TIME_LIMIT_SHARE: f64 = 0.7;

/// Layers measured before the pace of the rest is judged.
const PACE_LAYERS: usize = 3;

/// Measures every layer the config does not already keep in fp32.
pub fn run_sensitivity_child(spec: &TrialSpec) -> anyhow::Result<SensitivityOutput> {
    let started = Instant::now();
    anyhow::ensure!(
        spec.config.dtype.is_int8(),
        "layer sensitivity needs an int8 config, not {}",
        spec.config.label()
    );
    allocator::apply_in_process(spec.config.allocator)?;
    native::os::set_process_affinity(&spec.options.cpus)?;
    apply::apply_process_settings(&spec.config)?;
    let (batches, calibration_set) = super::child::batches_and_calibration(spec)?;
    let calibrate_on = calibration_set.as_deref().unwrap_or(&batches);
    let layers = load_module(&spec.model)?.quantizable_layers()?;
    let measure = |config: &Config| {
        outputs_with(spec, config, &batches, calibrate_on)
            .and_then(|named| compare_with_stock(spec, named))
    };
    let first_line = |e: &anyhow::Error| {
        format!("{e:#}")
            .lines()
            .next()
            .unwrap_or("failed")
            .to_string()
    };
    let all_int8 = measure(&spec.config).ok().flatten();
    let measured: Vec<&String> = layers
        .iter()
        .filter(|l| !spec.config.fp32_layers.contains(l))
        .collect();
    let deadline = spec
        .time_limit_s
        .map(|s| Duration::from_secs_f64(s * TIME_LIMIT_SHARE));
    // Each layer alone int8 first (one small quantized layer, but the whole
    // model's passes each time)...
    let mut layer_errors: Vec<LayerError> = Vec::with_capacity(measured.len());
    let alone_started = Instant::now();
    for (done, layer) in measured.iter().enumerate() {
        let mut alone = spec.config.clone();
        alone.fp32_layers = layers.iter().filter(|l| l != layer).cloned().collect();
        let result = measure(&alone);
        layer_errors.push(LayerError {
            layer: (*layer).clone(),
            error: result.as_ref().err().map(first_line),
            alone: result.ok().flatten(),
            kept_fp32: None,
            score: 0.0,
        });
        // A ranking needs every layer: when the pace so far cannot measure
        // them all in time, say so now rather than at the limit (on
        // EfficientNet-B0 the whole fallback share of the budget went to a
        // pass that could not end).
        let done = done + 1;
        if let Some(limit) = deadline.filter(|_| done >= PACE_LAYERS) {
            let each = alone_started.elapsed().as_secs_f64() / done as f64;
            let needed = started.elapsed().as_secs_f64() + each * (measured.len() - done) as f64;
            anyhow::ensure!(
                needed <= limit.as_secs_f64(),
                "{} layers at about {each:.1} s each need about {needed:.0} s, more than the {:.0} s the fallback may take",
                measured.len(),
                limit.as_secs_f64()
            );
        }
    }
    // ...then each alone fp32 (a whole model to quantize each time: about
    // ten times the cost on a BERT), most damaging alone first, while the
    // parent's time limit allows (a layer left unmeasured gains nothing in
    // the ranking).
    let mut order: Vec<usize> = (0..layer_errors.len()).collect();
    order.sort_by(|&a, &b| {
        damage(layer_errors[b].alone.as_ref()).total_cmp(&damage(layer_errors[a].alone.as_ref()))
    });
    for i in order {
        if deadline.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        let mut kept = spec.config.clone();
        kept.fp32_layers.push(layer_errors[i].layer.clone());
        match measure(&kept) {
            Ok(accuracy) => layer_errors[i].kept_fp32 = accuracy,
            Err(e) => layer_errors[i].error = Some(first_line(&e)),
        }
    }
    Ok(SensitivityOutput {
        layers,
        all_int8,
        layer_errors,
    })
}

/// The outputs of `config` on every batch, named as the trial names them.
/// The fuser stays off: oneDNN Graph's process-wide pass would rewrite the
/// next layer's observed module (and its int8 kernels compute what the
/// quantize/dequantize graph simulates).
fn outputs_with(
    spec: &TrialSpec,
    config: &Config,
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
