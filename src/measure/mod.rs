//! The `measure` stage: timing loops and the statistics over their latencies.
pub mod accuracy;
pub mod stats;
pub mod timing;
