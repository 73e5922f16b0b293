//! Non-tensor arguments: a scripted model whose method is
//! `forward(x, sr: int, gain: float = 1.0, mask: Optional[Tensor] = None)`
//! (tests/fixtures/generate.py, ScalarArgs), given `sr` with
//! `--input-shape sr=VALUE`, run to a winner; the sample rate picks the
//! layer and any other value raises, so a value that did not reach the
//! model would show.
mod common;

use common::{assert_one_line_user_error, fixture, ipex_tune, run_results, trial};

fn model() -> String {
    fixture("scalar_args.pt").display().to_string()
}

#[test]
fn inspect_lists_every_argument_with_its_type() {
    let output = ipex_tune()
        .args(["inspect", "--json"])
        .arg(model())
        .output()
        .unwrap();
    assert!(output.status.success());
    let facts: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let forward = facts["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "forward")
        .unwrap();
    let args: Vec<(String, String, bool)> = forward["arguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["type"].as_str().unwrap().to_string(),
                a["has_default"].as_bool().unwrap(),
            )
        })
        .collect();
    let want = [
        ("x", "Tensor", false),
        ("sr", "int", false),
        ("gain", "float", true),
        ("mask", "Optional[Tensor]", true),
    ];
    let want: Vec<(String, String, bool)> = want
        .iter()
        .map(|(n, t, d)| (n.to_string(), t.to_string(), *d))
        .collect();
    assert_eq!(args, want);
}

#[test]
fn plan_shows_what_each_argument_is_fed() {
    let output = ipex_tune()
        .args(["plan"])
        .arg(model())
        .args(["--suite", "generic", "--input-shape", "2x64"])
        .args(["--input-shape", "sr=16000", "--input-shape", "gain=0.5"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("call: forward(x=input 0, sr=16000, gain=0.5, mask=default)"),
        "{stdout}"
    );
}

#[test]
fn run_feeds_the_values_and_reaches_a_winner() {
    let labels = ["stock/O1/fp32/t1/glibc", "ipex/O1+prepack/fp32/t1/glibc"];
    let path = model();
    let mut args = vec![
        path.as_str(),
        "--suite",
        "generic",
        "--input-shape",
        "2x64",
        "--input-shape",
        "sr=8000",
        "--min-time",
        "0",
        "--min-iters",
        "2",
        "--quiet",
    ];
    for label in labels {
        args.extend(["--config", label]);
    }
    let results = run_results(&args, &[]);
    for label in labels {
        let t = trial(&results, label);
        assert_eq!(t["status"], "ok", "{t}");
        assert_eq!(t["accurate"], true, "{t}");
    }
    assert!(results["winner"].is_object(), "{results}");
}

#[test]
fn a_value_the_model_rejects_fails_its_trials_not_the_tool() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let output = ipex_tune()
        .args(["run"])
        .arg(model())
        .args(["--suite", "generic", "--input-shape", "2x64"])
        .args([
            "--input-shape",
            "sr=44100",
            "--config",
            "stock/O1/fp32/t1/glibc",
        ])
        .args(["--min-time", "0", "--min-iters", "2", "--quiet", "--output"])
        .arg(&out)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success());
    assert!(all.contains("sr must be 8000 or 16000"), "{all}");
    assert!(!all.contains("panicked"), "{all}");
}

#[test]
fn a_missing_or_ill_typed_value_is_a_one_line_error_naming_the_argument() {
    let run = |items: &[&str]| {
        let mut cmd = ipex_tune();
        cmd.args(["plan"]).arg(model()).args(["--suite", "generic"]);
        for item in items {
            cmd.args(["--input-shape", item]);
        }
        cmd.output().unwrap()
    };
    assert_one_line_user_error(&run(&["2x64"]), "--input-shape sr=VALUE");
    assert_one_line_user_error(&run(&["2x64", "sr=fast"]), "argument `sr` is int");
    assert_one_line_user_error(&run(&["2x64", "rate=1"]), "no argument `rate`");
    assert_one_line_user_error(&run(&["2x64", "sr=none"]), "only an Optional argument");
}

/// `inspect` says what `run` feeds every argument: the tensor a suite
/// makes (with the size the model fixes), the value `sr` still needs, the
/// defaults of `gain` and `mask`.
#[test]
fn inspect_shows_what_run_feeds_each_argument() {
    let output = ipex_tune().arg("inspect").arg(model()).output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("│ {name} ")))
            .unwrap_or_else(|| panic!("no row for {name}: {stdout}"))
            .to_string()
    };
    assert!(row("x").contains("a suite input"), "{stdout}");
    assert!(
        row("x").contains("dim -1 = 64 (aten::linear reads 64)"),
        "{stdout}"
    );
    assert!(
        row("sr").contains("nothing: give --input-shape sr=VALUE"),
        "{stdout}"
    );
    assert!(
        row("gain").contains("1. (--input-shape gain=VALUE sets it)"),
        "{stdout}"
    );
    assert!(
        row("mask").contains("None (a tensor with --input-shape mask=SHAPE)"),
        "{stdout}"
    );
}

/// A model that keeps state in its attributes (fixture `stateful_vad.pt`:
/// a recurrent state and a running noise floor that shifts its outputs on
/// every call). Stock and each config run a different number of calls
/// (warm-up, calibration, timing); compared as they end, their outputs
/// would differ by the calls between. `inspect` names the state, and every
/// trial's outputs are computed from the state the model loaded with.
#[test]
fn a_stateful_model_is_compared_from_the_state_it_loaded_with() {
    let path = fixture("stateful_vad.pt").display().to_string();
    let output = ipex_tune()
        .args(["inspect", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success());
    let facts: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        facts["assigned_attributes"],
        serde_json::json!(["state", "noise_floor"])
    );
    let output = ipex_tune()
        .arg("plan")
        .arg(&path)
        .args(["--suite", "generic", "--input-shape", "2x64"])
        .args(["--input-shape", "sr=16000"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("call: forward(x=input 0, sr=16000)")
            && stdout.contains("state: `forward` assigns state, noise_floor between calls"),
        "{stdout}"
    );
    // Different call counts: stock's minimum iterations against 40.
    let labels = [
        "stock/O1/fp32/t1/glibc",
        "ipex/O1+prepack/fp32/t1/glibc",
        "stock/O1/fp32/t1/i2/glibc",
    ];
    let mut args = vec![
        path.as_str(),
        "--suite",
        "generic",
        "--input-shape",
        "2x64",
        "--input-shape",
        "sr=16000",
        "--min-time",
        "0",
        "--min-iters",
        "40",
        "--quiet",
    ];
    for label in labels {
        args.extend(["--config", label]);
    }
    let results = run_results(&args, &[]);
    assert_eq!(
        results["model"]["assigned_attributes"],
        serde_json::json!(["state", "noise_floor"])
    );
    for label in labels {
        let t = trial(&results, label);
        assert_eq!(t["status"], "ok", "{t}");
        assert_eq!(t["accurate"], true, "{label}: {}", t["accuracy_problem"]);
        let max_abs = t["accuracy"]["max_abs"].as_f64().unwrap();
        assert!(max_abs < 1e-4, "{label}: {max_abs}");
    }
}

/// List, Dict and Tuple arguments (fixture `structured_args.pt`, scripted
/// `forward(feats: List[Tensor], extra: Dict[str, Tensor], pair:
/// Tuple[Tensor, Tensor])`): each element a suite input of its own, the
/// call built from them; inspect says how to give them, plan shows the
/// call, and run reaches an accurate winner.
#[test]
fn list_dict_and_tuple_arguments_take_one_suite_input_per_element() {
    let path = fixture("structured_args.pt").display().to_string();
    let output = ipex_tune().arg("inspect").arg(&path).output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("give --input-shape feats=[SHAPE,...]")
            && stdout.contains("give --input-shape extra={key:SHAPE,...}"),
        "{stdout}"
    );
    let shapes = [
        "--input-shape",
        "feats=[2x64,2x32]",
        "--input-shape",
        "extra={scale:2x16,shift:2x16}",
        "--input-shape",
        "pair=[2x16,2x16]",
    ];
    let output = ipex_tune()
        .arg("plan")
        .arg(&path)
        .args(["--suite", "generic"])
        .args(shapes)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(
            "call: forward(feats=[input 0, input 1], extra={scale: input 2, shift: input 3}, pair=(input 4, input 5))"
        ),
        "{stdout}"
    );
    let labels = ["stock/O1/fp32/t1/glibc", "ipex/O1+prepack/fp32/t1/glibc"];
    let mut args = vec![path.as_str(), "--suite", "generic"];
    args.extend(shapes);
    args.extend(["--min-time", "0", "--min-iters", "2", "--quiet"]);
    for label in labels {
        args.extend(["--config", label]);
    }
    let results = run_results(&args, &[]);
    for label in labels {
        let t = trial(&results, label);
        assert_eq!(t["status"], "ok", "{t}");
        assert_eq!(t["accurate"], true, "{t}");
    }
    // Real inputs: a file of the arguments by name, each argument's List,
    // Dict or Tuple as it takes it (batch 4 where the shapes say 2).
    let inputs = fixture("inputs/structured-args.pt");
    let mut real = args.clone();
    real.extend(["--inputs", inputs.to_str().unwrap()]);
    let results = run_results(&real, &[]);
    for label in labels {
        let t = trial(&results, label);
        assert_eq!(t["status"], "ok", "{t}");
        assert_eq!(t["accurate"], true, "{t}");
    }
    assert!(
        results["trials"][0]["per_shape"][0]["shape"]
            .as_str()
            .unwrap()
            .contains('4'),
        "{}",
        results["trials"][0]["per_shape"]
    );
    // A tuple of the wrong length is one line naming the argument.
    let output = ipex_tune()
        .arg("plan")
        .arg(&path)
        .args(["--suite", "generic", "--input-shape", "feats=[2x64,2x32]"])
        .args(["--input-shape", "extra={scale:2x16,shift:2x16}"])
        .args(["--input-shape", "pair=[2x16]"])
        .output()
        .unwrap();
    assert_one_line_user_error(&output, "argument `pair` is Tuple[Tensor, Tensor]");
}
