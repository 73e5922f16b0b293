//! `ipex-tune report` and `ipex-tune gate` on recorded results (a real run
//! of the CNN fixture on an AVX2 EPYC, tests/fixtures/results/; kept apart
//! from reports/sample/ so that the sample can be regenerated on any host
//! without moving the snapshots) and on copies of it changed the way a regression, noise, an accuracy drift or a
//! host change would change them.
mod common;

use std::path::{Path, PathBuf};

use common::{assert_one_line_user_error, ipex_tune};
use serde_json::Value;

fn sample() -> PathBuf {
    common::fixture("results/cnn-cv-epyc-avx2.json")
}

fn load() -> Value {
    serde_json::from_str(&std::fs::read_to_string(sample()).unwrap()).unwrap()
}

/// Writes `results` changed by `change` into `dir`.
fn variant(dir: &Path, name: &str, change: impl FnOnce(&mut Value)) -> PathBuf {
    let mut results = load();
    change(&mut results);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(&results).unwrap()).unwrap();
    path
}

fn scale_latencies(results: &mut Value, factor: f64) {
    for t in results["trials"].as_array_mut().unwrap() {
        for l in t["latencies_ms"].as_array_mut().unwrap() {
            *l = Value::from(l.as_f64().unwrap() * factor);
        }
    }
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
        "wrong.json: schema 'criterion/v2', expected 'ipex-tune/results/v1'",
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
    assert_eq!(page.matches("<svg").count(), 4, "four inline charts");
    // Self-contained: no scripts, no fetched resources (the SVG namespace
    // URI is an identifier, not a fetch).
    assert!(!page.contains("<script"), "no scripts");
    for fetch in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!page.contains(fetch), "fetches a resource: {fetch}");
    }
    for chart in ["throughput", "latency", "memory", "accuracy-speedup"] {
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
