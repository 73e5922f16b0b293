//! The child's side of the allocator knob: glibc tuned in-process. The
//! preloaded allocators are the parent's business (trial::preload).
use crate::config::Allocator;
use crate::native;

/// Called first thing in a child process: tunes glibc when asked to.
pub fn apply_in_process(allocator: Allocator) -> anyhow::Result<()> {
    match allocator {
        Allocator::GlibcTuned => Ok(native::os::tune_glibc_malloc()?),
        _ => Ok(()),
    }
}
