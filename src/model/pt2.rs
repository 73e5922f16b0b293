//! Programs saved by `torch.export.save` (`.pt2`) as models.
//!
//! The native runtime runs TorchScript, so a program is bridged once: the
//! project's Python loads it and traces its module on the example inputs
//! saved with it (`pt2_bridge.py`). The trace holds the program's own ATen
//! ops; libtorch runs it op by op as eager PyTorch runs the program, which
//! makes it the `stock` reference (and the `ipex` backend's input), and it
//! gives the model stage its facts. The inductor backend compiles the
//! program itself: [`program_of`] finds it beside the trace. Bridges are
//! cached by the program's SHA-256, the script and torch's version, so only
//! the first `inspect`/`plan`/`run` of a program pays Python's start-up.
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::UserError;
use crate::host::{inductor, TorchBuild};
use crate::native::os::{step_failure, StepFailure};

/// The bridge script, run in the project's Python.
pub const BRIDGE_SCRIPT: &str = include_str!("pt2_bridge.py");

/// The record every `torch.export.save` archive has.
const PROGRAM_RECORD: &str = "serialized_exported_program.json";

/// The trace's file name in a bridge folder, and the program's copy.
const TRACE_FILE: &str = "model.pt";
const PROGRAM_FILE: &str = "program.pt2";
const BRIDGE_FILE: &str = "bridge.json";

/// What the model stage knows of a program beside its trace's facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProgramFacts {
    /// The format of the file given: "torch.export" (torch.export.save).
    pub format: String,
    /// The program's TorchScript trace, which the native runtime runs for
    /// `stock` and `ipex` (the inductor backend compiles the program).
    pub torchscript: String,
    /// The torch version that bridged it.
    pub torch: String,
    /// The example inputs saved with the program (the trace's inputs).
    pub example_inputs: Vec<ExampleInput>,
    /// The dims the program leaves symbolic (every other dim is fixed: the
    /// program accepts only its example's size there).
    pub dynamic_dims: Vec<DynamicDim>,
    /// Tensor outputs.
    pub outputs: u64,
    /// Op nodes of the program's graph.
    pub graph_nodes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExampleInput {
    pub sizes: Vec<i64>,
    pub dtype: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DynamicDim {
    /// Position of the input among the program's inputs.
    pub input: usize,
    pub dim: usize,
    /// The symbol export gave it (e.g. `s0`).
    pub symbol: String,
    pub min: Option<i64>,
    /// None: unbounded.
    pub max: Option<i64>,
}

/// The file the native runtime loads for a model, and the program it was
/// bridged from when the model is a `.pt2` program.
pub struct ModelFile {
    pub torchscript: PathBuf,
    pub program: Option<ProgramFacts>,
}

/// What a model file is, from its archive's records.
#[derive(Debug, PartialEq)]
enum Kind {
    /// TorchScript, or anything else: the TorchScript loader judges it.
    Other,
    Program,
    /// An AOTInductor package: compiled code, not a program.
    AotiPackage,
}

fn kind(path: &Path) -> Kind {
    let Ok(file) = std::fs::File::open(path) else {
        return Kind::Other;
    };
    let mut magic = [0u8; 4];
    if std::io::BufReader::new(&file)
        .read_exact(&mut magic)
        .is_err()
        || &magic != b"PK\x03\x04"
    {
        return Kind::Other;
    }
    let Ok(archive) = zip::ZipArchive::new(std::io::BufReader::new(file)) else {
        return Kind::Other;
    };
    let names: Vec<&str> = archive.file_names().collect();
    if names.contains(&PROGRAM_RECORD) {
        Kind::Program
    } else if names.iter().any(|n| n.contains("/aotinductor/")) {
        Kind::AotiPackage
    } else {
        Kind::Other
    }
}

/// The file to load for `path`: itself, or for a `.pt2` program its
/// TorchScript trace (bridged now, or found in the cache).
pub fn resolve(path: &Path) -> Result<ModelFile, UserError> {
    match kind(path) {
        Kind::Other => Ok(ModelFile {
            torchscript: path.to_path_buf(),
            program: None,
        }),
        Kind::AotiPackage => Err(UserError::bad_model(
            path,
            "is an AOTInductor package (compiled code); expected a TorchScript file or a program saved by torch.export.save",
        )),
        Kind::Program => bridge(path),
    }
}

/// The program a bridged trace came from, for the inductor backend to
/// compile instead of the trace.
pub fn program_of(torchscript: &Path) -> Option<PathBuf> {
    let folder = torchscript.parent()?;
    let is_bridge = torchscript.file_name()? == TRACE_FILE && folder.join(BRIDGE_FILE).is_file();
    let program = folder.join(PROGRAM_FILE);
    (is_bridge && program.is_file()).then_some(program)
}

/// The bridge's output, as the script prints it.
#[derive(Deserialize)]
struct Bridged {
    torch: String,
    inputs: Vec<ExampleInput>,
    dynamic_dims: Vec<DynamicDim>,
    outputs: u64,
    graph_nodes: u64,
}

fn bridge(path: &Path) -> Result<ModelFile, UserError> {
    let program_sha = super::integrity::sha256_hex(path)?;
    let torch = TorchBuild::read()
        .map_err(|e| UserError::bad_model(path, format!("is a torch.export program; {e:#}")))?;
    let host = inductor::info(&torch);
    let python = match (&host.python, &host.torch_version) {
        (Some(python), Some(_)) => PathBuf::from(python),
        _ => {
            return Err(UserError::bad_model(
                path,
                format!(
                "is a torch.export program, which ipex-tune reads with the project's Python: {}",
                host.problem
                    .unwrap_or_else(|| "no Python with torch".into())
            ),
            ))
        }
    };
    let mut digest = Sha256::new();
    digest.update(program_sha.as_bytes());
    digest.update(BRIDGE_SCRIPT.as_bytes());
    digest.update(host.torch_version.unwrap_or_default().as_bytes());
    let key: String = digest.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let root = crate::host::cache::cache_root().join("programs");
    let folder = root.join(key);
    let cannot = |e: &dyn std::fmt::Display| {
        UserError::bad_model(
            path,
            format!("cannot bridge the program in {}: {e}", root.display()),
        )
    };
    if let Some(program) = read_bridge(&folder) {
        return Ok(ModelFile {
            torchscript: folder.join(TRACE_FILE),
            program: Some(program),
        });
    }
    std::fs::create_dir_all(&root).map_err(|e| cannot(&e))?;
    let work = tempfile::Builder::new()
        .prefix(".bridging-")
        .tempdir_in(&root)
        .map_err(|e| cannot(&e))?;
    let script = work.path().join("pt2_bridge.py");
    std::fs::write(&script, BRIDGE_SCRIPT).map_err(|e| cannot(&e))?;
    let out = std::process::Command::new(&python)
        .arg("-W")
        .arg("ignore")
        .arg(&script)
        .arg(path)
        .arg(work.path())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| cannot(&format!("starting {}: {e}", python.display())))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = match step_failure(&stderr, "pt2 bridge failed: ") {
            StepFailure::Own(why) => why.to_string(),
            StepFailure::Other(last) => format!(
                "is a torch.export program that could not be read: {}",
                last.unwrap_or("the bridge exited without a message")
            ),
        };
        return Err(UserError::bad_model(path, why));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let bridged: Bridged = serde_json::from_str(crate::native::os::last_json_line(&stdout))
        .map_err(|e| cannot(&format!("unreadable bridge output ({e})")))?;
    let program = ProgramFacts {
        format: "torch.export".into(),
        torchscript: folder.join(TRACE_FILE).display().to_string(),
        torch: bridged.torch,
        example_inputs: bridged.inputs,
        dynamic_dims: bridged.dynamic_dims,
        outputs: bridged.outputs,
        graph_nodes: bridged.graph_nodes,
    };
    std::fs::copy(path, work.path().join(PROGRAM_FILE)).map_err(|e| cannot(&e))?;
    std::fs::remove_file(&script).map_err(|e| cannot(&e))?;
    let text = serde_json::to_vec_pretty(&program).map_err(|e| cannot(&e))?;
    std::fs::write(work.path().join(BRIDGE_FILE), text).map_err(|e| cannot(&e))?;
    // Another process may have bridged the same program meanwhile: theirs stays.
    let staged = work.keep();
    if std::fs::rename(&staged, &folder).is_err() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    read_bridge(&folder)
        .map(|program| ModelFile {
            torchscript: folder.join(TRACE_FILE),
            program: Some(program),
        })
        .ok_or_else(|| cannot(&"the bridge folder is incomplete"))
}

fn read_bridge(folder: &Path) -> Option<ProgramFacts> {
    let text = std::fs::read_to_string(folder.join(BRIDGE_FILE)).ok()?;
    let program = serde_json::from_str(&text).ok()?;
    (folder.join(TRACE_FILE).is_file() && folder.join(PROGRAM_FILE).is_file()).then_some(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(names: &[&str]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
        for name in names {
            zip.start_file(*name, zip::write::FileOptions::default())
                .unwrap();
            zip.write_all(b"{}").unwrap();
        }
        zip.finish().unwrap();
        file
    }

    #[test]
    fn tells_programs_packages_and_torchscript_apart() {
        let program = zip_with(&[PROGRAM_RECORD, "serialized_state_dict.pt", "version"]);
        assert_eq!(kind(program.path()), Kind::Program);
        let package = zip_with(&["model/data/aotinductor/model/x.so", "model/version"]);
        assert_eq!(kind(package.path()), Kind::AotiPackage);
        let script = zip_with(&["model/code/__torch__.py", "model/data.pkl"]);
        assert_eq!(kind(script.path()), Kind::Other);
        let text = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(text.path(), b"not a zip").unwrap();
        assert_eq!(kind(text.path()), Kind::Other);
        let e = resolve(package.path()).err().unwrap().to_string();
        assert!(e.contains("AOTInductor package"), "{e}");
    }

    #[test]
    fn only_a_bridge_folder_names_a_program() {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join(TRACE_FILE);
        std::fs::write(&trace, b"").unwrap();
        assert_eq!(program_of(&trace), None);
        std::fs::write(dir.path().join(BRIDGE_FILE), b"{}").unwrap();
        std::fs::write(dir.path().join(PROGRAM_FILE), b"").unwrap();
        assert_eq!(program_of(&trace), Some(dir.path().join(PROGRAM_FILE)));
        assert_eq!(program_of(&dir.path().join("other.pt")), None);
    }
}
