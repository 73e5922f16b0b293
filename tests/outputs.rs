//! Outputs of any structure: a scripted model returning a tuple that holds
//! a dict, `(logits, {"hidden": h, "scores": s})` (tests/fixtures/
//! generate.py, NestedOutputs). Every tensor leaf is compared with stock's,
//! and a config that misses the tolerance names the leaf that fails: the
//! "scores" leaf comes from an outlier-heavy MLP that plain int8 rounds to
//! nothing, while the other leaves stay accurate.
mod common;

use common::{fixture, run_results, trial};

#[test]
fn every_leaf_is_compared_and_the_failing_one_is_named() {
    let fp32 = "stock/O1/fp32/t1/glibc";
    let int8 = "stock/O1/int8-static/t1/glibc";
    let path = fixture("nested_outputs.pt");
    let results = run_results(
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
            fp32,
            "--config",
            int8,
        ],
        &[],
    );
    let stock = &results["trials"][0];
    assert_eq!(stock["status"], "ok", "{stock}");
    // Three leaves, each batch's compared.
    let ok = trial(&results, fp32);
    assert_eq!(ok["accurate"], true, "{ok}");
    let compared = ok["accuracy"]["outputs_compared"].as_u64().unwrap();
    assert_eq!(compared % 3, 0, "{ok}");
    assert!(compared >= 3, "{ok}");
    let missed = trial(&results, int8);
    assert_eq!(missed["status"], "ok", "{missed}");
    assert_eq!(missed["accurate"], false, "{missed}");
    let problem = missed["accuracy_problem"].as_str().unwrap();
    assert!(problem.ends_with(r#"(output [1]["scores"])"#), "{problem}");
    assert!(results["winner"]["label"].is_string(), "{results}");
}
