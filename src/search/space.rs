//! The candidate space: which configurations exist on a host, which are
//! coherent, and which of those the rules allow. The parallel layout
//! (threads per worker, streams, instances) comes from the host's shape
//! (cores, NUMA nodes), not from every count up to the cores: a dense
//! product grows as cores^3 (768 x 56^3 configurations on a 56-core server
//! did not fit in memory), while a server is run in a handful of layouts:
//! all cores, one node, one instance per node, IPEX's latency layout of 4
//! cores per instance, one core per instance, even splits.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::{Config, Dtype, Knob, KnobValue, Level, ALL_KNOBS};
use crate::rules::{Evaluation, Judgement};

/// A candidate configuration that the rules allow.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub label: String,
    pub config: Config,
    /// Rules whose `prefer` matched this candidate (tried first).
    pub preferred_by: Vec<String>,
}

/// The host's shape as its facts give it: what layouts are built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HostShape {
    /// Cores the run may use (physical cores: SMT siblings are not used).
    pub usable: usize,
    pub nodes: usize,
    pub cores_per_node: usize,
}

impl HostShape {
    pub fn new(usable: usize, nodes: usize, cores_per_node: usize) -> HostShape {
        let usable = usable.max(1);
        HostShape {
            usable,
            nodes: nodes.max(1),
            cores_per_node: if cores_per_node == 0 {
                usable
            } else {
                cores_per_node
            },
        }
    }

    /// Cores of one node within the run.
    pub fn node_cores(&self) -> usize {
        self.cores_per_node.min(self.usable)
    }

    /// Nodes the usable cores span, filled node by node.
    pub fn nodes_used(&self) -> usize {
        self.usable.div_ceil(self.node_cores()).clamp(1, self.nodes)
    }

    /// Whether `instances` workers of `threads` cores each, laid out node by
    /// node, keep every worker inside one node.
    pub fn fits_nodes(&self, threads: usize, instances: usize) -> bool {
        let node = self.node_cores();
        threads * instances <= self.usable
            && (self.nodes_used() == 1 || (threads <= node && node.is_multiple_of(threads)))
    }
}

/// A parallel layout: intra-op threads per worker, streams, instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Layout {
    pub threads: usize,
    pub streams: usize,
    pub instances: usize,
}

/// The layouts worth measuring on a host of this shape: one worker on all
/// cores, on one node, on one core; instances: one per node, two, IPEX's
/// latency layout (4 cores each), one per core (up to 64), every instance
/// inside one node; streams within one node (a process's streams share
/// its memory): 2, 4, one per core (up to 8), even splits only.
pub fn layouts(shape: HostShape) -> Vec<Layout> {
    let u = shape.usable;
    let mut out = BTreeSet::new();
    let one = |threads| Layout {
        threads,
        streams: 1,
        instances: 1,
    };
    out.insert(one(u));
    out.insert(one(1));
    out.insert(one(shape.node_cores()));
    let per_instance = [
        Some(shape.nodes_used()),
        Some(2),
        (u >= 8 && u.is_multiple_of(4)).then_some(u / 4),
        (u <= 64).then_some(u),
    ];
    for k in per_instance.into_iter().flatten() {
        if k >= 2 && k <= u && u.is_multiple_of(k) && shape.fits_nodes(u / k, k) {
            out.insert(Layout {
                threads: u / k,
                streams: 1,
                instances: k,
            });
        }
    }
    if shape.nodes_used() == 1 {
        for k in [2, 4, u.min(8)] {
            if k >= 2 && k <= u && u.is_multiple_of(k) {
                out.insert(Layout {
                    threads: u / k,
                    streams: k,
                    instances: 1,
                });
            }
        }
    }
    out.into_iter().collect()
}

/// The knob values the search may consider before any rule: every value of
/// the other knobs, and the counts the host's layouts use.
pub fn base_domains(shape: HostShape) -> BTreeMap<Knob, Vec<KnobValue>> {
    let all = layouts(shape);
    let counts = |f: fn(&Layout) -> usize| -> Vec<KnobValue> {
        let set: BTreeSet<usize> = all.iter().map(f).collect();
        set.into_iter().map(KnobValue::Count).collect()
    };
    ALL_KNOBS
        .iter()
        .map(|&knob| {
            let values = match knob {
                Knob::Threads => counts(|l| l.threads),
                Knob::Streams => counts(|l| l.streams),
                Knob::Instances => counts(|l| l.instances),
                _ => knob.choices().unwrap_or_default(),
            };
            (knob, values)
        })
        .collect()
}

/// Whether a config is coherent regardless of rules: O0 runs the module as
/// loaded (no folding, prepacking or IPEX rewrites, which need a frozen
/// graph; no int8, whose conversion freezes; no bf16, whose graph constants
/// are cast on the frozen graph); IPEX always prepacks frozen
/// weights in its own passes; streams and instances do not combine; the
/// cores used fit the usable cores.
pub fn coherent(config: &Config, usable_cores: usize) -> bool {
    let o0_ok = config.level != Level::O0
        || (!config.conv_bn_folding && !config.weights_prepack && config.dtype == Dtype::Fp32);
    let backend_ok = crate::backend::spec(config.backend).coherent(config);
    let parallel_ok = config.streams == 1 || config.instances == 1;
    // Signed activations: static int8 through IPEX's kernels only
    // (libtorch's quantized ops and Inductor's quantizer take unsigned ones).
    let signed_ok = !config.signed_activations
        || (config.dtype == Dtype::Int8Static
            && crate::backend::spec(config.backend).int8_as_qdq());
    // One package for every shape: a backend that compiles packages.
    let dynamic_ok =
        !config.dynamic_shapes || crate::backend::spec(config.backend).compiles_ahead();
    let usable = usable_cores.max(1);
    o0_ok
        && backend_ok
        && parallel_ok
        && signed_ok
        && dynamic_ok
        && config.cores_used(usable) <= usable
}

/// Whether a config keeps every usable core busy.
pub fn uses_all_cores(config: &Config, usable: usize) -> bool {
    config.cores_used(usable) == usable
}

/// Every coherent config over `domains`: the product of the knobs' values
/// with the host's layouts whose counts the domains keep (the layout knobs
/// are not crossed with each other).
pub fn enumerate(domains: &BTreeMap<Knob, Vec<KnobValue>>, shape: HostShape) -> Vec<Config> {
    let layout_knobs = [Knob::Threads, Knob::Streams, Knob::Instances];
    let mut configs = vec![Config::stock()];
    for &knob in ALL_KNOBS.iter().filter(|k| !layout_knobs.contains(k)) {
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
    let allowed = |knob: Knob, n: usize| {
        domains
            .get(&knob)
            .is_some_and(|values| values.contains(&KnobValue::Count(n)))
    };
    let layouts: Vec<Layout> = layouts(shape)
        .into_iter()
        .filter(|l| {
            allowed(Knob::Threads, l.threads)
                && allowed(Knob::Streams, l.streams)
                && allowed(Knob::Instances, l.instances)
        })
        .collect();
    configs
        .into_iter()
        .flat_map(|c| {
            layouts.iter().map(move |l| Config {
                threads: Some(l.threads),
                streams: l.streams,
                instances: l.instances,
                ..c.clone()
            })
        })
        .filter(|c| coherent(c, shape.usable))
        .collect()
}

/// The grid: every coherent config over every knob value and layout that
/// uses all cores.
pub fn grid(shape: HostShape) -> Vec<Config> {
    enumerate(&base_domains(shape), shape)
        .into_iter()
        .filter(|c| uses_all_cores(c, shape.usable))
        .collect()
}

/// The coherent configs over the rules' domains that no rule over
/// candidate knobs excludes: preferred candidates first, otherwise in
/// enumeration order.
pub fn candidates(evaluation: &mut Evaluation, shape: HostShape) -> Vec<Candidate> {
    let mut candidates: Vec<Candidate> = enumerate(&evaluation.domains.clone(), shape)
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
    use crate::config::Backend;

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

    fn two_cores() -> HostShape {
        HostShape::new(2, 1, 2)
    }

    #[test]
    fn enumeration_covers_the_space() {
        let one = HostShape::new(1, 1, 1);
        let configs = enumerate(&base_domains(one), one);
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
        let g = grid(two_cores());
        assert!(!g.is_empty());
        assert!(g.iter().all(|c| uses_all_cores(c, 2)));
        // every layout of 2 cores: 2 threads, 2 streams, 2 instances
        assert!(g.iter().any(|c| c.streams == 2));
        assert!(g.iter().any(|c| c.instances == 2));
        assert!(g.iter().any(|c| c.threads == Some(2)));
    }

    #[test]
    fn two_cores_have_the_four_layouts() {
        let l: Vec<(usize, usize, usize)> = layouts(two_cores())
            .iter()
            .map(|l| (l.threads, l.streams, l.instances))
            .collect();
        assert_eq!(l, vec![(1, 1, 1), (1, 1, 2), (1, 2, 1), (2, 1, 1)]);
    }

    #[test]
    fn a_two_node_server_keeps_instances_inside_nodes() {
        // 2 sockets x 28 cores, SNC off.
        let shape = HostShape::new(56, 2, 28);
        let all = layouts(shape);
        assert!(all.len() <= 12, "{all:?}");
        for l in &all {
            assert!(l.threads * l.streams * l.instances <= 56);
            if l.instances > 1 {
                assert!(
                    l.threads <= 28 && 28 % l.threads == 0,
                    "{l:?} crosses a node"
                );
            }
            assert_eq!(l.streams, 1, "no streams across nodes: {l:?}");
        }
        assert!(
            all.contains(&Layout {
                threads: 28,
                streams: 1,
                instances: 2
            }),
            "one per node"
        );
        assert!(
            all.contains(&Layout {
                threads: 4,
                streams: 1,
                instances: 14
            }),
            "IPEX latency layout"
        );
        // The space stays small: a product with the knobs, not cores^3.
        assert!(enumerate(&base_domains(shape), shape).len() < 20_000);
    }
}
