//! The `host` stage: everything about the machine and process that decides
//! how a model should run here — CPU and ISA, topology, memory, what this
//! process may use, how quiet the host is, the torch/IPEX build, and the
//! environment. Produces a [`HostProfile`].
pub mod cache;
pub mod env;
pub mod inductor;
pub mod ipex;
pub mod isa;
pub mod limits;
pub mod memory;
pub mod quiet;
pub mod topology;
pub mod torch;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use inductor::InductorInfo;
pub use ipex::IpexInfo;
pub use torch::TorchBuild;

/// The host half of the rule engine's facts.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostProfile {
    pub hostname: String,
    pub kernel: String,
    pub cpu: isa::Cpu,
    pub isa: isa::Isa,
    /// IPEX-style level: AVX2, AVX512, AVX512_VNNI, AVX512_BF16 or AMX.
    pub isa_level: String,
    pub topology: Option<topology::Topology>,
    pub memory: memory::Memory,
    pub limits: limits::Limits,
    pub quietness: quiet::Quietness,
    pub torch: TorchBuild,
    pub ipex: IpexInfo,
    /// The inductor backend's tools (Python torch, C++ compiler).
    #[serde(default)]
    pub inductor: InductorInfo,
    /// Relevant environment variables that are set.
    pub env: BTreeMap<String, String>,
    /// Whether oneDNN may use native bf16 here: the CPU has it and
    /// ONEDNN_MAX_CPU_ISA does not cap it away.
    pub onednn_bf16: bool,
}

impl HostProfile {
    /// Profiles this host. `quiet_sample` is how long to watch other processes.
    pub fn detect(quiet_sample: Duration) -> anyhow::Result<HostProfile> {
        let (cpu, isa) = isa::detect();
        let env = env::detect();
        let torch = TorchBuild::read()?;
        let ipex = ipex::info(&torch);
        let inductor = inductor::info(&torch);
        let onednn_bf16 = isa.native_bf16()
            && env::onednn_isa_cap(&env)
                .is_none_or(|cap| cap >= env::onednn_isa_rank("AVX512_CORE_BF16").unwrap_or(0));
        Ok(HostProfile {
            hostname: sysinfo::System::host_name().unwrap_or_default(),
            kernel: sysinfo::System::kernel_version().unwrap_or_default(),
            isa_level: isa.level().name().to_string(),
            cpu,
            isa,
            topology: topology::detect(),
            memory: memory::detect(),
            limits: limits::detect(),
            quietness: quiet::measure(quiet_sample),
            torch,
            ipex,
            inductor,
            env,
            onednn_bf16,
        })
    }

    /// NUMA nodes (1 when hwloc could not tell).
    pub fn numa_nodes(&self) -> usize {
        self.topology
            .as_ref()
            .map(|t| t.numa_nodes.len().max(1))
            .unwrap_or(1)
    }

    /// Physical cores of the machine (hwloc; else usable cores).
    pub fn physical_cores(&self) -> u32 {
        self.topology
            .as_ref()
            .map(|t| t.cores_physical)
            .unwrap_or(self.limits.usable_cores)
    }
}
