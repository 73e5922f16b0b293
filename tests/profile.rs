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
        assert_eq!(r["schema"], "ipex-tune/profile/v1");
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
        // The roofs are measured, and the model is read against them where
        // the dispatcher sized its compute ops (stock's aten convolutions).
        assert!(r["roofs"]["gemm_gflops"]["fp32"].as_f64().unwrap() > 0.0);
        assert!(r["roofs"]["triad_gb_s"].as_f64().unwrap() > 0.0);
        if config.starts_with("stock/O0") {
            let share = r["model_share_of_peak"].as_f64().unwrap();
            assert!(share > 0.0, "{config}: {share}");
            assert!(r["roofline"][0]["intensity"].as_f64().unwrap() > 1.0);
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
