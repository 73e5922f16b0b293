//! The `model` stage: loading a TorchScript file and the facts about it that
//! the rules and reports use (methods, ops, parameters, control flow).
mod facts;
pub mod integrity;
mod load;
mod ops;

pub use facts::{Argument, InputHint, ModelFacts, TensorSummary};
pub use load::{load_module, load_module_for_facts};
pub use ops::group_names;
