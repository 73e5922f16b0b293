//! Observer modules for graph-mode quantization, embedded in the binary.
//!
//! libtorch's quantization passes take observers as scripted modules (Python
//! scripts them at run time in `script_qconfig`); ipex-tune carries them as
//! TorchScript archives made by tests/fixtures/generate.py.
use crate::native::Module;

const DYNAMIC_ACTIVATION: &[u8] = include_bytes!("../../assets/quant/dynamic_activation.pt");
const WEIGHT_MINMAX: &[u8] = include_bytes!("../../assets/quant/weight_minmax.pt");

/// (activation, weight) observers of PyTorch's default_dynamic_qconfig.
pub fn dynamic_observers() -> anyhow::Result<(Module, Module)> {
    Ok((
        Module::load_bytes(DYNAMIC_ACTIVATION)?,
        Module::load_bytes(WEIGHT_MINMAX)?,
    ))
}
