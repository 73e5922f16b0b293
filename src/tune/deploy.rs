//! The `deploy` block: how to run the winner outside ipex-tune, with the
//! same allocator, threads and cores, as environment variables, one
//! `numactl` line per instance and IPEX's launcher equivalent.
use std::collections::BTreeMap;

use super::plan::Planned;
use crate::config::{Allocator, Backend, Config, Dtype};
use crate::host::topology::cpu_list;
use crate::record::Deploy;
use crate::runtime::parallel::split_cores;
use crate::trial::preload::preload_library;

/// The NUMA node of `cpu` among the plan's CPUs.
fn node_of(planned: &Planned, cpu: u32) -> Option<u32> {
    let i = planned.cpus.iter().position(|&c| c == cpu)?;
    planned.cpu_nodes.get(i).copied()
}

/// The deploy block of `config` run on `cpus`.
pub fn deploy(
    planned: &Planned,
    config: &Config,
    cpus: &[u32],
    saved: Option<String>,
    save_asked: bool,
) -> Deploy {
    let mut env = BTreeMap::new();
    let mut notes = Vec::new();
    match preload_library(config.allocator) {
        Ok(Some(lib)) => {
            env.insert("LD_PRELOAD".into(), lib.display().to_string());
        }
        Ok(None) => {}
        Err(e) => notes.push(format!("{e}")),
    }
    if config.allocator == Allocator::GlibcTuned {
        // What runtime::allocator sets with mallopt, as glibc's variables.
        env.insert("MALLOC_MMAP_THRESHOLD_".into(), (32u64 << 20).to_string());
        env.insert("MALLOC_TRIM_THRESHOLD_".into(), (1u64 << 30).to_string());
        env.insert("MALLOC_TOP_PAD_".into(), (64u64 << 20).to_string());
    }
    let workers = config.instances.max(1);
    let threads = config.threads_per_worker(cpus.len().max(1));
    env.insert("OMP_NUM_THREADS".into(), threads.to_string());
    let launch: Vec<String> = split_cores(cpus, workers)
        .iter()
        .map(|own| {
            let node = own.first().and_then(|&c| node_of(planned, c));
            match node {
                Some(n) => format!(
                    "numactl --physcpubind={} --membind={n} -- {{command}}",
                    cpu_list(own)
                ),
                None => format!("taskset -c {} {{command}}", cpu_list(own)),
            }
        })
        .collect();
    let allocator = match config.allocator {
        Allocator::Jemalloc => "jemalloc",
        Allocator::Tcmalloc => "tcmalloc",
        Allocator::Glibc | Allocator::GlibcTuned => "default",
    };
    let ipex_launcher = format!(
        "ipexrun --ninstances {workers} --ncores-per-instance {} --memory-allocator {allocator} {{script}}",
        threads * config.streams.max(1)
    );
    if config.streams > 1 {
        notes.push(format!(
            "{} streams per instance: IPEX's runtime extension (ipex.cpu.runtime.MultiStreamModule with {} streams) in Python; one process runs them",
            config.streams, config.streams
        ));
    }
    let library = planned.host.as_ref().and_then(|h| h.ipex.library.clone());
    notes.extend(crate::backend::spec(config.backend).deploy_note(library.as_deref()));
    match config.dtype {
        Dtype::Bf16 => notes.push(
            "bf16: the saved module holds the casts; inputs stay fp32 unless the model takes bf16"
                .into(),
        ),
        // Inductor's packages were compiled under autocast (its own note).
        Dtype::Bf16Autocast if config.backend != Backend::Inductor => notes.push(
            "bf16-autocast: the saved module has bf16 conv/linear/embedding weights; call it under torch.autocast(\"cpu\", dtype=torch.bfloat16), as IPEX's recipe does"
                .into(),
        ),
        _ => {}
    }
    if !save_asked {
        notes.push("the optimized module is not saved: run with --save-optimized PATH".into());
    }
    Deploy {
        config: config.label(),
        env,
        launch,
        ipex_launcher,
        saved_module: saved,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_fold_ranges() {
        assert_eq!(cpu_list(&[0, 1, 2, 3]), "0-3");
        assert_eq!(cpu_list(&[0, 2, 4]), "0,2,4");
        assert_eq!(cpu_list(&[0, 1, 5, 6, 7, 9]), "0-1,5-7,9");
        assert_eq!(cpu_list(&[]), "");
    }
}
