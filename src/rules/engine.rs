//! Evaluating rules: which fire (and on which facts), what candidate space
//! they leave, which options they set, and where they contradict each other.
use std::collections::BTreeMap;

use serde::Serialize;

use super::condition::Observed;
use super::facts::{Facts, Value};
use super::knobs::{config_facts, Knob, ValueSpec, ALL_KNOBS};
use super::rule::{Action, Rule, Severity};
use crate::runtime::config::{Allocator, Backend, Config, Dtype, Fuser, Level};

/// A rule that fired, with the facts it looked at.
#[derive(Debug, Clone, Serialize)]
pub struct Firing {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub facts: Vec<Observed>,
    pub actions: Vec<String>,
}

/// A knob value taken out of the space (or the only one left) by a rule.
#[derive(Debug, Clone, Serialize)]
pub struct Exclusion {
    pub knob: String,
    pub value: String,
    /// "forbidden" or "required" (all other values excluded).
    pub how: String,
    pub rule: String,
    pub reason: String,
}

/// A candidate configuration that the rules allow.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub label: String,
    pub config: Config,
    /// Rules whose `prefer` matched this candidate (tried first).
    pub preferred_by: Vec<String>,
}

/// What evaluation produced.
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

/// The knob values the search may consider before any rule: every value,
/// with threads/streams/instances up to the usable cores.
pub fn base_domains(usable_cores: usize) -> BTreeMap<Knob, Vec<Value>> {
    let counts: Vec<Value> = (1..=usable_cores.max(1)).map(Value::from).collect();
    ALL_KNOBS
        .iter()
        .map(|&knob| {
            let values = match knob.choices() {
                Some(choices) => choices
                    .iter()
                    .map(|c| match *c {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        other => Value::from(other),
                    })
                    .collect(),
                None => counts.clone(),
            };
            (knob, values)
        })
        .collect()
}

/// Evaluates rules whose condition does not depend on candidate knobs.
/// Returns the firings, in rule order.
pub fn fire<'r>(rules: &'r [Rule], facts: &Facts) -> Vec<(&'r Rule, Firing)> {
    rules
        .iter()
        .filter(|r| !r.per_candidate())
        .filter_map(|rule| {
            let mut observed = Vec::new();
            rule.when.eval(facts, &mut observed).then(|| {
                (
                    rule,
                    Firing {
                        rule: rule.id.clone(),
                        title: rule.title.clone(),
                        severity: rule.severity,
                        facts: dedup(observed),
                        actions: rule.actions.iter().map(|a| a.to_string()).collect(),
                    },
                )
            })
        })
        .collect()
}

fn dedup(observed: Vec<Observed>) -> Vec<Observed> {
    let mut out: Vec<Observed> = Vec::new();
    for o in observed {
        if !out.iter().any(|x| x.fact == o.fact) {
            out.push(o);
        }
    }
    out
}

/// Whether a config is coherent regardless of rules: O0 runs the module as
/// loaded (no folding, prepacking or IPEX rewrites, which need a frozen
/// graph; no int8, whose conversion freezes); IPEX always prepacks frozen
/// weights in its own passes; streams and instances do not combine; the
/// cores used fit the usable cores.
pub fn coherent(config: &Config, usable_cores: usize) -> bool {
    let threads = config.threads.unwrap_or(1);
    let o0_ok = config.level == Level::O1
        || (!config.conv_bn_folding
            && !config.weights_prepack
            && config.backend == Backend::Stock
            && matches!(config.dtype, Dtype::Fp32 | Dtype::Bf16));
    let ipex_ok = config.backend == Backend::Stock || config.weights_prepack;
    let parallel_ok = config.streams == 1 || config.instances == 1;
    o0_ok
        && ipex_ok
        && parallel_ok
        && threads * config.streams * config.instances <= usable_cores.max(1)
}

fn knob_value_to_config(config: &mut Config, knob: Knob, value: &Value) {
    let s = value.to_string();
    let n = value.as_num().unwrap_or(1.0) as usize;
    match knob {
        Knob::Backend => {
            config.backend = if s == "ipex" {
                Backend::Ipex
            } else {
                Backend::Stock
            }
        }
        Knob::Level => config.level = if s == "O1" { Level::O1 } else { Level::O0 },
        Knob::ConvBnFolding => config.conv_bn_folding = s == "true",
        Knob::WeightsPrepack => config.weights_prepack = s == "true",
        Knob::Fuser => {
            config.fuser = match s.as_str() {
                "texpr" => Fuser::Texpr,
                "onednn" => Fuser::Onednn,
                _ => Fuser::None,
            }
        }
        Knob::Dtype => {
            config.dtype = match s.as_str() {
                "bf16" => Dtype::Bf16,
                "int8-dynamic" => Dtype::Int8Dynamic,
                "int8-static" => Dtype::Int8Static,
                _ => Dtype::Fp32,
            }
        }
        Knob::Threads => config.threads = Some(n),
        Knob::Streams => config.streams = n,
        Knob::Instances => config.instances = n,
        Knob::Allocator => config.allocator = s.parse().unwrap_or(Allocator::Glibc),
    }
}

/// Every coherent config over `domains`.
pub fn enumerate(domains: &BTreeMap<Knob, Vec<Value>>, usable_cores: usize) -> Vec<Config> {
    let mut configs = vec![Config::stock()];
    for knob in ALL_KNOBS {
        let values = &domains[&knob];
        configs = configs
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    knob_value_to_config(&mut c, knob, v);
                    c
                })
            })
            .collect();
    }
    configs.retain(|c| coherent(c, usable_cores));
    configs
}

/// Evaluates `rules` over `facts` and the candidate space.
pub fn plan(rules: &[Rule], facts: &Facts, usable_cores: usize, batch_sizes: &[usize]) -> Plan {
    let mut domains = base_domains(usable_cores);
    let mut exclusions = Vec::new();
    let mut conflicts = Vec::new();
    let mut options: BTreeMap<String, (Value, String)> = BTreeMap::new();
    let mut requires: BTreeMap<Knob, (ValueSpec, String)> = BTreeMap::new();
    let fired = fire(rules, facts);

    for (rule, _) in &fired {
        for action in &rule.actions {
            match action {
                Action::Forbid { knob, values } => {
                    let domain = domains.get_mut(knob).unwrap();
                    domain.retain(|v| {
                        let hit = values.iter().any(|spec| spec.matches(v));
                        if hit {
                            exclusions.push(Exclusion {
                                knob: knob.to_string(),
                                value: v.to_string(),
                                how: "forbidden".into(),
                                rule: rule.id.clone(),
                                reason: rule.title.clone(),
                            });
                        }
                        !hit
                    });
                    if let Some((spec, other)) = requires.get(knob) {
                        if values.contains(spec) {
                            conflicts.push(format!(
                                "{other} requires {knob} = {spec}, but {} forbids it",
                                rule.id
                            ));
                        }
                    }
                }
                Action::Require { knob, value } => {
                    if let Some((spec, other)) = requires.get(knob) {
                        if spec != value {
                            conflicts.push(format!(
                                "{other} requires {knob} = {spec}, but {} requires {knob} = {value}",
                                rule.id
                            ));
                        }
                    }
                    let forbidden_by = exclusions.iter().find(|e| {
                        e.knob == knob.name()
                            && e.how == "forbidden"
                            && value.matches(&Value::from(e.value.as_str()))
                    });
                    if let Some(e) = forbidden_by {
                        conflicts.push(format!(
                            "{} requires {knob} = {value}, but {} forbids it",
                            rule.id, e.rule
                        ));
                    }
                    requires.insert(*knob, (value.clone(), rule.id.clone()));
                    let domain = domains.get_mut(knob).unwrap();
                    domain.retain(|v| {
                        let keep = value.matches(v);
                        if !keep {
                            exclusions.push(Exclusion {
                                knob: knob.to_string(),
                                value: v.to_string(),
                                how: format!("required {value}"),
                                rule: rule.id.clone(),
                                reason: rule.title.clone(),
                            });
                        }
                        keep
                    });
                }
                Action::Prefer { .. } | Action::Diagnose(_) => {}
                Action::Set { option, value } => {
                    if let Some((existing, other)) = options.get(option) {
                        if existing != value {
                            conflicts.push(format!(
                                "{other} sets {option} = {existing}, but {} sets {option} = {value}",
                                rule.id
                            ));
                            continue;
                        }
                    }
                    options.insert(option.clone(), (value.clone(), rule.id.clone()));
                }
            }
        }
    }
    for (knob, values) in &domains {
        if values.is_empty() {
            conflicts.push(format!("rules leave no value for {knob}"));
        }
    }

    // Rules over candidate knobs, then preferences.
    let per_candidate: Vec<&Rule> = rules.iter().filter(|r| r.per_candidate()).collect();
    let mut candidate_exclusions: BTreeMap<String, usize> = BTreeMap::new();
    let mut firings: Vec<Firing> = fired.into_iter().map(|(_, f)| f).collect();
    let mut candidate_firings: BTreeMap<String, Firing> = BTreeMap::new();
    let mut candidates = Vec::new();
    for config in enumerate(&domains, usable_cores) {
        let mut all = facts.clone();
        all.extend(&config_facts(&config, batch_sizes));
        let mut excluded = false;
        for rule in &per_candidate {
            let mut observed = Vec::new();
            if !rule.when.eval(&all, &mut observed) {
                continue;
            }
            let forbids = rule.actions.iter().any(|a| match a {
                Action::Forbid { knob, values } => {
                    values.iter().any(|s| s.matches(&knob.value_of(&config)))
                }
                Action::Require { knob, value } => !value.matches(&knob.value_of(&config)),
                _ => false,
            });
            candidate_firings
                .entry(rule.id.clone())
                .or_insert_with(|| Firing {
                    rule: rule.id.clone(),
                    title: rule.title.clone(),
                    severity: rule.severity,
                    facts: dedup(
                        observed
                            .into_iter()
                            .filter(|o| !o.fact.starts_with("config."))
                            .collect(),
                    ),
                    actions: rule.actions.iter().map(|a| a.to_string()).collect(),
                });
            for action in &rule.actions {
                if let Action::Set { option, value } = action {
                    options
                        .entry(option.clone())
                        .or_insert((value.clone(), rule.id.clone()));
                }
            }
            if forbids {
                *candidate_exclusions.entry(rule.id.clone()).or_default() += 1;
                excluded = true;
                break;
            }
        }
        if excluded {
            continue;
        }
        let mut preferred_by = Vec::new();
        for firing in &firings {
            let rule = rules.iter().find(|r| r.id == firing.rule).unwrap();
            let prefers = rule.actions.iter().any(|a| match a {
                Action::Prefer { knob, values } => {
                    values.iter().any(|s| s.matches(&knob.value_of(&config)))
                }
                _ => false,
            });
            if prefers {
                preferred_by.push(rule.id.clone());
            }
        }
        candidates.push(Candidate {
            label: config.label(),
            config,
            preferred_by,
        });
    }
    // Stable: preferred candidates first, otherwise enumeration order.
    candidates.sort_by_key(|c| std::cmp::Reverse(c.preferred_by.len()));
    firings.extend(candidate_firings.into_values());

    Plan {
        firings,
        domains: domains
            .into_iter()
            .map(|(k, v)| {
                (
                    k.name().to_string(),
                    v.iter().map(|x| x.to_string()).collect(),
                )
            })
            .collect(),
        exclusions,
        candidate_exclusions,
        candidates,
        options,
        conflicts,
    }
}

/// Checks a rule's own examples: it must fire on `fires` and not on `holds`.
/// Example facts are laid over `base` (a neutral fact set) so that a rule
/// only has to name the facts that matter to it.
pub fn check_examples(rule: &Rule, base: &Facts) -> Result<(), String> {
    let run = |example: &Facts| {
        let mut facts = base.clone();
        facts.extend(example);
        rule.when.eval(&facts, &mut Vec::new())
    };
    if !run(&rule.examples.fires) {
        return Err(format!("{}: does not fire on its `fires` example", rule.id));
    }
    if run(&rule.examples.holds) {
        return Err(format!("{}: fires on its `holds` example", rule.id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coherent_configs_only() {
        let mut c = Config::stock();
        assert!(coherent(&c, 2));
        c.conv_bn_folding = true;
        assert!(!coherent(&c, 2), "folding needs O1");
        c.level = Level::O1;
        assert!(coherent(&c, 2));
        c.backend = Backend::Ipex;
        assert!(!coherent(&c, 2), "IPEX always prepacks");
        c.weights_prepack = true;
        assert!(coherent(&c, 2));
        c.threads = Some(2);
        c.streams = 2;
        assert!(!coherent(&c, 2), "2 streams x 2 threads do not fit 2 cores");
    }

    #[test]
    fn enumeration_covers_the_space() {
        let configs = enumerate(&base_domains(1), 1);
        assert!(configs.iter().all(|c| coherent(c, 1)));
        assert!(configs.contains(&Config {
            threads: Some(1),
            ..Config::stock()
        }));
        // 1 core: no streams or instances beyond 1
        assert!(configs.iter().all(|c| c.streams == 1 && c.instances == 1));
    }
}
