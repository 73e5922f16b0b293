//! What the inductor backend needs on this host, found without running it:
//! a Python whose torch is the libtorch ipex-tune links (it exports the
//! model and compiles it with AOTInductor) and a C++ compiler (AOTInductor
//! compiles the generated kernels with it). Nothing is imported or run here:
//! `import torch` takes seconds, and `plan` must stay instant.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::torch::TorchBuild;

/// Environment variable naming the Python explicitly.
pub const PYTHON_ENV: &str = "IPEX_TUNE_PYTHON";

/// What is known about the inductor backend's tools on this host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InductorInfo {
    /// The Python that compiles (has torch).
    pub python: Option<String>,
    /// The version of that Python's torch (from its dist-info).
    pub torch_version: Option<String>,
    /// The C++ compiler AOTInductor will call ($CXX, else g++).
    pub compiler: Option<String>,
    /// Python, torch of libtorch's version and a compiler: the backend can run.
    pub available: bool,
    /// Why it cannot, when it cannot.
    pub problem: Option<String>,
}

/// The Python to compile with: $IPEX_TUNE_PYTHON, else the project's venv
/// beside the libtorch stack (scripts/bootstrap --fixtures: .stack/fixture-venv,
/// the stack being .stack/site-packages/torch/lib/libtorch_cpu.so).
pub fn python(torch: &TorchBuild) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(PYTHON_ENV) {
        return Some(PathBuf::from(path));
    }
    let stack = Path::new(&torch.library).ancestors().nth(4)?;
    Some(stack.join("fixture-venv/bin/python"))
}

/// The torch version a Python environment holds, read from its dist-info
/// folder (bin/python -> lib/python3.X/site-packages/torch-V.dist-info).
pub fn torch_version_of(python: &Path) -> Option<String> {
    let env = python.parent()?.parent()?;
    let lib = std::fs::read_dir(env.join("lib")).ok()?;
    for entry in lib.flatten() {
        let site = entry.path().join("site-packages");
        let Ok(listing) = std::fs::read_dir(&site) else {
            continue;
        };
        for item in listing.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if let Some(version) = name
                .strip_prefix("torch-")
                .and_then(|v| v.strip_suffix(".dist-info"))
            {
                return Some(version.to_string());
            }
        }
    }
    None
}

/// The C++ compiler on PATH: $CXX, else g++ (what Inductor calls).
pub fn compiler() -> Option<String> {
    let name = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    if name.contains('/') {
        return Path::new(&name).is_file().then_some(name);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(&name))
            .find(|p| p.is_file())
            .map(|p| p.display().to_string())
    })
}

/// The inductor facts of this host.
pub fn info(torch: &TorchBuild) -> InductorInfo {
    let python = python(torch).filter(|p| p.is_file());
    let torch_version = python.as_deref().and_then(torch_version_of);
    let compiler = compiler();
    let libtorch = torch.version.split('+').next().unwrap_or_default();
    let problem = match (&python, &torch_version, &compiler) {
        (None, _, _) => Some(format!(
            "no Python with torch: run scripts/bootstrap --fixtures, or set {PYTHON_ENV}"
        )),
        (Some(p), None, _) => Some(format!("{} has no torch", p.display())),
        (Some(p), Some(v), _) if v.split('+').next() != Some(libtorch) => Some(format!(
            "{} has torch {v}, libtorch is {}: the compiled package must match the runtime",
            p.display(),
            torch.version
        )),
        (_, _, None) => Some("no C++ compiler (g++ or $CXX) for AOTInductor".into()),
        _ => None,
    };
    InductorInfo {
        python: python.map(|p| p.display().to_string()),
        torch_version,
        compiler,
        available: problem.is_none(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_torch_version_from_the_dist_info_folder() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let site = dir.path().join("lib/python3.11/site-packages");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(site.join("torch-2.7.0.dist-info")).unwrap();
        std::fs::create_dir_all(site.join("torchvision-0.22.0.dist-info")).unwrap();
        let python = bin.join("python");
        std::fs::write(&python, b"").unwrap();
        assert_eq!(torch_version_of(&python).as_deref(), Some("2.7.0"));
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(torch_version_of(&empty.path().join("bin/python")), None);
    }
}
