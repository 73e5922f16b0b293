//! A run that knows the host is noisy: the reference (stock) measured
//! through the run moves when other processes take the cores, and the
//! results say so. The load is real: busy processes started once the
//! first stock trial is in the results file, on every core, until the run
//! ends. (Its own test binary: no sibling test runs beside it.)
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fixture;

/// Busy loops on every core, killed when dropped.
struct Load(Vec<Child>);

impl Load {
    fn start() -> Load {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Load(
            (0..cores)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .unwrap()
                })
                .collect(),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn trials_in(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|r| r["trials"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn a_run_whose_reference_moves_is_marked_noisy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let mut run = Command::new(assert_cmd::cargo::cargo_bin("ipex-tune"))
        .env_remove("IPEX_TUNE_IPEX_LIBRARY")
        .env_remove("LD_PRELOAD")
        .env("IPEX_TUNE_LOCK_DIR", common::own_lock_dir())
        .env("IPEX_TUNE_PYTHON", common::WITHOUT_INDUCTOR)
        .arg("run")
        .arg(fixture("mlp.pt"))
        .args(["--suite", "generic", "--input-shape", "64x512"])
        .args(["--min-time", "1", "--quiet"])
        .args(["--config", "stock/O1/fp32/t1/glibc"])
        .args(["--config", "stock/O1+prepack/fp32/t1/glibc"])
        .arg("--output")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first stock trial measured on a quiet host, the rest under load.
    let deadline = Instant::now() + Duration::from_secs(300);
    while trials_in(&out) < 1 {
        assert!(Instant::now() < deadline, "no first trial in 300 s");
        assert!(run.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let load = Load::start();
    let finished = run.wait_with_output().unwrap();
    drop(load);
    let stderr = String::from_utf8_lossy(&finished.stderr);
    assert!(finished.status.success(), "{stderr}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let reference = &results["reference"];
    assert_eq!(reference["noisy"], true, "{reference}");
    assert!(reference["points"].as_array().unwrap().len() >= 2);
    // Stock at the end, under load, is the slower point.
    assert!(
        reference["movement"].as_f64().unwrap() > 1.03,
        "{reference}"
    );
    let warnings = results["warnings"].to_string();
    assert!(warnings.contains("host noisy"), "{warnings}");
    // The candidates measured between the two points are marked.
    let marked = reference["marked"].as_array().unwrap();
    assert!(!marked.is_empty(), "{reference}");
    let first = &results["trials"][marked[0].as_u64().unwrap() as usize];
    assert!(
        first["warnings"]
            .to_string()
            .contains("measured while the reference moved"),
        "{first}"
    );
}
