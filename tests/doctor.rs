//! `ipex-tune doctor` on this host (real profile) and on recorded host facts
//! (snapshots).
mod common;

use common::host::{affinity, cpuinfo_has, numa_nodes, usable_cores};
use common::{fixture, ipex_tune};
use serde_json::Value;

fn doctor_json(cmd: &mut assert_cmd::Command) -> (Value, i32) {
    let output = cmd
        .args(["doctor", "--json", "--sample-ms", "50"])
        .output()
        .unwrap();
    let json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (json, output.status.code().unwrap())
}

fn check<'a>(report: &'a Value, rule: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == rule)
        .unwrap_or_else(|| panic!("no check {rule}"))
}

#[test]
fn profiles_this_host_truthfully() {
    let (report, code) = doctor_json(&mut ipex_tune());
    assert_eq!(code, 0, "no FAIL on a provisioned host");
    let host = &report["host"];
    // Every ISA fact as the kernel reports it: this machine kind has been an
    // AVX2-only EPYC, an AVX-512 + AVX512_BF16 EPYC and an AMX Xeon.
    for (fact, flag) in [
        ("avx2", "avx2"),
        ("avx512f", "avx512f"),
        ("avx512_vnni", "avx512_vnni"),
        ("avx512_bf16", "avx512_bf16"),
        ("avx512_fp16", "avx512_fp16"),
        ("amx_bf16", "amx_bf16"),
        ("amx_int8", "amx_int8"),
    ] {
        assert_eq!(
            host["isa"][fact],
            cpuinfo_has(flag),
            "host.isa.{fact} vs /proc/cpuinfo flag {flag}"
        );
    }
    assert_eq!(host["limits"]["usable_cores"], usable_cores());
    assert_eq!(
        host["limits"]["affinity"],
        serde_json::json!(affinity()),
        "the affinity mask as /proc/self/status lists it"
    );
    assert_eq!(
        host["topology"]["numa_nodes"].as_array().unwrap().len(),
        numa_nodes(),
        "NUMA nodes as sysfs lists them"
    );
    assert_eq!(host["torch"]["version"], "2.7.0");
    assert_eq!(
        host["torch"]["cuda_compiled"], true,
        "the PyPI wheel is a CUDA build"
    );
    assert_eq!(host["torch"]["llvm"], false, "the PyPI wheel has no LLVM");
    assert_eq!(host["ipex"]["compatible"], true);
    assert_eq!(host["ipex"]["version"], "2.7.0+cpu");
    assert_eq!(check(&report, "ipex-version-mismatch")["status"], "PASS");
}

#[test]
fn taskset_limits_the_usable_cores() {
    // The first CPU this process may use (a container need not have CPU 0).
    let cpu = affinity()[0];
    let output = std::process::Command::new("taskset")
        .args(["-c", &cpu.to_string()])
        .arg(assert_cmd::cargo::cargo_bin("ipex-tune"))
        .args(["doctor", "--json", "--sample-ms", "50"])
        .env_remove("IPEX_TUNE_IPEX_LIBRARY")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["host"]["limits"]["usable_cores"], 1);
    assert_eq!(
        report["host"]["limits"]["affinity"],
        serde_json::json!([cpu])
    );
}

#[test]
fn omp_num_threads_above_the_usable_cores_warns() {
    let (report, code) = doctor_json(ipex_tune().env("OMP_NUM_THREADS", "8"));
    assert_eq!(code, 0, "a warning does not fail");
    let c = check(&report, "omp-threads-above-usable-cores");
    assert_eq!(c["status"], "WARN");
    assert!(c["facts"].to_string().contains("env.OMP_NUM_THREADS"));
}

#[test]
fn onednn_isa_cap_makes_bf16_unavailable_to_onednn() {
    let (report, _) = doctor_json(ipex_tune().env("ONEDNN_MAX_CPU_ISA", "AVX2"));
    assert_eq!(report["host"]["onednn_bf16"], false);
    assert_eq!(report["host"]["env"]["ONEDNN_MAX_CPU_ISA"], "AVX2");
    // On a host with native bf16 the cap is a warning of its own.
    if cpuinfo_has("avx512_bf16") {
        assert_eq!(
            check(&report, "bf16-capped-by-onednn-isa")["status"],
            "WARN"
        );
    }
}

#[test]
fn a_fail_makes_the_exit_code_one() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("hosts/epyc-avx2-2core.json")).unwrap();
    let mut facts: Value = serde_json::from_str(&text).unwrap();
    facts["ipex.compatible"] = Value::Bool(false);
    let path = dir.path().join("facts.json");
    std::fs::write(&path, facts.to_string()).unwrap();
    let output = ipex_tune()
        .args(["doctor", "--host-facts"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("FAIL ipex-version-mismatch"), "{stdout}");
}

#[test]
fn checks_snapshot_on_recorded_hosts() {
    for host in ["epyc-avx2-2core", "epyc-avx512bf16-2core", "xeon-amx-2core"] {
        let output = ipex_tune()
            .args(["doctor", "--host-facts"])
            .arg(fixture(&format!("hosts/{host}.json")))
            .output()
            .unwrap();
        assert!(output.status.success());
        insta::assert_snapshot!(
            format!("doctor_{}", host.replace('-', "_")),
            String::from_utf8_lossy(&output.stdout)
        );
    }
}
