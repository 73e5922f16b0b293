//! Statistics over latencies, as pure functions with their formulas.

use serde::{Deserialize, Serialize};

/// The `q`-quantile (0 <= q <= 1) of `sorted` by linear interpolation
/// between closest ranks (Hyndman & Fan type 7, numpy's default).
/// `sorted` must be ascending and non-empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of an empty sample");
    let q = q.clamp(0.0, 1.0);
    let position = q * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let fraction = position - lower as f64;
    sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
}

/// A sorted copy of `values` (NaNs last).
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// The median of `values` (non-empty).
pub fn median(values: &[f64]) -> f64 {
    quantile(&sorted(values), 0.5)
}

/// (max - min) / median (non-empty): how far repeated figures of one
/// thing spread.
pub fn spread(values: &[f64]) -> f64 {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (hi - lo) / median(values)
}

/// Arithmetic mean (non-empty).
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation, sqrt(sum((x - mean)^2) / (n - 1)); 0 for n < 2.
pub fn stddev(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    (values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// Median absolute deviation: median(|x - median(x)|).
pub fn mad(values: &[f64]) -> f64 {
    let m = median(values);
    median(&values.iter().map(|x| (x - m).abs()).collect::<Vec<_>>())
}

/// Indexes of outliers by the modified z-score of Iglewicz and Hoaglin
/// (1993): M = 0.6745 (x - median) / MAD, an outlier when |M| > 3.5.
/// Robust where mean/stddev are not: the outliers do not hide themselves.
/// When more than half the values are equal the MAD is 0; the score then
/// uses the mean absolute deviation, M = (x - median) / (1.253314 MeanAD)
/// (the usual substitute; 1.253314 = sqrt(pi/2) makes both estimate sigma
/// for normal data), so a lone far value among identical ones is still found.
pub fn mad_outliers(values: &[f64]) -> Vec<usize> {
    if values.len() < 3 {
        return Vec::new();
    }
    let m = median(values);
    let d = mad(values);
    let scale = if d > 0.0 {
        d / 0.6745
    } else {
        1.253314 * mean(&values.iter().map(|x| (x - m).abs()).collect::<Vec<_>>())
    };
    if scale == 0.0 {
        return Vec::new();
    }
    values
        .iter()
        .enumerate()
        .filter(|(_, x)| ((*x - m) / scale).abs() > 3.5)
        .map(|(i, _)| i)
        .collect()
}

/// Every `len / max`-th value, at most `max` of them, in order.
pub fn thin(values: &[f64], max: usize) -> Vec<f64> {
    if values.len() <= max {
        return values.to_vec();
    }
    let step = values.len() as f64 / max as f64;
    (0..max)
        .map(|i| values[(i as f64 * step) as usize])
        .collect()
}

/// A small deterministic generator (SplitMix64), so bootstrap intervals are
/// reproducible for the same sample.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

pub(crate) fn resample(rng: &mut SplitMix64, values: &[f64], into: &mut [f64]) {
    for slot in into.iter_mut() {
        *slot = values[rng.below(values.len())];
    }
}

/// The (1-level)/2 and (1+level)/2 quantiles of bootstrap estimates.
pub(crate) fn percentile_interval(mut estimates: Vec<f64>, level: f64) -> (f64, f64) {
    estimates.sort_by(|a, b| a.total_cmp(b));
    (
        quantile(&estimates, (1.0 - level) / 2.0),
        quantile(&estimates, (1.0 + level) / 2.0),
    )
}

/// Percentile bootstrap confidence interval of `statistic` (Efron 1979):
/// resample `values` with replacement `resamples` times, and take the
/// (1-level)/2 and (1+level)/2 quantiles of the statistic over resamples.
pub fn bootstrap_ci(
    values: &[f64],
    statistic: impl Fn(&[f64]) -> f64,
    level: f64,
    resamples: usize,
    seed: u64,
) -> (f64, f64) {
    let mut rng = SplitMix64::new(seed);
    let mut sample = vec![0.0; values.len()];
    let estimates = (0..resamples)
        .map(|_| {
            resample(&mut rng, values, &mut sample);
            statistic(&sample)
        })
        .collect();
    percentile_interval(estimates, level)
}

/// Percentile bootstrap interval of statistic(current) / statistic(baseline)
/// for two independent samples: each resample draws from both, baseline
/// first, with one reproducible generator.
pub fn bootstrap_ratio_ci(
    baseline: &[f64],
    current: &[f64],
    statistic: impl Fn(&[f64]) -> f64,
    level: f64,
    resamples: usize,
    seed: u64,
) -> (f64, f64) {
    let mut rng = SplitMix64::new(seed);
    let mut a = vec![0.0; baseline.len()];
    let mut b = vec![0.0; current.len()];
    let estimates = (0..resamples)
        .map(|_| {
            resample(&mut rng, baseline, &mut a);
            resample(&mut rng, current, &mut b);
            statistic(&b) / statistic(&a)
        })
        .collect();
    percentile_interval(estimates, level)
}

/// Latency statistics of a trial, in milliseconds, and its throughput.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct LatencyStats {
    pub iterations: usize,
    pub samples_per_s: f64,
    pub mean_ms: f64,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub stddev_ms: f64,
    pub mad_ms: f64,
    pub outliers: usize,
    /// 95% bootstrap confidence interval of the median.
    pub median_ci95_ms: (f64, f64),
    /// Coefficient of variation (stddev / mean).
    pub cv: f64,
}

impl LatencyStats {
    /// Statistics over per-iteration latencies (seconds) that together
    /// processed `samples` samples in `elapsed_s` seconds of wall time.
    pub fn from_latencies(latencies_s: &[f64], samples: u64, elapsed_s: f64) -> LatencyStats {
        let ms: Vec<f64> = latencies_s.iter().map(|s| s * 1e3).collect();
        let s = sorted(&ms);
        let mean_ms = mean(&ms);
        let stddev_ms = stddev(&ms);
        LatencyStats {
            iterations: ms.len(),
            samples_per_s: if elapsed_s > 0.0 {
                samples as f64 / elapsed_s
            } else {
                0.0
            },
            mean_ms,
            median_ms: quantile(&s, 0.5),
            p90_ms: quantile(&s, 0.9),
            p99_ms: quantile(&s, 0.99),
            p999_ms: quantile(&s, 0.999),
            min_ms: s[0],
            max_ms: s[s.len() - 1],
            stddev_ms,
            mad_ms: mad(&ms),
            outliers: mad_outliers(&ms).len(),
            median_ci95_ms: bootstrap_ci(&ms, median, 0.95, 1000, 0x1beb_7e57),
            cv: if mean_ms > 0.0 {
                stddev_ms / mean_ms
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_order_and_bounds() {
        let v: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(thin(&v, 20), v);
        assert_eq!(thin(&v, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
    }

    #[test]
    fn quantile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert!((quantile(&v, 0.5) - 2.5).abs() < 1e-12);
        // numpy.percentile([1,2,3,4], 90) == 3.7
        assert!((quantile(&v, 0.9) - 3.7).abs() < 1e-12);
    }

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
    }

    #[test]
    fn stddev_and_mad() {
        // numpy.std([2,4,4,4,5,5,7,9], ddof=1) == 2.138...
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!((stddev(&v) - 2.138_089_935).abs() < 1e-6);
        // median 4.5; |x - 4.5| = 2.5,.5,.5,.5,.5,.5,2.5,4.5 -> median 0.5
        assert_eq!(mad(&v), 0.5);
        assert_eq!(stddev(&[1.0]), 0.0);
    }

    #[test]
    fn a_zero_mad_still_finds_a_lone_far_value() {
        // More than half the values equal: MAD = 0, the mean absolute
        // deviation stands in (hyperfine tests the same case).
        let values = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 50.0];
        assert_eq!(mad(&values), 0.0);
        assert_eq!(mad_outliers(&values), vec![7]);
        assert!(mad_outliers(&[2.0, 2.0, 2.0, 2.0]).is_empty());
    }

    #[test]
    fn a_ratio_interval_brackets_the_true_ratio() {
        let a: Vec<f64> = (0..200).map(|i| 10.0 + (i % 7) as f64 * 0.1).collect();
        let b: Vec<f64> = a.iter().map(|x| x * 2.0).collect();
        let (lo, hi) = bootstrap_ratio_ci(&a, &b, median, 0.95, 500, 3);
        assert!(lo <= 2.0 && 2.0 <= hi && hi - lo < 0.2, "{lo}..{hi}");
    }

    #[test]
    fn mad_flags_only_the_far_values() {
        let mut v = vec![10.0, 10.1, 9.9, 10.05, 9.95, 10.02, 9.98];
        v.push(30.0);
        assert_eq!(mad_outliers(&v), vec![7]);
        assert!(mad_outliers(&[1.0, 1.0, 1.0, 1.0]).is_empty());
    }

    #[test]
    fn bootstrap_interval_brackets_the_median_and_is_reproducible() {
        let v: Vec<f64> = (0..200).map(|i| 10.0 + (i % 7) as f64 * 0.1).collect();
        let (lo, hi) = bootstrap_ci(&v, median, 0.95, 500, 1);
        let m = median(&v);
        assert!(lo <= m && m <= hi, "{lo} <= {m} <= {hi}");
        assert_eq!((lo, hi), bootstrap_ci(&v, median, 0.95, 500, 1));
    }

    #[test]
    fn latency_stats() {
        let lat = [0.010, 0.011, 0.012, 0.010, 0.050];
        let s = LatencyStats::from_latencies(&lat, 40, 0.093);
        assert_eq!(s.iterations, 5);
        assert!((s.median_ms - 11.0).abs() < 1e-9);
        assert_eq!(s.min_ms, 10.0);
        assert_eq!(s.max_ms, 50.0);
        assert_eq!(s.outliers, 1);
        assert!((s.samples_per_s - 40.0 / 0.093).abs() < 1e-9);
    }
}
