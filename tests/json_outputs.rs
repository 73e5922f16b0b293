//! `--json` on every command: each output names its `schema` first; the
//! outputs that depend on nothing but the fixtures are snapshots; the
//! results file and the gate's verdict validate against the JSON Schema
//! files in docs/schemas, which stay equal to what the types generate.
mod common;

use std::path::PathBuf;

use common::{fixture, ipex_tune};
use serde_json::Value;

const HOST: &str = "hosts/epyc-avx512bf16-2core.json";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs ipex-tune with `args`, expects exit `code`, returns stdout with the
/// checkout's path replaced (snapshots must not depend on where it is).
fn stdout_of(args: &[&str], code: i32) -> String {
    let out = ipex_tune().args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .replace(&repo().display().to_string(), "[repo]")
}

fn json_of(args: &[&str], code: i32) -> Value {
    serde_json::from_str(&stdout_of(args, code)).expect("valid JSON")
}

fn path(p: PathBuf) -> String {
    p.display().to_string()
}

fn schema(kind: &str) -> Value {
    let file = repo().join(format!(
        "docs/schemas/{}",
        match kind {
            "results" => "results.v2.schema.json",
            _ => "gate.v1.schema.json",
        }
    ));
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

fn assert_valid(kind: &str, instance: &Value) {
    let schema = schema(kind);
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .take(10)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{kind}: {}", errors.join("\n"));
}

#[test]
fn the_schema_files_are_what_the_types_generate() {
    for (kind, file) in [
        ("results", "results.v2.schema.json"),
        ("gate", "gate.v1.schema.json"),
    ] {
        let generated = stdout_of(&["schema", kind], 0);
        let committed = std::fs::read_to_string(repo().join("docs/schemas").join(file)).unwrap();
        assert!(
            generated == committed,
            "docs/schemas/{file} is stale: run `ipex-tune schema {kind} > docs/schemas/{file}`"
        );
    }
}

/// A real run's `--json` output is its results file, and both validate.
#[test]
fn a_run_prints_its_results_and_they_validate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let t = common::host::all_threads();
    let args = [
        "run",
        &path(fixture("mlp.pt")),
        "--suite",
        "generic",
        "--input-shape",
        "4x512",
        "--min-time",
        "0.05",
        "--min-iters",
        "3",
        "--config",
        &format!("stock/O1+prepack/fp32/{t}/glibc"),
        "--json",
        "--output",
        &path(out.clone()),
    ];
    let run = ipex_tune().args(args).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let printed: Value = serde_json::from_slice(&run.stdout).expect("JSON on stdout");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(printed, written);
    assert_eq!(printed["schema"], "ipex-tune/results/v2");
    assert_valid("results", &printed);
    // The committed sample report's results too.
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("reports/sample/results.json")).unwrap(),
    )
    .unwrap();
    assert_valid("results", &sample);
}

#[test]
fn the_gate_verdict_validates() {
    let a = path(fixture("results/cnn-cv-epyc-avx2.json"));
    // Identical runs: every comparison is +0%, some of them inconclusive
    // (few samples), which passes only when allowed.
    let verdict = json_of(
        &[
            "gate",
            "--baseline",
            &a,
            "--current",
            &a,
            "--json",
            "--inconclusive-passes",
        ],
        0,
    );
    assert_eq!(verdict["schema"], "ipex-tune/gate/v1");
    assert_valid("gate", &verdict);
    insta::assert_json_snapshot!("gate_json", verdict);
}

/// Every other command's `--json`, on fixtures only (a recorded host, the
/// fixture models, the committed results): snapshots.
#[test]
fn every_command_has_json_with_its_schema() {
    let mlp = path(fixture("mlp.pt"));
    let host = path(fixture(HOST));
    let sample = path(fixture("results/cnn-cv-epyc-avx2.json"));
    let cases: Vec<(&str, Vec<&str>, i32)> = vec![
        ("doctor", vec!["doctor", "--json", "--host-facts", &host], 0),
        ("inspect", vec!["inspect", &mlp, "--json"], 0),
        (
            "plan",
            vec![
                "plan",
                &mlp,
                "--suite",
                "generic",
                "--input-shape",
                "4x512",
                "--json",
                "--host-facts",
                &host,
            ],
            0,
        ),
        ("report", vec!["report", &sample, "--json"], 0),
        ("rules-list", vec!["rules", "list", "--json"], 0),
        (
            "rules-explain",
            vec!["rules", "explain", "texpr-needs-llvm", "--json"],
            0,
        ),
        ("rules-check", vec!["rules", "check", "--json"], 0),
        ("rules-facts", vec!["rules", "facts", "--json"], 0),
    ];
    for (name, args, code) in cases {
        let mut value = json_of(&args, code);
        let schema = value["schema"].as_str().unwrap_or_default();
        assert_eq!(schema, format!("ipex-tune/{name}/v1"), "{name}");
        let first_key = stdout_of(&args, code)
            .lines()
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_string();
        assert!(first_key.starts_with("\"schema\""), "{name}: {first_key}");
        if let Some(candidates) = value["plan"]["candidates"].as_array_mut() {
            // Hundreds of candidates: the snapshot keeps the first few.
            let total = candidates.len();
            candidates.truncate(5);
            value["plan"]["candidates_in_full_output"] = total.into();
        }
        insta::assert_json_snapshot!(format!("json_{name}"), value);
    }
}

#[test]
fn rules_check_json_lists_located_problems() {
    let broken = path(fixture("rules-broken"));
    let value = json_of(&["rules", "check", &broken, "--json"], 1);
    assert_eq!(value["schema"], "ipex-tune/rules-check/v1");
    assert_eq!(value["passed"], false);
    let problems = value["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 12);
    assert!(problems
        .iter()
        .all(|p| p["file"].is_string() && p["line"].as_u64().unwrap() > 0));
}
