//! `ipex-tune report` and `ipex-tune gate` on recorded results (real runs
//! of the CNN fixture with the cv suite, tests/fixtures/results/: schema v2
//! with per-shape figures from an AVX512_BF16 EPYC, and an older v1 run
//! from an AVX2 EPYC; kept apart from reports/sample/ so that the sample can
//! be regenerated on any host without moving the snapshots) and on copies
//! of them changed the way a regression, noise, an accuracy drift or a host
//! change would change them.
mod common;

use std::path::{Path, PathBuf};

use common::{assert_one_line_user_error, ipex_tune};
use serde_json::Value;

fn sample() -> PathBuf {
    common::fixture("results/cnn-cv-epyc-avx512bf16.json")
}

fn sample_v1() -> PathBuf {
    common::fixture("results/cnn-cv-epyc-avx2.json")
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Writes the v2 sample changed by `change` into `dir`.
fn variant(dir: &Path, name: &str, change: impl FnOnce(&mut Value)) -> PathBuf {
    let mut results = load(&sample());
    change(&mut results);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(&results).unwrap()).unwrap();
    path
}

fn scale(values: &mut Value, factor: f64) {
    for l in values.as_array_mut().unwrap() {
        *l = Value::from(l.as_f64().unwrap() * factor);
    }
}

/// Every latency of one trial, over all shapes and per shape, times
/// `factor` (per shape: only the shape `only`, when given).
fn scale_trial(trial: &mut Value, factor: f64, only: Option<usize>) {
    if only.is_none() {
        scale(&mut trial["latencies_ms"], factor);
    }
    for (i, shape) in trial["per_shape"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        if only.is_none_or(|o| o == i) {
            scale(&mut shape["latencies_ms"], factor);
        }
    }
}

fn scale_latencies(results: &mut Value, factor: f64) {
    for t in results["trials"].as_array_mut().unwrap() {
        scale_trial(t, factor, None);
    }
}

/// The winner's record in the sample.
fn winner_of(results: &mut Value) -> &mut Value {
    let id = results["winner"]["trial"].as_u64().unwrap() as usize;
    &mut results["trials"][id]
}

fn gate(baseline: &Path, current: &Path, extra: &[&str]) -> std::process::Output {
    ipex_tune()
        .args(["gate", "--baseline"])
        .arg(baseline)
        .arg("--current")
        .arg(current)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn identical_runs_pass() {
    let out = gate(&sample(), &sample(), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ipex-tune gate: passed"));
}

#[test]
fn a_twenty_percent_slowdown_fails_with_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    let slower = variant(dir.path(), "slower.json", |r| scale_latencies(r, 1.2));
    let junit = dir.path().join("junit.xml");
    let out = gate(&sample(), &slower, &["--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("REGRESSED"), "{stdout}");
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains("latency regressed +20.0%"), "{xml}");
}

#[test]
fn two_percent_noise_passes() {
    let dir = tempfile::tempdir().unwrap();
    let noisy = variant(dir.path(), "noisy.json", |r| scale_latencies(r, 1.02));
    let out = gate(&sample(), &noisy, &["--max-regression", "5%"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The winner alone slowed by `factor` (on every shape, or one).
fn winner_slowed(factor: f64, only: Option<usize>) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let slower = variant(dir.path(), "slower.json", |r| {
        scale_trial(winner_of(r), factor, only)
    });
    let out = gate(&sample(), &slower, &["--max-regression", "5%"]);
    (dir, out)
}

#[test]
fn a_winner_twice_as_slow_fails() {
    let (_dir, out) = winner_slowed(2.0, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("throughput regressed"), "{stdout}");
}

#[test]
fn a_winner_twenty_percent_slower_fails() {
    let (_dir, out) = winner_slowed(1.2, None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_winner_two_percent_slower_passes() {
    let (_dir, out) = winner_slowed(1.02, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_regression_in_one_shape_only_is_caught() {
    let (_dir, out) = winner_slowed(1.5, Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let shapes: Vec<String> = load(&sample())["trials"][0]["per_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shape"].as_str().unwrap().to_string())
        .collect();
    assert!(
        stdout.contains(&format!("{}: throughput regressed", shapes[1])),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&format!("{}: throughput regressed", shapes[0])),
        "{stdout}"
    );
}

#[test]
fn too_few_samples_are_inconclusive_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let few = variant(dir.path(), "few.json", |r| {
        for shape in winner_of(r)["per_shape"].as_array_mut().unwrap() {
            shape["latencies_ms"].as_array_mut().unwrap().truncate(5);
        }
    });
    let out = gate(&sample(), &few, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("INCONCLUSIVE") && stdout.contains("more iterations"),
        "{stdout}"
    );
    let lenient = gate(&sample(), &few, &["--inconclusive-passes"]);
    assert_eq!(
        lenient.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&lenient.stdout)
    );
}

#[test]
fn a_v1_baseline_is_still_read_and_compared_over_all_shapes() {
    let out = gate(&sample_v1(), &sample_v1(), &["--inconclusive-passes"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("all shapes"), "{stdout}");
}

#[test]
fn accuracy_drift_fails() {
    let dir = tempfile::tempdir().unwrap();
    let drifted = variant(dir.path(), "drifted.json", |r| {
        let t = &mut r["trials"][1];
        t["accurate"] = Value::Bool(false);
        t["accuracy_problem"] = Value::from("cosine similarity 0.91 below 0.99999");
    });
    let out = gate(&sample(), &drifted, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("accuracy drifted out of tolerance"));
}

/// A current run whose reference moved is named noisy in the gate's report
/// (a change smaller than the movement may be the host's).
#[test]
fn a_noisy_current_run_is_named_in_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let noisy = variant(dir.path(), "noisy.json", |r| {
        r["reference"] = serde_json::json!({
            "points": [
                {"trial": 0, "at_s": 2.0, "samples_per_s": 100.0},
                {"trial": 5, "at_s": 90.0, "samples_per_s": 80.0}
            ],
            "spread": 0.22, "movement": 1.25, "movement_ci95": [1.2, 1.3],
            "threshold": 0.03, "noisy": true, "marked": [1, 2, 3, 4], "stock_trial": 0
        });
    });
    let out = gate(&sample(), &noisy, &["--inconclusive-passes"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("the current run was noisy: its reference (stock) moved 25.0%"),
        "{stdout}"
    );
    let quiet = gate(&sample(), &sample(), &["--inconclusive-passes"]);
    assert!(!String::from_utf8_lossy(&quiet.stdout).contains("noisy"));
}

#[test]
fn a_config_that_now_fails_fails_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = variant(dir.path(), "crashed.json", |r| {
        let t = &mut r["trials"][1];
        t["status"] = Value::from("crashed");
        t["reason"] = Value::from("signal 11 (SIGSEGV)");
        t["stats"] = Value::Null;
        t["latencies_ms"] = Value::Array(vec![]);
    });
    let out = gate(&sample(), &crashed, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("passed in the baseline"));
}

#[test]
fn a_host_change_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let other = variant(dir.path(), "other-host.json", |r| {
        r["facts"]["host.isa.level"] = Value::from("AMX");
    });
    let out = gate(&sample(), &other, &[]);
    assert_one_line_user_error(
        &out,
        "refusing to compare runs from different hosts or torch stacks (host.isa.level",
    );
    let allowed = gate(&sample(), &other, &["--allow-host-change"]);
    assert_eq!(allowed.status.code(), Some(0));
}

#[test]
fn malformed_and_wrong_schema_files_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    let malformed = dir.path().join("malformed.json");
    std::fs::write(&malformed, "{ not json").unwrap();
    assert_one_line_user_error(
        &gate(&sample(), &malformed, &[]),
        "malformed.json: not JSON",
    );
    let wrong = dir.path().join("wrong.json");
    std::fs::write(&wrong, r#"{"schema": "criterion/v2"}"#).unwrap();
    assert_one_line_user_error(
        &gate(&sample(), &wrong, &[]),
        "wrong.json: schema 'criterion/v2', expected 'ipex-tune/results/v2'",
    );
    let missing = dir.path().join("missing.json");
    assert_one_line_user_error(&gate(&sample(), &missing, &[]), "missing.json: cannot read");
}

#[test]
fn gate_markdown_and_junit_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let slower = variant(dir.path(), "slower.json", |r| scale_latencies(r, 1.2));
    let (md, junit) = (dir.path().join("gate.md"), dir.path().join("gate.xml"));
    gate(
        &sample(),
        &slower,
        &[
            "--markdown",
            md.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let redact = |s: String| s.replace(&slower.display().to_string(), "CURRENT");
    insta::assert_snapshot!(
        "gate_markdown",
        redact(std::fs::read_to_string(md).unwrap())
    );
    insta::assert_snapshot!(
        "gate_junit",
        redact(std::fs::read_to_string(junit).unwrap())
    );
}

#[test]
fn report_writes_html_png_and_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let (html, png, md) = (
        dir.path().join("r.html"),
        dir.path().join("png"),
        dir.path().join("r.md"),
    );
    ipex_tune()
        .arg("report")
        .arg(sample())
        .arg("--html")
        .arg(&html)
        .arg("--png")
        .arg(&png)
        .arg("--markdown")
        .arg(&md)
        .assert()
        .success();
    let page = std::fs::read_to_string(&html).unwrap();
    // Four charts, and the per-shape panels: the sample's suite has two shapes.
    assert_eq!(page.matches("<svg").count(), 5, "five inline charts");
    // Self-contained: no scripts, no fetched resources (the SVG namespace
    // URI is an identifier, not a fetch).
    assert!(!page.contains("<script"), "no scripts");
    for fetch in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!page.contains(fetch), "fetches a resource: {fetch}");
    }
    for chart in [
        "throughput",
        "per-shape",
        "latency",
        "memory",
        "accuracy-speedup",
    ] {
        let bytes = std::fs::read(png.join(format!("{chart}.png"))).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{chart}.png is a PNG");
    }
    insta::assert_snapshot!("report_markdown", std::fs::read_to_string(md).unwrap());
}

#[test]
fn report_escapes_strings_from_the_model_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let nasty = variant(dir.path(), "nasty.json", |r| {
        r["model"]["path"] = Value::from("<script>alert(1)</script>.pt");
        r["trials"][1]["why"] = Value::from("<img src=x onerror=alert(2)>");
    });
    let html = dir.path().join("r.html");
    ipex_tune()
        .arg("report")
        .arg(&nasty)
        .arg("--html")
        .arg(&html)
        .assert()
        .success();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains("<script>alert(1)"));
    assert!(!page.contains("<img src=x"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;.pt"));
}

#[test]
fn report_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    ipex_tune()
        .arg("report")
        .arg(sample())
        .arg("--html")
        .arg(&html)
        .assert()
        .success();
    let shot = dir.path().join("report.png");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/check-report-in-browser");
    let out = std::process::Command::new(script)
        .arg(&html)
        .arg(&shot)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a real screenshot"
    );
}

#[test]
fn the_committed_sample_renders_and_names_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("report.md");
    let output = ipex_tune()
        .arg("report")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reports/sample/results.json"))
        .arg("--markdown")
        .arg(&md)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(md).unwrap();
    assert!(
        text.contains("Host: ") && text.contains("ISA level"),
        "{text}"
    );
}

/// A report that cannot be written names the flag and the path, before
/// the results are read.
#[test]
fn an_unwritable_report_names_the_path() {
    let out = ipex_tune()
        .arg("report")
        .arg("/no/results.json")
        .args(["--html", "/proc/ipex-tune/x.html"])
        .output()
        .unwrap();
    assert_one_line_user_error(
        &out,
        "--html: /proc/ipex-tune/x.html: cannot write into /proc/ipex-tune",
    );
}

/// Both runs recorded the model's SHA-256 and they differ: the gate says the
/// model changed (a regression may be the model's, not the runtime's).
#[test]
fn a_changed_model_is_named_by_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let hash = |h: &'static str| move |r: &mut Value| r["model"]["sha256"] = h.into();
    let baseline = variant(dir.path(), "a.json", hash("1111111111111111aaaa"));
    let current = variant(dir.path(), "b.json", hash("2222222222222222bbbb"));
    let out = gate(&baseline, &current, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "the model file changed since the baseline (SHA-256 111111111111... -> 222222222222...)"
        ),
        "{stdout}"
    );
    let same = gate(&baseline, &baseline, &[]);
    assert!(!String::from_utf8_lossy(&same.stdout).contains("model file changed"));
}

/// docs/github-actions-gate.yml parses, and the step that appends the
/// gate's Markdown to the job summary is its own and runs even when the
/// gate fails (the summary matters most exactly then).
#[test]
fn the_ci_example_keeps_the_gate_summary_when_the_gate_fails() {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/github-actions-gate.yml"),
    )
    .unwrap();
    let workflow: Value = marked_yaml::from_yaml(0, &text).expect("valid YAML");
    let steps = workflow["jobs"]["perf"]["steps"].as_array().unwrap();
    let gate = steps.iter().find(|s| s["name"] == "Gate").unwrap();
    assert!(!gate["run"]
        .as_str()
        .unwrap()
        .contains("GITHUB_STEP_SUMMARY"));
    let summary = steps
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("GITHUB_STEP_SUMMARY"))
        })
        .expect("a summary step");
    assert!(summary["if"].as_str().unwrap().contains("always()"));
    let run = gate["run"].as_str().unwrap();
    for flag in [
        "--baseline",
        "--current",
        "--max-regression",
        "--junit",
        "--markdown",
    ] {
        assert!(run.contains(flag), "{flag}");
    }
}

/// A run without per-shape figures (one shape, or a v1 file) has no
/// per-shape panels: the four charts.
#[test]
fn per_shape_panels_only_for_several_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    ipex_tune()
        .arg("report")
        .arg(sample_v1())
        .arg("--html")
        .arg(&html)
        .assert()
        .success();
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 4);
    assert!(!page.contains("chart-per-shape"));
}
