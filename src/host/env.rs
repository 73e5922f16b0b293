//! Environment variables that change how libtorch, OpenMP, oneDNN and the
//! allocator behave.
use std::collections::BTreeMap;

/// The variables the doctor and the rules look at.
pub const VARIABLES: &[&str] = &[
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "KMP_AFFINITY",
    "KMP_BLOCKTIME",
    "OMP_PROC_BIND",
    "OMP_SCHEDULE",
    "GOMP_CPU_AFFINITY",
    "LD_PRELOAD",
    "MALLOC_CONF",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_VERBOSE",
    "DNNL_VERBOSE",
];

/// The set variables among [`VARIABLES`].
pub fn detect() -> BTreeMap<String, String> {
    VARIABLES
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.to_string(), v)))
        .collect()
}

/// oneDNN's ISA cap from ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA), ordered
/// as oneDNN orders them; None when unset or ALL.
pub fn onednn_isa_cap(env: &BTreeMap<String, String>) -> Option<u32> {
    let value = env
        .get("ONEDNN_MAX_CPU_ISA")
        .or_else(|| env.get("DNNL_MAX_CPU_ISA"))?;
    onednn_isa_rank(value)
}

/// Rank of a oneDNN ISA name; higher means more capable.
pub fn onednn_isa_rank(name: &str) -> Option<u32> {
    Some(match name.trim().to_ascii_uppercase().as_str() {
        "SSE41" => 1,
        "AVX" => 2,
        "AVX2" => 3,
        "AVX2_VNNI" => 4,
        "AVX2_VNNI_2" => 5,
        "AVX512_CORE" => 6,
        "AVX512_CORE_VNNI" => 7,
        "AVX512_CORE_BF16" => 8,
        "AVX10_1_512" | "AVX512_CORE_FP16" => 9,
        "AVX10_1_512_AMX" | "AVX512_CORE_AMX" => 10,
        "AVX10_1_512_AMX_FP16" | "AVX512_CORE_AMX_FP16" => 11,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isa_cap_is_ordered() {
        let env: BTreeMap<String, String> =
            [("ONEDNN_MAX_CPU_ISA".to_string(), "avx2".to_string())].into();
        assert_eq!(onednn_isa_cap(&env), Some(3));
        assert!(onednn_isa_rank("AVX2").unwrap() < onednn_isa_rank("AVX512_CORE_BF16").unwrap());
        assert_eq!(onednn_isa_rank("ALL"), None);
    }
}
