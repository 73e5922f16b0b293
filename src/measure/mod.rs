//! The `measure` stage: timing loops and the statistics over their latencies.
pub mod stats;
pub mod timing;
