//! The `rules` stage: rules as data (`rules/*.yaml`) derived from IPEX's
//! Known Issues, loaded with located validation, evaluated over one flat fact
//! namespace into an [`Evaluation`]: the knob values left, every firing with
//! the facts behind it, options, contradictions, and a judgement of any
//! candidate config. The rules filter; the search owns the space.
pub mod condition;
pub mod engine;
pub mod facts;
pub mod gather;
pub mod knobs;
pub mod load;
pub mod rule;

use std::path::{Path, PathBuf};

pub use engine::{evaluate, Evaluation, Judgement};
pub use facts::Facts;
pub use rule::{Rule, Severity};

/// The bundled rules (embedded in the binary) plus the user's directories.
/// Ids must be unique across all of them.
pub fn load(extra_dirs: &[PathBuf]) -> Result<Vec<Rule>, load::LoadErrors> {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in crate::bundled::RULES {
        let (mut parsed, mut found) = load::parse_file(Path::new(name), text);
        rules.append(&mut parsed);
        problems.append(&mut found);
    }
    match load::load_dirs(extra_dirs) {
        Ok(mut user) => rules.append(&mut user),
        Err(load::LoadErrors(mut found)) => problems.append(&mut found),
    }
    problems.extend(load::duplicate_ids(&rules));
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(load::LoadErrors(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bundled rule fires on its `fires` facts and not on its `holds`
    /// facts: a unit test per rule, driven by the examples each rule carries.
    #[test]
    fn every_bundled_rule_fires_on_its_example_and_holds_on_the_other() {
        let rules = load(&[]).expect("bundled rules load");
        assert!(rules.len() >= 25, "{} rules", rules.len());
        for rule in &rules {
            assert!(
                !rule.examples.fires.0.is_empty(),
                "{}: no fires example",
                rule.id
            );
            assert!(
                !rule.examples.holds.0.is_empty(),
                "{}: no holds example",
                rule.id
            );
            engine::check_examples(rule, &Facts::new()).unwrap();
        }
    }

    #[test]
    fn bundled_rules_cover_the_known_issues_named_in_the_plan() {
        let rules = load(&[]).unwrap();
        for id in [
            "prepack-memory-headroom",
            "custom-method-freeze-and-fold",
            "texpr-off-for-dynamic-shapes",
            "int8-static-off-for-dynamic-shapes",
            "int8-skip-embedding-bag",
            "int8-calibration-minmax-observer",
            "int8-dynamic-for-control-flow",
            "int8-calibrate-with-n-threads",
            "bf16-needs-native-support",
            "streams-off-for-embedding-bag",
            "instances-over-streams-for-loops",
            "streams-must-divide-batch",
            "threads-fixed-per-process",
            "cuda-build-on-cpu-host",
            "ipex-version-mismatch",
            "bf16-transformer-no-prepack",
            "warm-up-every-shape",
            "omp-threads-above-usable-cores",
            "threads-within-numa-node",
            "no-fast-allocator-preloaded",
            "host-not-quiet",
        ] {
            assert!(rules.iter().any(|r| r.id == id), "missing rule {id}");
        }
    }

    #[test]
    fn contradictions_are_reported() {
        let text = r#"
rules:
  - id: wants-two-streams
    title: a
    source: {section: t, releases: "0", text: t}
    severity: info
    when: [host.isa.avx2 == true]
    then: {require: {streams: 2}}
    explain: x
    examples: {fires: {host.isa.avx2: true}, holds: {host.isa.avx2: false}}
  - id: wants-one-stream
    title: b
    source: {section: t, releases: "0", text: t}
    severity: info
    when: [host.isa.avx2 == true]
    then: {require: {streams: 1}}
    explain: x
    examples: {fires: {host.isa.avx2: true}, holds: {host.isa.avx2: false}}
"#;
        let (rules, problems) = load::parse_file(Path::new("t.yaml"), text);
        assert!(problems.is_empty(), "{problems:?}");
        let mut facts = Facts::new();
        facts.set("host.isa.avx2", true);
        let base = std::collections::BTreeMap::from([(
            crate::config::Knob::Streams,
            vec![
                crate::config::KnobValue::Count(1),
                crate::config::KnobValue::Count(2),
            ],
        )]);
        let plan = evaluate(&rules, &facts, base, &[8], 2);
        assert!(
            plan.conflicts.iter().any(|c| c.contains(
                "wants-two-streams requires streams = 2, but wants-one-stream requires streams = 1"
            )),
            "{:?}",
            plan.conflicts
        );
    }
}
