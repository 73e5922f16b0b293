//! The `trial` stage: one config measured in its own child process. The
//! protocol both sides share ([`spec`]) and the parent's side ([`parent`],
//! [`preload`]); the child's side is `runtime::child`.
pub mod parent;
pub mod preload;
pub mod spec;

pub use parent::{spawn, ChildOutcome, INTERRUPTED};
pub use spec::{Fault, Job, Observer, SensitivityOutput, TrialOptions, TrialOutput, TrialSpec};
