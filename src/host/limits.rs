//! What this process may actually use: its CPU affinity mask and its cgroup's
//! CPU quota and memory limit (containers routinely give fewer cores than the
//! hardware has).
use serde::{Deserialize, Serialize};

use crate::native;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Limits {
    /// Logical CPUs in this process's affinity mask.
    pub affinity: Vec<u32>,
    /// cgroup v2 cpu.max as a number of CPUs (quota / period); None when unlimited.
    pub cgroup_cpu_quota: Option<f64>,
    /// cgroup v2 memory.max in bytes; None when unlimited.
    pub cgroup_memory_limit: Option<u64>,
    /// Cores a benchmark may use: the affinity mask, capped by the CPU quota
    /// (rounded down, at least 1).
    pub usable_cores: u32,
}

/// Parses cgroup v2 `cpu.max` ("max 100000" or "200000 100000").
pub fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota = parts.next()?;
    let period: f64 = parts.next()?.parse().ok()?;
    if quota == "max" || period <= 0.0 {
        return None;
    }
    Some(quota.parse::<f64>().ok()? / period)
}

/// Parses cgroup v2 `memory.max` ("max" or bytes).
pub fn parse_memory_max(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" {
        None
    } else {
        t.parse().ok()
    }
}

/// The cgroup v2 directory of this process, from /proc/self/cgroup ("0::/path").
fn cgroup_dir() -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')))
}

/// Usable cores from the affinity mask and CPU quota.
pub fn usable_cores(affinity: usize, quota: Option<f64>) -> u32 {
    let by_quota = quota
        .map(|q| q.floor().max(1.0) as usize)
        .unwrap_or(usize::MAX);
    affinity.min(by_quota).max(1) as u32
}

pub fn detect() -> Limits {
    let affinity = native::os::affinity().unwrap_or_default();
    let dir = cgroup_dir();
    let read = |name: &str| {
        dir.as_ref()
            .and_then(|d| std::fs::read_to_string(d.join(name)).ok())
    };
    let cgroup_cpu_quota = read("cpu.max").and_then(|t| parse_cpu_max(&t));
    let cgroup_memory_limit = read("memory.max").and_then(|t| parse_memory_max(&t));
    Limits {
        usable_cores: usable_cores(affinity.len(), cgroup_cpu_quota),
        affinity,
        cgroup_cpu_quota,
        cgroup_memory_limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("150000 100000"), Some(1.5));
        assert_eq!(parse_cpu_max("garbage"), None);
    }

    #[test]
    fn memory_max() {
        assert_eq!(parse_memory_max("max\n"), None);
        assert_eq!(parse_memory_max("1073741824\n"), Some(1 << 30));
    }

    #[test]
    fn quota_caps_the_affinity_mask() {
        assert_eq!(usable_cores(8, None), 8);
        assert_eq!(usable_cores(8, Some(1.5)), 1);
        assert_eq!(usable_cores(2, Some(4.0)), 2);
        assert_eq!(usable_cores(4, Some(0.5)), 1);
    }
}
