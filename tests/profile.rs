//! `ipex-tune profile`: where one config's time goes, on the CNN fixture.
mod common;

use common::host::{all_threads, cpuinfo_has};
use common::{fixture, ipex_tune};
use serde_json::Value;

fn profile(config: &str) -> Value {
    let out = ipex_tune()
        .arg("profile")
        .arg(fixture("cnn.pt"))
        .args([
            "--suite", "cv", "--rounds", "5", "--json", "--config", config,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// Stock (aten ops through the dispatcher) and an O1 prepacked config (JIT-
/// internal mkldnn convolutions the dispatcher never sees): in both, the
/// graph's ops account for the profiled calls' time to within 10%, the
/// convolutions dominate, the kernels name their ISA, with AMX where the
/// CPU has it and a plain "no AMX" where it does not, and the measured roofs
/// come with the model's share of them.
#[test]
fn op_times_add_up_and_the_kernels_name_their_isa() {
    let t = all_threads();
    for config in [
        "stock/O0/fp32/glibc".to_string(),
        format!("stock/O1+fold+prepack/fp32/{t}/glibc"),
    ] {
        let r = profile(&config);
        assert_eq!(r["schema"], "ipex-tune/profile/v2");
        let ops = r["ops_ms_per_call"].as_f64().unwrap();
        let wall = r["profiled_ms_per_call"].as_f64().unwrap();
        assert!(
            ops <= wall * 1.001 && ops >= 0.9 * wall,
            "{config}: ops {ops} ms of {wall} ms per call"
        );
        let top = r["by_kind"][0]["kind"].as_str().unwrap();
        assert!(top.contains("conv"), "{config}: the top kind is {top}");
        let kernels = r["kernels"].as_array().unwrap();
        assert!(
            kernels
                .iter()
                .any(|k| k["kind"] == "convolution" && k["isa"].is_string()),
            "{config}: {kernels:?}"
        );
        let verdicts: Vec<&str> = r["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        // The roofs are measured, and the model is read against them: its
        // FLOPs from its own aten convolutions (stock), or from stock's when
        // the prepacked convolutions hide their sizes (O1).
        assert!(r["roofs"]["peak_gflops"]["fp32"].as_f64().unwrap() > 0.0);
        assert!(r["roofs"]["triad_gb_s"].as_f64().unwrap() > 0.0);
        let model = &r["model"];
        assert_eq!(model["dtype"], "fp32", "{config}: {model}");
        assert!(model["share_of_peak"].as_f64().unwrap() > 0.0, "{model}");
        assert!(model["intensity"].as_f64().unwrap() > 1.0, "{model}");
        if config.starts_with("stock/O0") {
            assert_eq!(model["flops_from"], "the config's own ops");
            assert!(r["roofline"][0]["intensity"].as_f64().unwrap() > 1.0);
        } else {
            assert_eq!(model["flops_from"], "stock's ops (the same arithmetic)");
        }
        if cpuinfo_has("amx_bf16") {
            assert!(
                verdicts.iter().any(|v| v.starts_with("AMX used for ")),
                "{verdicts:?}"
            );
        } else {
            assert!(
                verdicts.iter().any(|v| v.starts_with("no AMX on this CPU")),
                "{verdicts:?}"
            );
        }
    }
}

/// `run --profile`: the winner's profile lands in the results file, the
/// summary names its headlines, and the HTML report and the PNG export
/// draw its roofline.
#[test]
fn run_profile_stores_the_winners_profile_and_the_report_draws_it() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("cnn.json");
    let out = ipex_tune()
        .arg("run")
        .arg(fixture("cnn.pt"))
        .args(["--suite", "cv", "--min-time", "0.2", "--config"])
        .arg(format!(
            "stock/O1+fold+prepack/fp32/{}/glibc",
            all_threads()
        ))
        .args(["--profile", "--profile-rounds", "3", "-o"])
        .arg(&results)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    let p = &r["profile"];
    assert_eq!(p["config"], r["winner"]["label"], "the winner is profiled");
    assert!(p["by_kind"][0]["kind"].as_str().unwrap().contains("conv"));
    assert!(p["model"]["share_of_peak"].as_f64().unwrap() > 0.0);
    assert!(
        stdout.contains(&format!("profile of {}", p["config"].as_str().unwrap())),
        "{stdout}"
    );
    let html = dir.path().join("report.html");
    let png = dir.path().join("png");
    let report = ipex_tune()
        .arg("report")
        .arg(&results)
        .arg("--html")
        .arg(&html)
        .arg("--png")
        .arg(&png)
        .output()
        .unwrap();
    assert!(report.status.success());
    let html = std::fs::read_to_string(html).unwrap();
    let section = &html[html.find("id=\"profile\"").expect("a profile section")..];
    assert!(
        section.contains("id=\"chart-roofline\"><svg"),
        "the roofline is drawn"
    );
    assert!(
        section.contains("oneDNN primitive"),
        "kernels with their ISA"
    );
    assert!(png.join("roofline.png").metadata().unwrap().len() > 1000);
}
