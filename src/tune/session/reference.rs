//! The reference measured through the run. Every "x stock" figure divides
//! by stock's throughput measured once at the start; on a shared host that
//! figure moves (another process, frequency, memory pressure), and a winner
//! crowned on a moving reference may be noise. So stock is measured again
//! every half budget (every [`TRIALS_BETWEEN_REFERENCES`] trials without a
//! budget) and at the end; when its fastest and slowest measurements differ
//! beyond [`NOISY_THRESHOLD`] (their 95% interval, not only the point), the
//! results say the host was noisy, the trials measured while it moved are
//! marked, and the winner's margin must exceed the movement. With three
//! measurements or more, every ratio divides by the median one.
use super::winner::DRIFT_TOLERANCE;
use super::*;
use crate::measure::shapes::ShapeStats;
use crate::record::{Reference, ReferencePoint};

/// A reference that moves less than this share is a quiet host.
pub(super) const NOISY_THRESHOLD: f64 = DRIFT_TOLERANCE;

/// Without a budget: candidates measured between two references.
pub(super) const TRIALS_BETWEEN_REFERENCES: usize = 8;

impl Session<'_> {
    /// Whether stock is due again before the next candidate: half the
    /// budget (or [`TRIALS_BETWEEN_REFERENCES`] trials) since it was last
    /// measured, and enough budget left for the candidate after it.
    fn reference_due(&self) -> bool {
        let Some(&(last_at, last_id)) = self.reference_points.last() else {
            return false;
        };
        match self.settings.budget {
            Some(budget) => {
                let elapsed = self.start.elapsed();
                elapsed.saturating_sub(last_at) >= budget / 2 && elapsed < budget
            }
            None => self.results.trials.len() - last_id > TRIALS_BETWEEN_REFERENCES,
        }
    }

    /// Measures stock again first when it is due (before a candidate).
    pub(super) fn reference_if_due(&mut self, next: &Config) -> anyhow::Result<()> {
        if *next != Config::stock() && !self.should_stop() && self.reference_due() {
            self.trial(
                Config::stock(),
                "stock again mid-run: the reference, measured through the run".into(),
            )?;
        }
        Ok(())
    }

    /// Notes a finished stock trial as a point of the reference.
    pub(super) fn note_reference(&mut self, record: &TrialRecord) {
        if record.config == Config::stock() && record.stats.is_some() {
            self.reference_points
                .push((self.start.elapsed(), record.id));
        }
    }

    /// Measures stock again at the end of the run: its speedup over the
    /// first stock is the drift of the reference (`stock_drift`), and with
    /// the points measured during the run, how far the reference moved.
    pub(super) fn stock_again(&mut self) -> anyhow::Result<()> {
        if INTERRUPTED.load(Ordering::SeqCst) || self.results.trials.len() < 2 {
            return Ok(());
        }
        self.trial(
            Config::stock(),
            "stock again at the end of the run: the drift of the reference".into(),
        )?;
        let again = self.results.trials.last().expect("just measured");
        if let (Some(ratio), Some(ci95)) = (again.speedup, again.speedup_ci95) {
            let reliable = ci95.0 <= 1.0 + DRIFT_TOLERANCE && 1.0 - DRIFT_TOLERANCE <= ci95.1;
            self.results.stock_drift = Some(Drift {
                ratio,
                ci95,
                reliable,
            });
        }
        self.results.reference = reference(&mut self.results.trials, &self.reference_points);
        if let Some(r) = &self.results.reference {
            rebase_speedups(&mut self.results.trials, r.stock_trial);
        }
        if let Some(r) = self.results.reference.as_ref().filter(|r| r.noisy) {
            self.results.warnings.push(noisy_warning(r));
        }
        // The winner's margin is now judged against the movement too.
        self.update_winner();
        self.results.write_atomic(self.output)?;
        Ok(())
    }
}

/// The run's warning for a reference that moved: how far, its points, and
/// whether stock's own processes differed in page faults per call (then
/// the movement is stock's allocator as much as the host).
fn noisy_warning(r: &Reference) -> String {
    let figures: Vec<String> = r
        .points
        .iter()
        .map(|p| format!("{:.1} at {:.0}s", p.samples_per_s, p.at_s))
        .collect();
    let mut warning = format!(
        "host noisy: the reference (stock) moved {:.1}% (95% CI {:.1}%..{:.1}%) during the run, beyond the {:.0}% a quiet host holds (samples/s {}); {} trial(s) measured meanwhile are marked, and a winner must beat its runner-up by more than the movement; re-run on a quiet host to trust smaller differences",
        (r.movement - 1.0) * 100.0,
        (r.movement_ci95.0 - 1.0) * 100.0,
        (r.movement_ci95.1 - 1.0) * 100.0,
        r.threshold * 100.0,
        figures.join(", "),
        r.marked.len()
    );
    if let Some(churn) = fault_churn(&r.points) {
        warning.push_str("; ");
        warning.push_str(&churn);
    }
    warning
}

/// A slower point's processes faulted this many more pages per call than
/// the fastest's (and at least twice as many): the allocator's churn, not
/// only the host.
const CHURN_FAULTS_PER_CALL: f64 = 50.0;

/// Why the slowest reference point was slow, when its processes took many
/// more page faults per call than the fastest point's.
fn fault_churn(points: &[ReferencePoint]) -> Option<String> {
    let by_rate =
        |a: &&ReferencePoint, b: &&ReferencePoint| a.samples_per_s.total_cmp(&b.samples_per_s);
    let slowest = points.iter().min_by(by_rate)?;
    let fastest = points.iter().max_by(by_rate)?;
    let (slow, fast) = (slowest.faults_per_call?, fastest.faults_per_call?);
    (slow - fast >= CHURN_FAULTS_PER_CALL && slow >= 2.0 * fast).then(|| {
        format!(
            "stock's processes took {slow:.0} page faults per call at its slowest (stock trial #{}) and {fast:.0} at its fastest (#{}): in some processes glibc gives the heap back after every call and faults it in again, so part of the movement is stock's own allocator, not the host",
            slowest.trial, fastest.trial
        )
    })
}

/// The reference of a run from its stock trials (`points`: when each
/// ended, and its trial id), marking in `trials` those measured between
/// two points that moved beyond the threshold. None with fewer than two
/// points.
pub(super) fn reference(
    trials: &mut [TrialRecord],
    points: &[(Duration, usize)],
) -> Option<Reference> {
    // (id, samples/s, per-shape stats) of each measured point.
    let measured: Vec<(usize, f64, Vec<ShapeStats>)> = points
        .iter()
        .filter_map(|&(_, id)| {
            let t = trials.get(id)?;
            Some((id, t.stats.as_ref()?.samples_per_s, t.per_shape.clone()))
        })
        .collect();
    if measured.len() < 2 {
        return None;
    }
    let by_rate = |a: &&(usize, f64, Vec<ShapeStats>), b: &&(usize, f64, Vec<ShapeStats>)| {
        a.1.total_cmp(&b.1)
    };
    let slowest = measured.iter().min_by(by_rate)?;
    let fastest = measured.iter().max_by(by_rate)?;
    let rates: Vec<f64> = measured.iter().map(|m| m.1).collect();
    let movement = fastest.1 / slowest.1;
    let movement_ci95 =
        interval_around(movement, &slowest.2, &fastest.2).unwrap_or((movement, movement));
    let moved = |ci: (f64, f64)| ci.0 > 1.0 + NOISY_THRESHOLD || ci.1 < 1.0 - NOISY_THRESHOLD;
    // Consecutive points that moved mark the trials between them.
    let mut marks: Vec<(usize, String)> = Vec::new();
    for pair in measured.windows(2) {
        let ((a, a_rate, a_shapes), (b, b_rate, b_shapes)) = (&pair[0], &pair[1]);
        let ratio = b_rate / a_rate;
        let ci = interval_around(ratio, a_shapes, b_shapes).unwrap_or((ratio, ratio));
        if moved(ci) {
            let why = format!(
                "measured while the reference moved {:+.1}% (stock trials #{a} and #{b}): its ratios carry that movement",
                (ratio - 1.0) * 100.0,
            );
            marks.extend((a + 1..*b).map(|id| (id, why.clone())));
        }
    }
    let mut marked = Vec::new();
    for (id, why) in marks {
        if let Some(t) = trials.get_mut(id) {
            t.warnings.push(why);
            marked.push(id);
        }
    }
    let points = points
        .iter()
        .filter_map(|&(at, id)| {
            let t = trials.get(id)?;
            let stats = t.stats.as_ref()?;
            Some(ReferencePoint {
                trial: id,
                at_s: at.as_secs_f64(),
                samples_per_s: stats.samples_per_s,
                faults_per_call: t
                    .interference
                    .as_ref()
                    .map(|i| i.minor_faults_per_call(stats.iterations)),
            })
        })
        .collect();
    // The median point (the lower of two middles) with three or more.
    let stock_trial = if measured.len() >= 3 {
        let mut by_speed: Vec<&(usize, f64, Vec<ShapeStats>)> = measured.iter().collect();
        by_speed.sort_by(by_rate);
        by_speed[(by_speed.len() - 1) / 2].0
    } else {
        measured[0].0
    };
    Some(Reference {
        stock_trial,
        points,
        spread: crate::measure::stats::spread(&rates),
        movement,
        movement_ci95,
        threshold: NOISY_THRESHOLD,
        noisy: moved(movement_ci95),
        marked,
    })
}

/// Every trial's speedup and its interval against the stock trial `base`.
fn rebase_speedups(trials: &mut [TrialRecord], base: usize) {
    let Some((rate, shapes)) = trials
        .get(base)
        .and_then(|t| Some((t.stats.as_ref()?.samples_per_s, t.per_shape.clone())))
    else {
        return;
    };
    for t in trials.iter_mut() {
        if let Some(s) = &t.stats {
            let speedup = s.samples_per_s / rate;
            t.speedup = Some(speedup);
            t.speedup_ci95 = interval_around(speedup, &shapes, &t.per_shape);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::shapes::split_by_shape;
    use crate::measure::stats::LatencyStats;

    /// A stock or candidate record timed at `ms` per call (with a little
    /// jitter, so that the intervals are not points).
    fn timed(id: usize, ms: f64) -> TrialRecord {
        let latencies: Vec<f64> = (0..200)
            .map(|i| (ms + 0.01 * ms * (i % 7) as f64) / 1e3)
            .collect();
        let per_shape = split_by_shape(
            &latencies,
            &vec![0; latencies.len()],
            &[("batch=8".to_string(), 8)],
            1,
            100,
        );
        let stats = LatencyStats::from_latencies(&latencies, 8 * 200, latencies.iter().sum());
        let mut record = super::super::trial::measured(ChildOutcome {
            status: Status::Ok,
            reason: None,
            output: None,
            sensitivity: None,
            compile: None,
            peak_rss_bytes: 0,
            wall_s: 0.0,
            onednn_exec: Vec::new(),
        });
        record.id = id;
        record.stats = Some(stats);
        record.per_shape = per_shape;
        record
    }

    #[test]
    fn a_reference_that_moves_marks_the_trials_between() {
        // Stock at 1.0 ms, then 1.3 and 1.29 ms: the two candidates in
        // between the first two are marked, the one after the quiet pair
        // is not.
        let mut trials = vec![
            timed(0, 1.0),
            timed(1, 0.5),
            timed(2, 0.5),
            timed(3, 1.3),
            timed(4, 0.5),
            timed(5, 1.29),
        ];
        let s = Duration::from_secs;
        let points = [(s(1), 0), (s(10), 3), (s(20), 5)];
        let r = reference(&mut trials, &points).unwrap();
        assert!(r.noisy);
        assert_eq!(r.marked, [1, 2]);
        assert!((r.movement - 1.3).abs() < 0.01, "{}", r.movement);
        assert!(
            trials[1].warnings[0].contains("moved -23.1%"),
            "{:?}",
            trials[1].warnings
        );
        assert!(trials[4].warnings.is_empty());
        // Three points: every ratio divides by the median one (#5, 1.29 ms).
        assert_eq!(r.stock_trial, 5);
        rebase_speedups(&mut trials, r.stock_trial);
        assert_eq!(trials[5].speedup, Some(1.0));
        assert!((trials[0].speedup.unwrap() - 1.29).abs() < 0.01);
        // A steady reference is not noisy.
        let mut steady = vec![timed(0, 1.0), timed(1, 0.5), timed(2, 1.01)];
        let r = reference(&mut steady, &[(s(1), 0), (s(5), 2)]).unwrap();
        assert!(!r.noisy && r.marked.is_empty(), "{r:?}");
        // One point is no reference.
        assert!(reference(&mut steady, &[(s(1), 0)]).is_none());
    }

    #[test]
    fn a_slow_reference_with_many_more_page_faults_is_blamed_on_the_allocator() {
        let point = |trial, samples_per_s, faults_per_call| ReferencePoint {
            trial,
            at_s: trial as f64,
            samples_per_s,
            faults_per_call,
        };
        // The slowest point's processes faulted 550 pages per call, the
        // fastest's 4: glibc's churn.
        let churn = fault_churn(&[point(0, 600.0, Some(550.0)), point(5, 800.0, Some(4.0))]);
        let churn = churn.expect("blamed on the allocator");
        assert!(churn.contains("550 page faults per call"), "{churn}");
        assert!(churn.contains("#0") && churn.contains("#5"), "{churn}");
        // The same faults on both sides (or fewer on the slow one, or none
        // recorded): the host alone.
        assert!(
            fault_churn(&[point(0, 600.0, Some(500.0)), point(5, 800.0, Some(480.0))]).is_none()
        );
        assert!(fault_churn(&[point(0, 600.0, Some(4.0)), point(5, 800.0, Some(550.0))]).is_none());
        assert!(fault_churn(&[point(0, 600.0, None), point(5, 800.0, Some(4.0))]).is_none());
        // The run's warning carries it.
        let r = Reference {
            stock_trial: 0,
            points: vec![point(0, 600.0, Some(550.0)), point(5, 800.0, Some(4.0))],
            spread: 0.29,
            movement: 800.0 / 600.0,
            movement_ci95: (1.3, 1.37),
            threshold: NOISY_THRESHOLD,
            noisy: true,
            marked: vec![1, 2],
        };
        let warning = noisy_warning(&r);
        assert!(
            warning.starts_with("host noisy: the reference (stock) moved 33.3%"),
            "{warning}"
        );
        assert!(warning.contains("stock's own allocator"), "{warning}");
    }
}
