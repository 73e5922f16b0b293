//! Starting a process with the allocator a config asks for.
use std::path::PathBuf;
use std::process::Command;

use super::config::Allocator;
use crate::native;

/// Library directories searched for preloadable allocators (Debian multiarch first).
const LIB_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
];

/// The shared library to LD_PRELOAD for an allocator, if it needs one.
pub fn preload_library(allocator: Allocator) -> Result<Option<PathBuf>, String> {
    let names: &[&str] = match allocator {
        Allocator::Glibc | Allocator::GlibcTuned => return Ok(None),
        Allocator::Jemalloc => &["libjemalloc.so.2", "libjemalloc.so"],
        Allocator::Tcmalloc => &[
            "libtcmalloc_minimal.so.4",
            "libtcmalloc.so.4",
            "libtcmalloc_minimal.so",
        ],
    };
    LIB_DIRS
        .iter()
        .flat_map(|dir| names.iter().map(move |n| PathBuf::from(dir).join(n)))
        .find(|p| p.is_file())
        .map(Some)
        .ok_or_else(|| {
            format!(
                "{allocator} not found (looked for {} in {}); run scripts/bootstrap",
                names.join(", "),
                LIB_DIRS.join(", ")
            )
        })
}

/// Prepares a child command for `allocator` (LD_PRELOAD). glibc-tuned is
/// applied by the child itself with [`apply_in_process`].
pub fn configure_child(command: &mut Command, allocator: Allocator) -> Result<(), String> {
    if let Some(lib) = preload_library(allocator)? {
        command.env("LD_PRELOAD", lib);
    } else {
        command.env_remove("LD_PRELOAD");
    }
    Ok(())
}

/// Called first thing in a child process: tunes glibc when asked to.
pub fn apply_in_process(allocator: Allocator) -> Result<(), String> {
    match allocator {
        Allocator::GlibcTuned => native::os::tune_glibc_malloc(),
        _ => Ok(()),
    }
}
