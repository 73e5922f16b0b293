//! `ipex-tune plan` on the fixtures (with recorded host facts, so the output
//! does not depend on the machine) and `ipex-tune rules`.
mod common;

use common::{assert_one_line_user_error, fixture, ipex_tune};
use serde_json::Value;

const HOST: &str = "hosts/epyc-avx512bf16-2core.json";

fn plan(model: &str, suite: &str, extra: &[&str]) -> Value {
    let output = ipex_tune()
        .args(["plan", "--json", "--suite", suite, "--host-facts"])
        .arg(fixture(HOST))
        .args(extra)
        .arg(fixture(model))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn excluded_by(plan: &Value, knob: &str, value: &str) -> Vec<String> {
    plan["plan"]["exclusions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["knob"] == knob && e["value"] == value)
        .map(|e| e["rule"].as_str().unwrap().to_string())
        .collect()
}

fn domain(plan: &Value, knob: &str) -> Vec<String> {
    plan["plan"]["domains"][knob]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dynamic_length_encoder_gets_no_static_int8_and_no_texpr() {
    let p = plan("encoder.pt", "nlp", &[]);
    assert!(excluded_by(&p, "dtype", "int8-static")
        .contains(&"int8-static-off-for-dynamic-shapes".to_string()));
    assert!(excluded_by(&p, "fuser", "texpr").contains(&"texpr-off-for-dynamic-shapes".to_string()));
    assert!(!domain(&p, "dtype").contains(&"int8-static".to_string()));
    // bf16 is allowed on an AVX512_BF16 host, but not with prepacking for a transformer.
    assert!(domain(&p, "dtype").contains(&"bf16".to_string()));
    let candidates = p["plan"]["candidates"].as_array().unwrap();
    assert!(!candidates.is_empty());
    assert!(candidates
        .iter()
        .all(|c| !(c["config"]["dtype"] == "bf16" && c["config"]["weights_prepack"] == true)));
    assert!(
        p["plan"]["candidate_exclusions"]["bf16-transformer-no-prepack"]
            .as_u64()
            .unwrap()
            > 0
    );
}

fn fired(plan: &Value, rule: &str) -> bool {
    plan["plan"]["firings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == rule)
}

#[test]
fn embedding_bag_model_runs_one_stream() {
    let p = plan("recsys.pt", "recsys", &[]);
    assert_eq!(domain(&p, "streams"), vec!["1"]);
    assert!(excluded_by(&p, "streams", "2").contains(&"streams-off-for-embedding-bag".to_string()));
    assert!(fired(&p, "int8-skip-embedding-bag"));
}

#[test]
fn custom_entry_method_is_preserved() {
    let p = plan("custom_method.pt", "cv", &["--method", "inference"]);
    assert_eq!(p["method"], "inference");
    assert!(fired(&p, "custom-method-freeze-and-fold"));
    // No rule option claims an effect that nothing reads.
    assert!(p["plan"]["options"]
        .as_object()
        .unwrap()
        .keys()
        .all(|o| o.starts_with("calibration.")));
}

#[test]
fn avx2_host_gets_no_bf16() {
    let output = ipex_tune()
        .args(["plan", "--json", "--suite", "cv", "--host-facts"])
        .arg(fixture("hosts/epyc-avx2-2core.json"))
        .arg(fixture("cnn.pt"))
        .output()
        .unwrap();
    let p: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(excluded_by(&p, "dtype", "bf16").contains(&"bf16-needs-native-support".to_string()));
}

#[test]
fn data_dependent_if_prefers_dynamic_int8() {
    let p = plan("mlp_if.pt", "cv", &[]);
    assert!(excluded_by(&p, "dtype", "int8-static")
        .contains(&"int8-dynamic-for-control-flow".to_string()));
    let first = &p["plan"]["candidates"][0];
    assert_eq!(
        first["config"]["dtype"], "int8-dynamic",
        "preferred candidates come first"
    );
}

/// `plan MODEL --suite SUITE --limit 8` on recorded host facts, as a table.
fn plan_table(model: &str, suite: &str, host: &str) -> String {
    let output = ipex_tune()
        .current_dir(common::fixtures())
        .args([
            "plan",
            model,
            "--suite",
            suite,
            "--limit",
            "8",
            "--host-facts",
            host,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn plan_snapshot() {
    insta::assert_snapshot!(plan_table("encoder.pt", "nlp", HOST));
}

/// The plan for a CNN on the AMX Xeon this machine kind has been: bf16
/// and int8 are in the space (AMX_BF16, AMX_INT8).
#[test]
fn plan_snapshot_on_an_amx_host() {
    insta::assert_snapshot!(plan_table("cnn.pt", "cv", "hosts/xeon-amx-2core.json"));
}

#[test]
fn a_suite_that_does_not_fit_names_both_signatures() {
    let output = ipex_tune()
        .args(["plan", "--suite", "nlp", "--host-facts"])
        .arg(fixture(HOST))
        .arg(fixture("cnn.pt"))
        .output()
        .unwrap();
    assert_one_line_user_error(
        &output,
        "`forward` takes (x), the suite gives (input_ids, attention_mask)",
    );
}

#[test]
fn unknown_suite() {
    let output = ipex_tune()
        .args(["plan", "--suite", "audio"])
        .arg(fixture("cnn.pt"))
        .output()
        .unwrap();
    assert_one_line_user_error(
        &output,
        "unknown suite 'audio'; expected one of cv, nlp, recsys, speech",
    );
}

#[test]
fn rules_check_passes_on_the_bundled_rules() {
    ipex_tune()
        .args(["rules", "check"])
        .assert()
        .success()
        .stdout(predicates::str::contains("0 example failure(s)"));
    ipex_tune()
        .args(["rules", "check"])
        .arg(env!("CARGO_MANIFEST_DIR").to_string() + "/rules")
        .assert()
        .success();
}

#[test]
fn rules_check_locates_every_mistake() {
    let output = ipex_tune()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["rules", "check", "tests/fixtures/rules-broken"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let file = "tests/fixtures/rules-broken/mistakes.yaml";
    for (line, what) in [
        (9, "unknown fact 'host.isa.avx9000'"),
        (22, "unknown knob 'turbo'"),
        (33, "'nnc' is not a value of fuser"),
        (37, "bad id 'Bad_Id'"),
        (51, "bad severity 'critical'"),
        (64, "suite.dynamic_shapes is a boolean"),
        (75, "OP one of"),
        (81, "missing `explain`"),
        (95, "unknown field 'priority'"),
        (110, "unknown option 'calibration.magic'"),
        (125, "duplicate id 'duplicate-id'"),
    ] {
        let expected = format!("{file}:{line}: ");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&expected) && l.contains(what)),
            "missing {expected}...{what} in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("tests/fixtures/rules-broken/not-yaml.yaml:4: not valid YAML"),
        "{stdout}"
    );
    assert!(stdout.contains("12 problem(s)"), "{stdout}");
}

#[test]
fn rules_check_runs_the_examples() {
    let output = ipex_tune()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["rules", "check", "tests/fixtures/rules-wrong-examples"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("does not fire on its `fires` example")
    );
}

#[test]
fn broken_user_rules_stop_doctor_with_located_errors() {
    let output = ipex_tune()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "doctor",
            "--rules",
            "tests/fixtures/rules-wrong-examples",
            "--rules",
            "tests/fixtures/rules-broken",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mistakes.yaml:9: unknown-fact"), "{stderr}");
}

#[test]
fn rules_explain_snapshot() {
    let output = ipex_tune()
        .args(["rules", "explain", "texpr-off-for-dynamic-shapes"])
        .output()
        .unwrap();
    assert!(output.status.success());
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stdout));
}

#[test]
fn rules_explain_unknown_id() {
    let output = ipex_tune()
        .args(["rules", "explain", "no-such-rule"])
        .output()
        .unwrap();
    assert_one_line_user_error(&output, "unknown rule 'no-such-rule'");
}

#[test]
fn rules_list_shows_every_rule() {
    let output = ipex_tune().args(["rules", "list"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("streams-off-for-embedding-bag"));
    assert!(stdout.contains("39 rules"), "{stdout}");
}

/// The plan on recorded big hosts: layouts from the topology (one instance
/// per node, IPEX's latency layout of 4 cores), every instance inside one
/// NUMA node, SMT siblings unused, and a space that stays small.
#[test]
fn big_hosts_get_layouts_from_their_topology() {
    for (host, physical, cores_per_node, nodes) in [
        ("spr-2s56c-snc-off.json", 56, 28, 2),
        ("spr-2s56c-snc2.json", 56, 14, 4),
        ("xeon-4s240c-smt.json", 240, 60, 4),
        ("vm-1s8c.json", 8, 8, 1),
    ] {
        let out = ipex_tune()
            .args(["plan", "--json", "--suite", "cv", "--host-facts"])
            .arg(fixture(&format!("hosts/{host}")))
            .arg(fixture("cnn.pt"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        let candidates = plan["plan"]["candidates"].as_array().unwrap();
        assert!(
            !candidates.is_empty() && candidates.len() < 5000,
            "{host}: {}",
            candidates.len()
        );
        let mut layouts = std::collections::BTreeSet::new();
        for c in candidates {
            let config = &c["config"];
            let threads = config["threads"].as_u64().unwrap() as usize;
            let instances = config["instances"].as_u64().unwrap() as usize;
            let streams = config["streams"].as_u64().unwrap() as usize;
            assert!(
                threads * instances * streams <= physical,
                "{host}: {config}"
            );
            if instances > 1 || nodes > 1 {
                assert!(
                    threads <= cores_per_node && cores_per_node % threads == 0,
                    "{host}: {config} crosses a NUMA node"
                );
            }
            layouts.insert((threads, streams, instances));
        }
        if nodes > 1 {
            assert!(
                layouts.contains(&(cores_per_node, 1, nodes)),
                "{host}: one instance per node in {layouts:?}"
            );
        }
        if physical >= 8 && cores_per_node % 4 == 0 {
            assert!(
                layouts.contains(&(4, 1, physical / 4)),
                "{host}: IPEX's latency layout in {layouts:?}"
            );
        }
    }
}

#[test]
fn threads_beyond_the_usable_cores_are_refused() {
    for (value, expected) in [
        (
            "99",
            "--threads 99: this process may use 2 physical core(s)",
        ),
        ("0", "--threads 0: expected at least 1 core"),
    ] {
        let out = ipex_tune()
            .args(["plan", "--suite", "cv", "--threads", value, "--host-facts"])
            .arg(fixture("hosts/epyc-avx512bf16-2core.json"))
            .arg(fixture("cnn.pt"))
            .output()
            .unwrap();
        assert_one_line_user_error(&out, expected);
    }
}

/// `--cores` / `--nodes` on the real host: a subset of the affinity runs on
/// exactly those cores; a CPU or node the process may not use is refused.
#[test]
fn cores_and_nodes_restrict_the_run() {
    let first = common::host::affinity()[0];
    let out = ipex_tune()
        .args([
            "plan",
            "--json",
            "--suite",
            "cv",
            "--cores",
            &first.to_string(),
        ])
        .arg(fixture("cnn.pt"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["usable_cores"], 1);
    for c in plan["plan"]["candidates"].as_array().unwrap() {
        assert_eq!(c["config"]["threads"], 1, "{c}");
        assert_eq!(c["config"]["instances"], 1, "{c}");
    }
    for (flag, value, expected) in [
        (
            "--cores",
            "4095",
            "--cores 4095: CPU 4095 is not one this process may use",
        ),
        ("--nodes", "999", "--nodes 999: no NUMA node 999 here"),
        (
            "--cores",
            "3-1",
            "--cores '3-1': expected a list like 0-3,8",
        ),
    ] {
        let out = ipex_tune()
            .args(["plan", "--suite", "cv", flag, value])
            .arg(fixture("cnn.pt"))
            .output()
            .unwrap();
        assert_one_line_user_error(&out, expected);
    }
}

/// Suites fitted to the model: the speech suite's 40 features become the 80
/// an LSTM reads, the nlp suite's id bound the 500 rows of an embedding, the
/// cv suite's 112x112 images the 224x224 a CNN was traced with; `plan
/// --json` names each value and where it came from.
#[test]
fn suites_take_sizes_the_model_fixes() {
    let speech = plan("speech80.pt", "speech", &[]);
    assert_eq!(
        speech["inferred"][0], "frames: dim -1 = 80 (aten::lstm reads 80; the suite said 40)",
        "{}",
        speech["inferred"]
    );
    assert!(speech["input_shapes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s.as_str().unwrap().ends_with(", 80]")));
    // Scripted, the LSTM reads the input through the if of nn.LSTM's
    // unbatched-input check: the 80 is read from its weights all the same.
    let scripted = plan("speech80_scripted.pt", "speech", &[]);
    assert_eq!(
        scripted["inferred"][0], "frames: dim -1 = 80 (aten::lstm reads 80; the suite said 40)",
        "{}",
        scripted["inferred"]
    );
    let nlp = plan("vocab500.pt", "nlp", &[]);
    assert_eq!(
        nlp["inferred"][0],
        "input_ids: ids below 500 (aten::embedding has 500 rows; the suite said 1000)"
    );
    // A CNN traced at 224x224 (adaptive pooling: any size would run) is
    // measured at the size it was traced with, not the suite's 112.
    let cv = plan("cnn224.pt", "cv", &[]);
    assert_eq!(
        cv["inferred"][0],
        "x: batchx3x224x224 (traced with 1x3x224x224; the suite said batchx3x112x112)"
    );
    assert!(cv["input_shapes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s.as_str().unwrap().ends_with(", 3, 224, 224]")));
    // A model whose sizes match the suite's keeps them, and says nothing.
    assert!(plan("cnn.pt", "cv", &[])["inferred"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// Every input-file format, named tensors matched to the arguments by
/// name, and a file that is none of them refused with one line.
#[test]
fn input_files_in_every_format() {
    for (model, suite, file, shapes) in [
        (
            "mlp.pt",
            "generic",
            "mlp-batches.pt",
            vec!["inputs 16x512: [16, 512]", "inputs 4x512: [4, 512]"],
        ),
        (
            "mlp.pt",
            "generic",
            "mlp-one.npy",
            vec!["inputs 8x512: [8, 512]"],
        ),
        (
            "mlp.pt",
            "generic",
            "mlp-calibration.npz",
            vec!["inputs 32x512: [32, 512]"],
        ),
        (
            "encoder.pt",
            "nlp",
            "encoder-dict.pt",
            vec!["inputs 4x24 4x24: [4, 24] [4, 24]"],
        ),
        (
            "encoder.pt",
            "nlp",
            "encoder.safetensors",
            vec!["inputs 4x24 4x24: [4, 24] [4, 24]"],
        ),
    ] {
        let path = fixture(&format!("inputs/{file}"));
        let mut extra = vec!["--inputs", path.to_str().unwrap()];
        if suite == "generic" {
            extra.extend(["--input-shape", "16x512"]);
        }
        let p = plan(model, suite, &extra);
        assert_eq!(p["input_shapes"], serde_json::json!(shapes), "{file}");
    }
    let out = ipex_tune()
        .args(["plan", "--suite", "cv", "--inputs"])
        .arg(fixture("expected.json"))
        .arg(fixture("cnn.pt"))
        .output()
        .unwrap();
    assert_one_line_user_error(
        &out,
        "expected.json: expected a .pt/.pth (torch.save), .npy, .npz or .safetensors file",
    );
}

/// `--suites` checks its folders as `--rules` does.
#[test]
fn a_missing_suite_folder_is_refused() {
    let out = ipex_tune()
        .args(["plan", "--suite", "cv", "--suites", "/nope", "--host-facts"])
        .arg(fixture(HOST))
        .arg(fixture("cnn.pt"))
        .output()
        .unwrap();
    assert_one_line_user_error(&out, "--suites /nope: not a directory");
}
