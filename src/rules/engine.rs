//! Evaluating rules: which fire (and on which facts), which knob values
//! they leave in the space, which options they set, and where they
//! contradict each other; then, per candidate config, whether a rule over
//! candidate knobs excludes it and which rules prefer it. The space itself
//! (which configs exist) is the search's: the engine only filters.
use std::collections::BTreeMap;

use serde::Serialize;

use super::condition::Observed;
use super::facts::{Facts, Value};
use super::knobs::{config_facts, ValueSpec};
use super::rule::{Action, Rule, Severity};
use crate::config::{Config, Knob, KnobValue};

/// A rule that fired, with the facts it looked at.
#[derive(Debug, Clone, Serialize)]
pub struct Firing {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub facts: Vec<Observed>,
    pub actions: Vec<String>,
}

impl Firing {
    fn of(rule: &Rule, observed: Vec<Observed>) -> Firing {
        Firing {
            rule: rule.id.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            facts: dedup(observed),
            actions: rule.actions.iter().map(|a| a.to_string()).collect(),
        }
    }
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

/// What the rules say of one candidate config.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// A rule over candidate knobs excludes it.
    Excluded { rule: String },
    /// Allowed; the rules whose `prefer` matches it (tried first).
    Allowed { preferred_by: Vec<String> },
}

/// The rules evaluated over the facts of a host, model, suite and run.
#[derive(Debug, Clone)]
pub struct Evaluation<'r> {
    rules: &'r [Rule],
    facts: Facts,
    batch_sizes: Vec<usize>,
    usable_cores: usize,
    /// Rules fired on the facts alone, in rule order.
    fired: Vec<&'r Rule>,
    /// The rules fired on the facts alone, in rule order.
    pub firings: Vec<Firing>,
    /// Each rule over candidate knobs that fired on at least one judged
    /// candidate, by id.
    pub candidate_firings: BTreeMap<String, Firing>,
    /// The values each knob may take after the rules.
    pub domains: BTreeMap<Knob, Vec<KnobValue>>,
    pub exclusions: Vec<Exclusion>,
    /// Candidates excluded by rules over candidate knobs: rule id -> count.
    pub candidate_exclusions: BTreeMap<String, usize>,
    /// Options rules set: option -> (value, rule id).
    pub options: BTreeMap<String, (Value, String)>,
    /// Contradictions between rules, reported rather than silently resolved.
    pub conflicts: Vec<String>,
}

/// Evaluates rules whose condition does not depend on candidate knobs.
/// Returns the firings, in rule order.
pub fn fire<'r>(rules: &'r [Rule], facts: &Facts) -> Vec<(&'r Rule, Firing)> {
    rules
        .iter()
        .filter(|r| !r.per_candidate())
        .filter_map(|rule| {
            let mut observed = Vec::new();
            rule.when
                .eval(facts, &mut observed)
                .then(|| (rule, Firing::of(rule, observed)))
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

/// Evaluates `rules` over `facts`, narrowing `base` (every value the search
/// may consider per knob). `batch_sizes` and `usable_cores` are what
/// candidates' derived facts are computed from.
pub fn evaluate<'r>(
    rules: &'r [Rule],
    facts: &Facts,
    base: BTreeMap<Knob, Vec<KnobValue>>,
    batch_sizes: &[usize],
    usable_cores: usize,
) -> Evaluation<'r> {
    let fired = fire(rules, facts);
    let mut evaluation = Evaluation {
        rules,
        facts: facts.clone(),
        batch_sizes: batch_sizes.to_vec(),
        usable_cores,
        fired: fired.iter().map(|(r, _)| *r).collect(),
        firings: fired.iter().map(|(_, f)| f.clone()).collect(),
        candidate_firings: BTreeMap::new(),
        domains: base,
        exclusions: Vec::new(),
        candidate_exclusions: BTreeMap::new(),
        options: BTreeMap::new(),
        conflicts: Vec::new(),
    };
    let mut requires: BTreeMap<Knob, (ValueSpec, String)> = BTreeMap::new();
    for (rule, _) in &fired {
        for action in &rule.actions {
            match action {
                Action::Forbid { knob, values } => {
                    evaluation.forbid(rule, *knob, values, &requires)
                }
                Action::Require { knob, value } => {
                    evaluation.require(rule, *knob, value, &mut requires)
                }
                Action::Set { option, value } => evaluation.set(rule, option, value),
                Action::Prefer { .. } | Action::Diagnose(_) => {}
            }
        }
    }
    for (knob, values) in &evaluation.domains {
        if values.is_empty() {
            evaluation
                .conflicts
                .push(format!("rules leave no value for {knob}"));
        }
    }
    evaluation
}

impl Evaluation<'_> {
    fn exclude(&mut self, knob: Knob, value: KnobValue, how: String, rule: &Rule) {
        self.exclusions.push(Exclusion {
            knob: knob.to_string(),
            value: value.to_string(),
            how,
            rule: rule.id.clone(),
            reason: rule.title.clone(),
        });
    }

    fn forbid(
        &mut self,
        rule: &Rule,
        knob: Knob,
        values: &[ValueSpec],
        requires: &BTreeMap<Knob, (ValueSpec, String)>,
    ) {
        let domain = self.domains.remove(&knob).unwrap_or_default();
        let (hit, kept): (Vec<KnobValue>, Vec<KnobValue>) = domain
            .into_iter()
            .partition(|v| values.iter().any(|spec| spec.matches(*v)));
        for v in hit {
            self.exclude(knob, v, "forbidden".into(), rule);
        }
        self.domains.insert(knob, kept);
        if let Some((spec, other)) = requires.get(&knob) {
            if values.contains(spec) {
                self.conflicts.push(format!(
                    "{other} requires {knob} = {spec}, but {} forbids it",
                    rule.id
                ));
            }
        }
    }

    fn require(
        &mut self,
        rule: &Rule,
        knob: Knob,
        value: &ValueSpec,
        requires: &mut BTreeMap<Knob, (ValueSpec, String)>,
    ) {
        if let Some((spec, other)) = requires.get(&knob) {
            if spec != value {
                self.conflicts.push(format!(
                    "{other} requires {knob} = {spec}, but {} requires {knob} = {value}",
                    rule.id
                ));
            }
        }
        let forbidden_by = self
            .exclusions
            .iter()
            .find(|e| {
                e.knob == knob.name()
                    && e.how == "forbidden"
                    && knob.parse_value(&e.value).is_ok_and(|v| value.matches(v))
            })
            .map(|e| e.rule.clone());
        if let Some(other) = forbidden_by {
            self.conflicts.push(format!(
                "{} requires {knob} = {value}, but {other} forbids it",
                rule.id
            ));
        }
        requires.insert(knob, (value.clone(), rule.id.clone()));
        let domain = self.domains.remove(&knob).unwrap_or_default();
        let (kept, dropped): (Vec<KnobValue>, Vec<KnobValue>) =
            domain.into_iter().partition(|v| value.matches(*v));
        for v in dropped {
            self.exclude(knob, v, format!("required {value}"), rule);
        }
        self.domains.insert(knob, kept);
    }

    fn set(&mut self, rule: &Rule, option: &str, value: &Value) {
        if let Some((existing, other)) = self.options.get(option) {
            if existing != value {
                self.conflicts.push(format!(
                    "{other} sets {option} = {existing}, but {} sets {option} = {value}",
                    rule.id
                ));
            }
            return;
        }
        self.options
            .insert(option.to_string(), (value.clone(), rule.id.clone()));
    }

    /// Judges one candidate: the first rule over candidate knobs that
    /// excludes it, or the rules that prefer it. Records each such rule's
    /// firing (once) and exclusion count, and the options it sets.
    pub fn judge(&mut self, config: &Config) -> Judgement {
        let mut all = self.facts.clone();
        all.extend(&config_facts(config, &self.batch_sizes, self.usable_cores));
        let rules = self.rules;
        for rule in rules.iter().filter(|r| r.per_candidate()) {
            let mut observed = Vec::new();
            if !rule.when.eval(&all, &mut observed) {
                continue;
            }
            self.candidate_firings
                .entry(rule.id.clone())
                .or_insert_with(|| {
                    let facts = observed
                        .into_iter()
                        .filter(|o| !o.fact.starts_with("config."))
                        .collect();
                    Firing::of(rule, facts)
                });
            for action in &rule.actions {
                if let Action::Set { option, value } = action {
                    self.options
                        .entry(option.clone())
                        .or_insert((value.clone(), rule.id.clone()));
                }
            }
            if excludes(rule, config) {
                *self
                    .candidate_exclusions
                    .entry(rule.id.clone())
                    .or_default() += 1;
                return Judgement::Excluded {
                    rule: rule.id.clone(),
                };
            }
        }
        Judgement::Allowed {
            preferred_by: self
                .fired
                .iter()
                .filter(|rule| prefers(rule, config))
                .map(|rule| rule.id.clone())
                .collect(),
        }
    }
}

/// Whether a rule's forbid/require actions rule `config` out.
fn excludes(rule: &Rule, config: &Config) -> bool {
    rule.actions.iter().any(|a| match a {
        Action::Forbid { knob, values } => values.iter().any(|s| s.matches(knob.value_of(config))),
        Action::Require { knob, value } => !value.matches(knob.value_of(config)),
        _ => false,
    })
}

/// Whether a rule's prefer actions match `config`.
fn prefers(rule: &Rule, config: &Config) -> bool {
    rule.actions.iter().any(|a| match a {
        Action::Prefer { knob, values } => values.iter().any(|s| s.matches(knob.value_of(config))),
        _ => false,
    })
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
    use std::path::Path;

    fn rules(text: &str) -> Vec<Rule> {
        let (rules, problems) = super::super::load::parse_file(Path::new("t.yaml"), text);
        assert!(problems.is_empty(), "{problems:?}");
        rules
    }

    const TWO_STREAMS_FORBIDDEN: &str = r#"
rules:
  - id: no-streams
    title: no streams
    source: {section: t, releases: "0", text: t}
    severity: info
    when: [config.streams > 1]
    then: {forbid: {streams: ">1"}}
    explain: x
    examples: {fires: {config.streams: 2}, holds: {config.streams: 1}}
  - id: likes-jemalloc
    title: jemalloc first
    source: {section: t, releases: "0", text: t}
    severity: info
    when: [host.isa.avx2 == true]
    then: {prefer: {allocator: jemalloc}}
    explain: x
    examples: {fires: {host.isa.avx2: true}, holds: {host.isa.avx2: false}}
"#;

    #[test]
    fn candidates_are_judged_by_rules_over_their_knobs() {
        let rules = rules(TWO_STREAMS_FORBIDDEN);
        let mut facts = Facts::new();
        facts.set("host.isa.avx2", true);
        let mut evaluation = evaluate(&rules, &facts, BTreeMap::new(), &[8], 2);
        let streams: Config = "stock/O1/fp32/t1/s2/jemalloc".parse().unwrap();
        assert_eq!(
            evaluation.judge(&streams),
            Judgement::Excluded {
                rule: "no-streams".into()
            }
        );
        let one: Config = "stock/O1/fp32/t2/jemalloc".parse().unwrap();
        assert_eq!(
            evaluation.judge(&one),
            Judgement::Allowed {
                preferred_by: vec!["likes-jemalloc".into()]
            }
        );
        assert_eq!(evaluation.candidate_exclusions["no-streams"], 1);
        assert!(evaluation.candidate_firings.contains_key("no-streams"));
    }
}
