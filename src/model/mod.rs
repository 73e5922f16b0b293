//! The `model` stage: loading a TorchScript file and the facts about it that
//! the rules and reports use (methods, ops, parameters, control flow); a
//! `.pt2` program (torch.export.save) is read through its TorchScript trace
//! (`pt2`).
mod facts;
pub mod integrity;
mod load;
mod ops;
pub mod pt2;

pub use facts::{Argument, InputHint, ModelFacts, TensorSummary};
pub use load::{load_module, load_module_for_facts};
pub use ops::group_names;
