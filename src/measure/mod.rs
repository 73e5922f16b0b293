//! The `measure` stage: timing loops and the statistics over their latencies.
pub mod accuracy;
pub mod interference;
pub mod ops;
pub mod profile;
pub mod roofline;
pub mod roofs;
pub mod shapes;
pub mod stats;
pub mod timing;
