//! The playoff: the search's finalists measured again, in turn.
//!
//! The search crowns the best of many single measurements. On these shared
//! 2-core hosts one window of the same config moves by 5-15% from run to
//! run (issue 27), so the best single figure is partly luck (the winner's
//! curse: bench-peer's rematches read 1.05-1.08 where the search read
//! 1.15-1.18), and configs within that much of each other are ordered by
//! noise (ConvNeXt's int8 and int8+s8 swapped places between two runs).
//! So every accurate config within [`MARGIN`] of the best measurement,
//! at most [`FINALISTS`] of them and the best expert recipe among them, is
//! measured [`ROUNDS`] more times (up to [`MAX_ROUNDS`] when the search
//! left the budget room), every finalist once per round with the
//! order rotating (drift falls on all of them alike), and each config is
//! ranked by the median of its measurements (`winner::ranked`). The search
//! leaves the playoff the time it will take (`search_budget`).
use super::*;
use crate::record::{Finalist, Playoff};

/// Configs within this share of the best measurement reach the playoff.
pub(super) const MARGIN: f64 = 0.10;
/// At most this many finalists besides the best expert recipe.
const FINALISTS: usize = 3;
/// Rounds of the playoff the search leaves time for: with the search's,
/// three measurements each.
const ROUNDS: usize = 2;
/// Rounds at most when the search ended early and the budget has room: a
/// median of five windows instead of three (BERT's search ended at 130 s
/// of 300, its finalists 6% apart from window to window and 1% apart in
/// their medians).
const MAX_ROUNDS: usize = 4;
/// The most of a run's budget the search leaves to the playoff.
const MAX_BUDGET_SHARE: f64 = 0.35;

/// The finalists of `results`: the best config of each label within
/// [`MARGIN`] of the best, at most [`FINALISTS`], and the best expert
/// recipe when it is within the margin too.
fn finalists(results: &Results, objective: Objective) -> Vec<Config> {
    let ranked = winner::ranked(results, objective);
    let Some(&(_, best)) = ranked.first() else {
        return Vec::new();
    };
    // Scores are higher-better; latency's are negative milliseconds.
    let floor = best - MARGIN * best.abs();
    let close: Vec<&TrialRecord> = ranked
        .iter()
        .filter(|(_, score)| *score >= floor)
        .map(|(t, _)| *t)
        .collect();
    let mut chosen: Vec<Config> = close
        .iter()
        .take(FINALISTS)
        .map(|t| t.config.clone())
        .collect();
    let expert = results
        .expert
        .as_ref()
        .and_then(|e| e.best.as_ref())
        .map(|b| b.label.as_str());
    if let Some(t) = close.iter().find(|t| Some(t.label.as_str()) == expert) {
        if !chosen.contains(&t.config) {
            chosen.push(t.config.clone());
        }
    }
    chosen
}

impl Session<'_> {
    /// Whether the search leaves part of the budget to a playoff: a guided
    /// or grid search of a whole run (`--config` measures what it is told;
    /// a shard's configs meet the others' only when merged).
    pub(super) fn plays_off(&self) -> bool {
        !matches!(self.settings.search, SearchMode::Given(_)) && self.settings.shard.is_none()
    }

    /// The part of the budget the search may use: the budget less what
    /// the playoff of the finalists so far would take (at most
    /// [`MAX_BUDGET_SHARE`] of it). Measured again, a config takes about
    /// its last trial's wall time, less a compile the cache now holds.
    pub(super) fn search_budget(&self) -> Option<Duration> {
        let budget = self.settings.budget?;
        if !self.plays_off() {
            return Some(budget);
        }
        let finalists = finalists(&self.results, self.settings.objective);
        let playoff = if finalists.len() < 2 {
            0.0
        } else {
            ROUNDS as f64 * self.round_seconds(&finalists)
        };
        let reserve = playoff.min(budget.as_secs_f64() * MAX_BUDGET_SHARE);
        Some(budget.saturating_sub(Duration::from_secs_f64(reserve)))
    }

    /// About how long one round of the playoff takes.
    fn round_seconds(&self, finalists: &[Config]) -> f64 {
        finalists
            .iter()
            .filter_map(|c| self.results.trials.iter().rev().find(|t| t.config == *c))
            .map(super::wall_without_compile_s)
            .sum()
    }

    /// Measures the finalists again, round by round, while a whole round
    /// fits in the budget; records the playoff and crowns the winner anew.
    pub(super) fn playoff(&mut self) -> anyhow::Result<()> {
        if !self.plays_off() || INTERRUPTED.load(Ordering::SeqCst) {
            return Ok(());
        }
        let objective = self.settings.objective;
        let finalists = finalists(&self.results, objective);
        if finalists.len() < 2 {
            return Ok(());
        }
        let mut record = Playoff {
            margin: MARGIN,
            ..Playoff::default()
        };
        let count = finalists.len();
        // Beyond ROUNDS only within a budget (without one, a run is as
        // long as its steps).
        let rounds = if self.settings.budget.is_some() {
            MAX_ROUNDS
        } else {
            ROUNDS
        };
        for round in 0..rounds {
            if let Some(why) = self.round_cannot_start(&finalists) {
                if round < ROUNDS {
                    record.cut_short = Some(why);
                }
                break;
            }
            // Rotated: the search measured them in rank order.
            for k in 0..count {
                let config = finalists[(k + round + 1) % count].clone();
                let why = format!(
                    "playoff round {}: the {count} configs within {:.0}% of the best, measured again in turn; each is ranked by its median",
                    round + 1,
                    MARGIN * 100.0
                );
                self.trial(config, why)?;
            }
            record.rounds += 1;
        }
        record.finalists = finalists
            .iter()
            .map(|config| finalist(&self.results, objective, config))
            .collect();
        self.results.playoff = Some(record);
        self.update_winner();
        self.results.write_atomic(self.output)?;
        Ok(())
    }

    /// Why the next round may not start: an interrupt, or a budget that
    /// the round (the finalists' last trials' wall time) would overrun.
    fn round_cannot_start(&self, finalists: &[Config]) -> Option<String> {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Some("interrupted".into());
        }
        let budget = self.settings.budget?;
        let round = self.round_seconds(finalists);
        let left = budget.saturating_sub(self.start.elapsed()).as_secs_f64();
        (round > left).then(|| {
            format!("the budget: a round takes about {round:.0} s and {left:.0} s were left")
        })
    }
}

/// What `config` measured in the run, and the median it is ranked by.
fn finalist(results: &Results, objective: Objective, config: &Config) -> Finalist {
    let label = config.label();
    let measured: Vec<&TrialRecord> = results
        .trials
        .iter()
        .filter(|t| t.label == label && t.status == Status::Ok && t.accurate == Some(true))
        .collect();
    let median = winner::representative(results, objective, &label)
        .and_then(|t| t.stats.as_ref())
        .map_or(0.0, |s| s.samples_per_s);
    Finalist {
        trials: measured.iter().map(|t| t.id).collect(),
        samples_per_s: measured
            .iter()
            .filter_map(|t| t.stats.as_ref().map(|s| s.samples_per_s))
            .collect(),
        median_samples_per_s: median,
        label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stats::LatencyStats;
    use crate::record::{Expert, ExpertBest};

    fn measured(id: usize, config: &str, samples_per_s: f64, accurate: bool) -> TrialRecord {
        let mut t = record_for_tests(config.parse().unwrap(), Status::Ok);
        t.id = id;
        t.accurate = Some(accurate);
        let mut stats = LatencyStats::from_latencies(&[0.01; 10], 1, 1.0);
        stats.samples_per_s = samples_per_s;
        t.stats = Some(stats);
        t
    }

    fn results_of(trials: Vec<TrialRecord>) -> Results {
        // A real run's file, its trials replaced.
        let mut results: Results = serde_json::from_str(include_str!(
            "../../../tests/fixtures/results/cnn-cv-epyc-avx2.json"
        ))
        .unwrap();
        results.trials = trials;
        results.expert = None;
        results.merged = None;
        results.stock_drift = None;
        results.reference = None;
        results
    }

    const A: &str = "ipex/O1+fold+prepack/int8-static/t1/i2/tcmalloc";
    const B: &str = "ipex/O1+fold+prepack/int8-static+s8/t1/i2/tcmalloc";
    const C: &str = "inductor/O1/int8-static/t1/i2/tcmalloc";
    const D: &str = "ipex/O1+fold+prepack/bf16-autocast/t1/i2/tcmalloc";

    #[test]
    fn finalists_are_the_configs_close_to_the_best_and_the_expert_among_them() {
        let mut results = results_of(vec![
            measured(0, "stock/O0/fp32/glibc", 100.0, true),
            measured(1, A, 950.0, true),
            measured(2, B, 1000.0, true),
            measured(3, C, 980.0, true),
            measured(4, D, 960.0, true),
            // Faster but inaccurate, and far behind: never finalists.
            measured(5, "ipex/O1+fold+prepack/bf16/t1/i2/tcmalloc", 2000.0, false),
            measured(6, "stock/O1+fold/fp32/t1/i2/tcmalloc", 300.0, true),
        ]);
        let labels = |configs: Vec<Config>| configs.iter().map(Config::label).collect::<Vec<_>>();
        assert_eq!(
            labels(finalists(&results, Objective::Throughput)),
            [B, C, D]
        );
        // The expert's best recipe joins them when it is within the margin.
        results.expert = Some(Expert {
            best: Some(ExpertBest {
                trial: 1,
                recipe: "ipex int8".into(),
                layout: "2 instances x 1 core".into(),
                label: A.into(),
                samples_per_s: 950.0,
            }),
            ..Expert::default()
        });
        assert_eq!(
            labels(finalists(&results, Objective::Throughput)),
            [B, C, D, A]
        );
    }

    #[test]
    fn after_a_playoff_only_a_finalist_can_win() {
        // A and B were finalists and fell back to their medians; C was
        // left out and stands on one window above both.
        let mut results = results_of(vec![
            measured(0, "stock/O0/fp32/glibc", 100.0, true),
            measured(1, A, 930.0, true),
            measured(2, B, 920.0, true),
            measured(3, C, 890.0, true),
            measured(4, A, 870.0, true),
            measured(5, B, 880.0, true),
            measured(6, A, 875.0, true),
            measured(7, B, 884.0, true),
        ]);
        let ranked = winner::ranked(&results, Objective::Throughput);
        assert_eq!(ranked[0].0.label, C, "C's one window ranks first");
        let finalist = |label: &str| Finalist {
            label: label.into(),
            trials: Vec::new(),
            samples_per_s: Vec::new(),
            median_samples_per_s: 0.0,
        };
        results.playoff = Some(Playoff {
            margin: MARGIN,
            rounds: 2,
            finalists: vec![finalist(A), finalist(B)],
            cut_short: None,
        });
        let won = winner::winner(&results, Objective::Throughput).unwrap();
        assert_eq!((won.label.as_str(), won.trial), (B, 7));
        // A playoff that measured no round leaves the ranking as it was.
        results.playoff.as_mut().unwrap().rounds = 0;
        let won = winner::winner(&results, Objective::Throughput).unwrap();
        assert_eq!(won.label, C);
    }

    #[test]
    fn a_config_measured_again_stands_on_its_median() {
        // B's first window was lucky; measured three times, its median is
        // below A's, which wins.
        let results = results_of(vec![
            measured(0, "stock/O0/fp32/glibc", 100.0, true),
            measured(1, A, 990.0, true),
            measured(2, B, 1100.0, true),
            measured(3, B, 960.0, true),
            measured(4, A, 1000.0, true),
            measured(5, B, 970.0, true),
            measured(6, A, 985.0, true),
        ]);
        let ranked = winner::ranked(&results, Objective::Throughput);
        let standing: Vec<(&str, usize)> = ranked
            .iter()
            .map(|(t, _)| (t.label.as_str(), t.id))
            .collect();
        assert_eq!(standing[0], (A, 1));
        assert_eq!(standing[1], (B, 5));
        let won = winner::winner(&results, Objective::Throughput).unwrap();
        assert_eq!((won.label.as_str(), won.trial), (A, 1));
        // Two measurements: the lower one counts.
        let two = results_of(vec![
            measured(1, B, 1100.0, true),
            measured(2, B, 900.0, true),
        ]);
        assert_eq!(
            winner::representative(&two, Objective::Throughput, B).map(|t| t.id),
            Some(2)
        );
    }
}
