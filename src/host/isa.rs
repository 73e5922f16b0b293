//! CPU identity and instruction-set support, from CPUID cross-checked with
//! what the OS enables (XCR0) and reports (/proc/cpuinfo flags).
use serde::{Deserialize, Serialize};

use crate::native;

/// CPU identity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Cpu {
    pub vendor: String,
    pub model_name: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
}

/// Instruction-set extensions usable by this process: the CPU has them
/// (CPUID), the OS saves their register state (XCR0), and the kernel lists
/// them (/proc/cpuinfo, when readable).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Isa {
    pub sse4_2: bool,
    pub avx2: bool,
    pub fma: bool,
    pub avx512f: bool,
    pub avx512bw: bool,
    pub avx512vl: bool,
    pub avx512dq: bool,
    pub avx512_vnni: bool,
    pub avx512_bf16: bool,
    pub avx512_fp16: bool,
    pub avx_vnni: bool,
    pub amx_tile: bool,
    pub amx_bf16: bool,
    pub amx_int8: bool,
    /// The OS enables AVX-512 state (XCR0 opmask, ZMM_Hi256, Hi16_ZMM).
    pub os_avx512: bool,
    /// The OS enables AMX tile state (XCR0 XTILECFG, XTILEDATA).
    pub os_amx: bool,
    /// CPUID says yes but the OS or kernel says no, e.g. "avx512f (not enabled by the OS)".
    pub disabled_by_os: Vec<String>,
}

/// IPEX-style ISA level, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IsaLevel {
    Default,
    Avx2,
    Avx512,
    Avx512Vnni,
    Avx512Bf16,
    Amx,
}

impl IsaLevel {
    pub fn name(self) -> &'static str {
        match self {
            IsaLevel::Default => "DEFAULT",
            IsaLevel::Avx2 => "AVX2",
            IsaLevel::Avx512 => "AVX512",
            IsaLevel::Avx512Vnni => "AVX512_VNNI",
            IsaLevel::Avx512Bf16 => "AVX512_BF16",
            IsaLevel::Amx => "AMX",
        }
    }
}

impl Isa {
    /// The highest level all of whose extensions are usable.
    pub fn level(&self) -> IsaLevel {
        let avx512 = self.avx512f && self.avx512bw && self.avx512vl && self.avx512dq;
        if avx512 && self.amx_tile && self.amx_bf16 && self.amx_int8 {
            IsaLevel::Amx
        } else if avx512 && self.avx512_vnni && self.avx512_bf16 {
            IsaLevel::Avx512Bf16
        } else if avx512 && self.avx512_vnni {
            IsaLevel::Avx512Vnni
        } else if avx512 {
            IsaLevel::Avx512
        } else if self.avx2 && self.fma {
            IsaLevel::Avx2
        } else {
            IsaLevel::Default
        }
    }

    /// Native bf16 compute (AVX512_BF16 or AMX-BF16). Without it, bf16 is
    /// emulated and slower than fp32.
    pub fn native_bf16(&self) -> bool {
        self.avx512_bf16 || self.amx_bf16
    }
}

/// Raw CPUID answers, before the OS cross-check.
#[derive(Debug, Clone, Default)]
pub struct CpuidFeatures {
    pub sse4_2: bool,
    pub avx2: bool,
    pub fma: bool,
    pub avx512f: bool,
    pub avx512bw: bool,
    pub avx512vl: bool,
    pub avx512dq: bool,
    pub avx512_vnni: bool,
    pub avx512_bf16: bool,
    pub avx512_fp16: bool,
    pub avx_vnni: bool,
    pub amx_tile: bool,
    pub amx_bf16: bool,
    pub amx_int8: bool,
}

/// XCR0 bits: 5-7 AVX-512 state; 17-18 AMX tile state; 1-2 SSE/AVX state.
const XCR0_AVX: u64 = 0b110;
const XCR0_AVX512: u64 = 0b1110_0000;
const XCR0_AMX: u64 = (1 << 17) | (1 << 18);

/// Combines CPUID, XCR0 and the kernel's flags (None when /proc/cpuinfo is
/// unreadable). Pure, so the cross-check is testable.
pub fn cross_check(cpuid: &CpuidFeatures, xcr0: Option<u64>, flags: Option<&[String]>) -> Isa {
    let xcr0 = xcr0.unwrap_or(0);
    let os_avx = xcr0 & XCR0_AVX == XCR0_AVX;
    let os_avx512 = os_avx && xcr0 & XCR0_AVX512 == XCR0_AVX512;
    let os_amx = xcr0 & XCR0_AMX == XCR0_AMX;
    let mut disabled = Vec::new();
    let mut usable = |name: &str, cpu: bool, os: bool, flag: &str| -> bool {
        let listed = flags.is_none_or(|f| f.iter().any(|x| x == flag));
        if cpu && !os {
            disabled.push(format!("{name} (state not enabled by the OS)"));
        } else if cpu && !listed {
            disabled.push(format!("{name} (not in /proc/cpuinfo flags)"));
        }
        cpu && os && listed
    };
    Isa {
        sse4_2: usable("sse4_2", cpuid.sse4_2, true, "sse4_2"),
        avx2: usable("avx2", cpuid.avx2, os_avx, "avx2"),
        fma: usable("fma", cpuid.fma, os_avx, "fma"),
        avx512f: usable("avx512f", cpuid.avx512f, os_avx512, "avx512f"),
        avx512bw: usable("avx512bw", cpuid.avx512bw, os_avx512, "avx512bw"),
        avx512vl: usable("avx512vl", cpuid.avx512vl, os_avx512, "avx512vl"),
        avx512dq: usable("avx512dq", cpuid.avx512dq, os_avx512, "avx512dq"),
        avx512_vnni: usable("avx512_vnni", cpuid.avx512_vnni, os_avx512, "avx512_vnni"),
        avx512_bf16: usable("avx512_bf16", cpuid.avx512_bf16, os_avx512, "avx512_bf16"),
        avx512_fp16: usable("avx512_fp16", cpuid.avx512_fp16, os_avx512, "avx512_fp16"),
        avx_vnni: usable("avx_vnni", cpuid.avx_vnni, os_avx, "avx_vnni"),
        amx_tile: usable("amx_tile", cpuid.amx_tile, os_amx, "amx_tile"),
        amx_bf16: usable("amx_bf16", cpuid.amx_bf16, os_amx, "amx_bf16"),
        amx_int8: usable("amx_int8", cpuid.amx_int8, os_amx, "amx_int8"),
        os_avx512,
        os_amx,
        disabled_by_os: disabled,
    }
}

/// Reads CPUID on this CPU.
pub fn read_cpuid() -> (Cpu, CpuidFeatures) {
    let cpuid = raw_cpuid::CpuId::new();
    let vendor = cpuid
        .get_vendor_info()
        .map(|v| v.as_str().to_string())
        .unwrap_or_default();
    let model_name = cpuid
        .get_processor_brand_string()
        .map(|b| b.as_str().trim().to_string())
        .unwrap_or_default();
    let (family, model, stepping) = cpuid
        .get_feature_info()
        .map(|f| {
            (
                u32::from(f.family_id()),
                u32::from(f.model_id()),
                u32::from(f.stepping_id()),
            )
        })
        .unwrap_or_default();
    let basic = cpuid.get_feature_info();
    let ext = cpuid.get_extended_feature_info();
    let has = |f: &dyn Fn(&raw_cpuid::ExtendedFeatures) -> bool| ext.as_ref().is_some_and(f);
    let features = CpuidFeatures {
        sse4_2: basic.as_ref().is_some_and(|b| b.has_sse42()),
        fma: basic.as_ref().is_some_and(|b| b.has_fma()),
        avx2: has(&|e| e.has_avx2()),
        avx512f: has(&|e| e.has_avx512f()),
        avx512bw: has(&|e| e.has_avx512bw()),
        avx512vl: has(&|e| e.has_avx512vl()),
        avx512dq: has(&|e| e.has_avx512dq()),
        avx512_vnni: has(&|e| e.has_avx512vnni()),
        avx512_fp16: has(&|e| e.has_avx512_fp16()),
        amx_tile: has(&|e| e.has_amx_tile()),
        amx_bf16: has(&|e| e.has_amx_bf16()),
        amx_int8: has(&|e| e.has_amx_int8()),
        // CPUID leaf 7 sub-leaf 1 (EAX), read together with leaf 7 by raw-cpuid.
        avx512_bf16: has(&|e| e.has_avx512_bf16()),
        avx_vnni: has(&|e| e.has_avx_vnni()),
    };
    (
        Cpu {
            vendor,
            model_name,
            family,
            model,
            stepping,
        },
        features,
    )
}

/// The flags of the first processor in /proc/cpuinfo.
pub fn proc_cpuinfo_flags() -> Option<Vec<String>> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("flags"))?;
    let (_, flags) = line.split_once(':')?;
    Some(flags.split_whitespace().map(str::to_string).collect())
}

/// CPU identity and usable ISA of this host.
pub fn detect() -> (Cpu, Isa) {
    let (cpu, features) = read_cpuid();
    let flags = proc_cpuinfo_flags();
    let isa = cross_check(&features, native::os::xcr0(), flags.as_deref());
    (cpu, isa)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avx512_bf16_cpu() -> CpuidFeatures {
        CpuidFeatures {
            sse4_2: true,
            avx2: true,
            fma: true,
            avx512f: true,
            avx512bw: true,
            avx512vl: true,
            avx512dq: true,
            avx512_vnni: true,
            avx512_bf16: true,
            ..CpuidFeatures::default()
        }
    }

    const XCR0_FULL_AVX512: u64 = 0b1110_0111;

    #[test]
    fn avx512_bf16_host_reaches_that_level() {
        let isa = cross_check(&avx512_bf16_cpu(), Some(XCR0_FULL_AVX512), None);
        assert_eq!(isa.level(), IsaLevel::Avx512Bf16);
        assert!(isa.native_bf16());
        assert!(!isa.amx_bf16);
        assert!(isa.disabled_by_os.is_empty());
    }

    #[test]
    fn os_without_avx512_state_drops_avx512() {
        // A hypervisor that does not enable ZMM state: CPUID says AVX-512, XCR0 does not.
        let isa = cross_check(&avx512_bf16_cpu(), Some(0b111), None);
        assert_eq!(isa.level(), IsaLevel::Avx2);
        assert!(!isa.avx512_bf16);
        assert!(isa.disabled_by_os.iter().any(|d| d.starts_with("avx512f")));
    }

    #[test]
    fn kernel_flags_must_list_the_extension() {
        let flags: Vec<String> = ["sse4_2", "avx2", "fma"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let isa = cross_check(&avx512_bf16_cpu(), Some(XCR0_FULL_AVX512), Some(&flags));
        assert_eq!(isa.level(), IsaLevel::Avx2);
    }

    #[test]
    fn amx_needs_os_tile_state() {
        let cpu = CpuidFeatures {
            amx_tile: true,
            amx_bf16: true,
            amx_int8: true,
            ..avx512_bf16_cpu()
        };
        assert_eq!(
            cross_check(&cpu, Some(XCR0_FULL_AVX512), None).level(),
            IsaLevel::Avx512Bf16
        );
        let with_tiles = XCR0_FULL_AVX512 | (1 << 17) | (1 << 18);
        assert_eq!(
            cross_check(&cpu, Some(with_tiles), None).level(),
            IsaLevel::Amx
        );
    }
}
