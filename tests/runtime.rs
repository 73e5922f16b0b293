//! The optimized runtime is real: the passes change the graphs, outputs stay
//! close to stock, IPEX loads (and refuses a mismatched version cleanly).
//! Every case goes through the production path: `ipex-tune run --config`
//! starts stock and the config in `ipex-tune trial` children, with a tiny
//! timing budget; speed itself is shown by `ipex-tune bench`, not here.
mod common;

use common::{fixture, ipex_tune, run_results, trial};
use serde_json::Value;

/// Runs stock and `label` on `model` with the generic suite, recording the
/// executed graphs; returns the config's trial record.
fn against_stock(model: &str, method: &str, shape: &str, label: &str) -> Value {
    let path = fixture(model);
    let results = run_results(
        &[
            path.to_str().unwrap(),
            "--suite",
            "generic",
            "--input-shape",
            shape,
            "--method",
            method,
            "--min-time",
            "0",
            "--min-iters",
            "2",
            "--quiet",
            "--record-graphs",
            "--config",
            label,
        ],
        &[],
    );
    let trial = trial(&results, label).clone();
    assert_eq!(trial["status"], "ok", "{trial}");
    trial
}

fn changed(trial: &Value, pass: &str) -> bool {
    trial["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["pass"] == pass && s["changed"] == true)
}

fn graph(trial: &Value) -> &str {
    trial["executed_graph"].as_str().expect("a recorded graph")
}

fn max_abs(trial: &Value) -> f64 {
    trial["accuracy"]["max_abs"].as_f64().unwrap()
}

#[test]
fn o1_folds_and_prepacks_the_cnn_and_matches_stock() {
    let t = against_stock(
        "cnn.pt",
        "forward",
        "2x3x56x56",
        "stock/O1+fold+prepack/fp32/glibc",
    );
    assert!(changed(&t, "fold_conv_bn"), "{t}");
    assert!(changed(&t, "mkldnn_prepack"), "{t}");
    assert!(max_abs(&t) < 1e-4, "{t}");
    assert!(
        graph(&t).contains("mkldnn"),
        "executed graph uses oneDNN: {t}"
    );
    assert!(
        !graph(&t).contains("aten::batch_norm"),
        "batch norm folded away: {t}"
    );
}

#[test]
fn conv_bn_folding_happens_for_a_custom_entry_method() {
    // Known Issues: "If inference is done with a custom function, conv+bn
    // folding feature of ipex.optimize() doesn't work." torch::jit::freeze
    // likewise folds only `forward`; ipex-tune preserves and folds the method.
    let t = against_stock(
        "custom_method.pt",
        "inference",
        "1x1x112x112",
        "stock/O1+fold/fp32/glibc",
    );
    assert!(changed(&t, "fold_conv_bn"), "{t}");
    assert!(max_abs(&t) < 1e-4, "{t}");
}

#[test]
fn ipex_loads_and_its_passes_rewrite_the_frozen_graph() {
    let t = against_stock(
        "cnn.pt",
        "forward",
        "2x3x56x56",
        "ipex/O1+fold+prepack/fp32/glibc",
    );
    assert!(
        graph(&t).contains("ipex"),
        "IPEX ops in the executed graph: {t}"
    );
    assert!(max_abs(&t) < 1e-4, "{t}");
}

#[test]
fn onednn_graph_fuser_fuses_the_cnn() {
    let t = against_stock(
        "cnn.pt",
        "forward",
        "2x3x56x56",
        "stock/O1+fold/onednn/fp32/glibc",
    );
    assert!(
        graph(&t).contains("prim::oneDNNFusionGroup"),
        "oneDNN Graph partitions: {t}"
    );
    assert!(max_abs(&t) < 1e-4, "{t}");
}

#[test]
fn dynamic_int8_quantizes_the_mlp_within_int8_error() {
    let t = against_stock("mlp.pt", "forward", "4x512", "stock/O1/int8-dyn/glibc");
    assert!(changed(&t, "quantize_dynamic"), "{t}");
    assert!(graph(&t).contains("quantized::linear_dynamic"), "{t}");
    let diff = max_abs(&t);
    assert!(
        diff > 0.0 && diff < 0.1,
        "int8 differs from fp32, but not by much: {diff}"
    );
}

#[test]
fn a_mismatched_ipex_is_refused_without_exiting_the_process() {
    // A stand-in IPEX package whose version file says 2.6: ipex-tune must
    // refuse before dlopen (the real library would exit(127)). The trial
    // child checks too (runtime::ipex), for configs that reach it.
    let dir = tempfile::tempdir().unwrap();
    let lib_dir = dir.path().join("intel_extension_for_pytorch/lib");
    std::fs::create_dir_all(&lib_dir).unwrap();
    let library = lib_dir.join("libintel-ext-pt-cpu.so");
    std::fs::write(&library, b"not loaded").unwrap();
    std::fs::write(
        dir.path().join("intel_extension_for_pytorch/_version.py"),
        "__version__ = \"2.6.0+cpu\"\n",
    )
    .unwrap();
    // `run --config ipex/...` refuses before any trial (exit 2, not the
    // library's exit 127), naming both versions.
    let label = "ipex/O1+fold+prepack/fp32/glibc";
    let out = ipex_tune()
        .env("IPEX_TUNE_IPEX_LIBRARY", &library)
        .arg("run")
        .arg(fixture("cnn.pt"))
        .args([
            "--suite",
            "generic",
            "--input-shape",
            "1x3x32x32",
            "--config",
            label,
        ])
        .arg("--output")
        .arg(dir.path().join("r.json"))
        .output()
        .unwrap();
    common::assert_one_line_user_error(
        &out,
        "IPEX 2.6.0+cpu needs libtorch 2.6.*, but libtorch 2.7.0 is loaded",
    );
    assert!(!dir.path().join("r.json").exists(), "no trial ran");
}
