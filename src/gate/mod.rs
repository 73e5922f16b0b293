//! The `gate` stage: comparing a current run with a baseline, trial by trial,
//! with a three-way verdict (improved / regressed / within noise) decided by
//! bootstrap confidence intervals against a noise threshold, as criterion
//! does — but a regression fails the process.
use std::collections::BTreeMap;

use serde::Serialize;

pub mod format;

use crate::measure::stats::{bootstrap_ratio_ci, quantile, sorted};
use crate::record::{Results, Status, TrialRecord};

/// Verdict of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Improved,
    WithinNoise,
    Regressed,
}

/// A latency statistic compared between runs: the ratio current/baseline
/// (> 1 is slower) with its bootstrap 95% interval.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub baseline_ms: f64,
    pub current_ms: f64,
    pub ratio: f64,
    pub ci95: (f64, f64),
    pub verdict: Verdict,
}

/// One trial matched across the runs.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub label: String,
    /// Median latency (throughput's inverse per iteration).
    pub median: Option<Ratio>,
    pub p99: Option<Ratio>,
    pub samples_per_s: (Option<f64>, Option<f64>),
    /// Why this pair fails, if it does.
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The whole gate.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub baseline_model: String,
    pub current_model: String,
    pub max_regression: f64,
    pub comparisons: Vec<Comparison>,
    /// Host/stack facts that differ (compared only with --allow-host-change).
    pub host_differences: Vec<String>,
    pub passed: bool,
}

/// The facts that must match for timings to be comparable.
pub fn host_differences(baseline: &Results, current: &Results) -> Vec<String> {
    let fact = |r: &Results, name: &str| {
        r.facts
            .get(name)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let mut out = Vec::new();
    for name in [
        "host.vendor",
        "host.isa.level",
        "host.cores.usable",
        "host.numa.nodes",
        "torch.version",
        "ipex.version",
    ] {
        let (a, b) = (fact(baseline, name), fact(current, name));
        if a != b {
            out.push(format!("{name}: {a} (baseline) vs {b} (current)"));
        }
    }
    let cpu = |r: &Results| {
        r.host
            .as_ref()
            .map(|h| h.cpu.model_name.clone())
            .unwrap_or_default()
    };
    if cpu(baseline) != cpu(current) {
        out.push(format!(
            "CPU: {} (baseline) vs {} (current)",
            cpu(baseline),
            cpu(current)
        ));
    }
    out
}

/// Bootstrap 95% interval of q(current)/q(baseline) for the quantile `q`,
/// resampling each sample independently (percentile method).
pub fn ratio_ci(
    baseline: &[f64],
    current: &[f64],
    q: f64,
    resamples: usize,
    seed: u64,
) -> (f64, f64) {
    bootstrap_ratio_ci(
        baseline,
        current,
        |s| quantile(&sorted(s), q),
        0.95,
        resamples,
        seed,
    )
}

/// Compares one latency quantile. Regressed when the whole interval lies
/// above 1 + threshold (slower beyond noise, with confidence); improved when
/// it lies below 1 - threshold; otherwise within noise.
pub fn compare_quantile(
    baseline: &[f64],
    current: &[f64],
    q: f64,
    threshold: f64,
) -> Option<Ratio> {
    if baseline.len() < 2 || current.len() < 2 {
        return None;
    }
    let base = quantile(&sorted(baseline), q);
    let cur = quantile(&sorted(current), q);
    let ci95 = ratio_ci(baseline, current, q, 1000, 0x9a7e);
    let verdict = if ci95.0 > 1.0 + threshold {
        Verdict::Regressed
    } else if ci95.1 < 1.0 - threshold {
        Verdict::Improved
    } else {
        Verdict::WithinNoise
    };
    Some(Ratio {
        baseline_ms: base,
        current_ms: cur,
        ratio: cur / base,
        ci95,
        verdict,
    })
}

fn compare_trial(
    label: &str,
    base: Option<&TrialRecord>,
    cur: Option<&TrialRecord>,
    threshold: f64,
) -> Comparison {
    let mut c = Comparison {
        label: label.to_string(),
        median: None,
        p99: None,
        samples_per_s: (
            base.and_then(|t| t.stats.as_ref()).map(|s| s.samples_per_s),
            cur.and_then(|t| t.stats.as_ref()).map(|s| s.samples_per_s),
        ),
        failures: Vec::new(),
        notes: Vec::new(),
    };
    match (base, cur) {
        (Some(_), None) => c.notes.push("not measured in the current run".into()),
        (None, Some(_)) => c.notes.push("new in the current run".into()),
        (Some(b), Some(k)) => {
            let ok = |t: &TrialRecord| t.status == Status::Ok;
            if ok(b) && !ok(k) {
                c.failures.push(format!(
                    "passed in the baseline, {:?} now: {}",
                    k.status,
                    k.reason.as_deref().unwrap_or("")
                ));
            }
            if b.accurate == Some(true) && k.accurate == Some(false) {
                c.failures.push(format!(
                    "accuracy drifted out of tolerance: {}",
                    k.accuracy_problem
                        .as_deref()
                        .unwrap_or("outside the suite's tolerance")
                ));
            }
            if ok(b) && ok(k) {
                c.median = compare_quantile(&b.latencies_ms, &k.latencies_ms, 0.5, threshold);
                c.p99 = compare_quantile(&b.latencies_ms, &k.latencies_ms, 0.99, threshold);
                for (what, ratio) in [("median latency", &c.median), ("p99 latency", &c.p99)] {
                    if let Some(r) = ratio {
                        if r.verdict == Verdict::Regressed {
                            c.failures.push(format!(
                                "{what} regressed {:+.1}% (95% CI {:+.1}%..{:+.1}%), beyond the {:.1}% threshold",
                                (r.ratio - 1.0) * 100.0,
                                (r.ci95.0 - 1.0) * 100.0,
                                (r.ci95.1 - 1.0) * 100.0,
                                threshold * 100.0
                            ));
                        }
                    }
                }
            }
        }
        (None, None) => {}
    }
    c
}

/// Compares every trial of the two runs, matched by config label.
pub fn gate(baseline: &Results, current: &Results, threshold: f64) -> GateReport {
    let index = |r: &Results| -> BTreeMap<String, TrialRecord> {
        r.trials
            .iter()
            .map(|t| (t.label.clone(), t.clone()))
            .collect()
    };
    let (b, k) = (index(baseline), index(current));
    let mut labels: Vec<&String> = b.keys().chain(k.keys()).collect();
    labels.sort();
    labels.dedup();
    let comparisons: Vec<Comparison> = labels
        .into_iter()
        .map(|l| compare_trial(l, b.get(l), k.get(l), threshold))
        .collect();
    let passed = comparisons.iter().all(Comparison::passed);
    GateReport {
        baseline_model: baseline.model.path.clone(),
        current_model: current.model.path.clone(),
        max_regression: threshold,
        comparisons,
        host_differences: host_differences(baseline, current),
        passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stats::SplitMix64;

    fn noisy(center: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|_| center * (1.0 + ((rng.next_u64() % 1000) as f64 / 1000.0 - 0.5) * 0.04))
            .collect()
    }

    #[test]
    fn identical_samples_are_within_noise() {
        let a = noisy(10.0, 300, 1);
        let r = compare_quantile(&a, &a, 0.5, 0.05).unwrap();
        assert_eq!(r.verdict, Verdict::WithinNoise);
        assert!((r.ratio - 1.0).abs() < 1e-12);
    }

    #[test]
    fn twenty_percent_slower_regresses() {
        let r = compare_quantile(&noisy(10.0, 300, 1), &noisy(12.0, 300, 2), 0.5, 0.05).unwrap();
        assert_eq!(r.verdict, Verdict::Regressed);
        assert!(r.ci95.0 > 1.05);
    }

    #[test]
    fn two_percent_is_noise_and_twenty_percent_faster_improves() {
        assert_eq!(
            compare_quantile(&noisy(10.0, 300, 1), &noisy(10.2, 300, 2), 0.5, 0.05)
                .unwrap()
                .verdict,
            Verdict::WithinNoise
        );
        assert_eq!(
            compare_quantile(&noisy(10.0, 300, 1), &noisy(8.0, 300, 2), 0.5, 0.05)
                .unwrap()
                .verdict,
            Verdict::Improved
        );
    }
}
