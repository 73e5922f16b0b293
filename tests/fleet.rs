//! Sharding a sweep and merging the shards (`run --shard`, `merge`), on the
//! MLP fixture, with the shard index from the flag and from the two
//! schedulers' variables.
mod common;

use std::path::Path;

use common::{assert_one_line_user_error, fixture, ipex_tune};
use serde_json::Value;

/// The fixed list the shards split: six configs, none of them stock.
const CONFIGS: [&str; 6] = [
    "stock/O1+fold+prepack/fp32/glibc",
    "stock/O1+fold/fp32/glibc",
    "stock/O0/fp32/t1/glibc",
    "stock/O1+fold+prepack/fp32/t1/glibc",
    "stock/O0/fp32/jemalloc",
    "stock/O1/fp32/glibc",
];

const SCHEDULER_VARIABLES: [&str; 7] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MAX",
    "JOB_COMPLETION_INDEX",
    "IPEX_TUNE_SHARD_COUNT",
];

/// One shard's run; `how` adds the flag or the scheduler's variables.
fn run_shard(out: &Path, how: &dyn Fn(&mut assert_cmd::Command)) -> Value {
    let mut cmd = ipex_tune();
    for v in SCHEDULER_VARIABLES {
        cmd.env_remove(v);
    }
    cmd.arg("run")
        .arg(fixture("mlp.pt"))
        .args(["--suite", "generic", "--input-shape", "16x512"])
        .args(["--min-time", "0.1", "--quiet", "-o"])
        .arg(out);
    for c in CONFIGS {
        cmd.args(["--config", c]);
    }
    how(&mut cmd);
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    read(out)
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn merge(files: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    ipex_tune()
        .arg("merge")
        .args(files)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn labels(r: &Value) -> Vec<String> {
    r["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn three_shards_merge_into_the_unsharded_set() {
    let dir = tempfile::tempdir().unwrap();
    let shard = |i: usize| dir.path().join(format!("shard{i}.json"));
    // Shard 1 from the flag, 2 from a Slurm array (ids 4..6), 3 from a
    // Kubernetes Indexed Job (0-based index, the count from the env).
    let s1 = run_shard(&shard(1), &|c| {
        c.args(["--shard", "1/3"]);
    });
    let s2 = run_shard(&shard(2), &|c| {
        c.env("SLURM_ARRAY_TASK_ID", "5")
            .env("SLURM_ARRAY_TASK_MIN", "4")
            .env("SLURM_ARRAY_TASK_COUNT", "3");
    });
    let s3 = run_shard(&shard(3), &|c| {
        c.env("JOB_COMPLETION_INDEX", "2")
            .env("IPEX_TUNE_SHARD_COUNT", "3");
    });
    for (i, s) in [(1, &s1), (2, &s2), (3, &s3)] {
        assert_eq!(s["shard"]["index"], i);
        assert_eq!(s["shard"]["count"], 3);
        assert_eq!(
            labels(s)[0],
            "stock/O0/fp32/glibc",
            "stock first in every shard"
        );
    }
    assert_eq!(s2["shard"]["source"], "SLURM_ARRAY_TASK_ID=5");
    assert_eq!(s3["shard"]["source"], "JOB_COMPLETION_INDEX=2");

    let merged_path = dir.path().join("merged.json");
    let out = merge(&[&shard(3), &shard(1), &shard(2)], &merged_path, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = read(&merged_path);
    assert_eq!(merged["schema"], "ipex-tune/results/v2");
    let mut measured: Vec<String> = labels(&merged)
        .into_iter()
        .filter(|l| l != "stock/O0/fp32/glibc")
        .collect();
    measured.sort();
    let mut expected: Vec<String> = CONFIGS.iter().map(|c| c.to_string()).collect();
    expected.sort();
    assert_eq!(measured, expected, "exactly the unsharded set of configs");
    // Stock from each shard, each trial tagged with its shard.
    for i in 1..=3 {
        assert!(merged["trials"].as_array().unwrap().iter().any(|t| {
            t["shard"] == i && t["label"] == "stock/O0/fp32/glibc" && t["speedup"] == 1.0
        }));
    }
    let winner = &merged["winner"];
    let trial = &merged["trials"][winner["trial"].as_u64().unwrap() as usize];
    assert_eq!(trial["label"], winner["label"]);
    assert_eq!(trial["accurate"], true);
    assert_eq!(merged["complete"], true);
    assert_eq!(merged["merged"]["shard_count"], 3);
    // The merged file is a results file like any other.
    let report = ipex_tune()
        .arg("report")
        .arg(&merged_path)
        .output()
        .unwrap();
    assert!(report.status.success());
    assert!(String::from_utf8_lossy(&report.stdout).contains("merged from 3 file(s) of 3 shard(s)"));

    // A missing shard: the merge is written, marked incomplete, exit 1
    // (0 with --allow-missing), and the shard is named.
    let partial = dir.path().join("partial.json");
    let out = merge(&[&shard(1), &shard(3)], &partial, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shard(s) 2 of 3 missing"), "{stderr}");
    let r = read(&partial);
    assert_eq!(r["complete"], false);
    assert_eq!(r["merged"]["missing_shards"], serde_json::json!([2]));
    let out = merge(&[&shard(1), &shard(3)], &partial, &["--allow-missing"]);
    assert_eq!(out.status.code(), Some(0));

    // A duplicate shard is left out and named.
    let out = merge(&[&shard(1), &shard(2), &shard(3), &shard(2)], &partial, &[]);
    assert!(out.status.success());
    assert_eq!(
        read(&partial)["merged"]["duplicates"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Another host type (the same run, recorded as from an AVX2 host): kept
    // apart, one merged file per host type, each with the host x winner table.
    let mut other = s2.clone();
    other["facts"]["host.isa.level"] = "AVX2".into();
    other["host"]["cpu"]["model_name"] = "Intel Xeon (test)".into();
    other["shard"] = Value::Null;
    let other_path = dir.path().join("other-host.json");
    std::fs::write(&other_path, serde_json::to_string(&other).unwrap()).unwrap();
    let fleet = dir.path().join("fleet.json");
    let out = merge(&[&shard(1), &shard(2), &shard(3), &other_path], &fleet, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Intel Xeon (test), AVX2"), "{stdout}");
    for k in [1, 2] {
        let r = read(&dir.path().join(format!("fleet.host{k}.json")));
        assert_eq!(r["merged"]["host_types"].as_array().unwrap().len(), 2);
        assert!(r["winner"]["label"].is_string());
    }
    assert!(
        !fleet.exists(),
        "with two host types, one file per host type"
    );

    // Another model is refused, naming the file.
    let mut model = s2.clone();
    model["model"]["sha256"] = "0".repeat(64).into();
    let model_path = dir.path().join("other-model.json");
    std::fs::write(&model_path, serde_json::to_string(&model).unwrap()).unwrap();
    let out = merge(&[&shard(1), &model_path], &partial, &[]);
    assert_one_line_user_error(&out, "other-model.json: another model");
}

#[test]
fn bad_shards_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let base = |cmd: &mut assert_cmd::Command| {
        for v in SCHEDULER_VARIABLES {
            cmd.env_remove(v);
        }
        cmd.arg("run")
            .arg(fixture("mlp.pt"))
            .args(["--suite", "generic", "--input-shape", "16x512", "-o"])
            .arg(dir.path().join("r.json"));
    };
    let mut flag = ipex_tune();
    base(&mut flag);
    let out = flag.args(["--shard", "4/3"]).output().unwrap();
    assert_one_line_user_error(&out, "expected I/N with 1 <= I <= N");
    let mut k8s = ipex_tune();
    base(&mut k8s);
    let out = k8s.env("JOB_COMPLETION_INDEX", "1").output().unwrap();
    assert_one_line_user_error(&out, "--shard-count");
    assert!(!dir.path().join("r.json").exists(), "nothing written");
}
