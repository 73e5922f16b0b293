//! One trial: the child that measures a config, the accuracy verdict
//! against stock, and the record the results file keeps.
use super::*;

/// The measured part of a trial's record (identity, verdicts and speedup
/// are the session's): statistics, steps, peak RSS, and warnings about
/// the measurement itself.
pub(super) fn measured(outcome: ChildOutcome) -> TrialRecord {
    let mut warnings = Vec::new();
    if let Some(out) = &outcome.output {
        if let Some(why) = out.interference.as_ref().and_then(|i| i.disturbed()) {
            warnings.push(format!("measured under interference: {why}"));
        }
        if !out.warmup_steady {
            warnings.push("timings were not steady after warm-up".to_string());
        }
        if out.stats.cv > 0.25 {
            warnings.push(format!(
                "large spread: coefficient of variation {:.2}",
                out.stats.cv
            ));
        }
    }
    let out = outcome.output;
    TrialRecord {
        id: 0,
        label: String::new(),
        config: Config::stock(),
        provenance: BTreeMap::new(),
        why: String::new(),
        status: outcome.status,
        reason: outcome.reason,
        stats: out.as_ref().map(|o| o.stats.clone()),
        latencies_ms: out
            .as_ref()
            .map(|o| o.latencies_ms.clone())
            .unwrap_or_default(),
        per_shape: out
            .as_ref()
            .map(|o| o.per_shape.clone())
            .unwrap_or_default(),
        interference: out.as_ref().and_then(|o| o.interference.clone()),
        task_top1: out.as_ref().and_then(|o| o.task_top1),
        first_call_ms: out.as_ref().map(|o| o.first_call_ms),
        warmup_iterations: out.as_ref().map(|o| o.warmup_iterations),
        peak_rss_bytes: outcome.peak_rss_bytes,
        wall_s: outcome.wall_s,
        accuracy: out.as_ref().and_then(|o| o.accuracy.clone()),
        accurate: None,
        accuracy_problem: None,
        speedup: None,
        shard: None,
        speedup_ci95: None,
        steps: out.as_ref().map(|o| o.steps.clone()).unwrap_or_default(),
        threads: out.as_ref().map(|o| o.threads),
        compile: out.as_ref().and_then(|o| o.compile.clone()),
        executed_graph: out.and_then(|o| o.executed_graph),
        warnings,
    }
}

/// When stock fails on the suite's sizes (a size the model did not fix in a
/// layer ipex-tune reads), which argument and which flag set them.
pub(super) fn shape_hint(reason: &str, planned: &Planned) -> String {
    let about_sizes = [
        "size",
        "shape",
        "dimension",
        "2D",
        "3D",
        "4D",
        "index out of range",
        "mat1 and mat2",
    ]
    .iter()
    .any(|w| reason.contains(w));
    if !about_sizes || planned.suite.input_file.is_some() {
        return String::new();
    }
    let args: Vec<String> = planned
        .suite
        .inputs
        .iter()
        .map(|i| {
            let dims: Vec<String> = i
                .shape
                .iter()
                .map(|d| match d {
                    crate::suite::Dim::Fixed(n) => n.to_string(),
                    crate::suite::Dim::Named(n) => n.clone(),
                })
                .collect();
            format!("{} [{}]", i.name, dims.join(", "))
        })
        .collect();
    format!(
        "; the suite gave {}: set the sizes with --suite generic --input-shape (one per argument), or real inputs with --inputs",
        args.join(", ")
    )
}

/// Why a finished trial's timed window was disturbed, if it was.
pub(super) fn disturbed(outcome: &ChildOutcome) -> Option<String> {
    outcome
        .output
        .as_ref()
        .and_then(|o| o.interference.as_ref())
        .and_then(|i| i.disturbed())
}

impl Session<'_> {
    /// Whether the outputs are within the suite's tolerance for the dtype,
    /// and if not, why. Stock is the reference.
    pub(super) fn accuracy_verdict(
        &self,
        config: &Config,
        outcome: &ChildOutcome,
        is_stock: bool,
    ) -> (Option<bool>, Option<String>) {
        let Some(out) = &outcome.output else {
            return (None, None);
        };
        if is_stock {
            return (Some(true), None);
        }
        let policy = &self.planned.suite.accuracy;
        // A task criterion (--labels + --max-accuracy-loss) decides instead
        // of the output tolerance; outputs that are not finite never pass.
        let stock_top1 = self.results.trials.first().and_then(|t| t.task_top1);
        if let (Some(loss), Some(top1), Some(stock)) = (policy.max_loss, out.task_top1, stock_top1)
        {
            let broken = out.accuracy.as_ref().is_some_and(|a| a.non_finite > 0);
            let floor = loss.floor(stock);
            return if top1 >= floor && !broken {
                (Some(true), None)
            } else {
                (
                    Some(false),
                    Some(if broken {
                        "outputs are not finite".to_string()
                    } else {
                        format!("task top-1 {top1:.4} below {floor:.4} (stock {stock:.4} less the allowed loss)")
                    }),
                )
            };
        }
        let Some(tolerance) = policy.tolerance.get(&config.dtype) else {
            return (
                Some(false),
                Some(format!("the suite sets no tolerance for {}", config.dtype)),
            );
        };
        match &out.accuracy {
            Some(acc) => match accuracy::verdict(acc, &policy.metric, tolerance) {
                None => (Some(true), None),
                // Of several outputs, the one that fails by the most.
                Some(problem) => match acc
                    .worst_output
                    .and_then(|j| accuracy::leaf_paths(&out.output_structure).get(j).cloned())
                {
                    Some(leaf) => (Some(false), Some(format!("{problem} (output {leaf})"))),
                    None => (Some(false), Some(problem)),
                },
            },
            None => (None, None),
        }
    }

    /// Measures one config in a child and records it; returns its score
    /// under the run's objective (higher is better) when it ran, is
    /// accurate and qualifies.
    pub(super) fn trial(&mut self, config: Config, why: String) -> anyhow::Result<Option<f64>> {
        self.reference_if_due(&config)?;
        let id = self.results.trials.len();
        // The first trial of a session is stock, the accuracy reference.
        let is_stock = !self.reference_saved;
        self.reference_saved = true;
        let spec = self.spec(&config, is_stock);
        let mut outcome = self.spawn_with_progress(&spec, id);
        if let Some(why) = disturbed(&outcome) {
            // Once: a second disturbed window is kept, and says so.
            if self.settings.progress {
                eprintln!("trial #{id} measured under interference ({why}); measuring it again");
            }
            self.reruns += 1;
            outcome = self.spawn_with_progress(&spec, id);
        }
        let (accurate, accuracy_problem) = self.accuracy_verdict(&config, &outcome, is_stock);
        let samples = outcome.output.as_ref().map(|o| o.stats.samples_per_s);
        let base = if id == 0 {
            samples
        } else {
            self.stock_samples_per_s()
        };
        let mut record = TrialRecord {
            id,
            label: config.label(),
            provenance: provenance(&config, self.planned),
            config,
            why,
            accurate,
            accuracy_problem,
            speedup: samples.zip(base).map(|(s, b)| s / b),
            ..measured(outcome)
        };
        if let (Some(speedup), Some(stock)) = (record.speedup, self.results.trials.first()) {
            let stock_shapes = if id == 0 {
                &record.per_shape
            } else {
                &stock.per_shape
            };
            record.speedup_ci95 = interval_around(speedup, stock_shapes, &record.per_shape);
        }
        let usable = record.status == Status::Ok && record.accurate == Some(true);
        let score = usable
            .then(|| self.settings.objective.score(&record))
            .flatten();
        self.progress.finished(&record);
        self.note_reference(&record);
        self.results.trials.push(record);
        self.note_family_failure(id);
        self.update_winner();
        self.results.write_atomic(self.output)?;
        Ok(score)
    }
}
