//! The candidate space: which configurations exist on a host (every knob
//! value, thread/stream/instance counts up to the usable cores), which are
//! coherent, and which of those the rules allow.
use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{Backend, Config, Dtype, Knob, KnobValue, Level, ALL_KNOBS};
use crate::rules::{Evaluation, Judgement};

/// A candidate configuration that the rules allow.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub label: String,
    pub config: Config,
    /// Rules whose `prefer` matched this candidate (tried first).
    pub preferred_by: Vec<String>,
}

/// The knob values the search may consider before any rule: every value,
/// with threads/streams/instances up to the usable cores.
pub fn base_domains(usable_cores: usize) -> BTreeMap<Knob, Vec<KnobValue>> {
    let counts: Vec<KnobValue> = (1..=usable_cores.max(1)).map(KnobValue::Count).collect();
    ALL_KNOBS
        .iter()
        .map(|&knob| (knob, knob.choices().unwrap_or_else(|| counts.clone())))
        .collect()
}

/// Whether a config is coherent regardless of rules: O0 runs the module as
/// loaded (no folding, prepacking or IPEX rewrites, which need a frozen
/// graph; no int8, whose conversion freezes; no bf16, whose graph constants
/// are cast on the frozen graph); IPEX always prepacks frozen
/// weights in its own passes; streams and instances do not combine; the
/// cores used fit the usable cores.
pub fn coherent(config: &Config, usable_cores: usize) -> bool {
    let o0_ok = config.level == Level::O1
        || (!config.conv_bn_folding
            && !config.weights_prepack
            && config.backend == Backend::Stock
            && config.dtype == Dtype::Fp32);
    let ipex_ok = config.backend == Backend::Stock || config.weights_prepack;
    let parallel_ok = config.streams == 1 || config.instances == 1;
    let usable = usable_cores.max(1);
    o0_ok && ipex_ok && parallel_ok && config.cores_used(usable) <= usable
}

/// Whether a config keeps every usable core busy.
pub fn uses_all_cores(config: &Config, usable: usize) -> bool {
    config.cores_used(usable) == usable
}

/// Every coherent config over `domains`.
pub fn enumerate(domains: &BTreeMap<Knob, Vec<KnobValue>>, usable_cores: usize) -> Vec<Config> {
    let mut configs = vec![Config::stock()];
    for &knob in ALL_KNOBS {
        let values = domains.get(&knob).map(Vec::as_slice).unwrap_or_default();
        configs = configs
            .into_iter()
            .flat_map(|c| {
                values.iter().filter_map(move |v| {
                    let mut c = c.clone();
                    // Domains hold the knob's own values: set cannot fail.
                    knob.set(&mut c, *v).ok().map(|_| c)
                })
            })
            .collect();
    }
    configs.retain(|c| coherent(c, usable_cores));
    configs
}

/// The grid: every coherent config over every knob value, all cores used.
pub fn grid(usable: usize) -> Vec<Config> {
    enumerate(&base_domains(usable), usable)
        .into_iter()
        .filter(|c| uses_all_cores(c, usable))
        .collect()
}

/// The coherent configs over the rules' domains that no rule over
/// candidate knobs excludes: preferred candidates first, otherwise in
/// enumeration order.
pub fn candidates(evaluation: &mut Evaluation, usable: usize) -> Vec<Candidate> {
    let mut candidates: Vec<Candidate> = enumerate(&evaluation.domains.clone(), usable)
        .into_iter()
        .filter_map(|config| match evaluation.judge(&config) {
            Judgement::Excluded { .. } => None,
            Judgement::Allowed { preferred_by } => Some(Candidate {
                label: config.label(),
                config,
                preferred_by,
            }),
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.preferred_by.len()));
    candidates
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

    #[test]
    fn grid_keeps_all_cores_busy() {
        let g = grid(2);
        assert!(!g.is_empty());
        assert!(g.iter().all(|c| uses_all_cores(c, 2)));
        // every layout of 2 cores: 2 threads, 2 streams, 2 instances
        assert!(g.iter().any(|c| c.streams == 2));
        assert!(g.iter().any(|c| c.instances == 2));
        assert!(g.iter().any(|c| c.threads == Some(2)));
    }
}
