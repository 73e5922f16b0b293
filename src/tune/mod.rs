//! The `tune` stage: the plan (host, model, suite, rules, space) and the
//! tuning session that measures it (stock, the search's candidates, the
//! winner), writing the results file as it goes.
pub mod deploy;
pub mod lock;
pub mod objective;
pub mod plan;
pub mod profile;
pub mod progress;
pub mod session;

pub use objective::Objective;
pub use plan::{make_plan, Plan, Planned, Target};
pub use session::{tune, SearchMode, Settings};
