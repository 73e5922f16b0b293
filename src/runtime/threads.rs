//! The intra-op thread count, guarded: once weights have been packed on a
//! thread, that thread's count may not change (Known Issues, Correctness:
//! the oneDNN memory layout depends on the number of OpenMP threads, and a
//! change gives wrong conv/linear results). The guard is per thread because
//! OpenMP's count is: every stream or instance thread sets its own, once.
use std::cell::Cell;

use crate::native;

thread_local! {
    /// The count weights were packed with on this thread (None before any packing).
    static PACKED_WITH: Cell<Option<usize>> = const { Cell::new(None) };
}

#[derive(Debug, thiserror::Error)]
#[error("refusing to change intra-op threads from {packed_with} to {requested} after weights were packed (Known Issues, Correctness)")]
pub struct ThreadsAfterPacking {
    pub packed_with: usize,
    pub requested: usize,
}

/// Sets this thread's intra-op thread count (at::set_num_threads).
///
/// libtorch also stores the count process-wide and re-applies it in each
/// new thread's first parallel region, which raced with per-stream counts in
/// a prototype here (9 of 12 runs ended with the wrong count): reading the
/// count first (at::get_num_threads) initializes this thread's pool state so
/// the set sticks.
pub fn set(requested: usize) -> anyhow::Result<()> {
    let requested = requested.max(1);
    if let Some(packed_with) = PACKED_WITH.with(Cell::get) {
        if packed_with != requested {
            return Err(ThreadsAfterPacking {
                packed_with,
                requested,
            }
            .into());
        }
    }
    let _ = native::num_threads()?;
    native::set_num_threads(requested)?;
    Ok(())
}

/// Records that weights were packed with this thread's current count.
pub fn mark_packed() -> anyhow::Result<()> {
    let count = native::num_threads()?;
    PACKED_WITH.with(|p| p.set(Some(count)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_change_after_packing() {
        set(2).unwrap();
        mark_packed().unwrap();
        set(2).unwrap();
        let err = set(1).unwrap_err();
        assert!(
            err.to_string()
                .contains("refusing to change intra-op threads from 2 to 1"),
            "{err}"
        );
    }
}
