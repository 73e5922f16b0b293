//! `inductor`: upstream PyTorch's path since IPEX was archived. The trial
//! child exports the TorchScript model to an ExportedProgram (torch's
//! TS2EPConverter), applies the dtype (bf16 autocast at export, bf16
//! weights, or PT2E static int8 with X86InductorQuantizer), compiles one
//! package per input shape (or, with `+dynamic`, one for all of them, the
//! differing dimensions marked dynamic) ahead of time with AOTInductor, in a Python
//! child (`inductor_compile.py`, embedded in the binary), and times the
//! package in this process through libtorch's AOTIModelPackageLoader
//! (`runtime::compiled`). Nothing of the TorchScript interpreter runs, so
//! none of the TorchScript hooks below act.
//!
//! Levels: O1 compiles with freezing (weights folded and prepacked as
//! constants); O2 adds max-autotune (kernels chosen by benchmarking at
//! compile time, the C++ GEMM templates among them). Inductor prepacks and
//! folds on its own, so `+fold` and `+prepack` are not spelled.
use super::{BackendSpec, PassRun};
use crate::config::{Backend, Config, Dtype, Fuser, Level};
use crate::native::Module;

pub struct Inductor;

/// The compile step's script, run by the project's Python.
pub const COMPILE_SCRIPT: &str = include_str!("inductor_compile.py");

impl BackendSpec for Inductor {
    fn backend(&self) -> Backend {
        Backend::Inductor
    }

    fn coherent(&self, config: &Config) -> bool {
        config.level != Level::O0
            && !config.conv_bn_folding
            && !config.weights_prepack
            && config.fuser == Fuser::None
            && matches!(
                config.dtype,
                Dtype::Fp32 | Dtype::Bf16 | Dtype::Bf16Autocast | Dtype::Int8Static
            )
            && config.fp32_layers.is_empty()
            // One package serves one call at a time (its model container
            // holds one model instance): streams would queue on it.
            && config.streams == 1
    }

    fn compiles_ahead(&self) -> bool {
        true
    }

    fn int8_as_qdq(&self) -> bool {
        false
    }

    fn prepack(&self, _module: &mut Module, _method: &str) -> anyhow::Result<Vec<PassRun>> {
        Ok(Vec::new())
    }

    fn deploy_note(&self, _library: Option<&str>) -> Option<String> {
        Some("backend inductor: load the AOTInductor package (one .pt2 per input shape, or one for all with +dynamic) with torch._inductor.aoti_load_package in Python or torch::inductor::AOTIModelPackageLoader in C++; the kernels' thread count is fixed at compile time".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inductor_configs_freeze_and_leave_folding_and_packing_to_inductor() {
        let ok: Config = "inductor/O1/fp32/t2/glibc".parse().unwrap();
        assert!(Inductor.coherent(&ok));
        assert!(Inductor.coherent(&"inductor/O2/int8-static/t1/i2/jemalloc".parse().unwrap()));
        for bad in [
            "inductor/O0/fp32/glibc",
            "inductor/O1+prepack/fp32/glibc",
            "inductor/O1/int8-dyn/glibc",
            "inductor/O1/onednn/fp32/glibc",
            "inductor/O1/fp32/t1/s2/glibc",
        ] {
            assert!(!Inductor.coherent(&bad.parse().unwrap()), "{bad}");
        }
    }
}
