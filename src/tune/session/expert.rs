//! The expert's floor: IPEX's documented recipes (search::recipes), each in
//! the launcher's layouts, measured before the guided search explores, and
//! the winner against the best of them. The winner is the best accurate
//! trial, and the recipes are trials: it can only beat the best recipe or
//! tie with it.
use super::Session;
use crate::config::Config;
use crate::measure::shapes::interval_around;
use crate::record::{Expert, ExpertBest, ExpertRecipe, Results};

impl Session<'_> {
    /// Measures every recipe in the launcher's layouts, as the plan lays
    /// them out (every recipe on all cores first: a budget that runs out
    /// keeps one of each). Returns the best accurate recipe and its score.
    pub(super) fn expert_floor(&mut self) -> anyhow::Result<Option<(Config, f64)>> {
        self.results.expert = Some(Expert::default());
        let mut best: Option<(Config, f64)> = None;
        for planned in self.planned.expert_recipes(self.settings.objective) {
            let mut entry = ExpertRecipe {
                recipe: planned.recipe.into(),
                python: planned.python.into(),
                layout: planned.layout.clone(),
                label: planned.label.clone(),
                trial: None,
                skipped: planned.excluded.clone(),
            };
            if let Some(config) = planned.config {
                if let Some(stopped) = self.family_stopped(&config) {
                    entry.skipped = Some(stopped);
                } else if let Some(done) = self.trial_of(&config) {
                    entry.trial = Some(done);
                } else if self.should_stop() {
                    entry.skipped = Some("the time budget ran out first".into());
                } else {
                    self.tried.insert(config.clone());
                    let why = format!(
                        "expert recipe: {} ({}), {}",
                        planned.recipe, planned.python, planned.layout
                    );
                    let scored = self.trial(config.clone(), why)?;
                    // The last record: a reference measured before it
                    // takes the id it would have had.
                    entry.trial = Some(self.results.trials.len() - 1);
                    if let Some(score) = scored {
                        if best.as_ref().is_none_or(|(_, s)| score > *s) {
                            best = Some((config, score));
                        }
                    }
                }
            }
            if let Some(expert) = self.results.expert.as_mut() {
                expert.recipes.push(entry);
            }
            summarize(&mut self.results);
            self.results.write_atomic(self.output)?;
        }
        Ok(best)
    }

    /// The id of the trial that measured `config`, if one did.
    fn trial_of(&self, config: &Config) -> Option<usize> {
        self.results
            .trials
            .iter()
            .find(|t| t.config == *config)
            .map(|t| t.id)
    }
}

/// Fills the expert record's best recipe and the winner's ratio to it
/// (after every trial, with the winner). A recipe stands on the same
/// measurement as in the winner's ranking (its median, after a playoff).
pub fn summarize(results: &mut Results) {
    let Some(expert) = results.expert.as_ref() else {
        return;
    };
    let best = expert
        .recipes
        .iter()
        .filter(|r| r.trial.is_some())
        .filter_map(|r| {
            let t = super::winner::representative(results, results.objective, r.label.as_deref()?)?;
            Some((r, t, t.stats.as_ref()?.samples_per_s))
        })
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(r, t, samples_per_s)| ExpertBest {
            trial: t.id,
            recipe: r.recipe.clone(),
            layout: r.layout.clone(),
            label: t.label.clone(),
            samples_per_s,
        });
    let trials = &results.trials;
    let ratio = best
        .as_ref()
        .zip(results.winner.as_ref())
        .and_then(|(best, winner)| {
            let ratio = winner.samples_per_s / best.samples_per_s;
            let ci95 = interval_around(
                ratio,
                &trials.get(best.trial)?.per_shape,
                &trials.get(winner.trial)?.per_shape,
            );
            Some((ratio, ci95))
        });
    let Some(expert) = results.expert.as_mut() else {
        return;
    };
    expert.best = best;
    expert.winner_ratio = ratio.map(|r| r.0);
    expert.winner_ratio_ci95 = ratio.and_then(|r| r.1);
}
