//! Warm-up to steady state and timed loops.
use std::time::{Duration, Instant};

/// Warm-up policy: at least `min_iters` calls per distinct input (the
/// profiling graph executor profiles, then optimizes, on the first calls for
/// each shape), then until the last `window` latencies are within
/// `tolerance` of their median, or `max_iters` / `max_time` is reached.
#[derive(Debug, Clone, Copy)]
pub struct WarmUp {
    pub min_iters: usize,
    pub max_iters: usize,
    pub window: usize,
    pub tolerance: f64,
    pub max_time: Duration,
}

impl Default for WarmUp {
    fn default() -> Self {
        WarmUp {
            min_iters: 3,
            max_iters: 50,
            window: 3,
            tolerance: 0.10,
            max_time: Duration::from_secs(20),
        }
    }
}

/// Whether the last `window` latencies all lie within `tolerance` (relative)
/// of their median.
pub fn is_steady(latencies: &[f64], window: usize, tolerance: f64) -> bool {
    if window == 0 || latencies.len() < window {
        return false;
    }
    let tail = &latencies[latencies.len() - window..];
    let m = super::stats::median(tail);
    m > 0.0 && tail.iter().all(|x| ((x - m) / m).abs() <= tolerance)
}

/// Result of warming up: every latency seen, in seconds.
pub struct WarmUpReport {
    pub latencies: Vec<f64>,
    pub steady: bool,
}

/// Calls `step` until the warm-up policy is met.
pub fn warm_up(
    policy: &WarmUp,
    mut step: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<WarmUpReport> {
    let start = Instant::now();
    let mut latencies = Vec::new();
    loop {
        let t = Instant::now();
        step()?;
        latencies.push(t.elapsed().as_secs_f64());
        let steady = latencies.len() >= policy.min_iters
            && is_steady(&latencies, policy.window, policy.tolerance);
        if steady || latencies.len() >= policy.max_iters || start.elapsed() >= policy.max_time {
            return Ok(WarmUpReport { latencies, steady });
        }
    }
}

/// A timed window: every call's latency in seconds, the samples the calls
/// processed, and the window's wall time; `shape_of[i]`, the input shape of
/// call i (filled in by callers that time several shapes, else empty).
#[derive(Debug, Clone, Default)]
pub struct Timed {
    pub latencies_s: Vec<f64>,
    pub samples: u64,
    pub elapsed_s: f64,
    pub shape_of: Vec<usize>,
    /// What else the machine did meanwhile (filled in by callers that watch).
    pub interference: Option<super::interference::Interference>,
}

/// Times `step(i)` for i = 0, 1, ... until both `min_time` has passed and
/// `min_iters` calls were made; each call returns the samples it processed.
/// The one timed loop: trials of every layout use it.
pub fn timed_loop(
    min_time: Duration,
    min_iters: usize,
    mut step: impl FnMut(usize) -> anyhow::Result<u64>,
) -> anyhow::Result<Timed> {
    let start = Instant::now();
    let mut latencies_s = Vec::with_capacity(min_iters.max(16));
    let mut samples = 0;
    while latencies_s.len() < min_iters || start.elapsed() < min_time {
        let t = Instant::now();
        samples += step(latencies_s.len())?;
        latencies_s.push(t.elapsed().as_secs_f64());
    }
    Ok(Timed {
        latencies_s,
        samples,
        elapsed_s: start.elapsed().as_secs_f64(),
        shape_of: Vec::new(),
        interference: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_needs_a_full_window_within_tolerance() {
        assert!(!is_steady(&[1.0, 1.0], 3, 0.1));
        assert!(is_steady(&[5.0, 1.0, 1.05, 0.98], 3, 0.1));
        assert!(!is_steady(&[1.0, 1.0, 1.5], 3, 0.1));
    }

    #[test]
    fn warm_up_stops_when_steady() {
        let mut calls = 0;
        let report = warm_up(&WarmUp::default(), || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert!(report.latencies.len() >= 3);
        assert_eq!(report.latencies.len(), calls);
    }

    #[test]
    fn timed_loop_meets_the_iteration_minimum() {
        let timed = timed_loop(Duration::ZERO, 7, |i| Ok(i as u64)).unwrap();
        assert_eq!(timed.latencies_s.len(), 7);
        assert_eq!(timed.samples, (0..7).sum::<u64>());
    }
}
