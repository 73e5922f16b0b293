//! Per-shape statistics. A suite runs several input shapes (batch sizes,
//! sequence lengths) round robin; one latency distribution over all of them
//! is multi-modal and its percentiles describe no shape. Every shape gets
//! its own distribution here, and ratios between two configs (speedup over
//! stock, current over baseline) are estimated over the shapes both
//! measured, with bootstrap intervals.
//!
//! The run's summary throughput over shapes (README, "Figures"): the timed
//! loop calls each shape in turn, so one round is one call of every shape,
//! and `workers` rounds run at once (instances):
//!
//!   rate = workers × Σ_s batch_s / Σ_s mean_latency_s
//!
//! i.e. samples per second of a workload with equally many calls of each
//! shape. The measured samples/s of a trial (samples over the window's wall
//! time) is this rate plus the loop's own small overhead.
use serde::{Deserialize, Serialize};

use super::stats::{mean, percentile_interval, resample, thin, LatencyStats, SplitMix64};

/// One input shape's measurements.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ShapeStats {
    /// The suite's shape key, e.g. `batch=8 seq=32`.
    pub shape: String,
    /// Samples per call.
    pub batch_size: u64,
    /// Calls in flight at once (instances): samples/s is
    /// batch × workers / mean latency.
    pub workers: usize,
    pub stats: LatencyStats,
    /// Per-call latencies in ms (at most the trial's raw-latency budget
    /// shared between the shapes, evenly spaced).
    pub latencies_ms: Vec<f64>,
}

/// Splits a timed window by shape: `shape_of[i]` is the index into
/// `shapes` ((key, batch size)) of call i.
pub fn split_by_shape(
    latencies_s: &[f64],
    shape_of: &[usize],
    shapes: &[(String, u64)],
    workers: usize,
    max_raw: usize,
) -> Vec<ShapeStats> {
    let per_shape_raw = (max_raw / shapes.len().max(1)).max(1);
    shapes
        .iter()
        .enumerate()
        .filter_map(|(index, (key, batch))| {
            let own: Vec<f64> = latencies_s
                .iter()
                .zip(shape_of)
                .filter(|(_, s)| **s == index)
                .map(|(l, _)| *l)
                .collect();
            if own.is_empty() {
                return None;
            }
            let busy_s = own.iter().sum::<f64>() / workers.max(1) as f64;
            let samples = batch * own.len() as u64;
            Some(ShapeStats {
                shape: key.clone(),
                batch_size: *batch,
                workers,
                stats: LatencyStats::from_latencies(&own, samples, busy_s),
                latencies_ms: thin(&own, per_shape_raw).iter().map(|s| s * 1e3).collect(),
            })
        })
        .collect()
}

/// The summary rate (module doc) of per-shape latency samples (ms):
/// `(batch, workers, latencies)` per shape.
fn summary_rate(shapes: &[(u64, usize, &[f64])]) -> f64 {
    let workers = shapes.first().map_or(1, |s| s.1) as f64;
    let samples: u64 = shapes.iter().map(|s| s.0).sum();
    let round_ms: f64 = shapes.iter().map(|s| mean(s.2)).sum();
    workers * samples as f64 / (round_ms / 1e3)
}

/// The shapes both sides measured (with latencies), in `a`'s order.
fn common<'a>(a: &'a [ShapeStats], b: &'a [ShapeStats]) -> Vec<(&'a ShapeStats, &'a ShapeStats)> {
    a.iter()
        .filter(|s| !s.latencies_ms.is_empty())
        .filter_map(|s| {
            b.iter()
                .find(|t| t.shape == s.shape && !t.latencies_ms.is_empty())
                .map(|t| (s, t))
        })
        .collect()
}

/// rate(b) / rate(a) over the shapes both measured, with its percentile
/// bootstrap 95% interval (each shape's latencies resampled on both sides,
/// one reproducible generator). None when they share no shape.
pub fn rate_ratio(a: &[ShapeStats], b: &[ShapeStats]) -> Option<(f64, (f64, f64))> {
    let pairs = common(a, b);
    if pairs.is_empty() {
        return None;
    }
    let left: Vec<(u64, usize, &[f64])> = pairs
        .iter()
        .map(|(x, _)| (x.batch_size, x.workers, x.latencies_ms.as_slice()))
        .collect();
    let right: Vec<(u64, usize, &[f64])> = pairs
        .iter()
        .map(|(_, y)| (y.batch_size, y.workers, y.latencies_ms.as_slice()))
        .collect();
    let point = summary_rate(&right) / summary_rate(&left);
    let mut rng = SplitMix64::new(0x5eed_0f5a);
    let mut buffers: Vec<(Vec<f64>, Vec<f64>)> = pairs
        .iter()
        .map(|(x, y)| {
            (
                vec![0.0; x.latencies_ms.len()],
                vec![0.0; y.latencies_ms.len()],
            )
        })
        .collect();
    let estimates = (0..RESAMPLES)
        .map(|_| {
            for ((x, y), (bx, by)) in pairs.iter().zip(buffers.iter_mut()) {
                resample(&mut rng, &x.latencies_ms, bx);
                resample(&mut rng, &y.latencies_ms, by);
            }
            let l: Vec<(u64, usize, &[f64])> = pairs
                .iter()
                .zip(&buffers)
                .map(|((x, _), (bx, _))| (x.batch_size, x.workers, bx.as_slice()))
                .collect();
            let r: Vec<(u64, usize, &[f64])> = pairs
                .iter()
                .zip(&buffers)
                .map(|((_, y), (_, by))| (y.batch_size, y.workers, by.as_slice()))
                .collect();
            summary_rate(&r) / summary_rate(&l)
        })
        .collect();
    Some((point, percentile_interval(estimates, 0.95)))
}

/// Bootstrap resamples for the intervals of this module.
const RESAMPLES: usize = 1000;

/// A measured ratio (e.g. samples/s over stock's) with the 95% interval
/// of the same ratio estimated shape by shape: the interval is the
/// estimate's, scaled to the measured point.
pub fn interval_around(measured: f64, a: &[ShapeStats], b: &[ShapeStats]) -> Option<(f64, f64)> {
    let (estimate, (lo, hi)) = rate_ratio(a, b)?;
    // Scaled to the measured ratio; min/max keep `measured` inside when the
    // interval is a point (lo == estimate: the scaling may round past it).
    (estimate > 0.0).then(|| {
        (
            (measured * lo / estimate).min(measured),
            (measured * hi / estimate).max(measured),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(key: &str, batch: u64, workers: usize, ms: &[f64]) -> ShapeStats {
        let s: Vec<f64> = ms.iter().map(|m| m / 1e3).collect();
        split_by_shape(
            &s,
            &vec![0; s.len()],
            &[(key.to_string(), batch)],
            workers,
            100,
        )
        .remove(0)
    }

    #[test]
    fn every_shape_gets_its_own_distribution() {
        // Round robin over batch 1 (1 ms) and batch 8 (10 ms).
        let lat = [0.001, 0.010, 0.0011, 0.0102, 0.0009, 0.0098];
        let of = [0, 1, 0, 1, 0, 1];
        let shapes = [("batch=1".to_string(), 1), ("batch=8".to_string(), 8)];
        let per = split_by_shape(&lat, &of, &shapes, 1, 100);
        assert_eq!(per.len(), 2);
        assert!((per[0].stats.median_ms - 1.0).abs() < 1e-9);
        assert!((per[1].stats.median_ms - 10.0).abs() < 1e-9);
        // samples/s = batch / mean latency.
        assert!((per[1].stats.samples_per_s - 8.0 / 0.010).abs() < 1e-6);
        assert_eq!(per[0].latencies_ms.len(), 3);
    }

    #[test]
    fn workers_multiply_a_shapes_rate() {
        let one = shape("b", 4, 1, &[10.0, 10.0]);
        let two = shape("b", 4, 2, &[10.0, 10.0]);
        assert!((two.stats.samples_per_s / one.stats.samples_per_s - 2.0).abs() < 1e-9);
    }

    #[test]
    fn the_rate_ratio_weighs_shapes_by_a_round_of_calls() {
        let a = [
            shape("s1", 1, 1, &[1.0; 20]),
            shape("s8", 8, 1, &[10.0; 20]),
        ];
        // Twice as fast on the big shape only: round 11 ms -> 6 ms.
        let b = [shape("s1", 1, 1, &[1.0; 20]), shape("s8", 8, 1, &[5.0; 20])];
        let (point, (lo, hi)) = rate_ratio(&a, &b).unwrap();
        assert!((point - 11.0 / 6.0).abs() < 1e-9, "{point}");
        assert!(lo <= point && point <= hi);
    }

    #[test]
    fn noisy_samples_widen_the_interval() {
        let steady: Vec<f64> = (0..50).map(|i| 10.0 + (i % 3) as f64 * 0.01).collect();
        let noisy: Vec<f64> = (0..50).map(|i| 10.0 + (i % 5) as f64 * 2.0).collect();
        let a = [shape("s", 1, 1, &steady)];
        let (_, (lo1, hi1)) = rate_ratio(&a, &[shape("s", 1, 1, &steady)]).unwrap();
        let (_, (lo2, hi2)) = rate_ratio(&a, &[shape("s", 1, 1, &noisy)]).unwrap();
        assert!(
            hi2 - lo2 > 10.0 * (hi1 - lo1),
            "{lo1}..{hi1} vs {lo2}..{hi2}"
        );
    }

    #[test]
    fn no_common_shape_no_ratio() {
        let a = [shape("s1", 1, 1, &[1.0; 5])];
        let b = [shape("s2", 1, 1, &[1.0; 5])];
        assert!(rate_ratio(&a, &b).is_none());
        assert!(interval_around(2.0, &a, &b).is_none());
    }

    #[test]
    fn the_interval_is_scaled_to_the_measured_point() {
        let a = [shape("s", 1, 1, &[10.0, 10.5, 9.5, 10.2, 9.8])];
        let b = [shape("s", 1, 1, &[5.0, 5.2, 4.8, 5.1, 4.9])];
        let (lo, hi) = interval_around(2.1, &a, &b).unwrap();
        assert!(lo < 2.1 && 2.1 < hi, "{lo}..{hi}");
    }
}
