//! The `runtime` stage: the child's side of a trial. Applying a config's
//! knobs to a module (graph passes, the backend's hooks, quantization, dtype), thread
//! counts, streams and instances, the allocator tuned in-process, and the
//! trial loop itself ([`child`]).
pub mod allocator;
pub mod apply;
pub mod child;
pub mod compiled;
pub mod parallel;
pub mod quant;
pub mod sensitivity;
pub mod threads;
