//! A rule: where it comes from, when it fires, what it does, and why.
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::condition::Condition;
use super::facts::{self, Facts, Scope, Value};
use super::knobs::ValueSpec;
use crate::config::Knob;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Shapes the plan; nothing for the user to fix.
    Info,
    /// Worth the user's attention (a slower or riskier setup).
    Warn,
    /// Wrong: the setup cannot work as intended.
    Fail,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "info" => Some(Severity::Info),
            "warn" => Some(Severity::Warn),
            "fail" => Some(Severity::Fail),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Fail => "fail",
        }
    }
}

/// Where a rule comes from: a Known Issues entry (section, releases) or
/// ipex-tune's own field knowledge.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// e.g. "Known Issues: Dynamic Shape" or "ipex-tune: measured".
    pub section: String,
    /// IPEX releases the entry applies to, e.g. "2.0.x" or "2.1-2.8".
    pub releases: String,
    /// The entry's words, shortened.
    pub text: String,
}

/// Options a rule may set, with their values. Each is read by the tuning
/// session and changes what the trial child does (tune::session); what
/// ipex-tune always does is no option, and rules say it with `diagnose`.
pub const OPTIONS: &[(&str, &[&str])] = &[
    ("calibration.observer", &["minmax", "histogram"]),
    ("calibration.threads", &["usable"]),
];

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Candidates with these knob values are excluded.
    Forbid { knob: Knob, values: Vec<ValueSpec> },
    /// Only candidates with this knob value are allowed.
    Require { knob: Knob, value: ValueSpec },
    /// Candidates with these values are tried first.
    Prefer { knob: Knob, values: Vec<ValueSpec> },
    /// A calibration, quantization or measurement option.
    Set { option: String, value: Value },
    /// A message for the user (doctor, plan, reports), at the rule's severity.
    Diagnose(String),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |values: &[ValueSpec]| {
            values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Action::Forbid { knob, values } => write!(f, "forbid {knob} = {}", list(values)),
            Action::Require { knob, value } => write!(f, "require {knob} = {value}"),
            Action::Prefer { knob, values } => write!(f, "prefer {knob} = {}", list(values)),
            Action::Set { option, value } => write!(f, "set {option} = {value}"),
            Action::Diagnose(message) => write!(f, "diagnose: {message}"),
        }
    }
}

/// Fact sets that show the rule firing and not firing; every rule carries
/// them, and `rules check` and the unit tests run them.
#[derive(Debug, Clone, Default)]
pub struct Examples {
    pub fires: Facts,
    pub holds: Facts,
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable kebab-case id.
    pub id: String,
    pub title: String,
    pub source: Source,
    pub severity: Severity,
    pub when: Condition,
    pub actions: Vec<Action>,
    /// One paragraph a user can act on.
    pub explain: String,
    pub examples: Examples,
    pub file: PathBuf,
    pub line: usize,
}

impl Rule {
    /// The widest scope among the facts the condition uses: Environment
    /// rules (host, env, torch, ipex facts only) are what `doctor` checks.
    pub fn scope(&self) -> Scope {
        self.when
            .facts()
            .iter()
            .map(|f| facts::scope(f))
            .max()
            .unwrap_or(Scope::Environment)
    }

    /// Whether the rule's condition looks at a candidate's knobs (`config.*`).
    pub fn per_candidate(&self) -> bool {
        self.scope() == Scope::Config
    }
}
