//! Loading IPEX's C++ library (libintel-ext-pt-cpu.so) into this process.
//!
//! Loading it registers IPEX's JIT fusion passes, custom ops and oneDNN Graph
//! settings; no call is needed. Its rewrites act where weights are graph
//! constants, i.e. after `torch::jit::freeze`, and not on graphs already
//! rewritten by optimize_for_inference's MKLDNN conversion. The version is
//! checked first (host::ipex::check): a mismatched library would exit(127).
use std::sync::OnceLock;

use crate::host::ipex::{check, IpexError};
use crate::host::TorchBuild;
use crate::native;

static LOADED: OnceLock<Result<String, IpexError>> = OnceLock::new();

/// Loads IPEX once for the life of the process (checked first); returns its version.
pub fn load() -> Result<String, IpexError> {
    LOADED
        .get_or_init(|| {
            let torch = TorchBuild::read().map_err(|e| IpexError::Torch(e.to_string()))?;
            let (library, version) = check(&torch)?;
            native::os::dlopen_forever(&library)
                .map_err(|e| IpexError::Load(library.display().to_string(), e.to_string()))?;
            Ok(version)
        })
        .clone()
}
