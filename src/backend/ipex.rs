//! `ipex`: Intel Extension for PyTorch's C++ library loaded before the model
//! ([`super::ipex_library`]); its JIT passes rewrite the frozen graph on the
//! first runs (fused and prepacked conv/linear, oneDNN Graph int8). So it
//! needs a frozen module (O1) and always prepacks, in its own passes. What
//! IPEX's Python recipe does before that is done here the same way:
//! channels-last convolution weights (ipex.optimize's auto_channels_last)
//! and images, and static int8 as the quantize/dequantize graph IPEX's
//! `convert` makes.
use super::{ipex_library, BackendSpec, PassRun};
use crate::config::{Backend, Config, Level};
use crate::native::Module;

pub struct Ipex;

impl BackendSpec for Ipex {
    fn backend(&self) -> Backend {
        Backend::Ipex
    }

    fn coherent(&self, config: &Config) -> bool {
        config.level == Level::O1 && config.weights_prepack
    }

    /// IPEX must be loaded before the module for its passes to see it.
    fn load(&self) -> anyhow::Result<()> {
        ipex_library::load()?;
        Ok(())
    }

    /// IPEX's recipe (ipex.optimize, and its quantization prepare) puts
    /// convolution weights in channels-last memory before anything else:
    /// its prepacked convolutions then run NHWC end to end (2x on
    /// MobileNetV3-small). Before quantization and freezing, so the folded
    /// and frozen weights keep the layout.
    fn before_quantization(&self, module: &mut Module) -> anyhow::Result<Vec<PassRun>> {
        Ok(vec![(
            "channels_last",
            module.conv_weights_channels_last()?,
        )])
    }

    /// IPEX's fusion passes turn the quantize/dequantize graph its own
    /// recipe makes into IPEX's int8 kernels.
    fn int8_as_qdq(&self) -> bool {
        true
    }

    /// With the channels-last weights: the image converted in the graph, as
    /// IPEX's recipe converts it (int8 quantizes its input first, and oneDNN
    /// Graph picks the layout).
    fn after_freeze(
        &self,
        module: &mut Module,
        method: &str,
        config: &Config,
    ) -> anyhow::Result<Vec<PassRun>> {
        if config.dtype.is_int8() {
            return Ok(Vec::new());
        }
        Ok(vec![(
            "channels_last_inputs",
            module.channels_last_inputs(method)?,
        )])
    }

    /// IPEX prepacks frozen conv/linear weights in its own JIT passes, which
    /// do not match graphs already converted to MKLDNN.
    fn prepack(&self, _module: &mut Module, _method: &str) -> anyhow::Result<Vec<PassRun>> {
        Ok(Vec::new())
    }

    fn deploy_note(&self, library: Option<&str>) -> Option<String> {
        Some(match library {
            Some(lib) => format!("backend ipex: load IPEX before the model (import intel_extension_for_pytorch, or LD_PRELOAD={lib}); its graph passes run on the first calls"),
            None => "backend ipex: load IPEX before the model (import intel_extension_for_pytorch)".into(),
        })
    }
}
