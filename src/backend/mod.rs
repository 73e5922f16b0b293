//! The backends a config runs on, each written the same way in its own
//! module: which configs are coherent for it, what the trial child does to
//! apply it (before the model loads, before quantization, after freezing,
//! for prepacking), how static int8 is converted for it, and what the deploy
//! block tells a user. Its label prefix and knob value live in
//! `config::Backend`; the rules gate it through `backend` conditions in
//! rules/*.yaml like any knob. A new backend is a new module here, its line
//! in [`REGISTRY`] and its value in `config::Backend`.
use crate::config::{Backend, Config};
use crate::native::Module;

pub mod inductor;
pub mod ipex;
pub mod ipex_library;
pub mod stock;

/// A module pass a backend ran: its name in the results' steps and whether
/// it changed the module.
pub type PassRun = (&'static str, bool);

/// What one backend is. The trial child calls the hooks in this order:
/// `load` (process-wide, before the model), `before_quantization` (on the
/// loaded module), `int8_as_qdq` (static int8's convert), `after_freeze`,
/// `prepack` (when the config prepacks weights).
pub trait BackendSpec: Sync {
    fn backend(&self) -> Backend;

    /// Whether `config` (with this backend) can run at all, regardless of
    /// rules, as far as the backend is concerned.
    fn coherent(&self, config: &Config) -> bool;

    /// Process-wide work before the model is loaded.
    fn load(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Module passes before the dtype step (quantization, bf16 casts).
    fn before_quantization(&self, _module: &mut Module) -> anyhow::Result<Vec<PassRun>> {
        Ok(Vec::new())
    }

    /// Whether the backend runs a package compiled ahead of time from the
    /// model (`runtime::compiled`) instead of the TorchScript module: then
    /// none of the module hooks here are called.
    fn compiles_ahead(&self) -> bool {
        false
    }

    /// Static int8 as the quantize/dequantize graph the backend's own fusion
    /// passes turn into int8 kernels (true), or as libtorch's int8 ops.
    fn int8_as_qdq(&self) -> bool;

    /// Graph passes after freezing, before conv-bn folding.
    fn after_freeze(
        &self,
        _module: &mut Module,
        _method: &str,
        _config: &Config,
    ) -> anyhow::Result<Vec<PassRun>> {
        Ok(Vec::new())
    }

    /// Weight prepacking, when the config asks for it.
    fn prepack(&self, module: &mut Module, method: &str) -> anyhow::Result<Vec<PassRun>>;

    /// What the deploy block says about running this backend (`library`:
    /// the backend library the host profile found, if any).
    fn deploy_note(&self, _library: Option<&str>) -> Option<String> {
        None
    }
}

/// Every backend, in the order of `config::Backend::ALL`.
pub static REGISTRY: &[&dyn BackendSpec] = &[&stock::Stock, &ipex::Ipex, &inductor::Inductor];

/// The spec of `backend`.
pub fn spec(backend: Backend) -> &'static dyn BackendSpec {
    *REGISTRY
        .iter()
        .find(|b| b.backend() == backend)
        .expect("every config::Backend has its line in backend::REGISTRY")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_is_registered_once_in_order() {
        let registered: Vec<Backend> = REGISTRY.iter().map(|b| b.backend()).collect();
        assert_eq!(registered, Backend::ALL.to_vec());
    }
}
