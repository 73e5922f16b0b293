//! Shared helpers for the integration tests: one command builder, fixture paths.
#![allow(dead_code)]

use std::path::PathBuf;

use assert_cmd::Command;

/// An IPEX_TUNE_PYTHON that does not exist: the inductor backend is
/// unavailable, as on a host without the project's Python.
pub const WITHOUT_INDUCTOR: &str = "/nonexistent/ipex-tune-tests-without-inductor";

/// The real `ipex-tune` binary.
pub fn ipex_tune() -> Command {
    let mut cmd = Command::cargo_bin("ipex-tune").expect("binary built");
    // Tests must not depend on a user's IPEX override or preload.
    cmd.env_remove("IPEX_TUNE_IPEX_LIBRARY")
        .env_remove("LD_PRELOAD");
    // The inductor backend compiles for tens of seconds per shape: only the
    // tests of that backend (ipex_tune_with_inductor) let a run find its
    // Python; elsewhere the rule inductor-unavailable takes it out, on
    // every host alike.
    cmd.env("IPEX_TUNE_PYTHON", WITHOUT_INDUCTOR);
    // Tests run side by side and time nothing that matters: each command
    // gets its own core-lock folder (the lock tests share one on purpose).
    cmd.env("IPEX_TUNE_LOCK_DIR", own_lock_dir());
    cmd
}

/// `ipex-tune` started by bash under a resource limit (e.g. "ulimit -f 4"),
/// which its trial children inherit.
pub fn ipex_tune_limited(limit: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.env_remove("IPEX_TUNE_IPEX_LIBRARY")
        .env_remove("LD_PRELOAD")
        .env("IPEX_TUNE_PYTHON", WITHOUT_INDUCTOR)
        .env("IPEX_TUNE_LOCK_DIR", own_lock_dir())
        .arg("-c")
        .arg(format!("{limit}; exec \"$0\" \"$@\""))
        .arg(assert_cmd::cargo::cargo_bin("ipex-tune"));
    cmd
}

/// A fresh folder under the target directory for one command's core locks.
pub fn own_lock_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "locks-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// The facts tests/fixtures/generate.py computed with Python's torch.
pub fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("valid JSON")
}

/// Asserts the run failed as a user error should: exit code 2, exactly one
/// line on stderr that mentions `needle`, no panic or backtrace.
pub fn assert_one_line_user_error(output: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "expected exit code 2, got {:?}; stderr: {stderr}",
        output.status
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {stderr}");
    assert!(
        lines[0].contains(needle),
        "{:?} does not mention {needle:?}",
        lines[0]
    );
    assert!(
        !stderr.contains("panicked")
            && !stderr.contains("backtrace")
            && !stderr.contains("Exception raised from")
    );
}

/// What the kernel says about this host. Tests that look at the real host
/// compare with these, never with a remembered machine: this machine kind
/// has been an AVX2-only EPYC, an AVX-512 + AVX512_BF16 EPYC and an AMX Xeon.
pub mod host {
    /// Whether the first processor's /proc/cpuinfo flags hold `flag`.
    pub fn cpuinfo_has(flag: &str) -> bool {
        std::fs::read_to_string("/proc/cpuinfo")
            .unwrap()
            .lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|l| l.split_whitespace().any(|f| f == flag))
    }

    /// The CPUs of this process's affinity mask (/proc/self/status
    /// `Cpus_allowed_list`, e.g. "0-3,8").
    pub fn affinity() -> Vec<u64> {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_string();
        parse_cpu_list(&list)
    }

    /// "0-3,8" -> [0, 1, 2, 3, 8] (the kernel's cpulist format).
    pub fn parse_cpu_list(list: &str) -> Vec<u64> {
        list.split(',')
            .filter(|p| !p.is_empty())
            .flat_map(|part| match part.split_once('-') {
                Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect::<Vec<u64>>(),
                None => vec![part.parse().unwrap()],
            })
            .collect()
    }

    /// The cgroup v2 CPU quota in CPUs (cpu.max), None when unlimited.
    fn cgroup_cpu_quota() -> Option<f64> {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
        let max = std::fs::read_to_string(
            std::path::Path::new("/sys/fs/cgroup")
                .join(path.trim_start_matches('/'))
                .join("cpu.max"),
        )
        .ok()?;
        let mut parts = max.split_whitespace();
        let quota = parts.next()?;
        let period: f64 = parts.next()?.parse().ok()?;
        (quota != "max").then(|| quota.parse::<f64>().ok().map(|q| q / period))?
    }

    /// Cores a benchmark may use: the affinity mask capped by the quota.
    pub fn usable_cores() -> u64 {
        let by_quota = cgroup_cpu_quota().map_or(u64::MAX, |q| q.floor().max(1.0) as u64);
        (affinity().len() as u64).min(by_quota).max(1)
    }

    /// NUMA nodes the kernel lists under /sys/devices/system/node (1 when
    /// the kernel has no NUMA support compiled in).
    pub fn numa_nodes() -> usize {
        std::fs::read_dir("/sys/devices/system/node")
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.strip_prefix("node")
                            .is_some_and(|n| n.parse::<u32>().is_ok())
                    })
                    .count()
            })
            .unwrap_or(0)
            .max(1)
    }

    /// A thread-count label part that fits this host: `t{usable cores}`.
    pub fn all_threads() -> String {
        format!("t{}", usable_cores())
    }
}

/// Runs `ipex-tune run ARGS --output TMP` (adding `env` variables), asserts
/// it succeeded, and returns the results file.
pub fn run_results(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let mut cmd = ipex_tune();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd
        .arg("run")
        .args(args)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).expect("valid JSON")
}

/// The trial of `results` with this label.
pub fn trial<'a>(results: &'a serde_json::Value, label: &str) -> &'a serde_json::Value {
    results["trials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == label)
        .unwrap_or_else(|| panic!("no trial {label}: {results}"))
}
