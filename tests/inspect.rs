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
    assert_eq!(models.len(), 22, "twenty-two fixture models");
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
    assert_one_line_user_error(&output, "truncated.pt: is truncated or damaged");
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

/// A model with four bytes flipped inside a weight record is refused before
/// libtorch loads it (libtorch itself would load it), naming the record; an
/// intact one has its SHA-256 in the facts (provenance).
#[test]
fn a_corrupted_record_is_refused_and_the_hash_recorded() {
    use std::io::Read;
    let original = fixture("cnn.pt");
    let bytes = std::fs::read(&original).unwrap();
    // The first weight record's data: where its bytes start in the file.
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&original).unwrap()).unwrap();
    let mut found = None;
    for i in 0..archive.len() {
        let record = archive.by_index(i).unwrap();
        if record.name().contains("/data/") && record.size() > 1000 {
            found = Some((record.name().to_string(), record.data_start() as usize));
            break;
        }
    }
    let (name, start) = found.expect("a weight record");
    let mut corrupted = bytes.clone();
    for b in &mut corrupted[start + 100..start + 104] {
        *b ^= 0xff;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupted.pt");
    std::fs::write(&path, &corrupted).unwrap();
    for command in ["inspect", "plan"] {
        let mut cmd = ipex_tune();
        cmd.arg(command);
        if command == "plan" {
            cmd.args(["--suite", "cv"]);
        }
        let out = cmd.arg(&path).output().unwrap();
        assert_one_line_user_error(&out, &format!("record '{name}' is corrupted"));
    }
    let facts = inspect_json("cnn.pt", "forward");
    let mut hasher_input = Vec::new();
    std::fs::File::open(&original)
        .unwrap()
        .read_to_end(&mut hasher_input)
        .unwrap();
    use sha2::Digest;
    let want: String = sha2::Sha256::digest(&hasher_input)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(facts["sha256"], want.as_str());
}
