//! The expert's recipes: what IPEX's documentation tells a user to do for
//! CPU inference, in the layouts its launcher runs them in. The search
//! measures them before it explores anything else, so that its winner can
//! only beat the expert it replaces or tie with it: a tuner that ends slower
//! than the documented recipe has failed at its one job.
//!
//! The recipes (IPEX's "Examples" page for inference, and its launcher):
//! - `torch.jit.trace` / `script` + `torch.jit.freeze`, fp32, no IPEX;
//! - `ipex.optimize(model)` (conv-bn folding, weight prepacking) + trace +
//!   freeze, fp32;
//! - `ipex.optimize(model, dtype=torch.bfloat16)` under `torch.autocast`;
//! - `ipex.quantization.prepare` -> calibrate -> `convert` (static int8).
//!
//! Each in two of the launcher's layouts: one instance on all cores, and
//! several instances on groups of cores (its multi-instance throughput
//! mode), with the launcher's default allocator (TCMalloc).
use super::space::{layouts, Candidate, HostShape, Layout};
use crate::config::{Allocator, Backend, Config, Dtype, Fuser, Level};

/// One documented recipe, as the knobs that reproduce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipe {
    /// Short name, as results and reports show it.
    pub name: &'static str,
    /// What a user writes in Python for it.
    pub python: &'static str,
    pub backend: Backend,
    pub dtype: Dtype,
    pub conv_bn_folding: bool,
    pub weights_prepack: bool,
}

/// IPEX's documented recipes for CPU inference, fp32 first.
pub const RECIPES: [Recipe; 4] = [
    Recipe {
        name: "jit fp32",
        python: "torch.jit.trace + torch.jit.freeze",
        backend: Backend::Stock,
        dtype: Dtype::Fp32,
        // torch.jit.freeze folds conv-bn itself (run_frozen_optimizations).
        conv_bn_folding: true,
        weights_prepack: false,
    },
    Recipe {
        name: "ipex fp32",
        python: "ipex.optimize(model) + trace + freeze",
        backend: Backend::Ipex,
        dtype: Dtype::Fp32,
        conv_bn_folding: true,
        weights_prepack: true,
    },
    Recipe {
        name: "ipex bf16",
        python: "ipex.optimize(model, dtype=torch.bfloat16) + trace + freeze under torch.autocast",
        backend: Backend::Ipex,
        dtype: Dtype::Bf16Autocast,
        conv_bn_folding: true,
        weights_prepack: true,
    },
    Recipe {
        name: "ipex int8",
        python: "ipex.quantization.prepare + calibrate + convert + trace + freeze",
        backend: Backend::Ipex,
        dtype: Dtype::Int8Static,
        conv_bn_folding: true,
        weights_prepack: true,
    },
];

/// A launcher layout: its name and the parallel layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LauncherLayout {
    pub name: String,
    pub layout: Layout,
}

/// The launcher's layouts on a host of this shape: one instance on all
/// cores; on several NUMA nodes, one instance per node (the launcher's
/// `--throughput-mode`); and instances on small core groups, the host's
/// multi-instance layout closest to IPEX's 4 cores per instance (one per
/// core on a small host), each instance inside one node.
pub fn launcher_layouts(shape: HostShape) -> Vec<LauncherLayout> {
    let usable = shape.usable;
    let mut out = vec![LauncherLayout {
        name: format!("1 instance x {usable} cores"),
        layout: Layout {
            threads: usable,
            streams: 1,
            instances: 1,
        },
    }];
    let multi: Vec<Layout> = layouts(shape)
        .into_iter()
        .filter(|l| l.streams == 1 && l.instances > 1 && l.threads * l.instances == usable)
        .collect();
    let nodes = shape.nodes_used();
    if let Some(layout) = multi.iter().find(|l| nodes > 1 && l.instances == nodes) {
        out.push(LauncherLayout {
            name: format!(
                "{} instances x {} cores, one per NUMA node (throughput mode)",
                layout.instances, layout.threads
            ),
            layout: *layout,
        });
    }
    let small = multi
        .iter()
        .filter(|l| nodes == 1 || l.instances != nodes)
        .min_by_key(|l| (l.threads.abs_diff(4), l.threads));
    if let Some(&layout) = small {
        out.push(LauncherLayout {
            name: format!(
                "{} instances x {} core{}",
                layout.instances,
                layout.threads,
                if layout.threads == 1 { "" } else { "s" }
            ),
            layout,
        });
    }
    out
}

/// The config that is exactly the recipe in the layout, with the launcher's
/// default allocator.
pub fn exact(recipe: &Recipe, layout: &Layout) -> Config {
    Config {
        backend: recipe.backend,
        level: Level::O1,
        conv_bn_folding: recipe.conv_bn_folding,
        weights_prepack: recipe.weights_prepack,
        fuser: Fuser::None,
        dtype: recipe.dtype,
        threads: Some(layout.threads),
        streams: layout.streams,
        instances: layout.instances,
        allocator: Allocator::Tcmalloc,
        fp32_layers: Vec::new(),
        signed_activations: false,
        dynamic_shapes: false,
    }
}

/// The launcher's allocator preference: TCMalloc, then JeMalloc, then the
/// default (tuned before plain, as the tool would run it).
fn allocator_rank(a: Allocator) -> usize {
    match a {
        Allocator::Tcmalloc => 0,
        Allocator::Jemalloc => 1,
        Allocator::GlibcTuned => 2,
        Allocator::Glibc => 3,
    }
}

/// The allowed candidate that runs the recipe in the layout: the same
/// backend, dtype and layout, no fuser, with the recipe's passes and the
/// launcher's allocator where the rules allow them, else the nearest. None
/// when the rules leave no candidate with that backend, dtype and layout.
pub fn nearest(candidates: &[&Candidate], recipe: &Recipe, layout: &Layout) -> Option<Config> {
    let want = exact(recipe, layout);
    candidates
        .iter()
        .map(|c| &c.config)
        .filter(|c| {
            c.backend == want.backend
                && c.dtype == want.dtype
                && c.level == Level::O1
                && c.threads == want.threads
                && c.streams == want.streams
                && c.instances == want.instances
                && c.fp32_layers.is_empty()
        })
        .min_by_key(|c| {
            (
                (c.fuser != Fuser::None) as usize,
                (c.conv_bn_folding != want.conv_bn_folding) as usize
                    + (c.weights_prepack != want.weights_prepack) as usize,
                allocator_rank(c.allocator),
            )
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::space::grid;

    fn all(shape: HostShape) -> Vec<Candidate> {
        grid(shape)
            .into_iter()
            .map(|config| Candidate {
                label: config.label(),
                config,
                preferred_by: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn two_cores_have_the_launchers_two_layouts() {
        let names: Vec<(usize, usize)> = launcher_layouts(HostShape::new(2, 1, 2))
            .iter()
            .map(|l| (l.layout.threads, l.layout.instances))
            .collect();
        assert_eq!(names, vec![(2, 1), (1, 2)]);
        // One core: one layout only.
        assert_eq!(launcher_layouts(HostShape::new(1, 1, 1)).len(), 1);
    }

    #[test]
    fn a_large_server_runs_ipex_latency_instances_inside_nodes() {
        let l = launcher_layouts(HostShape::new(56, 2, 28));
        assert_eq!(l.len(), 3);
        assert_eq!((l[1].layout.threads, l[1].layout.instances), (28, 2));
        assert_eq!((l[2].layout.threads, l[2].layout.instances), (4, 14));
    }

    #[test]
    fn the_recipe_is_found_exactly_when_the_rules_allow_it() {
        let shape = HostShape::new(2, 1, 2);
        let candidates = all(shape);
        let refs: Vec<&Candidate> = candidates.iter().collect();
        for layout in launcher_layouts(shape) {
            for recipe in &RECIPES {
                let found = nearest(&refs, recipe, &layout.layout).expect("in the grid");
                assert_eq!(found, exact(recipe, &layout.layout), "{}", recipe.name);
            }
        }
    }

    #[test]
    fn without_tcmalloc_the_next_allocator_and_without_the_dtype_nothing() {
        let shape = HostShape::new(2, 1, 2);
        let candidates: Vec<Candidate> = all(shape)
            .into_iter()
            .filter(|c| c.config.allocator != Allocator::Tcmalloc)
            .filter(|c| c.config.dtype != Dtype::Int8Static)
            .collect();
        let refs: Vec<&Candidate> = candidates.iter().collect();
        let layout = &launcher_layouts(shape)[0].layout;
        let fp32 = nearest(&refs, &RECIPES[1], layout).unwrap();
        assert_eq!(fp32.allocator, Allocator::Jemalloc);
        assert!(nearest(&refs, &RECIPES[3], layout).is_none());
    }
}
