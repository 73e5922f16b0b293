//! The `gate` stage: comparing a current run with a baseline, trial by trial
//! and input shape by input shape, on throughput, median and p99 latency.
//! Each comparison's verdict comes from the bootstrap 95% interval of its
//! ratio against the threshold t (current/baseline, > 1 is slower):
//! regressed when the whole interval lies above 1 + t; improved when it lies
//! below 1 - t; within the threshold when it lies below 1 + t; otherwise
//! (the interval straddles 1 + t, or too few samples) inconclusive, which
//! fails unless the caller lets it pass, and says how many more iterations
//! would likely resolve it. Tails need far more samples for the same
//! precision (a p99 over 500 calls rests on its 5 largest): p99 is judged
//! against 3t, and an inconclusive p99 is a note, while a confident p99
//! regression fails.
use std::collections::BTreeMap;

use serde::Serialize;

pub mod format;

use crate::measure::shapes::ShapeStats;
use crate::measure::stats::{bootstrap_ratio_ci, mean, quantile, sorted};
use crate::record::{Results, Status, TrialRecord};

/// Fewer samples than this on either side cannot be judged.
pub const MIN_SAMPLES: usize = 10;

/// p99's threshold, in multiples of the gate's.
pub const P99_THRESHOLD_FACTOR: f64 = 3.0;

/// Verdict of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Improved,
    WithinThreshold,
    Regressed,
    Inconclusive,
}

/// What a comparison compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Samples/s, compared as the mean latency per call (same config, same
    /// workers on both sides), so > 1 is slower like the others.
    Throughput,
    Median,
    P99,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::Median => "median latency",
            Metric::P99 => "p99 latency",
        }
    }
}

/// One statistic compared between runs: current/baseline (> 1 is slower)
/// with its bootstrap 95% interval.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Ratio {
    pub metric: Metric,
    /// The statistic on each side: samples/s for throughput, ms otherwise.
    pub baseline: f64,
    pub current: f64,
    pub ratio: f64,
    pub ci95: (f64, f64),
    pub verdict: Verdict,
    /// For an inconclusive verdict: about how many more timed iterations
    /// (per side) would likely resolve it.
    pub more_iterations: Option<usize>,
}

/// One input shape of one trial, compared.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ShapeComparison {
    /// The shape key (`all shapes` when a side has no per-shape figures).
    pub shape: String,
    pub ratios: Vec<Ratio>,
}

/// One trial matched across the runs.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Comparison {
    pub label: String,
    pub shapes: Vec<ShapeComparison>,
    /// The runs' summary samples/s (for the record; the gate compares the
    /// per-shape figures).
    pub samples_per_s: (Option<f64>, Option<f64>),
    /// Why this pair fails, if it does.
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The inconclusive comparisons that decide (throughput, median).
    fn deciding_inconclusive(&self) -> impl Iterator<Item = &Ratio> {
        self.shapes
            .iter()
            .flat_map(|s| &s.ratios)
            .filter(|r| r.verdict == Verdict::Inconclusive && r.metric != Metric::P99)
    }

    /// Whether a deciding comparison of this trial was inconclusive (for
    /// stock they are notes: see [`is_stock`]).
    pub fn inconclusive(&self) -> bool {
        self.deciding_inconclusive().next().is_some()
    }

    /// The most iterations its deciding inconclusive comparisons ask for.
    pub fn more_iterations(&self) -> Option<usize> {
        self.deciding_inconclusive()
            .filter_map(|r| r.more_iterations)
            .max()
    }
}

/// The whole gate.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct GateReport {
    pub baseline_model: String,
    pub current_model: String,
    pub max_regression: f64,
    /// Whether inconclusive comparisons pass (`--inconclusive-passes`).
    pub inconclusive_passes: bool,
    pub comparisons: Vec<Comparison>,
    /// Host/stack facts that differ (compared only with --allow-host-change).
    pub host_differences: Vec<String>,
    /// When both runs recorded the model's SHA-256 and they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_changed: Option<String>,
    /// Runs whose reference (stock, measured through the run) moved
    /// beyond the noise threshold: a change smaller than the movement may
    /// be the host's, not the code's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noisy_runs: Vec<String>,
    pub passed: bool,
}

/// The facts that must match for timings to be comparable, by name: the
/// host's vendor, ISA level, usable cores, NUMA nodes, CPU model and the
/// torch stack's versions. `merge` groups shards by them too.
pub fn comparable_host_facts(r: &Results) -> Vec<(&'static str, String)> {
    let fact = |name: &str| {
        r.facts
            .get(name)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let mut out: Vec<(&'static str, String)> = [
        "host.vendor",
        "host.isa.level",
        "host.cores.usable",
        "host.numa.nodes",
        "torch.version",
        "ipex.version",
    ]
    .into_iter()
    .map(|name| (name, fact(name)))
    .collect();
    out.push((
        "CPU",
        r.host
            .as_ref()
            .map(|h| h.cpu.model_name.clone())
            .unwrap_or_default(),
    ));
    out
}

/// The facts that must match for timings to be comparable.
pub fn host_differences(baseline: &Results, current: &Results) -> Vec<String> {
    comparable_host_facts(baseline)
        .into_iter()
        .zip(comparable_host_facts(current))
        .filter(|((_, a), (_, b))| a != b)
        .map(|((name, a), (_, b))| format!("{name}: {a} (baseline) vs {b} (current)"))
        .collect()
}

/// Bootstrap 95% interval of stat(current)/stat(baseline), resampling
/// each side independently (percentile method).
fn ratio_ci(baseline: &[f64], current: &[f64], stat: &dyn Fn(&[f64]) -> f64) -> (f64, f64) {
    bootstrap_ratio_ci(baseline, current, stat, 0.95, 1000, 0x9a7e)
}

/// The verdict on a ratio and its interval (module doc), and for an
/// inconclusive one the iterations that would likely resolve it: the
/// interval narrows as 1/sqrt(n), and must shrink to the distance between
/// the ratio and the threshold.
pub fn judge(ratio: f64, ci95: (f64, f64), threshold: f64, n: usize) -> (Verdict, Option<usize>) {
    if n < MIN_SAMPLES {
        return (Verdict::Inconclusive, Some(MIN_SAMPLES.max(4 * n) - n));
    }
    let limit = 1.0 + threshold;
    if ci95.0 > limit {
        return (Verdict::Regressed, None);
    }
    if ci95.1 < 1.0 - threshold {
        return (Verdict::Improved, None);
    }
    if ci95.1 <= limit {
        return (Verdict::WithinThreshold, None);
    }
    let half_width = (ci95.1 - ci95.0) / 2.0;
    let distance = (ratio - limit).abs().max(half_width / 30.0);
    let needed = (n as f64 * (half_width / distance).powi(2)).ceil() as usize;
    (Verdict::Inconclusive, Some(needed.saturating_sub(n).max(1)))
}

/// Compares one statistic of two latency samples (ms). For throughput the
/// statistic is the mean latency and the figures shown are samples/s
/// (`rate` = samples/s per ms of mean latency, i.e. batch × workers × 1000).
pub fn compare(
    metric: Metric,
    baseline: &[f64],
    current: &[f64],
    threshold: f64,
    rate: f64,
) -> Option<Ratio> {
    if baseline.is_empty() || current.is_empty() {
        return None;
    }
    let stat = |s: &[f64]| match metric {
        Metric::Throughput => mean(s),
        Metric::Median => quantile(&sorted(s), 0.5),
        Metric::P99 => quantile(&sorted(s), 0.99),
    };
    let (base, cur) = (stat(baseline), stat(current));
    let ratio = cur / base;
    let ci95 = if baseline.len() < 2 || current.len() < 2 {
        (0.0, f64::INFINITY)
    } else {
        ratio_ci(baseline, current, &stat)
    };
    let (verdict, more_iterations) =
        judge(ratio, ci95, threshold, baseline.len().min(current.len()));
    let (baseline, current) = match metric {
        Metric::Throughput => (rate / base, rate / cur),
        _ => (base, cur),
    };
    Some(Ratio {
        metric,
        baseline,
        current,
        ratio,
        ci95,
        verdict,
        more_iterations,
    })
}

/// Stock (as loaded, glibc malloc, default threads) is the reference, not a
/// config anyone deploys, and the noisiest one (glibc's malloc churn makes
/// its latencies bimodal): its inconclusive comparisons are notes, while a
/// confident stock regression still fails.
fn is_stock(t: &TrialRecord) -> bool {
    t.config == crate::config::Config::stock()
}

/// The threshold a metric is judged against.
fn metric_threshold(metric: Metric, threshold: f64) -> f64 {
    match metric {
        Metric::P99 => threshold * P99_THRESHOLD_FACTOR,
        _ => threshold,
    }
}

/// Throughput, median and p99 of one shape.
fn compare_shape(
    shape: &str,
    baseline: &[f64],
    current: &[f64],
    threshold: f64,
    rate: f64,
) -> ShapeComparison {
    ShapeComparison {
        shape: shape.to_string(),
        ratios: [Metric::Throughput, Metric::Median, Metric::P99]
            .into_iter()
            .filter_map(|m| compare(m, baseline, current, metric_threshold(m, threshold), rate))
            .collect(),
    }
}

/// The shapes to compare: per shape when both runs have per-shape figures
/// (schema v2), else the trial's calls over all shapes.
fn shapes_of(
    b: &TrialRecord,
    k: &TrialRecord,
    threshold: f64,
    notes: &mut Vec<String>,
) -> Vec<ShapeComparison> {
    if b.per_shape.is_empty() || k.per_shape.is_empty() {
        notes.push(
            "compared over all shapes together (a run without per-shape figures, schema v1)".into(),
        );
        let rate = |t: &TrialRecord| {
            t.stats
                .as_ref()
                .map_or(0.0, |s| s.samples_per_s * s.mean_ms)
        };
        return vec![compare_shape(
            "all shapes",
            &b.latencies_ms,
            &k.latencies_ms,
            threshold,
            rate(k),
        )];
    }
    let mut out = Vec::new();
    for base in &b.per_shape {
        match k.per_shape.iter().find(|s| s.shape == base.shape) {
            Some(cur) => out.push(compare_shape(
                &base.shape,
                &base.latencies_ms,
                &cur.latencies_ms,
                threshold,
                shape_rate(cur),
            )),
            None => notes.push(format!(
                "shape {} not measured in the current run",
                base.shape
            )),
        }
    }
    out
}

/// samples/s per ms of mean latency: batch × workers × 1000.
fn shape_rate(s: &ShapeStats) -> f64 {
    (s.batch_size * s.workers as u64) as f64 * 1000.0
}

fn describe(r: &Ratio, threshold: f64) -> String {
    let pct = |x: f64| (x - 1.0) * 100.0;
    let change = match r.metric {
        Metric::Throughput => format!("{:+.1}% time per call", pct(r.ratio)),
        _ => format!("{:+.1}%", pct(r.ratio)),
    };
    match r.verdict {
        Verdict::Regressed => format!(
            "{} regressed {change} (95% CI {:+.1}%..{:+.1}%), beyond the {:.1}% threshold",
            r.metric.name(),
            pct(r.ci95.0),
            pct(r.ci95.1),
            threshold * 100.0
        ),
        _ => format!(
            "{} inconclusive: {change}, 95% CI {:+.1}%..{:+.1}% straddles the {:.1}% threshold; about {} more iterations would resolve it",
            r.metric.name(),
            pct(r.ci95.0),
            pct(r.ci95.1.min(99.99)),
            threshold * 100.0,
            r.more_iterations.unwrap_or(0)
        ),
    }
}

fn compare_trial(
    label: &str,
    base: Option<&TrialRecord>,
    cur: Option<&TrialRecord>,
    threshold: f64,
    inconclusive_passes: bool,
) -> Comparison {
    let mut c = Comparison {
        label: label.to_string(),
        shapes: Vec::new(),
        samples_per_s: (
            base.and_then(|t| t.stats.as_ref()).map(|s| s.samples_per_s),
            cur.and_then(|t| t.stats.as_ref()).map(|s| s.samples_per_s),
        ),
        failures: Vec::new(),
        notes: Vec::new(),
    };
    let (Some(b), Some(k)) = (base, cur) else {
        if base.is_some() {
            c.notes.push("not measured in the current run".into());
        } else if cur.is_some() {
            c.notes.push("new in the current run".into());
        }
        return c;
    };
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
    if !(ok(b) && ok(k)) {
        return c;
    }
    c.shapes = shapes_of(b, k, threshold, &mut c.notes);
    for shape in &c.shapes {
        for r in &shape.ratios {
            let what = format!(
                "{}: {}",
                shape.shape,
                describe(r, metric_threshold(r.metric, threshold))
            );
            match r.verdict {
                Verdict::Regressed => c.failures.push(what),
                Verdict::Inconclusive
                    if inconclusive_passes || r.metric == Metric::P99 || is_stock(k) =>
                {
                    c.notes.push(what)
                }
                Verdict::Inconclusive => c.failures.push(what),
                _ => {}
            }
        }
    }
    c
}

/// Compares every trial of the two runs, matched by config label.
pub fn gate(
    baseline: &Results,
    current: &Results,
    threshold: f64,
    inconclusive_passes: bool,
) -> GateReport {
    let (b, k) = (pooled_by_label(baseline), pooled_by_label(current));
    let mut labels: Vec<&String> = b.keys().chain(k.keys()).collect();
    labels.sort();
    labels.dedup();
    let comparisons: Vec<Comparison> = labels
        .into_iter()
        .map(|l| compare_trial(l, b.get(l), k.get(l), threshold, inconclusive_passes))
        .collect();
    let passed = comparisons.iter().all(Comparison::passed);
    GateReport {
        baseline_model: baseline.model.path.clone(),
        current_model: current.model.path.clone(),
        max_regression: threshold,
        inconclusive_passes,
        comparisons,
        host_differences: host_differences(baseline, current),
        model_changed: model_change(baseline, current),
        noisy_runs: [("baseline", baseline), ("current", current)]
            .into_iter()
            .filter_map(|(which, r)| noisy_run(which, r))
            .collect(),
        passed,
    }
}

/// Each label's record as the gate compares it: its last record, and when
/// that one ran, with the latencies of every measurement of the label that
/// ran as it did (same accuracy verdict) pooled, shape by shape. A config
/// measured several times in a run (stock through the run, the playoff's
/// finalists, a re-measure by `run --baseline`) is then compared on all its
/// windows: one window is one draw of a host that moves by percents from
/// minute to minute (issue 27), and the last one is no better a draw than
/// the others. The figure shown is the median window's samples/s, the one
/// the winner's ranking stands on.
fn pooled_by_label(r: &Results) -> BTreeMap<String, TrialRecord> {
    // Per label: the record compared, and the samples/s of each window in it.
    let mut out: BTreeMap<String, (TrialRecord, Vec<f64>)> = BTreeMap::new();
    for t in r.trials.iter().rev() {
        let figure = t
            .stats
            .as_ref()
            .filter(|_| t.status == Status::Ok)
            .map(|s| s.samples_per_s);
        let Some((pooled, windows)) = out.get_mut(&t.label) else {
            out.insert(t.label.clone(), (t.clone(), figure.into_iter().collect()));
            continue;
        };
        let alike = pooled.status == Status::Ok
            && t.status == Status::Ok
            && pooled.accurate == t.accurate
            && same_shapes(pooled, t);
        if alike {
            pool_into(pooled, t);
            windows.extend(figure);
        }
    }
    out.into_iter()
        .map(|(label, (mut pooled, mut windows))| {
            windows.sort_by(f64::total_cmp);
            if let (Some(stats), Some(&median)) = (
                pooled.stats.as_mut(),
                windows.get(windows.len().saturating_sub(1) / 2),
            ) {
                stats.samples_per_s = median;
            }
            (label, pooled)
        })
        .collect()
}

/// Whether two records measured the same shapes (v1 records: none).
fn same_shapes(a: &TrialRecord, b: &TrialRecord) -> bool {
    a.per_shape.len() == b.per_shape.len()
        && a.per_shape.iter().zip(&b.per_shape).all(|(x, y)| {
            x.shape == y.shape && x.batch_size == y.batch_size && x.workers == y.workers
        })
}

/// Adds `other`'s latencies to `into`'s, over all shapes and per shape.
fn pool_into(into: &mut TrialRecord, other: &TrialRecord) {
    into.latencies_ms.extend_from_slice(&other.latencies_ms);
    for (shape, more) in into.per_shape.iter_mut().zip(&other.per_shape) {
        shape.latencies_ms.extend_from_slice(&more.latencies_ms);
    }
}

/// "the current run was noisy: ..." when its reference moved beyond the
/// threshold.
fn noisy_run(which: &str, r: &Results) -> Option<String> {
    let reference = r.reference.as_ref().filter(|reference| reference.noisy)?;
    Some(format!(
        "the {which} run was noisy: its reference (stock) moved {:.1}% (95% CI {:.1}%..{:.1}%) during the run; a change smaller than that may be the host's",
        (reference.movement - 1.0) * 100.0,
        (reference.movement_ci95.0 - 1.0) * 100.0,
        (reference.movement_ci95.1 - 1.0) * 100.0
    ))
}

/// "the model file changed (SHA-256 1a2b3c4d... -> 5e6f7a8b...)" when both
/// runs recorded a hash and they differ: a regression may be the model's.
fn model_change(baseline: &Results, current: &Results) -> Option<String> {
    match (&baseline.model.sha256, &current.model.sha256) {
        (Some(b), Some(k)) if b != k => Some(format!(
            "the model file changed since the baseline (SHA-256 {}... -> {}...)",
            &b[..b.len().min(12)],
            &k[..k.len().min(12)]
        )),
        _ => None,
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

    fn median_of(b: &[f64], k: &[f64]) -> Ratio {
        compare(Metric::Median, b, k, 0.05, 1.0).unwrap()
    }

    #[test]
    fn identical_samples_are_within_the_threshold() {
        let a = noisy(10.0, 300, 1);
        let r = median_of(&a, &a);
        assert_eq!(r.verdict, Verdict::WithinThreshold);
        assert!((r.ratio - 1.0).abs() < 1e-12);
    }

    #[test]
    fn twenty_percent_slower_regresses() {
        let r = median_of(&noisy(10.0, 300, 1), &noisy(12.0, 300, 2));
        assert_eq!(r.verdict, Verdict::Regressed);
        assert!(r.ci95.0 > 1.05);
    }

    #[test]
    fn two_percent_passes_and_twenty_percent_faster_improves() {
        assert_eq!(
            median_of(&noisy(10.0, 300, 1), &noisy(10.2, 300, 2)).verdict,
            Verdict::WithinThreshold
        );
        assert_eq!(
            median_of(&noisy(10.0, 300, 1), &noisy(8.0, 300, 2)).verdict,
            Verdict::Improved
        );
    }

    #[test]
    fn a_wide_interval_is_inconclusive_not_a_pass() {
        // +5% with a +-15% spread: the interval straddles the threshold.
        let wide = |c: f64, seed| -> Vec<f64> {
            let mut rng = SplitMix64::new(seed);
            (0..40)
                .map(|_| c * (1.0 + ((rng.next_u64() % 1000) as f64 / 1000.0 - 0.5) * 0.6))
                .collect()
        };
        let r = median_of(&wide(10.0, 1), &wide(10.5, 2));
        assert_eq!(r.verdict, Verdict::Inconclusive, "{r:?}");
        assert!(r.more_iterations.unwrap() > 0);
    }

    #[test]
    fn too_few_samples_are_inconclusive() {
        let r = median_of(&noisy(10.0, 5, 1), &noisy(20.0, 5, 2));
        assert_eq!(r.verdict, Verdict::Inconclusive);
        assert!(r.more_iterations.unwrap() >= MIN_SAMPLES - 5);
    }

    #[test]
    fn throughput_compares_time_per_call_and_shows_samples_per_s() {
        let r = compare(
            Metric::Throughput,
            &noisy(10.0, 300, 1),
            &noisy(20.0, 300, 2),
            0.05,
            8000.0,
        )
        .unwrap();
        assert_eq!(r.verdict, Verdict::Regressed);
        assert!(
            (r.baseline - 800.0).abs() < 10.0 && (r.current - 400.0).abs() < 5.0,
            "{r:?}"
        );
    }

    /// A real v2 run whose trials are one config measured in `windows`
    /// (each latency scaled by its factor) and then `last_status`.
    fn windows_of(factors: &[f64], last_status: Option<Status>) -> Results {
        let mut results: Results = serde_json::from_str(include_str!(
            "../../tests/fixtures/results/cnn-cv-epyc-avx512bf16.json"
        ))
        .unwrap();
        let model = results.trials[3].clone();
        let window = |factor: f64| {
            let mut t = model.clone();
            t.latencies_ms.iter_mut().for_each(|l| *l *= factor);
            for shape in &mut t.per_shape {
                shape.latencies_ms.iter_mut().for_each(|l| *l *= factor);
            }
            if let Some(stats) = t.stats.as_mut() {
                stats.samples_per_s /= factor;
            }
            t
        };
        results.trials = factors.iter().map(|&f| window(f)).collect();
        if let Some(status) = last_status {
            let mut failed = window(1.0);
            failed.status = status;
            results.trials.push(failed);
        }
        results
    }

    #[test]
    fn a_config_measured_in_several_windows_is_compared_on_all_of_them() {
        let baseline = windows_of(&[1.0], None);
        // The playoff's windows of the same config: two as fast as the
        // baseline, the last one 10% slower (the host, for a minute).
        let current = windows_of(&[1.0, 1.0, 1.1], None);
        let pooled = pooled_by_label(&current);
        let label = &current.trials[0].label;
        let record = &pooled[label];
        assert_eq!(
            record.latencies_ms.len(),
            3 * current.trials[0].latencies_ms.len()
        );
        for (shape, one) in record.per_shape.iter().zip(&current.trials[0].per_shape) {
            assert_eq!(shape.latencies_ms.len(), 3 * one.latencies_ms.len());
        }
        let median = current.trials[0].stats.as_ref().unwrap().samples_per_s;
        let shown = record.stats.as_ref().unwrap().samples_per_s;
        assert!((shown - median).abs() < 1e-9, "the median window's figure");
        let report = gate(&baseline, &current, 0.05, false);
        assert!(report.passed, "{:?}", report.comparisons);
        // The last window alone would have regressed.
        let last_only = windows_of(&[1.1], None);
        assert!(!gate(&baseline, &last_only, 0.05, false).passed);
    }

    #[test]
    fn a_config_that_fails_last_is_judged_on_its_failure() {
        let baseline = windows_of(&[1.0], None);
        let current = windows_of(&[1.0, 1.0], Some(Status::Crashed));
        let record = &pooled_by_label(&current)[&current.trials[0].label];
        assert_eq!(record.status, Status::Crashed);
        assert!(!gate(&baseline, &current, 0.05, false).passed);
    }
}
