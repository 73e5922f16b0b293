//! Profile -> inspect -> suite -> rules -> space: everything `plan` shows
//! and `run` measures, computed once.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::error::UserError;
use crate::host::HostProfile;
use crate::model::{load_module, ModelFacts};
use crate::rules::engine::{Exclusion, Firing};
use crate::rules::facts::Value;
use crate::rules::{self, gather, Facts, Rule};
use crate::search::space::{self, Candidate, HostShape};
use crate::suite::Suite;

/// What the model is run with, as the command line gives it.
#[derive(Debug, Clone)]
pub struct Target {
    pub model: PathBuf,
    pub suite: String,
    pub method: String,
    pub input_shapes: Vec<String>,
    pub batch_size: Option<i64>,
    /// Cores the run may use (default: the usable cores).
    pub threads: Option<usize>,
    pub rule_dirs: Vec<PathBuf>,
    pub suite_dirs: Vec<PathBuf>,
}

/// The rules' verdict over the space: the JSON `plan` prints and the
/// results file keeps.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub firings: Vec<Firing>,
    /// The values each knob may take after the rules.
    pub domains: BTreeMap<String, Vec<String>>,
    pub exclusions: Vec<Exclusion>,
    /// Candidates excluded by rules over candidate knobs: rule id -> count.
    pub candidate_exclusions: BTreeMap<String, usize>,
    pub candidates: Vec<Candidate>,
    /// Options rules set: option -> (value, rule id).
    pub options: BTreeMap<String, (Value, String)>,
    /// Contradictions between rules, reported rather than silently resolved.
    pub conflicts: Vec<String>,
}

/// Everything plan and run need: the facts, the rules and the plan.
pub struct Planned {
    pub model_path: PathBuf,
    /// The host profile (absent when facts were given with --host-facts).
    pub host: Option<HostProfile>,
    pub model: ModelFacts,
    pub suite: Suite,
    pub facts: Facts,
    pub rules: Vec<Rule>,
    /// Cores the candidates may use.
    pub usable: usize,
    /// The host's shape the layouts come from.
    pub shape: HostShape,
    pub plan: Plan,
}

impl Planned {
    /// The explanation of a rule, for reports.
    pub fn explain(&self, id: &str) -> String {
        self.rules
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.explain.clone())
            .unwrap_or_default()
    }
}

/// The suite the target names, with its batch size override, checked
/// against the model's signature.
fn load_suite(target: &Target, model: &ModelFacts) -> anyhow::Result<Suite> {
    let mut suite = if target.suite == "generic" {
        Suite::generic(model, &target.input_shapes)?
    } else {
        if !target.input_shapes.is_empty() {
            return Err(UserError::BadValue("--input-shape is for --suite generic".into()).into());
        }
        Suite::find(&target.suite, &target.suite_dirs)?
    };
    if let Some(batch) = target.batch_size {
        if batch < 1 {
            return Err(
                UserError::BadValue(format!("--batch-size {batch}: expected a size >= 1")).into(),
            );
        }
        suite.batch_sizes = vec![batch];
    }
    suite.check_fits(model)?;
    Ok(suite)
}

/// Profiles the host, inspects the model, loads the suite and the rules,
/// evaluates them and lays out the allowed candidates.
/// `host_facts` replaces profiling the host (reproducible tests).
pub fn make_plan(target: &Target, host_facts: Option<&Path>) -> anyhow::Result<Planned> {
    let rules = rules::load(&target.rule_dirs)?;
    let module = load_module(&target.model)?;
    let model = ModelFacts::read(&target.model, &module, &target.method)?;
    drop(module);
    let suite = load_suite(target, &model)?;
    let (host, mut facts) = match host_facts {
        Some(path) => (None, Facts::from_json_file(path)?),
        None => {
            let host = HostProfile::detect(Duration::from_millis(200))?;
            let facts = gather::host_facts(&host);
            (Some(host), facts)
        }
    };
    let fact_num = |name: &str| facts.get(name).and_then(|v| v.as_num());
    let available_bytes =
        (fact_num("host.memory.available_mib").unwrap_or(0.0) * 1024.0 * 1024.0) as u64;
    let shape = host_shape(&fact_num, target.threads)?;
    let usable = shape.usable;
    facts.extend(&gather::model_facts(&model, available_bytes));
    facts.extend(&gather::suite_facts(&suite));
    facts.extend(&gather::run_facts(usable));
    let batch_sizes: Vec<usize> = suite.batch_sizes.iter().map(|&b| b as usize).collect();
    let mut evaluation = rules::evaluate(
        &rules,
        &facts,
        space::base_domains(shape),
        &batch_sizes,
        usable,
    );
    let candidates = space::candidates(&mut evaluation, shape);
    let plan = Plan {
        firings: evaluation
            .firings
            .into_iter()
            .chain(evaluation.candidate_firings.into_values())
            .collect(),
        domains: evaluation
            .domains
            .iter()
            .map(|(k, v)| {
                (
                    k.name().to_string(),
                    v.iter().map(|x| x.to_string()).collect(),
                )
            })
            .collect(),
        exclusions: evaluation.exclusions,
        candidate_exclusions: evaluation.candidate_exclusions,
        candidates,
        options: evaluation.options,
        conflicts: evaluation.conflicts,
    };
    Ok(Planned {
        model_path: target.model.clone(),
        host,
        model,
        suite,
        facts,
        rules,
        usable,
        shape,
        plan,
    })
}

/// The cores the run may use and how they sit in NUMA nodes, from the
/// host facts: the usable physical cores (SMT siblings are not used: the
/// usable logical CPUs scaled by physical/logical), or `--threads N`, which
/// may not exceed them.
fn host_shape(
    fact: &dyn Fn(&str) -> Option<f64>,
    threads: Option<usize>,
) -> anyhow::Result<HostShape> {
    let usable_logical = fact("host.cores.usable").unwrap_or(1.0).max(1.0);
    let physical = fact("host.cores.physical").unwrap_or(usable_logical);
    let logical = fact("host.cores.logical").unwrap_or(physical).max(physical);
    let usable = ((usable_logical * physical / logical).round() as usize).max(1);
    let usable = match threads {
        Some(0) => {
            return Err(UserError::BadValue("--threads 0: expected at least 1 core".into()).into())
        }
        Some(n) if n > usable => {
            return Err(UserError::BadValue(format!(
            "--threads {n}: this process may use {usable} physical core(s); expected 1..={usable}"
        ))
            .into())
        }
        Some(n) => n,
        None => usable,
    };
    let nodes = fact("host.numa.nodes").unwrap_or(1.0) as usize;
    let per_node = fact("host.numa.cores_per_node").unwrap_or(0.0) as usize;
    Ok(HostShape::new(usable, nodes, per_node))
}
