//! Observer modules for graph-mode quantization, embedded in the binary.
//!
//! libtorch's quantization passes take observers as scripted modules (Python
//! scripts them at run time in `script_qconfig`); ipex-tune carries them as
//! TorchScript archives made by tests/fixtures/generate.py.
use crate::native::Module;
use crate::trial::Observer;

const DYNAMIC_ACTIVATION: &[u8] = include_bytes!("../../assets/quant/dynamic_activation.pt");
const WEIGHT_MINMAX: &[u8] = include_bytes!("../../assets/quant/weight_minmax.pt");
const WEIGHT_PER_CHANNEL: &[u8] = include_bytes!("../../assets/quant/weight_per_channel.pt");
const ACTIVATION_MINMAX: &[u8] = include_bytes!("../../assets/quant/activation_minmax.pt");
const ACTIVATION_HISTOGRAM: &[u8] = include_bytes!("../../assets/quant/activation_histogram.pt");

/// (activation, weight) observers for static quantization: per-channel
/// symmetric weights, as PyTorch's default fbgemm qconfig.
pub fn static_observers(activation: Observer) -> anyhow::Result<(Module, Module)> {
    let act = match activation {
        Observer::Minmax => ACTIVATION_MINMAX,
        Observer::Histogram => ACTIVATION_HISTOGRAM,
    };
    Ok((
        Module::load_bytes(act)?,
        Module::load_bytes(WEIGHT_PER_CHANNEL)?,
    ))
}

/// (activation, weight) observers of PyTorch's default_dynamic_qconfig.
pub fn dynamic_observers() -> anyhow::Result<(Module, Module)> {
    Ok((
        Module::load_bytes(DYNAMIC_ACTIVATION)?,
        Module::load_bytes(WEIGHT_MINMAX)?,
    ))
}
