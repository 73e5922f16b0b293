//! Building the fact namespace from the stages before the rules: the host
//! profile, the model facts, the suite and the run settings.
use super::facts::Facts;
use crate::config::Allocator;
use crate::host::HostProfile;
use crate::model::ModelFacts;
use crate::suite::{InputKind, Suite};

const MIB: f64 = 1024.0 * 1024.0;

/// host.*, env.*, torch.*, ipex.* facts. Long on purpose: one flat list,
/// one line per fact, so `rules facts` and this function read alike.
pub fn host_facts(host: &HostProfile) -> Facts {
    let mut f = Facts::new();
    let isa = &host.isa;
    f.set("host.vendor", host.cpu.vendor.as_str());
    f.set("host.isa.level", host.isa_level.as_str());
    f.set("host.isa.avx2", isa.avx2);
    f.set("host.isa.avx512f", isa.avx512f);
    f.set("host.isa.avx512_vnni", isa.avx512_vnni);
    f.set("host.isa.avx512_bf16", isa.avx512_bf16);
    f.set("host.isa.avx512_fp16", isa.avx512_fp16);
    f.set("host.isa.amx_bf16", isa.amx_bf16);
    f.set("host.isa.amx_int8", isa.amx_int8);
    f.set("host.isa.native_bf16", isa.native_bf16());
    f.set("host.onednn.bf16", host.onednn_bf16);
    f.set("host.numa.nodes", host.numa_nodes());
    let cores_per_node = host
        .topology
        .as_ref()
        .and_then(|t| {
            t.numa_nodes
                .iter()
                .map(|n| {
                    t.cores
                        .iter()
                        .filter(|c| c.iter().any(|cpu| n.cpus.contains(cpu)))
                        .count()
                })
                .filter(|&c| c > 0)
                .min()
        })
        .unwrap_or(host.physical_cores() as usize);
    f.set("host.numa.cores_per_node", cores_per_node);
    f.set("host.cores.physical", host.physical_cores());
    f.set(
        "host.cores.logical",
        host.topology
            .as_ref()
            .map(|t| t.cores_logical)
            .unwrap_or(host.limits.usable_cores),
    );
    f.set("host.cores.usable", host.limits.usable_cores);
    if let Some(q) = host.limits.cgroup_cpu_quota {
        f.set("host.cpu_quota", q);
    }
    f.set(
        "host.memory.total_mib",
        (host.memory.total_bytes as f64 / MIB).round(),
    );
    f.set(
        "host.memory.available_mib",
        (host.memory.available_bytes as f64 / MIB).round(),
    );
    if let Some(limit) = host.limits.cgroup_memory_limit {
        f.set("host.memory.limit_mib", (limit as f64 / MIB).round());
    }
    if let Some(thp) = &host.memory.transparent_hugepages {
        f.set("host.thp", thp.as_str());
    }
    f.set("host.gpu", std::path::Path::new("/dev/nvidia0").exists());
    f.set("host.load.avg1", host.quietness.load_1m);
    f.set(
        "host.load.others_cpu_percent",
        (host.quietness.others_cpu_percent * 10.0).round() / 10.0,
    );
    for (name, value) in &host.env {
        f.set(&format!("env.{name}"), value.as_str());
    }
    let preload = host.env.get("LD_PRELOAD").map(String::as_str).unwrap_or("");
    // The preloaded library's file name contains the allocator's name
    // (libjemalloc.so.2, libtcmalloc_minimal.so.4).
    let allocator = [Allocator::Jemalloc, Allocator::Tcmalloc]
        .into_iter()
        .find(|a| preload.contains(a.name()))
        .unwrap_or(Allocator::Glibc);
    f.set("env.allocator", allocator.name());
    let torch = &host.torch;
    f.set("torch.version", torch.version.as_str());
    f.set("torch.major_minor", torch.major_minor());
    f.set("torch.cuda_build", torch.cuda_compiled);
    f.set("torch.mkldnn", torch.mkldnn);
    f.set("torch.openmp", torch.openmp);
    f.set("torch.llvm", torch.llvm);
    f.set("torch.default_threads", torch.num_threads);
    f.set("ipex.available", host.ipex.library.is_some());
    f.set("ipex.compatible", host.ipex.compatible);
    if let Some(v) = &host.ipex.version {
        f.set("ipex.version", v.as_str());
    }
    let inductor = &host.inductor;
    f.set("inductor.available", inductor.available);
    f.set(
        "inductor.python_torch",
        inductor.torch_version.is_some()
            && inductor
                .torch_version
                .as_deref()
                .and_then(|v| v.split('+').next())
                == torch.version.split('+').next(),
    );
    f.set("inductor.compiler", inductor.compiler.is_some());
    f
}

/// model.* facts.
pub fn model_facts(model: &ModelFacts, available_memory_bytes: u64) -> Facts {
    let mut f = Facts::new();
    f.set("model.method", model.method.as_str());
    f.set("model.custom_method", model.method != "forward");
    for group in crate::model::group_names() {
        f.set(
            &format!("model.group.{group}"),
            model.op_groups.get(group).copied().unwrap_or(0),
        );
    }
    for (kind, count) in &model.ops {
        f.set(&format!("model.ops.{kind}"), *count);
    }
    let cf = &model.control_flow;
    f.set(
        "model.control_flow.data_dependent",
        cf.data_dependent_if + cf.data_dependent_loop > 0,
    );
    f.set("model.control_flow.loops", cf.loop_count);
    let group = |g: &str| model.op_groups.get(g).copied().unwrap_or(0);
    f.set(
        "model.transformer_encoder",
        group("attention") > 0 && group("layer_norm") > 0,
    );
    f.set("model.rnnt_like", group("rnn") > 0 && cf.loop_count > 0);
    let bytes = model.parameters.bytes + model.buffers.bytes;
    f.set(
        "model.params_mib",
        (bytes as f64 / MIB * 100.0).round() / 100.0,
    );
    f.set(
        "model.params_fraction_of_available_memory",
        if available_memory_bytes > 0 {
            bytes as f64 / available_memory_bytes as f64
        } else {
            0.0
        },
    );
    f.set("model.has_ipex_ops", !model.ipex_ops.is_empty());
    f
}

/// suite.* facts.
pub fn suite_facts(suite: &Suite) -> Facts {
    let mut f = Facts::new();
    f.set("suite.name", suite.name.as_str());
    f.set("suite.dynamic_shapes", suite.dynamic_shapes());
    f.set("suite.batch_size", suite.max_batch() as f64);
    if suite.inputs.iter().any(|i| i.kind == InputKind::BagIndices) {
        f.set(
            "suite.embedding_bag_max_bag_size",
            suite.bags.as_ref().map(|b| b.max).unwrap_or(1) as f64,
        );
    }
    f.set("suite.max_abs_input", suite.max_abs_input());
    // The batch's tensors are the arguments, in order (no values, defaults
    // or lists of tensors in the call).
    f.set("suite.plain_call", suite.call.is_empty());
    f
}

/// run.* facts.
pub fn run_facts(threads: usize) -> Facts {
    let mut f = Facts::new();
    f.set("run.threads", threads);
    f
}
