//! The rules-guided search: which candidates a run measures, in which order.
//!
//! It measures the rules' allowed space greedily, one group of related
//! knobs at a time (allocator, graph passes and backend, fuser, dtype,
//! parallel layout): starting from a strong default, each group's allowed
//! alternatives are tried with everything else held at the best so far, and
//! the best is kept. The knobs act mostly independently, so this finds the
//! grid's best or close to it in a fraction of the trials.
use std::collections::HashSet;

use super::space::Candidate;
use crate::config::{Allocator, Backend, Config, Dtype, Fuser, Level};

/// Groups of knobs varied together (some combinations are only coherent together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Allocator,
    Graph,
    Fuser,
    Dtype,
    Layout,
}

/// The order groups are searched in: the knobs with the largest effects
/// first (dtype, then the parallel layout), then the graph passes, the
/// fuser and the allocator. The whole order is swept twice, so a group
/// searched early is revisited once the others have moved.
pub const ORDER: [Group; 5] = [
    Group::Dtype,
    Group::Layout,
    Group::Graph,
    Group::Fuser,
    Group::Allocator,
];

/// Sweeps over [`ORDER`].
pub const PASSES: usize = 2;

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Allocator => "allocator",
            Group::Graph => "backend/level/folding/prepack",
            Group::Fuser => "fuser",
            Group::Dtype => "dtype",
            Group::Layout => "threads/streams/instances",
        }
    }

    /// The knob groups on which `a` and `b` differ, other than this one.
    fn differences_outside(self, a: &Config, b: &Config) -> usize {
        ORDER
            .iter()
            .filter(|g| **g != self && g.key(a) != g.key(b))
            .count()
    }

    /// The group's knob values, as a comparable key.
    fn key(self, c: &Config) -> String {
        match self {
            Group::Allocator => c.allocator.to_string(),
            Group::Graph => format!(
                "{:?}/{:?}/{}/{}",
                c.backend, c.level, c.conv_bn_folding, c.weights_prepack
            ),
            Group::Fuser => format!("{:?}", c.fuser),
            Group::Dtype => format!("{:?}", c.dtype),
            Group::Layout => format!("{:?}/{}/{}", c.threads, c.streams, c.instances),
        }
    }
}

/// The starting point of the guided search: the allowed candidate closest
/// to a strong default (frozen, folded, prepacked, no fuser, fp32, one
/// stream on all cores), with the rules' preferences breaking ties.
pub fn start(candidates: &[&Candidate], usable: usize) -> Option<Config> {
    let ideal = Config {
        backend: Backend::Stock,
        level: Level::O1,
        conv_bn_folding: true,
        weights_prepack: true,
        fuser: Fuser::None,
        dtype: Dtype::Fp32,
        threads: Some(usable),
        streams: 1,
        instances: 1,
        allocator: Allocator::GlibcTuned,
        fp32_layers: Vec::new(),
        signed_activations: false,
        dynamic_shapes: false,
    };
    let distance = |c: &Config| {
        [
            c.backend != ideal.backend,
            c.level != ideal.level,
            c.conv_bn_folding != ideal.conv_bn_folding,
            c.weights_prepack != ideal.weights_prepack,
            c.fuser != ideal.fuser,
            c.dtype != ideal.dtype,
            c.threads != ideal.threads || c.streams != 1 || c.instances != 1,
        ]
        .iter()
        .filter(|d| **d)
        .count()
    };
    candidates
        .iter()
        .min_by_key(|c| (distance(&c.config), std::cmp::Reverse(c.preferred_by.len())))
        .map(|c| c.config.clone())
}

/// For every other value of `group` among the allowed candidates, the
/// candidate closest to `best` outside the group (ideally identical; when a
/// value only exists with other knobs changed too, e.g. int8 needs a frozen
/// graph, the one that changes fewest), skipping those already tried; in the
/// rules' preference order.
pub fn variants(
    candidates: &[&Candidate],
    best: &Config,
    group: Group,
    tried: &HashSet<Config>,
) -> Vec<Config> {
    let mut chosen: Vec<(String, usize, Config)> = Vec::new();
    for c in candidates {
        let key = group.key(&c.config);
        if key == group.key(best) {
            continue;
        }
        let distance = group.differences_outside(&c.config, best);
        match chosen.iter_mut().find(|(k, _, _)| *k == key) {
            Some(entry) if distance < entry.1 => *entry = (key, distance, c.config.clone()),
            Some(_) => {}
            None => chosen.push((key, distance, c.config.clone())),
        }
    }
    chosen
        .into_iter()
        .map(|(_, _, config)| config)
        .filter(|c| !tried.contains(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_change_one_group_only() {
        let configs = super::super::space::grid(super::super::space::HostShape::new(2, 1, 2));
        let candidates: Vec<Candidate> = configs
            .into_iter()
            .map(|config| Candidate {
                label: config.label(),
                config,
                preferred_by: Vec::new(),
            })
            .collect();
        let refs: Vec<&Candidate> = candidates.iter().collect();
        let best = start(&refs, 2).unwrap();
        assert_eq!(best.level, Level::O1);
        let fusers = variants(&refs, &best, Group::Fuser, &HashSet::from([best.clone()]));
        assert_eq!(fusers.len(), 2, "texpr and onednn");
        assert!(fusers
            .iter()
            .all(|c| c.dtype == best.dtype && c.allocator == best.allocator));
    }
}
