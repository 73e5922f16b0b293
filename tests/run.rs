//! `ipex-tune run` on the real fixtures: every model with its suite, real
//! crashes and an injected hang recorded as failed trials, a run killed
//! mid-way keeping its finished trials, and no thread-count change after
//! packing. Trial times are kept tiny: speed is the benchmarks' job.
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::host::{all_threads, usable_cores};
use common::{assert_one_line_user_error, fixture, ipex_tune, own_lock_dir};
use serde_json::Value;

const QUICK: [&str; 4] = ["--min-time", "0.05", "--min-iters", "3"];

fn run(model: &str, args: &[&str]) -> (Value, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let output = ipex_tune()
        .arg("run")
        .arg(fixture(model))
        .args(QUICK)
        .args(args)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap_or_else(|_| {
        panic!(
            "no results file; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (serde_json::from_str(&text).expect("valid JSON"), output)
}

/// The fixture MLP with the generic suite (16x512) and `budget`.
fn mlp_generic(budget: &str) -> (Value, std::process::Output) {
    run(
        "mlp.pt",
        &[
            "--suite",
            "generic",
            "--input-shape",
            "16x512",
            "--budget",
            budget,
        ],
    )
}

fn trial_by_label<'a>(results: &'a Value, label: &str) -> &'a Value {
    results["trials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == label)
        .unwrap_or_else(|| panic!("no trial {label}"))
}

/// The per-shape keys of a trial, in order (e.g. `inputs 16x512`).
fn shape_names(trial: &Value) -> Vec<&str> {
    trial["per_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shape"].as_str().unwrap())
        .collect()
}

/// [`run`], asserting that the run succeeded.
fn run_ok(model: &str, args: &[&str]) -> Value {
    let (results, output) = run(model, args);
    assert!(
        output.status.success(),
        "{model}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    results
}

/// What a config stands on when measured several times, as the winner's
/// ranking reads it: the median, the lower middle one of an even count
/// (None for no measurement).
fn lower_median(mut figures: Vec<f64>) -> Option<f64> {
    figures.sort_by(f64::total_cmp);
    figures.get(figures.len().saturating_sub(1) / 2).copied()
}

/// A complete, valid run: stock first, a winner that is accurate and at
/// least as fast as stock.
fn assert_good_run(results: &Value, output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(results["schema"], "ipex-tune/results/v2");
    assert_eq!(results["complete"], true);
    let trials = results["trials"].as_array().unwrap();
    assert!(trials.len() >= 2, "stock and at least one candidate");
    assert_eq!(trials[0]["label"], "stock/O0/fp32/glibc");
    assert_eq!(trials[0]["status"], "ok");
    let stock = trials[0]["stats"]["samples_per_s"].as_f64().unwrap();
    let winner = &results["winner"];
    assert!(winner["samples_per_s"].as_f64().unwrap() >= stock);
    assert!(winner["speedup"].as_f64().unwrap() >= 1.0);
    let won = &trials[winner["trial"].as_u64().unwrap() as usize];
    assert_eq!(won["accurate"], true);
    for t in trials.iter().skip(1).filter(|t| t["status"] == "ok") {
        assert!(
            t["accuracy"].is_object(),
            "{} has an accuracy check",
            t["label"]
        );
        assert!(!t["latencies_ms"].as_array().unwrap().is_empty());
        assert!(t["peak_rss_bytes"].as_u64().unwrap() > 0);
        // Per shape: every shape of the suite, its own figures.
        let shapes = t["per_shape"].as_array().unwrap();
        assert!(!shapes.is_empty(), "{}", t["label"]);
        for shape in shapes {
            assert!(shape["stats"]["samples_per_s"].as_f64().unwrap() > 0.0);
            assert!(!shape["latencies_ms"].as_array().unwrap().is_empty());
        }
        let (lo, hi) = (
            t["speedup_ci95"][0].as_f64().unwrap(),
            t["speedup_ci95"][1].as_f64().unwrap(),
        );
        let speedup = t["speedup"].as_f64().unwrap();
        assert!(lo <= speedup && speedup <= hi, "{}: {lo}..{hi}", t["label"]);
        assert!(t["interference"]["window_s"].as_f64().unwrap() > 0.0);
    }
    // Stock again at the end: the drift of the reference.
    let last = trials.last().unwrap();
    assert_eq!(last["label"], "stock/O0/fp32/glibc");
    assert!(
        results["stock_drift"]["ci95"].is_array(),
        "{}",
        results["stock_drift"]
    );
    // A playoff's finalists, each measured once per round besides the
    // search's measurement, stand on their medians.
    if let Some(playoff) = results["playoff"].as_object() {
        let rounds = playoff["rounds"].as_u64().unwrap() as usize;
        for f in playoff["finalists"].as_array().unwrap() {
            let figures: Vec<f64> = f["samples_per_s"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert!(figures.len() <= rounds + 1, "{f}");
            assert_eq!(
                f["median_samples_per_s"].as_f64(),
                lower_median(figures),
                "{f}"
            );
        }
        // A round starts only where it fits in the budget.
        let measured_again = trials
            .iter()
            .any(|t| t["why"].as_str().unwrap().starts_with("playoff round"));
        assert_eq!(measured_again, rounds > 0, "{playoff:?}");
        assert!(
            rounds > 0 || playoff["cut_short"].is_string(),
            "{playoff:?}"
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("winner: #"), "{stdout}");
}

#[test]
fn cnn_with_the_cv_suite() {
    let (results, output) = run("cnn.pt", &["--suite", "cv", "--budget", "20s"]);
    assert_good_run(&results, &output);
    // The cv suite's two batch sizes: two distributions, and the summary
    // shows them shape by shape.
    let shapes: Vec<&str> = results["trials"][0]["per_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shape"].as_str().unwrap())
        .collect();
    assert_eq!(shapes.len(), 2, "{shapes:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("per shape, stock -> winner"), "{stdout}");
    assert!(stdout.contains(shapes[1]), "{stdout}");
    // Rule exclusions are recorded with their ids.
    assert!(results["plan"]["exclusions"]
        .to_string()
        .contains("texpr-needs-llvm"));
}

#[test]
fn mlp_with_the_generic_suite() {
    let (results, output) = mlp_generic("20s");
    assert_good_run(&results, &output);
}

/// A budget stock's measurement alone spends (a busy host, a tiny
/// budget) still gets one config besides stock, and the reference again.
#[test]
fn a_budget_spent_on_stock_still_measures_one_config() {
    let (results, output) = mlp_generic("0.01s");
    assert_good_run(&results, &output);
    let trials = results["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 3, "stock, one config, stock again");
    assert_ne!(trials[1]["label"], "stock/O0/fp32/glibc");
}

#[test]
fn encoder_with_the_nlp_suite() {
    let (results, output) = run("encoder.pt", &["--suite", "nlp", "--budget", "20s"]);
    assert_good_run(&results, &output);
}

#[test]
fn recsys_with_the_recsys_suite() {
    let (results, output) = run("recsys.pt", &["--suite", "recsys", "--budget", "20s"]);
    assert_good_run(&results, &output);
    for t in results["trials"].as_array().unwrap() {
        assert_eq!(
            t["config"]["streams"], 1,
            "EmbeddingBag inputs are never split"
        );
    }
}

#[test]
fn lstm_loop_with_the_speech_suite() {
    let (results, output) = run("lstm_loop.pt", &["--suite", "speech", "--budget", "20s"]);
    assert_good_run(&results, &output);
}

#[test]
fn mlp_with_a_data_dependent_if() {
    let (results, output) = run(
        "mlp_if.pt",
        &[
            "--suite",
            "generic",
            "--input-shape",
            "8x64",
            "--budget",
            "20s",
        ],
    );
    assert_good_run(&results, &output);
}

#[test]
fn custom_entry_method() {
    let (results, output) = run(
        "custom_method.pt",
        &[
            "--suite",
            "generic",
            "--input-shape",
            "1x1x112x112",
            "--method",
            "inference",
            "--budget",
            "20s",
        ],
    );
    assert_good_run(&results, &output);
    let folded = results["trials"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["steps"].as_array().unwrap().iter())
        .any(|s| s["pass"] == "fold_conv_bn" && s["changed"] == true);
    assert!(folded, "conv-bn folded on the `inference` method");
}

#[test]
fn real_crashes_and_failures_are_recorded_and_the_run_completes() {
    // Graph-mode dynamic int8 segfaults inside libtorch on nn.TransformerEncoder;
    // the oneDNN Graph fuser throws on it. Thread counts follow the host.
    let t = all_threads();
    let crashing = format!("stock/O1/int8-dyn/{t}/glibc");
    let failing = format!("stock/O1+fold/onednn/fp32/{t}/glibc");
    let fine = format!("stock/O1+fold+prepack/fp32/{t}/glibc");
    let (results, output) = run(
        "encoder.pt",
        &[
            "--suite", "nlp", "--config", &crashing, "--config", &failing, "--config", &fine,
        ],
    );
    assert!(output.status.success());
    assert_eq!(results["complete"], true);
    let crashed = trial_by_label(&results, &crashing);
    assert_eq!(crashed["status"], "crashed");
    assert!(
        crashed["reason"].as_str().unwrap().contains("SIGSEGV"),
        "{crashed}"
    );
    let failed = trial_by_label(&results, &failing);
    assert_eq!(failed["status"], "failed");
    assert_eq!(trial_by_label(&results, &fine)["status"], "ok");
    assert!(results["winner"].is_object());
}

#[test]
fn a_hanging_trial_times_out_and_the_run_completes() {
    let t = all_threads();
    let hanging = format!("stock/O1/fp32/{t}/glibc");
    let fine = format!("stock/O1+prepack/fp32/{t}/glibc");
    let (results, output) = run(
        "mlp.pt",
        &[
            "--suite",
            "generic",
            "--input-shape",
            "4x512",
            "--config",
            &hanging,
            "--config",
            &fine,
            "--inject-hang",
            "stock/O1/fp32",
            "--trial-timeout",
            "20s",
        ],
    );
    assert!(output.status.success());
    assert_eq!(trial_by_label(&results, &hanging)["status"], "timeout");
    assert_eq!(trial_by_label(&results, &fine)["status"], "ok");
    assert_eq!(results["complete"], true);
}

#[test]
fn threads_never_change_after_packing() {
    // Two streams of one thread each on a module packed with one thread, and
    // static int8 calibrated with all cores but converted with one thread.
    // Two streams need two usable cores.
    if usable_cores() < 2 {
        eprintln!("skipped: two streams need two usable cores, this process has 1");
        return;
    }
    let (results, output) = run(
        "cnn.pt",
        &[
            "--suite",
            "cv",
            "--batch-size",
            "2",
            "--config",
            "stock/O1+fold+prepack/fp32/t1/s2/glibc",
            "--config",
            "stock/O1+fold+prepack/int8-static/t1/glibc",
        ],
    );
    assert!(output.status.success());
    for label in [
        "stock/O1+fold+prepack/fp32/t1/s2/glibc",
        "stock/O1+fold+prepack/int8-static/t1/glibc",
    ] {
        let t = trial_by_label(&results, label);
        assert_eq!(t["status"], "ok", "{t}");
        assert_eq!(t["threads"], 1, "{label}");
    }
}

fn wait_for_trials(path: &Path, count: usize, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                if v["trials"].as_array().map_or(0, |t| t.len()) >= count {
                    return v;
                }
            }
        }
        assert!(
            start.elapsed() < limit,
            "no {count} trials within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_background_run(out: &Path) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("ipex-tune"))
        .env("IPEX_TUNE_LOCK_DIR", own_lock_dir())
        .env("IPEX_TUNE_PYTHON", common::WITHOUT_INDUCTOR)
        .arg("run")
        .arg(fixture("mlp.pt"))
        .args(["--suite", "generic", "--input-shape", "4x512", "--quiet"])
        .args(QUICK)
        .arg("--output")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_mid_run_leaves_a_valid_results_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let mut child = start_background_run(&out);
    wait_for_trials(&out, 2, Duration::from_secs(120));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).expect("valid JSON");
    assert_eq!(results["schema"], "ipex-tune/results/v2");
    assert_eq!(results["complete"], false);
    let trials = results["trials"].as_array().unwrap();
    assert!(trials.len() >= 2);
    assert!(
        trials.iter().all(|t| t["status"].is_string()),
        "every recorded trial is finished"
    );
}

/// Ctrl-C, and SIGTERM / SIGHUP (how CI runners cancel a job): the run
/// stops, keeps what it measured (`interrupted: true`) and exits 130.
#[test]
fn ctrl_c_stops_cleanly_and_keeps_what_was_measured() {
    for signal in ["-INT", "-TERM", "-HUP"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("results.json");
        let mut child = start_background_run(&out);
        wait_for_trials(&out, 2, Duration::from_secs(120));
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{signal}");
        let results: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(results["interrupted"], true, "{signal}");
        assert!(results["trials"].as_array().unwrap().len() >= 2, "{signal}");
    }
}

/// One timing run per set of cores: a second run on the same cores stops at
/// once (exit 4, naming the first run's pid), or waits with --lock-wait and
/// goes on when the first run ends, however it ends.
#[test]
fn a_second_run_on_the_same_cores_waits_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let locks = dir.path().join("locks");
    let t = all_threads();
    let quick_run = |extra: &[&str], out: &str| {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("ipex-tune"));
        cmd.env("IPEX_TUNE_LOCK_DIR", &locks)
            .env("IPEX_TUNE_PYTHON", common::WITHOUT_INDUCTOR)
            .arg("run")
            .arg(fixture("mlp.pt"))
            .args(["--suite", "generic", "--input-shape", "4x512", "--quiet"])
            .args(["--config", &format!("stock/O1+prepack/fp32/{t}/glibc")])
            .args(QUICK)
            .args(extra)
            .arg("--output")
            .arg(dir.path().join(out));
        cmd
    };
    // The first run hangs in its stock trial, holding every usable core.
    let mut first = quick_run(
        &["--inject-hang", "stock", "--trial-timeout", "120s"],
        "first.json",
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let start = Instant::now();
    while !std::fs::read_dir(&locks).is_ok_and(|d| d.count() > 0) {
        assert!(start.elapsed() < Duration::from_secs(60), "no lock taken");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));

    let refused = quick_run(&[], "refused.json").output().unwrap();
    assert_eq!(refused.status.code(), Some(4), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}: ipex-tune run", first.id())),
        "{stderr}"
    );
    assert!(stderr.contains("--no-lock"), "{stderr}");
    assert!(
        !dir.path().join("refused.json").exists(),
        "nothing was timed"
    );

    // A waiting run goes on once the holder is gone (SIGKILL: the kernel
    // releases the lock; no stale lock survives a crash).
    let waiting = quick_run(&["--lock-wait", "5m"], "waited.json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    first.kill().unwrap();
    first.wait().unwrap();
    let waited = waiting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&waited.stderr);
    assert!(waited.status.success(), "{stderr}");
    assert!(stderr.contains("waiting for the cores"), "{stderr}");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("waited.json")).unwrap())
            .unwrap();
    assert_eq!(results["complete"], true);
}

/// A reader that stops early (`| head`) ends ipex-tune quietly: no
/// "Broken pipe" panic (exit 101), no message.
#[test]
fn a_closed_pipe_ends_quietly() {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("ipex-tune"))
        .args(["rules", "facts"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once
    let out = child.wait_with_output().unwrap();
    assert_ne!(
        out.status.code(),
        Some(101),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn bad_config_label() {
    let output = ipex_tune()
        .arg("run")
        .arg(fixture("cnn.pt"))
        .args([
            "--suite",
            "cv",
            "--config",
            "stock/O3/fp32/glibc",
            "--output",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert_one_line_user_error(&output, "'stock/O3/fp32/glibc': the level is O0, O1 or O2");
}

#[test]
fn generic_suite_needs_a_shape_per_argument() {
    let output = ipex_tune()
        .arg("run")
        .arg(fixture("recsys.pt"))
        .args(["--suite", "generic", "--input-shape", "8x13"])
        .output()
        .unwrap();
    assert_one_line_user_error(
        &output,
        "`forward` takes 3 argument(s) (dense, indices, offsets); got 1 shape(s)",
    );
}

/// `run --baseline`: a comparison with too few samples is inconclusive; the
/// run measures that config once more with the iterations the gate asks
/// for before deciding, and an inconclusive verdict fails unless allowed.
#[test]
fn a_baseline_run_remeasures_inconclusive_configs() {
    let dir = tempfile::tempdir().unwrap();
    let label = format!("stock/O1+fold+prepack/fp32/t{}/glibc-tuned", usable_cores());
    let common = [
        "--suite",
        "generic",
        "--input-shape",
        "16x512",
        "--config",
        label.as_str(),
    ];
    let baseline = dir.path().join("baseline.json");
    let first = ipex_tune()
        .arg("run")
        .arg(fixture("mlp.pt"))
        .args(["--min-time", "0", "--min-iters", "3"])
        .args(common)
        .arg("--output")
        .arg(&baseline)
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let gated = |extra: &[&str]| {
        let (results, output) = run(
            "mlp.pt",
            &[
                &common[..],
                &["--baseline", baseline.to_str().unwrap()],
                extra,
            ]
            .concat(),
        );
        (results, output)
    };
    let (results, output) = gated(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Three calls per side: the baseline stays inconclusive however long
    // the current run measures.
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("INCONCLUSIVE"), "{stdout}");
    let remeasured: Vec<&Value> = results["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["label"] == label.as_str())
        .collect();
    assert_eq!(remeasured.len(), 2, "measured, then measured again");
    assert!(
        remeasured[1]["why"]
            .as_str()
            .unwrap()
            .contains("re-measured"),
        "{}",
        remeasured[1]["why"]
    );
    assert!(
        remeasured[1]["stats"]["iterations"].as_u64().unwrap()
            > remeasured[0]["stats"]["iterations"].as_u64().unwrap()
    );
    let (_, lenient) = gated(&["--inconclusive-passes"]);
    assert_eq!(
        lenient.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&lenient.stdout)
    );
}

/// `--objective` and `--max-latency` pick the winner by their own figure:
/// checked against each run's own measurements (which config is faster is
/// the host's business; on a 2-core EPYC, latency picked t2 and throughput
/// i2).
#[test]
fn the_objective_decides_the_winner() {
    let t = usable_cores();
    let configs = [
        format!("stock/O1+fold+prepack/fp32/t{t}/glibc-tuned"),
        "stock/O1+fold+prepack/fp32/t1/glibc-tuned".to_string(),
    ];
    let run_with = |extra: &[&str]| {
        let mut args = vec!["--suite", "generic", "--input-shape", "1x3x32x32"];
        for c in &configs {
            args.extend(["--config", c.as_str()]);
        }
        args.extend(extra);
        run("cnn.pt", &args)
    };
    // The config a run must crown under a score (higher is better): each
    // config stands on the median of its windows' scores (the lower
    // middle one of an even count: stock is measured at the start and the
    // end), and windows without a score do not count.
    let best_by = |results: &Value, score: &dyn Fn(&Value) -> Option<f64>| -> Option<String> {
        let mut by_label: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
        for t in results["trials"].as_array().unwrap() {
            if t["status"] == "ok" && t["accurate"] == true {
                if let Some(s) = score(t) {
                    by_label
                        .entry(t["label"].as_str().unwrap().to_string())
                        .or_default()
                        .push(s);
                }
            }
        }
        by_label
            .into_iter()
            .filter_map(|(label, scores)| Some((label, lower_median(scores)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(label, _)| label)
    };
    let winner = |results: &Value| results["winner"]["label"].as_str().map(String::from);

    let (throughput, _) = run_with(&["--objective", "throughput"]);
    assert_eq!(throughput["objective"]["kind"], "throughput");
    let best = best_by(&throughput, &|t| t["stats"]["samples_per_s"].as_f64());
    assert_eq!(winner(&throughput), best);

    let (latency, output) = run_with(&["--objective", "latency"]);
    assert_eq!(latency["objective"]["kind"], "latency");
    assert_eq!(latency["objective"]["percentile"], 50);
    let fastest = best_by(&latency, &|t| {
        t["per_shape"][0]["stats"]["median_ms"]
            .as_f64()
            .map(|ms| -ms)
    });
    assert_eq!(winner(&latency), fastest);
    assert!(String::from_utf8_lossy(&output.stdout).contains("objective: latency"));

    // A limit between the two configs' tails: the winner is the fastest of
    // those within it.
    let limit = throughput["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "ok")
        .map(|t| t["per_shape"][0]["stats"]["p99_ms"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min)
        * 1.5;
    let (limited, _) = run_with(&["--max-latency", &format!("{limit}ms")]);
    assert_eq!(limited["objective"]["kind"], "max-latency");
    let best_within = best_by(&limited, &|t| {
        let p99 = t["per_shape"][0]["stats"]["p99_ms"].as_f64().unwrap();
        (p99 <= limit).then(|| t["stats"]["samples_per_s"].as_f64().unwrap())
    });
    assert_eq!(winner(&limited), best_within);
}

/// `--save-optimized`: the winner's module is written, reloads to the same
/// outputs (checked in the child), loads and runs in a fresh process under
/// the deploy block's environment; the block names the winner's threads,
/// allocator and one launch line per instance.
#[test]
fn the_winner_is_saved_with_how_to_run_it() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("optimized.pt");
    let label = match usable_cores() {
        1 => "stock/O1+fold/fp32/t1/glibc-tuned".to_string(),
        n => format!("stock/O1+fold/fp32/t1/i{n}/glibc-tuned"),
    };
    let (results, output) = run(
        "cnn.pt",
        &[
            "--suite",
            "generic",
            "--input-shape",
            "1x3x32x32",
            "--config",
            &label,
            "--save-optimized",
            saved.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deploy = &results["deploy"];
    let winner = &results["winner"];
    assert_eq!(deploy["config"], winner["label"], "{deploy}");
    let instances = winner["config"]["instances"].as_u64().unwrap() as usize;
    assert_eq!(
        deploy["launch"].as_array().unwrap().len(),
        instances,
        "{deploy}"
    );
    assert!(deploy["env"]["OMP_NUM_THREADS"].is_string(), "{deploy}");
    assert!(deploy["ipex_launcher"]
        .as_str()
        .unwrap()
        .starts_with("ipexrun --ninstances"));
    assert_eq!(
        deploy["saved_module"].as_str().unwrap(),
        saved.to_str().unwrap()
    );
    assert!(
        deploy["notes"]
            .to_string()
            .contains("gives the winner's outputs within"),
        "{deploy}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("deploy ") && stdout.contains("IPEX launcher"),
        "{stdout}"
    );
    // A fresh process, with the deploy block's environment.
    let mut fresh = ipex_tune();
    for (k, v) in deploy["env"].as_object().unwrap() {
        fresh.env(k, v.as_str().unwrap());
    }
    let out = fresh
        .args(["inspect", "--json"])
        .arg(&saved)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (again, output) = run(
        saved.to_str().unwrap(),
        &[
            "--suite",
            "generic",
            "--input-shape",
            "1x3x32x32",
            "--config",
            &label,
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(again["trials"][1]["status"], "ok", "{}", again["trials"][1]);
}

/// Models the bundled suites did not fit before: 80 log-mel features, a
/// 500-word vocabulary, a CNN traced at 224x224. They run with the suite,
/// fitted to them.
#[test]
fn suites_fitted_to_the_model_run() {
    for (model, suite) in [
        ("speech80.pt", "speech"),
        ("speech80_scripted.pt", "speech"),
        ("vocab500.pt", "nlp"),
        ("cnn224.pt", "cv"),
    ] {
        let (results, output) = run(
            model,
            &[
                "--suite",
                suite,
                "--batch-size",
                "1",
                "--config",
                &format!("stock/O1/fp32/t{}/glibc", usable_cores()),
            ],
        );
        assert!(
            output.status.success(),
            "{model}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!results["suite"]["inferred"].as_array().unwrap().is_empty());
        assert_eq!(
            results["trials"][1]["status"], "ok",
            "{}",
            results["trials"][1]
        );
        assert_eq!(
            results["trials"][1]["accurate"], true,
            "{}",
            results["trials"][1]
        );
    }
}

/// The MLP on 16x512 inputs with `args` added (files, one --config); the
/// run must succeed.
fn run_mlp(args: &[&str]) -> Value {
    let mut all = vec!["--suite", "generic", "--input-shape", "16x512"];
    all.extend(args);
    let (results, output) = run("mlp.pt", &all);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    results
}

/// `--inputs` measures and checks accuracy on the file's batches (here two
/// batches of a torch.save list), `--calibration` calibrates static int8 on
/// another file (.npz, by argument name).
#[test]
fn real_inputs_and_calibration_from_files() {
    let inputs = fixture("inputs/mlp-batches.pt");
    let calibration = fixture("inputs/mlp-calibration.npz");
    let label = format!("stock/O1/int8-static/t{}/glibc", usable_cores());
    let results = run_mlp(&[
        "--inputs",
        inputs.to_str().unwrap(),
        "--calibration",
        calibration.to_str().unwrap(),
        "--config",
        &label,
    ]);
    let trial = &results["trials"][1];
    assert_eq!(trial["status"], "ok", "{trial}");
    let shapes = shape_names(trial);
    assert_eq!(shapes, ["inputs 16x512", "inputs 4x512"]);
    assert_eq!(trial["accuracy"]["outputs_compared"], 2, "{trial}");
    assert!(results["suite"]["calibration_file"]["path"]
        .as_str()
        .unwrap()
        .ends_with("mlp-calibration.npz"));
}

/// `--labels` reports the task's top-1 of stock and of every config, and
/// with `--max-accuracy-loss` that criterion decides what is accurate. The
/// labels are the traced MLP's own classes with every fourth moved: stock's
/// top-1 is 15/20.
#[test]
fn labels_give_task_accuracy_and_the_criterion_decides() {
    let inputs = fixture("inputs/mlp-batches.pt");
    let labels = fixture("inputs/mlp-labels.pt");
    let label = format!("stock/O1/int8-dyn/t{}/glibc", usable_cores());
    let results = run_mlp(&[
        "--inputs",
        inputs.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--max-accuracy-loss",
        "1%",
        "--config",
        &label,
    ]);
    assert_eq!(
        results["trials"][0]["task_top1"], 0.75,
        "{}",
        results["trials"][0]
    );
    assert_eq!(results["suite"]["accuracy"]["max_loss"]["relative"], true);
    for t in results["trials"].as_array().unwrap() {
        if t["status"] != "ok" {
            continue;
        }
        let top1 = t["task_top1"].as_f64().unwrap();
        assert_eq!(t["accurate"] == true, top1 >= 0.75 * 0.99, "{t}");
    }
    assert!(results["trials"][1]["task_top1"].is_number());
    // Labels need inputs; a bad criterion is refused with one line.
    let out = ipex_tune()
        .args([
            "run",
            "--suite",
            "generic",
            "--input-shape",
            "16x512",
            "--labels",
        ])
        .arg(&labels)
        .arg(fixture("mlp.pt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = ipex_tune()
        .args([
            "run",
            "--suite",
            "generic",
            "--input-shape",
            "16x512",
            "--inputs",
        ])
        .arg(&inputs)
        .arg("--labels")
        .arg(&labels)
        .args(["--max-accuracy-loss", "lots"])
        .arg(fixture("mlp.pt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected a relative loss like 1%"));
}

/// A suite whose sizes the model cannot take: the error names the
/// arguments with the sizes given and the flags that set them.
#[test]
fn a_suite_the_model_cannot_take_names_the_flags() {
    let out = ipex_tune()
        .arg("run")
        .arg(fixture("lstm_loop.pt"))
        .args(["--suite", "cv", "--quiet"])
        .args(QUICK)
        .arg("--output")
        .arg(tempfile::tempdir().unwrap().path().join("r.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    // The last dimension is the LSTM's 40 features (read from its weights);
    // the image's other sizes are still the suite's.
    assert!(
        stderr.contains("the suite gave x [batch, 3, 112, 40]: set the sizes with --suite generic --input-shape"),
        "{stderr}"
    );
}

/// An image folder for a CV model: the PNGs (three sizes and aspect ratios;
/// a text file in the folder is skipped) decoded, resized and cropped to the
/// 224x224 the CNN was traced with, batched by --batch-size (2 + 1); labels
/// from a text file of class ids, one per image.
#[test]
fn an_image_folder_with_text_labels() {
    let images = fixture("inputs/images");
    let labels = fixture("inputs/images-labels.txt");
    let results = run_ok(
        "cnn224.pt",
        &[
            "--suite",
            "cv",
            "--batch-size",
            "2",
            "--inputs",
            images.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--config",
            &format!("stock/O1/fp32/t{}/glibc", usable_cores()),
        ],
    );
    let trial = &results["trials"][1];
    assert_eq!(trial["status"], "ok", "{trial}");
    let shapes = shape_names(trial);
    assert_eq!(shapes, ["inputs 2x3x224x224", "inputs 1x3x224x224"]);
    // Three labels for three images: a share of them, computed.
    let top1 = results["trials"][0]["task_top1"].as_f64().unwrap();
    assert!([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]
        .iter()
        .any(|v| (v - top1).abs() < 1e-9));
}

/// A text file of token ids for an NLP model: one sequence per line, padded
/// per batch with its attention mask; an id beyond the model's vocabulary
/// is refused before any trial, naming the line.
#[test]
fn a_token_id_file() {
    let tokens = fixture("inputs/tokens.txt");
    let results = run_ok(
        "vocab500.pt",
        &[
            "--suite",
            "nlp",
            "--batch-size",
            "2",
            "--inputs",
            tokens.to_str().unwrap(),
            "--config",
            &format!("stock/O1/fp32/t{}/glibc", usable_cores()),
        ],
    );
    let trial = &results["trials"][1];
    assert_eq!(trial["status"], "ok", "{trial}");
    assert_eq!(trial["accurate"], true, "{trial}");
    let shapes = shape_names(trial);
    // Lines of 5 and 9 ids, 7 and 3, then 12: padded to each batch's longest.
    assert_eq!(
        shapes,
        ["inputs 2x9 2x9", "inputs 2x7 2x7", "inputs 1x12 1x12"]
    );
    let beyond = fixture("inputs/tokens-beyond-vocabulary.txt");
    let out = ipex_tune()
        .args(["plan", "--suite", "nlp", "--inputs"])
        .arg(&beyond)
        .arg(fixture("vocab500.pt"))
        .output()
        .unwrap();
    assert_one_line_user_error(
        &out,
        "line 2: id 612 is not below the model's 500 token ids",
    );
    // An image folder for a model whose suite takes token ids.
    let out = ipex_tune()
        .args(["plan", "--suite", "nlp", "--inputs"])
        .arg(fixture("inputs/images"))
        .arg(fixture("vocab500.pt"))
        .output()
        .unwrap();
    assert_one_line_user_error(&out, "an image folder fills one image input");
}

/// Paths the run writes at its end (results, reports, the saved module) and
/// the baseline it gates against are checked before any trial: one line
/// naming the flag and the path, exit 2, and no run started (no results
/// file written).
#[test]
fn bad_output_paths_and_baselines_are_refused_before_any_trial() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    for (flag, value, needle) in [
        (
            "--report",
            "/proc/ipex-tune-report",
            "--report: /proc/ipex-tune-report: cannot write into /proc/ipex-tune-report",
        ),
        (
            "--save-optimized",
            "/proc/ipex-tune/model.pt",
            "--save-optimized: /proc/ipex-tune/model.pt: cannot write into /proc/ipex-tune",
        ),
        (
            "--baseline",
            "/nonexistent/baseline.json",
            "/nonexistent/baseline.json: cannot read",
        ),
    ] {
        let out = ipex_tune()
            .args(["run", "--suite", "cv", "--output"])
            .arg(&results)
            .args([flag, value])
            .arg(fixture("cnn.pt"))
            .output()
            .unwrap();
        assert_one_line_user_error(&out, needle);
        assert!(!results.exists(), "{flag}: a run started");
    }
    let out = ipex_tune()
        .args(["run", "--suite", "cv", "--output", "/proc/ipex-tune/r.json"])
        .arg(fixture("cnn.pt"))
        .output()
        .unwrap();
    assert_one_line_user_error(
        &out,
        "--output: /proc/ipex-tune/r.json: cannot write into /proc/ipex-tune",
    );
}

/// The expert's recipes are the floor of the guided search: measured right
/// after stock, every recipe in each of the launcher's layouts (one
/// instance on all cores; several on core groups where there are cores to
/// split), each either measured or skipped with its reason; the winner is
/// never slower than an accurate recipe beyond the interval of their ratio,
/// and the results and the terminal carry the winner's ratio to the best.
#[test]
fn the_expert_recipes_come_first_and_the_winner_never_loses_to_them() {
    let (results, output) = mlp_generic("40s");
    assert_good_run(&results, &output);
    let trials = results["trials"].as_array().unwrap();
    let expert = &results["expert"];
    let recipes = expert["recipes"].as_array().expect("an expert record");
    let usable = results["host"]["limits"]["usable_cores"].as_u64().unwrap();
    let layouts: std::collections::BTreeSet<&str> = recipes
        .iter()
        .map(|r| r["layout"].as_str().unwrap())
        .collect();
    assert_eq!(
        layouts.len(),
        if usable >= 2 { 2 } else { 1 },
        "{layouts:?}"
    );
    assert_eq!(recipes.len(), 4 * layouts.len());
    let mut next = 1;
    for r in recipes {
        match (r["trial"].as_u64(), r["skipped"].as_str()) {
            (Some(id), None) => {
                // In order, right after stock, unless an earlier recipe
                // already measured the same config.
                let t = &trials[id as usize];
                assert_eq!(t["label"], r["label"], "{r}");
                if id as usize == next {
                    assert!(t["why"].as_str().unwrap().starts_with("expert recipe"));
                    next += 1;
                }
            }
            (None, Some(why)) => assert!(!why.is_empty()),
            _ => panic!("a recipe is measured or skipped with a reason: {r}"),
        }
    }
    let winner = &results["winner"];
    let won = winner["samples_per_s"].as_f64().unwrap();
    let winner_shapes = &trials[winner["trial"].as_u64().unwrap() as usize];
    // A config stands on the median of its accurate measurements (the
    // lower middle one of an even count): a playoff measures finalists
    // again.
    let median_of = |label: &serde_json::Value| {
        lower_median(
            trials
                .iter()
                .filter(|t| t["label"] == *label && t["status"] == "ok" && t["accurate"] == true)
                .map(|t| t["stats"]["samples_per_s"].as_f64().unwrap())
                .collect(),
        )
    };
    assert_eq!(median_of(&winner["label"]), Some(won), "{winner}");
    for r in recipes {
        let Some(id) = r["trial"].as_u64() else {
            continue;
        };
        let t = &trials[id as usize];
        let Some(theirs) = median_of(&t["label"]) else {
            continue;
        };
        // Slower beyond noise would be a loss: the tie rule allows no more
        // than the two trials' own spread.
        let spread = t["stats"]["cv"].as_f64().unwrap_or(0.0)
            + winner_shapes["stats"]["cv"].as_f64().unwrap_or(0.0);
        assert!(
            won >= theirs * (1.0 - spread),
            "winner {won} loses to the recipe {} at {theirs}",
            t["label"]
        );
    }
    let best = expert["best"]["samples_per_s"]
        .as_f64()
        .expect("a recipe ran");
    let ratio = expert["winner_ratio"].as_f64().unwrap();
    assert!(
        (ratio - won / best).abs() < 1e-9 && ratio >= 1.0,
        "{expert}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("vs expert: "), "{stdout}");
}
