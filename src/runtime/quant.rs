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
const ACTIVATION_MINMAX_S8: &[u8] = include_bytes!("../../assets/quant/activation_minmax_s8.pt");
const ACTIVATION_HISTOGRAM_S8: &[u8] =
    include_bytes!("../../assets/quant/activation_histogram_s8.pt");

/// (activation, weight) observers for static quantization: per-channel
/// symmetric weights, as PyTorch's default fbgemm qconfig; activations
/// unsigned affine (quint8), or with `signed` symmetric qint8.
pub fn static_observers(activation: Observer, signed: bool) -> anyhow::Result<(Module, Module)> {
    let act = match (activation, signed) {
        (Observer::Minmax, false) => ACTIVATION_MINMAX,
        (Observer::Histogram, false) => ACTIVATION_HISTOGRAM,
        (Observer::Minmax, true) => ACTIVATION_MINMAX_S8,
        (Observer::Histogram, true) => ACTIVATION_HISTOGRAM_S8,
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
