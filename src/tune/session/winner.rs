//! The end of a run: the winner and its ties, the interference warning,
//! the deploy block.
use super::*;

/// Stock's drift over a run within this share is not worth a warning.
pub(super) const DRIFT_TOLERANCE: f64 = 0.03;

/// Each config's standing: its accurate measurements ranked under the
/// objective, represented by the median one (the lower of the two middle
/// ones for an even count), best first. A config the playoff measured
/// three times stands on its median, not on its luckiest window.
pub fn ranked(results: &Results, objective: Objective) -> Vec<(&TrialRecord, f64)> {
    // Shards merged from several machines of one host type rank by the
    // speedup over their own shard's stock: machines differ a little.
    let merged = results.merged.is_some() && objective == Objective::Throughput;
    let score = |t: &TrialRecord| {
        if merged {
            t.speedup.filter(|_| t.stats.is_some())
        } else {
            objective.score(t)
        }
    };
    let mut by_label: BTreeMap<&str, Vec<(&TrialRecord, f64)>> = BTreeMap::new();
    for t in results
        .trials
        .iter()
        .filter(|t| t.status == Status::Ok && t.accurate == Some(true))
    {
        if let Some(score) = score(t) {
            by_label.entry(&t.label).or_default().push((t, score));
        }
    }
    let mut ranked: Vec<(&TrialRecord, f64)> = by_label
        .into_values()
        .map(|mut measured| {
            measured.sort_by(|a, b| a.1.total_cmp(&b.1));
            measured[(measured.len() - 1) / 2]
        })
        .collect();
    // Ties in score keep the earlier trial first.
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.id.cmp(&b.0.id)));
    ranked
}

/// The measurement `label` stands on in [`ranked`] (its median accurate
/// one), if it has one.
pub fn representative<'a>(
    results: &'a Results,
    objective: Objective,
    label: &str,
) -> Option<&'a TrialRecord> {
    ranked(results, objective)
        .into_iter()
        .find(|(t, _)| t.label == label)
        .map(|(t, _)| t)
}

/// The configs a winner may be: after a playoff that measured a round,
/// its finalists only. A config left out of it stands on one window, the
/// finalists on the median of several, and a median falls back from a
/// lucky first window where one window does not: ResNet-18's finalists
/// (927, 920, 907 samples/s in the search) stood on 874-884 after four
/// rounds, and the fourth-best config, measured once at 890, was crowned
/// (its rematch against IPEX's recipe read 0.99).
fn contenders<'r>(
    results: &'r Results,
    ranked: Vec<(&'r TrialRecord, f64)>,
) -> Vec<(&'r TrialRecord, f64)> {
    match results.playoff.as_ref().filter(|p| p.rounds > 0) {
        Some(playoff) => ranked
            .into_iter()
            .filter(|(t, _)| playoff.finalists.iter().any(|f| f.label == t.label))
            .collect(),
        None => ranked,
    }
}

/// The best config of `results` under the objective ([`ranked`], among
/// the playoff's finalists when it ran); for throughput, a tie when it
/// does not beat the runner-up beyond the 95% interval of their ratio, or
/// by more than stock drifted during the run.
pub fn winner(results: &Results, objective: Objective) -> Option<Winner> {
    let stock = results
        .trials
        .first()
        .and_then(|t| t.stats.as_ref())
        .map(|s| s.samples_per_s);
    // Within one run the intervals miss what changes between the start
    // and the end (stock's drift), or how far the reference moved in
    // between: a margin below it is no margin.
    let drift = results
        .stock_drift
        .as_ref()
        .map_or(0.0, |d| (d.ratio - 1.0).abs())
        .max(results.reference.as_ref().map_or(0.0, |r| r.movement - 1.0));
    let ranked = contenders(results, ranked(results, objective));
    ranked.first().map(|&(t, _)| {
        let s = t.stats.as_ref().map_or(0.0, |s| s.samples_per_s);
        Winner {
            trial: t.id,
            label: t.label.clone(),
            config: t.config.clone(),
            samples_per_s: s,
            // Against the trial's own stock (a merged file holds one per
            // shard), else the first.
            speedup: t
                .speedup
                .or_else(|| stock.map(|base| s / base))
                .unwrap_or(1.0),
            speedup_ci95: t.speedup_ci95,
            // Ties are judged on throughput, the figure the intervals
            // are computed for; the runner-up is the next config.
            tie: (!matches!(objective, Objective::Latency { .. }))
                .then(|| ranked.get(1))
                .flatten()
                .and_then(|&(r, _)| {
                    let rs = r.stats.as_ref()?.samples_per_s;
                    let ratio = s / rs;
                    let ci95 = interval_around(ratio, &r.per_shape, &t.per_shape)?;
                    (ci95.0 <= 1.0 || ratio - 1.0 <= drift).then(|| Tie {
                        trial: r.id,
                        label: r.label.clone(),
                        ratio,
                        ci95,
                    })
                }),
        }
    })
}

impl Session<'_> {
    pub(super) fn update_winner(&mut self) {
        self.results.winner = winner(&self.results, self.settings.objective);
        expert::summarize(&mut self.results);
        super::migration::summarize(&mut self.results);
    }

    /// The `deploy` block of the winner; with `--save-optimized`, the
    /// winner's config is prepared once more in a child that saves the
    /// module and checks that it reloads to the same outputs.
    pub(super) fn deploy_winner(&mut self) -> anyhow::Result<()> {
        let Some(winner) = self.results.winner.clone() else {
            return Ok(());
        };
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Ok(());
        }
        let saved = match &self.settings.save_optimized {
            Some(path) => {
                let path = std::path::absolute(path)?;
                let mut spec = self.spec(&winner.config, false);
                spec.reference = None;
                spec.options.min_time_s = 0.0;
                spec.options.min_iters = 1;
                spec.save_module = Some(path.clone());
                if self.settings.progress {
                    eprintln!(
                        "saving the winner's optimized module to {} ...",
                        path.display()
                    );
                }
                let outcome = crate::trial::spawn(&spec, self.scratch.path(), self.limit);
                Some(outcome.output.and_then(|o| o.saved).unwrap_or(SavedModule {
                    path,
                    error: Some(outcome.reason.unwrap_or_else(|| "the child failed".into())),
                    reload_max_abs: None,
                }))
            }
            None => None,
        };
        let ok_path = saved
            .as_ref()
            .filter(|s| s.error.is_none())
            .map(|s| s.path.display().to_string());
        let mut block = deploy::deploy(
            self.planned,
            &winner.config,
            &self.options.cpus,
            ok_path,
            saved.is_some(),
        );
        if let Some(s) = saved {
            block.notes.push(match (s.error, s.reload_max_abs) {
                (Some(e), _) if winner.config.weights_prepack && winner.config.backend == crate::config::Backend::Stock => format!(
                    "this config's module could not be saved ({e}): oneDNN-prepacked weights do not serialize; save the same config without +prepack"
                ),
                (Some(e), _) => format!("this config's module could not be saved: {e}"),
                (None, Some(d)) => format!(
                    "the saved module, loaded back as a fresh module, gives the winner's outputs within {d:.1e}"
                ),
                (None, None) => "saved".into(),
            });
        }
        self.results.deploy = Some(block);
        self.results.write_atomic(self.output)?;
        Ok(())
    }

    /// The run's warning about trials measured under interference.
    pub(super) fn note_interference(&mut self) {
        let kept = self
            .results
            .trials
            .iter()
            .filter(|t| {
                t.interference
                    .as_ref()
                    .and_then(|i| i.disturbed())
                    .is_some()
            })
            .count();
        if self.reruns > 0 || kept > 0 {
            self.results.warnings.push(format!(
                "host not quiet: {} trial(s) were disturbed by other processes or memory pressure and measured again; {kept} still were (their figures are marked)",
                self.reruns
            ));
        }
    }
}
