//! The `report` stage: the results file (versioned JSON schema) and the
//! terminal summary.
pub mod results;
pub mod summary;
