//! The `runtime` stage: the torch stack this process runs on (libtorch build,
//! IPEX), and applying a configuration's knobs to a module.
pub mod allocator;
pub mod apply;
pub mod config;
pub mod ipex;
pub mod parallel;
pub mod quant;
pub mod search;
pub mod threads;
pub mod trial;
