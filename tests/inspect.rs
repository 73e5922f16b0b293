//! `ipex-tune inspect` on the real fixture models, checked against the facts
//! that tests/fixtures/generate.py computed independently with Python's torch.
mod common;

use std::io::Write;

use common::{assert_one_line_user_error, expected, fixture, fixtures, ipex_tune};

fn inspect_json(model: &str, method: &str) -> serde_json::Value {
    let output = ipex_tune()
        .args(["inspect", "--json", "--method", method])
        .arg(fixture(model))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("inspect --json prints JSON")
}

#[test]
fn op_histograms_match_pythons_inlined_graphs_for_every_fixture() {
    let expected = expected();
    let models = expected["models"].as_object().unwrap();
    assert_eq!(models.len(), 12, "twelve fixture models");
    for (name, want) in models {
        let method = want["method"].as_str().unwrap();
        let got = inspect_json(name, method);
        assert_eq!(got["method"], want["method"], "{name}");
        assert_eq!(got["ops"], want["ops"], "{name}: op histogram");
        for key in ["if", "loop", "data_dependent_if"] {
            assert_eq!(
                got["control_flow"][key], want["control_flow"][key],
                "{name}: control_flow.{key}"
            );
        }
        assert_eq!(
            got["parameters"]["count"], want["parameters"]["count"],
            "{name}: parameter count"
        );
        assert_eq!(
            got["parameters"]["bytes"], want["parameters"]["bytes"],
            "{name}: parameter bytes"
        );
        let entry = got["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == want["method"])
            .expect("entry method listed");
        let names: Vec<&str> = entry["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        let want_names: Vec<&str> = want["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(names, want_names, "{name}: argument names");
    }
}

#[test]
fn op_groups_name_the_layers_the_rules_care_about() {
    let cnn = inspect_json("cnn.pt", "forward");
    assert_eq!(cnn["op_groups"]["conv"], 5);
    assert_eq!(cnn["op_groups"]["batch_norm"], 5);
    let recsys = inspect_json("recsys.pt", "forward");
    assert_eq!(recsys["op_groups"]["embedding_bag"], 2);
    let lstm = inspect_json("lstm_loop.pt", "forward");
    assert_eq!(lstm["op_groups"]["rnn"], 1);
    let encoder = inspect_json("encoder.pt", "forward");
    assert!(encoder["op_groups"]["attention"].as_u64().unwrap() >= 1);
    assert_eq!(encoder["ipex_ops"], serde_json::json!([]));
}

#[test]
fn library_guards_are_not_data_dependent_control_flow() {
    // nn.TransformerEncoder inlines hundreds of prim::If guards (dims,
    // `training`, fast-path checks); none branches on tensor values.
    let encoder = inspect_json("encoder.pt", "forward");
    assert!(encoder["control_flow"]["if"].as_u64().unwrap() > 100);
    assert_eq!(encoder["control_flow"]["data_dependent_if"], 0);
    // The MLP with `if bool(x.mean() > 0)` does.
    let mlp_if = inspect_json("mlp_if.pt", "forward");
    assert_eq!(mlp_if["control_flow"]["data_dependent_if"], 1);
}

#[test]
fn table_output_snapshot() {
    let output = ipex_tune()
        .current_dir(fixtures())
        .args(["inspect", "mlp_if.pt"])
        .output()
        .unwrap();
    assert!(output.status.success());
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stdout));
}

#[test]
fn graph_flag_prints_the_inlined_graph() {
    ipex_tune()
        .args(["inspect", "--graph"])
        .arg(fixture("mlp_if.pt"))
        .assert()
        .success()
        .stdout(predicates::str::contains("Inlined graph of `forward`"))
        .stdout(predicates::str::contains("prim::If"));
}

#[test]
fn nonexistent_path() {
    let output = ipex_tune()
        .args(["inspect", "/no/such/model.pt"])
        .output()
        .unwrap();
    assert_one_line_user_error(&output, "/no/such/model.pt: no such file");
}

#[test]
fn directory() {
    let dir = tempfile::tempdir().unwrap();
    let output = ipex_tune().arg("inspect").arg(dir.path()).output().unwrap();
    assert_one_line_user_error(&output, "is a directory");
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pt");
    std::fs::File::create(&path).unwrap();
    let output = ipex_tune().arg("inspect").arg(&path).output().unwrap();
    assert_one_line_user_error(&output, "empty.pt: is empty");
}

#[test]
fn text_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.pt");
    writeln!(std::fs::File::create(&path).unwrap(), "this is not a model").unwrap();
    let output = ipex_tune().arg("inspect").arg(&path).output().unwrap();
    assert_one_line_user_error(&output, "notes.pt: is not a TorchScript archive");
}

#[test]
fn zip_without_torchscript() {
    let output = ipex_tune()
        .arg("inspect")
        .arg(fixture("bad/not_torchscript.zip"))
        .output()
        .unwrap();
    assert_one_line_user_error(&output, "not_torchscript.zip: cannot load as TorchScript");
}

#[test]
fn truncated_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.pt");
    let bytes = std::fs::read(fixture("cnn.pt")).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let output = ipex_tune().arg("inspect").arg(&path).output().unwrap();
    assert_one_line_user_error(&output, "truncated.pt: cannot load as TorchScript");
}

#[test]
fn unknown_method() {
    let output = ipex_tune()
        .args(["inspect", "--method", "predict"])
        .arg(fixture("custom_method.pt"))
        .output()
        .unwrap();
    assert_one_line_user_error(
        &output,
        "has no method 'predict'; its methods are: forward, inference",
    );
}

#[test]
fn help_snapshot() {
    let output = ipex_tune()
        .env_remove("COLUMNS")
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stdout));
}
