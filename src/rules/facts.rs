//! The facts rules are written over: one flat namespace (`host.isa.avx512_bf16`,
//! `model.group.conv`, `suite.dynamic_shapes`, `config.dtype`, ...), with a
//! registry of the names and types a rule may use.
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A fact's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Num(f64),
    Str(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Value::Num(n) => write!(f, "{n}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

impl Value {
    /// The value as a number: numbers, and strings that parse as one (an
    /// environment variable such as OMP_NUM_THREADS=8).
    pub fn as_num(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Bool(_) => None,
        }
    }

    /// The type a fact of this value has.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Bool(_) => Kind::Bool,
            Value::Num(_) => Kind::Num,
            Value::Str(_) => Kind::Str,
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Num(n)
    }
}
impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Num(n as f64)
    }
}
impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Num(f64::from(n))
    }
}
impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::Num(n as f64)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

/// A fact's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Num,
    Str,
    /// A number, or a string that may hold one (environment variables).
    Any,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bool => "a boolean",
            Kind::Num => "a number",
            Kind::Str => "a string",
            Kind::Any => "a value",
        }
    }
}

/// A set of facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Facts(pub BTreeMap<String, Value>);

impl Facts {
    pub fn new() -> Facts {
        Facts::default()
    }

    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.0.insert(name.to_string(), value.into());
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// Adds every fact of `other`, replacing existing ones.
    pub fn extend(&mut self, other: &Facts) {
        for (k, v) in &other.0 {
            self.0.insert(k.clone(), v.clone());
        }
    }
}

impl Facts {
    /// Reads facts from a JSON object of name -> value.
    pub fn from_json_file(path: &std::path::Path) -> Result<Facts, crate::error::UserError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            crate::error::UserError::BadValue(format!("{}: cannot read facts: {e}", path.display()))
        })?;
        let facts: Facts = serde_json::from_str(&text).map_err(|e| {
            crate::error::UserError::BadValue(format!(
                "{}: expected a JSON object of fact: value ({e})",
                path.display()
            ))
        })?;
        if let Some(name) = facts.0.keys().find(|k| lookup(k).is_none()) {
            return Err(crate::error::UserError::BadValue(format!(
                "{}: unknown fact '{name}'",
                path.display()
            )));
        }
        Ok(facts)
    }
}

/// Which stage a fact comes from; environment rules (for `doctor`) use only
/// host, env, torch, ipex and inductor facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Environment,
    Model,
    Suite,
    Run,
    Config,
}

/// One entry of the registry: a name (or a prefix ending in '.'), its type,
/// and what it means.
pub struct FactSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
}

const fn fact(name: &'static str, kind: Kind, doc: &'static str) -> FactSpec {
    FactSpec { name, kind, doc }
}

/// Every fact a rule may use. Names ending in '.' are prefixes: any name
/// below them is allowed (op kinds, environment variables).
pub const REGISTRY: &[FactSpec] = &[
    fact("host.vendor", Kind::Str, "CPU vendor (GenuineIntel, AuthenticAMD)"),
    fact("host.isa.level", Kind::Str, "IPEX-style ISA level: DEFAULT, AVX2, AVX512, AVX512_VNNI, AVX512_BF16, AMX"),
    fact("host.isa.avx2", Kind::Bool, "AVX2 usable"),
    fact("host.isa.avx512f", Kind::Bool, "AVX-512F usable (CPU and OS)"),
    fact("host.isa.avx512_vnni", Kind::Bool, "AVX512_VNNI usable"),
    fact("host.isa.avx512_bf16", Kind::Bool, "AVX512_BF16 usable"),
    fact("host.isa.avx512_fp16", Kind::Bool, "AVX512_FP16 usable"),
    fact("host.isa.amx_bf16", Kind::Bool, "AMX-BF16 usable"),
    fact("host.isa.amx_int8", Kind::Bool, "AMX-INT8 usable"),
    fact("host.isa.native_bf16", Kind::Bool, "native bf16 compute (AVX512_BF16 or AMX-BF16)"),
    fact("host.onednn.bf16", Kind::Bool, "oneDNN may use native bf16 (CPU has it and ONEDNN_MAX_CPU_ISA allows it)"),
    fact("host.numa.nodes", Kind::Num, "NUMA nodes"),
    fact("host.numa.cores_per_node", Kind::Num, "physical cores in the smallest NUMA node"),
    fact("host.cores.physical", Kind::Num, "physical cores of the machine"),
    fact("host.cores.logical", Kind::Num, "logical CPUs of the machine"),
    fact("host.cores.usable", Kind::Num, "cores this process may use (affinity mask, cgroup quota)"),
    fact("host.cpu_quota", Kind::Num, "cgroup CPU quota in CPUs (absent when unlimited)"),
    fact("host.memory.total_mib", Kind::Num, "memory of the machine"),
    fact("host.memory.available_mib", Kind::Num, "memory available now"),
    fact("host.memory.limit_mib", Kind::Num, "cgroup memory limit (absent when unlimited)"),
    fact("host.thp", Kind::Str, "transparent huge pages mode: always, madvise, never"),
    fact("host.gpu", Kind::Bool, "an NVIDIA GPU device is present"),
    fact("host.load.avg1", Kind::Num, "1-minute load average"),
    fact("host.load.others_cpu_percent", Kind::Num, "CPU used by other processes while sampling, % of one CPU"),
    fact("env.", Kind::Any, "an environment variable, e.g. env.OMP_NUM_THREADS (absent when unset)"),
    fact("env.allocator", Kind::Str, "allocator preloaded through LD_PRELOAD: jemalloc, tcmalloc or glibc"),
    fact("torch.version", Kind::Str, "libtorch version, e.g. 2.7.0"),
    fact("torch.major_minor", Kind::Str, "libtorch major.minor, e.g. 2.7"),
    fact("torch.cuda_build", Kind::Bool, "libtorch is a CUDA build (the default PyPI wheel)"),
    fact("torch.mkldnn", Kind::Bool, "libtorch has oneDNN (MKLDNN)"),
    fact("torch.openmp", Kind::Bool, "libtorch uses OpenMP"),
    fact("torch.llvm", Kind::Bool, "libtorch has LLVM, so the TensorExpr fuser can compile CPU kernels"),
    fact("torch.default_threads", Kind::Num, "libtorch's default intra-op threads"),
    fact("ipex.available", Kind::Bool, "the IPEX library was found"),
    fact("ipex.compatible", Kind::Bool, "IPEX's major.minor matches libtorch's"),
    fact("ipex.version", Kind::Str, "IPEX version"),
    fact("inductor.available", Kind::Bool, "the inductor backend can run: a Python with libtorch's torch version and a C++ compiler"),
    fact("inductor.python_torch", Kind::Bool, "a Python whose torch is libtorch's version was found (it exports and compiles)"),
    fact("inductor.compiler", Kind::Bool, "a C++ compiler for AOTInductor ($CXX or g++) is on PATH"),
    fact("model.method", Kind::Str, "the entry method"),
    fact("model.custom_method", Kind::Bool, "the entry method is not forward"),
    fact("model.group.", Kind::Num, "ops in a group: conv, linear, matmul, batch_norm, layer_norm, embedding, embedding_bag, rnn, attention, softmax, dropout, quantized, ipex"),
    fact("model.ops.", Kind::Num, "count of an op kind, e.g. model.ops.aten::conv2d"),
    fact("model.control_flow.data_dependent", Kind::Bool, "branches or loops on tensor values"),
    fact("model.control_flow.loops", Kind::Num, "prim::Loop nodes"),
    fact("model.transformer_encoder", Kind::Bool, "attention and layer norm: a transformer encoder"),
    fact("model.rnnt_like", Kind::Bool, "a recurrent layer followed by a loop that calls layers per step (RNNT-like)"),
    fact("model.params_mib", Kind::Num, "parameter and buffer memory"),
    fact("model.params_fraction_of_available_memory", Kind::Num, "parameter memory / available memory"),
    fact("model.has_ipex_ops", Kind::Bool, "the graph already holds IPEX ops"),
    fact("suite.name", Kind::Str, "the suite"),
    fact("suite.dynamic_shapes", Kind::Bool, "inputs come in several shapes"),
    fact("suite.batch_size", Kind::Num, "largest batch size"),
    fact("suite.embedding_bag_max_bag_size", Kind::Num, "largest EmbeddingBag bag size the suite generates"),
    fact("suite.max_abs_input", Kind::Num, "largest absolute input value the suite generates"),
    fact("suite.plain_call", Kind::Bool, "the entry method is called with the batch's tensors alone, in order (no values, defaults or lists of tensors)"),
    fact("run.threads", Kind::Num, "threads the run may use"),
    fact("config.backend", Kind::Str, "candidate knob: stock, ipex or inductor"),
    fact("config.level", Kind::Str, "candidate knob: O0, O1 or O2"),
    fact("config.conv_bn_folding", Kind::Bool, "candidate knob"),
    fact("config.weights_prepack", Kind::Bool, "candidate knob"),
    fact("config.fuser", Kind::Str, "candidate knob: none, texpr, onednn"),
    fact("config.dtype", Kind::Str, "candidate knob: fp32, bf16, bf16-autocast, int8-dynamic, int8-static"),
    fact("config.threads", Kind::Num, "candidate knob: intra-op threads per stream"),
    fact("config.streams", Kind::Num, "candidate knob"),
    fact("config.instances", Kind::Num, "candidate knob"),
    fact("config.allocator", Kind::Str, "candidate knob: glibc, glibc-tuned, jemalloc, tcmalloc"),
    fact("config.batch_divisible_by_streams", Kind::Bool, "every suite batch size splits evenly across the streams"),
];

/// The registry entry for a fact name, if it is known.
pub fn lookup(name: &str) -> Option<&'static FactSpec> {
    REGISTRY
        .iter()
        .find(|s| s.name == name && !s.name.ends_with('.'))
        .or_else(|| {
            REGISTRY
                .iter()
                .filter(|s| {
                    s.name.ends_with('.') && name.starts_with(s.name) && name.len() > s.name.len()
                })
                .max_by_key(|s| s.name.len())
        })
}

/// The scope of a (known) fact name.
pub fn scope(name: &str) -> Scope {
    let root = name.split('.').next().unwrap_or("");
    match root {
        "model" => Scope::Model,
        "suite" => Scope::Suite,
        "run" => Scope::Run,
        "config" => Scope::Config,
        _ => Scope::Environment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_knows_names_and_prefixes() {
        assert_eq!(lookup("host.isa.avx512_bf16").unwrap().kind, Kind::Bool);
        assert_eq!(lookup("model.ops.aten::conv2d").unwrap().name, "model.ops.");
        assert_eq!(lookup("env.OMP_NUM_THREADS").unwrap().kind, Kind::Any);
        assert_eq!(lookup("env.allocator").unwrap().kind, Kind::Str);
        assert!(lookup("host.isa.avx9000").is_none());
        assert!(
            lookup("model.ops.").is_none(),
            "a bare prefix is not a fact"
        );
    }

    #[test]
    fn strings_compare_as_numbers_when_they_hold_one() {
        assert_eq!(Value::from("8").as_num(), Some(8.0));
        assert_eq!(Value::from("eight").as_num(), None);
        assert_eq!(Value::from(2u32).to_string(), "2");
    }

    #[test]
    fn scopes() {
        assert_eq!(scope("env.OMP_NUM_THREADS"), Scope::Environment);
        assert_eq!(scope("torch.llvm"), Scope::Environment);
        assert_eq!(scope("suite.dynamic_shapes"), Scope::Suite);
        assert_eq!(scope("config.dtype"), Scope::Config);
    }
}
