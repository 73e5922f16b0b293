//! Finding IPEX's C++ library (libintel-ext-pt-cpu.so) and checking its
//! version against libtorch, without loading it: the library calls exit(127)
//! when libtorch's major.minor differs from the one it was built for.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::torch::TorchBuild;

/// Environment variable naming the library explicitly.
pub const LIBRARY_ENV: &str = "IPEX_TUNE_IPEX_LIBRARY";
const LIBRARY_NAME: &str = "libintel-ext-pt-cpu.so";

/// What is known about IPEX on this host, without loading it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IpexInfo {
    pub library: Option<String>,
    pub version: Option<String>,
    /// IPEX's major.minor equals libtorch's.
    pub compatible: bool,
    /// Why IPEX cannot be used, when it cannot.
    pub problem: Option<String>,
}

/// Why IPEX cannot be used. All are fixable by the user (install, version).
#[derive(Debug, Clone, thiserror::Error)]
pub enum IpexError {
    #[error("IPEX library not found: set {LIBRARY_ENV} or run scripts/bootstrap (looked in {0})")]
    NotFound(String),
    #[error("cannot read the IPEX version for {0}: {1}")]
    NoVersion(String, String),
    #[error("IPEX {ipex} needs libtorch {ipex_mm}.*, but libtorch {torch} is loaded: refusing to load {library} (it would exit the process)")]
    VersionMismatch {
        ipex: String,
        ipex_mm: String,
        torch: String,
        library: String,
    },
    #[error("loading {0} failed: {1}")]
    Load(String, String),
    #[error("cannot read the libtorch build: {0}")]
    Torch(String),
}

/// Where the IPEX library is expected: $IPEX_TUNE_IPEX_LIBRARY, else the
/// site-packages that holds the loaded libtorch (the wheel layout
/// .../site-packages/torch/lib/libtorch_cpu.so beside
/// .../site-packages/intel_extension_for_pytorch/lib/).
pub fn locate(torch: &TorchBuild) -> Result<PathBuf, IpexError> {
    if let Some(path) = std::env::var_os(LIBRARY_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(IpexError::NotFound(path.display().to_string()))
        };
    }
    let candidate = Path::new(&torch.library)
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|site| {
            site.join("intel_extension_for_pytorch/lib")
                .join(LIBRARY_NAME)
        })
        .unwrap_or_else(|| PathBuf::from(LIBRARY_NAME));
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(IpexError::NotFound(candidate.display().to_string()))
    }
}

/// IPEX's version from the `_version.py` its wheel installs beside `lib/`.
pub fn read_version(library: &Path) -> Result<String, IpexError> {
    let version_file = library
        .parent()
        .and_then(Path::parent)
        .map(|pkg| pkg.join("_version.py"))
        .ok_or_else(|| IpexError::NoVersion(library.display().to_string(), "no parent".into()))?;
    let text = std::fs::read_to_string(&version_file).map_err(|e| {
        IpexError::NoVersion(
            library.display().to_string(),
            format!("{}: {e}", version_file.display()),
        )
    })?;
    parse_version_py(&text).ok_or_else(|| {
        IpexError::NoVersion(
            library.display().to_string(),
            format!("no __version__ in {}", version_file.display()),
        )
    })
}

fn parse_version_py(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("__version__")?;
        let value = rest.trim().strip_prefix('=')?.trim();
        Some(value.trim_matches(|c| c == '"' || c == '\'').to_string())
    })
}

/// "2.7.0+cpu" -> "2.7".
pub fn major_minor(version: &str) -> Option<String> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().filter(|p| !p.is_empty())?;
    let minor = parts.next().filter(|p| !p.is_empty())?;
    Some(format!("{major}.{minor}"))
}

/// Locates IPEX and checks its version against libtorch, without loading it.
pub fn check(torch: &TorchBuild) -> Result<(PathBuf, String), IpexError> {
    let library = locate(torch)?;
    let version = read_version(&library)?;
    let ipex_mm = major_minor(&version).unwrap_or_default();
    if ipex_mm != torch.major_minor() {
        return Err(IpexError::VersionMismatch {
            ipex: version,
            ipex_mm,
            torch: torch.version.clone(),
            library: library.display().to_string(),
        });
    }
    Ok((library, version))
}

/// IPEX facts for reports and the doctor.
pub fn info(torch: &TorchBuild) -> IpexInfo {
    match check(torch) {
        Ok((library, version)) => IpexInfo {
            library: Some(library.display().to_string()),
            version: Some(version),
            compatible: true,
            problem: None,
        },
        Err(e) => {
            let library = locate(torch).ok().map(|p| p.display().to_string());
            let version = locate(torch).ok().and_then(|p| read_version(&p).ok());
            IpexInfo {
                library,
                version,
                compatible: false,
                problem: Some(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_wheel_version_file() {
        let text = "# Autogenerated\n__version__ = \"2.7.0+cpu\"\n__ipex_gitrev__ = \"x\"\n";
        assert_eq!(parse_version_py(text).as_deref(), Some("2.7.0+cpu"));
        assert_eq!(parse_version_py("nothing"), None);
    }

    #[test]
    fn major_minor_ignores_patch_and_local_version() {
        assert_eq!(major_minor("2.7.0+cpu").as_deref(), Some("2.7"));
        assert_eq!(major_minor("2.10.1").as_deref(), Some("2.10"));
        assert_eq!(major_minor("garbage"), None);
    }
}
