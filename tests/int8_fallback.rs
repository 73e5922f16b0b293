//! The accuracy-aware int8 fallback on a model whose plain int8 misses the
//! tolerance (tests/fixtures/outlier_mlp.pt: fc2's output has four channels
//! ~300x the rest; one int8 scale for it rounds the others away). The
//! fallback ranks the layers by the damage each does quantized alone, then
//! keeps the most sensitive ones in fp32, one more at a time, until the
//! outputs are within tolerance.
mod common;

use std::collections::BTreeSet;

use common::{fixture, run_results, trial};
use serde_json::Value;

fn run_config(label: &str) -> Value {
    let path = fixture("outlier_mlp.pt");
    run_results(
        &[
            path.to_str().unwrap(),
            "--suite",
            "generic",
            "--input-shape",
            "8x64",
            "--min-time",
            "0",
            "--min-iters",
            "2",
            "--quiet",
            "--config",
            label,
        ],
        &[],
    )
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn assert_fallback_keeps_fc2_and_fc3(label: &str) {
    let results = run_config(label);
    let plain = trial(&results, label);
    assert_eq!(plain["status"], "ok", "{plain}");
    assert_eq!(plain["accurate"], false, "plain int8 misses: {plain}");
    let fallbacks = results["int8_fallbacks"].as_array().unwrap();
    assert_eq!(fallbacks.len(), 1, "{results}");
    let fallback = &fallbacks[0];
    assert_eq!(fallback["config"], label);
    // Every layer measured, the two around the outlier activation first.
    let ranking: Vec<&str> = fallback["sensitivity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert_eq!(ranking.len(), 5, "{fallback}");
    let top_two: BTreeSet<String> = ranking[..2].iter().map(|s| s.to_string()).collect();
    let want: BTreeSet<String> = ["fc2", "fc3"].map(String::from).into();
    assert_eq!(top_two, want, "{fallback}");
    assert_eq!(names(&fallback["kept_fp32"]), want, "{fallback}");
    // The accurate mix is a trial of its own, labelled with what stayed fp32.
    let tried = fallback["tried"].as_array().unwrap();
    let last = tried.last().unwrap().as_str().unwrap();
    assert!(last.contains("+fp32:"), "{last}");
    let mixed = trial(&results, last);
    assert_eq!(mixed["status"], "ok", "{mixed}");
    assert_eq!(mixed["accurate"], true, "{mixed}");
    assert_eq!(names(&mixed["config"]["fp32_layers"]), want);
}

#[test]
fn static_int8_falls_back_to_fp32_for_the_sensitive_layers() {
    assert_fallback_keeps_fc2_and_fc3("stock/O1/int8-static/t1/glibc");
}

#[test]
fn dynamic_int8_falls_back_the_same_way() {
    assert_fallback_keeps_fc2_and_fc3("stock/O1/int8-dyn/t1/glibc");
}

#[test]
fn a_layer_the_model_does_not_have_is_named_in_the_failure() {
    let label = "stock/O1/int8-static+fp32:nope/t1/glibc";
    let results = run_config(label);
    let failed = trial(&results, label);
    assert_eq!(failed["status"], "failed", "{failed}");
    let reason = failed["reason"].as_str().unwrap();
    assert!(
        reason.contains("'nope' is not a quantizable layer")
            && reason.contains("fc1, fc2, fc3, fc4, head"),
        "{reason}"
    );
}
