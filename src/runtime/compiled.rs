//! The child's side of a backend that compiles ahead of time (inductor):
//! the packages for this config, compiled by the project's Python on the
//! first use and cached by everything that decides their content (the
//! model's bytes, method, dtype, level, thread count, the example and
//! calibration inputs, the compile script, torch's version and this CPU's
//! ISA), then loaded with libtorch's AOTIModelPackageLoader, one per input
//! shape (or one dynamic package for all of them: `Config::dynamic_shapes`). For a `.pt2` program (model::pt2), the program is compiled, not
//! its TorchScript trace. A second run, or an instance of a multi-instance trial, loads
//! from the cache without compiling.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::Tensor;

use crate::backend::inductor::COMPILE_SCRIPT;
use crate::config::{Config, Level};
use crate::host::cache::cache_root;
use crate::host::{inductor, TorchBuild};
use crate::native::os::{step_failure, StepFailure};
use crate::native::AotiPackage;
use crate::record::CompileRecord;

/// One package per input shape, chosen by the sizes of a call's inputs;
/// or one dynamic package for all of them.
pub struct Packages {
    /// The sizes each package was compiled for (None: any sizes, the
    /// package's dynamic dimensions check them).
    by_sizes: Vec<(Option<Vec<Vec<i64>>>, AotiPackage)>,
}

impl Packages {
    /// Runs the package compiled for these inputs' sizes.
    /// In the timed loop: the sizes are compared without collecting them.
    pub fn run(&self, inputs: &[Tensor]) -> anyhow::Result<Vec<Tensor>> {
        let fits = |sizes: &Option<Vec<Vec<i64>>>| match sizes {
            None => true,
            Some(sizes) => {
                sizes.len() == inputs.len() && sizes.iter().zip(inputs).all(|(s, t)| *s == t.size())
            }
        };
        let (_, package) = self
            .by_sizes
            .iter()
            .find(|(sizes, _)| fits(sizes))
            .ok_or_else(|| {
                let sizes: Vec<Vec<i64>> = inputs.iter().map(|t| t.size()).collect();
                anyhow::anyhow!("no package was compiled for input sizes {sizes:?}")
            })?;
        Ok(package.run(inputs)?)
    }
}

/// What the cache holds for one key: the packages and how long they took.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    packages: Vec<ManifestPackage>,
    /// Seconds per stage of the compile that made them.
    stages: BTreeMap<String, f64>,
    seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ManifestPackage {
    /// The example's sizes (for a dynamic package, the shape it was
    /// exported from).
    sizes: Vec<Vec<i64>>,
    /// Compiled with dynamic dimensions: serves every shape of the suite.
    #[serde(default)]
    dynamic: bool,
    /// File name inside the key's folder.
    file: String,
}

/// The tensors the compile step reads: one example batch per shape and
/// the calibration batches, named as `inductor_compile.py` expects.
fn named_inputs<'a>(
    batches: &'a [Vec<Tensor>],
    calibration: &'a [Vec<Tensor>],
) -> Vec<(String, &'a Tensor)> {
    let mut named = Vec::new();
    for (prefix, set) in [("shape", batches), ("calib", calibration)] {
        for (i, batch) in set.iter().enumerate() {
            for (j, t) in batch.iter().enumerate() {
                named.push((format!("{prefix}{i}_arg{j}"), t));
            }
        }
    }
    named
}

/// The cache key of a compile: a digest of everything that decides it.
fn cache_key(
    model: &Path,
    method: &str,
    config: &Config,
    threads: usize,
    inputs_file: &Path,
    torch: &TorchBuild,
) -> anyhow::Result<String> {
    let mut digest = Sha256::new();
    let model_bytes =
        std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    digest.update(model_bytes);
    digest.update(std::fs::read(inputs_file)?);
    digest.update(COMPILE_SCRIPT.as_bytes());
    let (_, isa) = crate::host::isa::detect();
    let what = serde_json::json!({
        "method": method,
        "dtype": config.dtype.name(),
        "level": config.level.name(),
        "dynamic": config.dynamic_shapes,
        "threads": threads,
        "torch": torch.version,
        "isa": isa,
        "program": crate::model::pt2::program_of(model).is_some(),
    });
    digest.update(what.to_string().as_bytes());
    let hex: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(hex[..24].to_string())
}

/// The packages of `config` for these batches: from the cache, or compiled
/// now (then cached). `threads` is each worker's thread count, which the
/// kernels are compiled for.
pub fn prepare(
    model: &Path,
    method: &str,
    config: &Config,
    threads: usize,
    batches: &[Vec<Tensor>],
    calibration: &[Vec<Tensor>],
) -> anyhow::Result<(Packages, CompileRecord)> {
    let (manifest, folder, cached) =
        compiled(model, method, config, threads, batches, calibration)?;
    load_libtorch_wrapper()?;
    let mut by_sizes = Vec::new();
    for package in &manifest.packages {
        let path = folder.join(&package.file);
        let loaded = AotiPackage::load(&path)
            .map_err(|e| anyhow::anyhow!("loading {}: {}", path.display(), e.headline()))?;
        let sizes = (!package.dynamic).then(|| package.sizes.clone());
        by_sizes.push((sizes, loaded));
    }
    let record = CompileRecord {
        seconds: manifest.seconds,
        cached,
        stages: manifest.stages.clone(),
        folder: folder.clone(),
    };
    Ok((Packages { by_sizes }, record))
}

/// A package's library needs libtorch.so, which in the PyPI wheel is a
/// wrapper whose own dependencies are the CUDA libraries (libtorch_cuda,
/// cuSPARSE, ...) that ipex-tune never installs or loads: it links
/// libtorch_cpu.so directly, and every symbol a package calls is there. An
/// empty library with the soname libtorch.so, loaded first, satisfies the
/// package's dependency; it is built once with the C++ compiler the
/// backend needs anyway.
fn load_libtorch_wrapper() -> anyhow::Result<()> {
    let folder = cache_root().join("lib");
    let stub = folder.join("libtorch.so");
    if !stub.is_file() {
        std::fs::create_dir_all(&folder)?;
        let compiler =
            inductor::compiler().ok_or_else(|| anyhow::anyhow!("no C++ compiler (g++ or $CXX)"))?;
        let staged = folder.join(format!(".libtorch-{}.so", std::process::id()));
        let out = std::process::Command::new(&compiler)
            .args([
                "-shared",
                "-x",
                "c",
                "/dev/null",
                "-Wl,-soname,libtorch.so",
                "-o",
            ])
            .arg(&staged)
            .output()
            .with_context(|| format!("starting {compiler}"))?;
        anyhow::ensure!(
            out.status.success(),
            "building {}: {}",
            stub.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        std::fs::rename(&staged, &stub)?;
    }
    crate::native::os::dlopen_forever(&stub)?;
    Ok(())
}

/// The cached manifest and its folder for this compile, compiling first
/// when the cache has none; and whether it came from the cache.
fn compiled(
    model: &Path,
    method: &str,
    config: &Config,
    threads: usize,
    batches: &[Vec<Tensor>],
    calibration: &[Vec<Tensor>],
) -> anyhow::Result<(Manifest, PathBuf, bool)> {
    let torch = TorchBuild::read()?;
    let host = inductor::info(&torch);
    let python = match (&host.python, host.problem) {
        (Some(python), None) => PathBuf::from(python),
        (_, problem) => anyhow::bail!(
            "backend: inductor needs {}",
            problem.unwrap_or_else(|| "a Python with torch".into())
        ),
    };
    let root = cache_root().join("inductor");
    std::fs::create_dir_all(&root)
        .with_context(|| format!("creating the package cache {}", root.display()))?;
    let work = tempfile::Builder::new()
        .prefix(".compiling-")
        .tempdir_in(&root)?;
    let inputs_file = work.path().join("inputs.safetensors");
    Tensor::write_safetensors(&named_inputs(batches, calibration), &inputs_file)?;
    let key = cache_key(model, method, config, threads, &inputs_file, &torch)?;
    let folder = root.join(&key);
    if let Ok(text) = std::fs::read_to_string(folder.join("manifest.json")) {
        if let Ok(manifest) = serde_json::from_str::<Manifest>(&text) {
            return Ok((manifest, folder, true));
        }
    }
    // A dynamic package serves every shape: one package path.
    let packages = if config.dynamic_shapes {
        1
    } else {
        batches.len()
    };
    let manifest = compile(
        &python,
        model,
        method,
        config,
        threads,
        packages,
        work.path(),
    )?;
    std::fs::write(
        work.path().join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    std::fs::remove_file(&inputs_file)?;
    // Another process may have finished the same key meanwhile: theirs stays.
    let staged = work.keep();
    if std::fs::rename(&staged, &folder).is_err() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    Ok((manifest, folder, false))
}

/// What the compile script prints on success.
#[derive(Deserialize)]
struct CompileOutput {
    packages: Vec<CompiledPackage>,
    #[serde(flatten)]
    stages: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
struct CompiledPackage {
    sizes: Vec<Vec<i64>>,
    path: PathBuf,
    #[serde(default)]
    dynamic: bool,
}

/// Runs the compile script in the project's Python, in `work`.
fn compile(
    python: &Path,
    model: &Path,
    method: &str,
    config: &Config,
    threads: usize,
    packages: usize,
    work: &Path,
) -> anyhow::Result<Manifest> {
    let script = work.join("inductor_compile.py");
    std::fs::write(&script, COMPILE_SCRIPT)?;
    let model = std::fs::canonicalize(model).unwrap_or_else(|_| model.to_path_buf());
    let request = serde_json::json!({
        "model": model,
        // A program's trace: the program itself is compiled.
        "program": crate::model::pt2::program_of(&model),
        "method": method,
        "inputs": work.join("inputs.safetensors"),
        "threads": threads,
        "dtype": config.dtype.name(),
        "freezing": config.level != Level::O0,
        "max_autotune": config.level == Level::O2,
        "dynamic": config.dynamic_shapes,
        "packages": (0..packages).map(|i| work.join(format!("shape{i}.pt2"))).collect::<Vec<_>>(),
    });
    let request_file = work.join("request.json");
    std::fs::write(&request_file, serde_json::to_vec(&request)?)?;
    let start = Instant::now();
    let out = std::process::Command::new(python)
        .arg("-W")
        .arg("ignore")
        .arg(&script)
        .arg(&request_file)
        .current_dir(work)
        // Inductor's own caches beside ours, not in /tmp.
        .env(
            "TORCHINDUCTOR_CACHE_DIR",
            cache_root().join("torchinductor"),
        )
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("starting {}", python.display()))?;
    let seconds = start.elapsed().as_secs_f64();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = match step_failure(&stderr, "inductor compile failed: ") {
            StepFailure::Own(why) | StepFailure::Other(Some(why)) => why,
            StepFailure::Other(None) => "the compile step failed without a message",
        };
        anyhow::bail!("inductor compile: {why}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let output: CompileOutput = serde_json::from_str(crate::native::os::last_json_line(&stdout))
        .map_err(|e| anyhow::anyhow!("inductor compile: unreadable result ({e})"))?;
    let packages = output
        .packages
        .into_iter()
        .map(|p| ManifestPackage {
            sizes: p.sizes,
            dynamic: p.dynamic,
            file: p
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
        .collect();
    Ok(Manifest {
        packages,
        stages: output.stages,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_named_as_the_compile_script_reads_them() {
        let a = Tensor::zeros([1, 3], (tch::Kind::Float, tch::Device::Cpu));
        let b = Tensor::zeros([2, 3], (tch::Kind::Float, tch::Device::Cpu));
        let batches = vec![
            vec![a.shallow_clone(), b.shallow_clone()],
            vec![b.shallow_clone()],
        ];
        let calibration = vec![vec![a]];
        let names: Vec<String> = named_inputs(&batches, &calibration)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            ["shape0_arg0", "shape0_arg1", "shape1_arg0", "calib0_arg0"]
        );
    }
}
