//! Where ipex-tune keeps what it makes once and reuses: AOTInductor packages
//! (runtime::compiled) and the TorchScript traces of `.pt2` programs
//! (model::pt2).
use std::path::PathBuf;

/// Environment variable overriding the cache folder.
pub const CACHE_ENV: &str = "IPEX_TUNE_CACHE_DIR";

/// The cache folder: $IPEX_TUNE_CACHE_DIR, else $XDG_CACHE_HOME/ipex-tune,
/// else ~/.cache/ipex-tune.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_ENV) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ipex-tune")
}
