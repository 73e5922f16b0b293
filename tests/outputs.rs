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

/// Runs `labels` on a fixture with the generic suite's `shapes`; the results.
fn run_labels(model: &str, shapes: &[&str], labels: &[&str]) -> serde_json::Value {
    let path = fixture(model);
    let mut args = vec![path.to_str().unwrap(), "--suite", "generic"];
    for shape in shapes {
        args.extend(["--input-shape", shape]);
    }
    args.extend(["--min-time", "0", "--min-iters", "2", "--quiet"]);
    for label in labels {
        args.extend(["--config", label]);
    }
    run_results(&args, &[])
}

/// Outputs as the model zoos return them, from the libraries' own classes
/// (random weights): a Hugging Face BertModel with its default
/// `return_dict=True`, traced with strict=False, returns
/// Dict[str, Tensor]; a GPT2Model traced for generation returns its hidden
/// states and each layer's key/value cache, nested tuples. Every leaf is
/// compared with stock's under IPEX's fp32 and int8, and the run reaches a
/// winner.
#[test]
fn hugging_face_dict_and_cache_outputs_are_compared_leaf_by_leaf() {
    let labels = [
        "stock/O1/fp32/t1/glibc",
        "ipex/O1+prepack/fp32/t1/glibc",
        "ipex/O1+prepack/int8-static/t1/glibc",
    ];
    for (model, shapes, leaves) in [
        ("hf_bert_dict.pt", &["2x32:int1000", "2x32:int2"][..], 2),
        // last_hidden_state and (k, v) of each of 2 layers.
        ("hf_gpt2_cache.pt", &["2x16:int1000"][..], 5),
    ] {
        let results = run_labels(model, shapes, &labels);
        for label in labels {
            let t = trial(&results, label);
            assert_eq!(t["status"], "ok", "{model} {label}: {t}");
            assert_eq!(
                t["accurate"], true,
                "{model} {label}: {}",
                t["accuracy_problem"]
            );
            let compared = t["accuracy"]["outputs_compared"].as_u64().unwrap();
            assert!(
                compared >= leaves && compared.is_multiple_of(leaves),
                "{model} {label}: {compared} outputs compared, {leaves} leaves per call"
            );
        }
        assert!(results["winner"]["label"].is_string(), "{model}");
    }
}
