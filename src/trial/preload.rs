//! The parent's side of the allocator knob: the library a child is started
//! with (LD_PRELOAD). glibc-tuned is applied by the child itself
//! (runtime::allocator).
use std::path::PathBuf;
use std::process::Command;

use crate::config::Allocator;

/// Library directories searched for preloadable allocators (Debian multiarch first).
const LIB_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
];

/// Replaces LIB_DIRS (colon-separated), e.g. for an allocator built from source.
pub const ALLOCATOR_DIRS_ENV: &str = "IPEX_TUNE_ALLOCATOR_DIRS";

fn lib_dirs() -> Vec<String> {
    match std::env::var(ALLOCATOR_DIRS_ENV) {
        Ok(dirs) => dirs
            .split(':')
            .filter(|d| !d.is_empty())
            .map(String::from)
            .collect(),
        Err(_) => LIB_DIRS.iter().map(|d| d.to_string()).collect(),
    }
}

/// An allocator the config asks for that is not installed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{allocator} not found (looked for {names} in {dirs}); run scripts/bootstrap")]
pub struct MissingAllocator {
    pub allocator: Allocator,
    pub names: String,
    pub dirs: String,
}

/// The shared library to LD_PRELOAD for an allocator, if it needs one.
pub fn preload_library(allocator: Allocator) -> Result<Option<PathBuf>, MissingAllocator> {
    let names: &[&str] = match allocator {
        Allocator::Glibc | Allocator::GlibcTuned => return Ok(None),
        Allocator::Jemalloc => &["libjemalloc.so.2", "libjemalloc.so"],
        Allocator::Tcmalloc => &[
            "libtcmalloc_minimal.so.4",
            "libtcmalloc.so.4",
            "libtcmalloc_minimal.so",
        ],
    };
    let dirs = lib_dirs();
    dirs.iter()
        .flat_map(|dir| names.iter().map(move |n| PathBuf::from(dir).join(n)))
        .find(|p| p.is_file())
        .map(Some)
        .ok_or_else(|| MissingAllocator {
            allocator,
            names: names.join(", "),
            dirs: dirs.join(", "),
        })
}

/// Prepares a child command for `allocator` (LD_PRELOAD, or none).
pub fn configure_child(
    command: &mut Command,
    allocator: Allocator,
) -> Result<(), MissingAllocator> {
    if let Some(lib) = preload_library(allocator)? {
        command.env("LD_PRELOAD", lib);
    } else {
        command.env_remove("LD_PRELOAD");
    }
    Ok(())
}
