//! What "fastest" means for a run: the highest throughput (today's default,
//! the launcher's throughput mode), the lowest latency (benchmark_app's
//! `-hint latency`), or the highest throughput whose tail stays under a
//! limit. The search, the winner, the summary and the results follow it.
//! (The type is part of the results file, `record::Objective`.)
pub use crate::record::Objective;
use crate::record::TrialRecord;

impl Objective {
    /// The trial's score, higher is better; None when it does not qualify
    /// (no statistics, or beyond the latency limit).
    pub fn score(&self, t: &TrialRecord) -> Option<f64> {
        let stats = t.stats.as_ref()?;
        match *self {
            Objective::Throughput => Some(stats.samples_per_s),
            Objective::Latency { percentile } => latency_ms(t, percentile).map(|ms| -ms),
            Objective::MaxLatency { limit_ms } => {
                let worst = worst_p99_ms(t)?;
                (worst <= limit_ms).then_some(stats.samples_per_s)
            }
        }
    }

    /// The figure the winner is chosen by, for people: "2102.0 samples/s",
    /// "p50 0.61 ms".
    pub fn figure(&self, t: &TrialRecord) -> String {
        match *self {
            Objective::Latency { percentile } => latency_ms(t, percentile)
                .map(|ms| format!("p{percentile} {ms:.3} ms"))
                .unwrap_or_default(),
            _ => t
                .stats
                .as_ref()
                .map(|s| format!("{:.1} samples/s", s.samples_per_s))
                .unwrap_or_default(),
        }
    }

    /// One line: what the run optimizes.
    pub fn describe(&self) -> String {
        match *self {
            Objective::Throughput => "throughput (highest samples/s)".into(),
            Objective::Latency { percentile } => {
                format!("latency (lowest p{percentile}, summed over the input shapes)")
            }
            Objective::MaxLatency { limit_ms } => {
                format!("throughput with p99 <= {limit_ms} ms on every input shape")
            }
        }
    }
}

/// The sum over shapes of each shape's `percentile` latency (the trial's
/// overall percentile for results without per-shape figures).
fn latency_ms(t: &TrialRecord, percentile: u8) -> Option<f64> {
    let pick = |s: &crate::measure::stats::LatencyStats| match percentile {
        99 => s.p99_ms,
        90 => s.p90_ms,
        _ => s.median_ms,
    };
    if t.per_shape.is_empty() {
        return t.stats.as_ref().map(pick);
    }
    Some(t.per_shape.iter().map(|s| pick(&s.stats)).sum())
}

/// The largest per-shape p99 (the overall p99 without per-shape figures).
fn worst_p99_ms(t: &TrialRecord) -> Option<f64> {
    if t.per_shape.is_empty() {
        return t.stats.as_ref().map(|s| s.p99_ms);
    }
    t.per_shape
        .iter()
        .map(|s| s.stats.p99_ms)
        .max_by(|a, b| a.total_cmp(b))
}
