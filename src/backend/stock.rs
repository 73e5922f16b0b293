//! `stock`: libtorch as it ships. Runs a module as loaded (O0) or frozen
//! (O1); prepacking is libtorch's own oneDNN conversion of frozen conv and
//! linear weights (optimize_for_inference's MKLDNN part); static int8 runs
//! libtorch's quantized ops (fbgemm/oneDNN).
use super::{BackendSpec, PassRun};
use crate::config::{Backend, Config, Level};
use crate::native::Module;

pub struct Stock;

impl BackendSpec for Stock {
    fn backend(&self) -> Backend {
        Backend::Stock
    }

    /// O2 (max-autotune) is Inductor's.
    fn coherent(&self, config: &Config) -> bool {
        config.level != Level::O2
    }

    fn int8_as_qdq(&self) -> bool {
        false
    }

    fn prepack(&self, module: &mut Module, method: &str) -> anyhow::Result<Vec<PassRun>> {
        Ok(vec![("mkldnn_prepack", module.mkldnn_prepack(method)?)])
    }
}
