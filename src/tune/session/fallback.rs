//! The accuracy-aware int8 fallback: the layers' sensitivity, then int8
//! configs with the most sensitive layers kept in fp32, within a share of
//! the budget.
use super::*;

/// The share of the budget the int8 fallbacks may take in all.
pub(super) const FALLBACK_BUDGET_SHARE: f64 = 0.25;

/// The shortest time limit a sensitivity child gets within a budget.
pub(super) const MIN_SENSITIVITY_LIMIT: Duration = Duration::from_secs(30);

/// The sensitivity child's time limit, in trial time limits.
pub(super) const SENSITIVITY_LIMIT_TRIALS: u32 = 4;

/// Keeps `found` in `best` when it scores higher.
pub(super) fn keep_best(best: &mut Option<(Config, f64)>, found: Option<(Config, f64)>) {
    if let Some((config, score)) = found {
        if best.as_ref().is_none_or(|(_, s)| score > *s) {
            *best = Some((config, score));
        }
    }
}

impl Session<'_> {
    /// Measures `config`; an int8 config that misses the tolerance gets its
    /// fallback. The accurate config and its score, if any.
    pub(super) fn trial_or_fallback(
        &mut self,
        config: Config,
        why: String,
    ) -> anyhow::Result<Option<(Config, f64)>> {
        match self.trial(config.clone(), why)? {
            Some(score) => Ok(Some((config, score))),
            None if config.dtype == Dtype::Bf16 => self.bf16_unfolded(&config),
            None => self.int8_fallback(&config),
        }
    }

    /// A pure-bf16 config with conv-bn folding that ran but missed the
    /// tolerance gets one more trial without the folding: folding moves the
    /// batch norm's fp32 scale and shift into bf16 conv weights and bias,
    /// where the unfolded graph runs the norm with its fp32 parameters. On
    /// a MobileNetV3-small (random weights, AMX host) the folded graph
    /// scored cosine 0.9988 (tolerance 0.999), the unfolded one passed and
    /// was the fastest accurate config. Only where the rules allow the
    /// unfolded twin, and not again once it missed too.
    fn bf16_unfolded(&mut self, failed: &Config) -> anyhow::Result<Option<(Config, f64)>> {
        let inaccurate = self.results.trials.last().is_some_and(|t| {
            t.config == *failed && t.status == Status::Ok && t.accurate == Some(false)
        });
        if !inaccurate || !failed.conv_bn_folding || self.bf16_unfolded_missed || self.should_stop()
        {
            return Ok(None);
        }
        let mut unfolded = failed.clone();
        unfolded.conv_bn_folding = false;
        let allowed = self
            .planned
            .plan
            .candidates
            .iter()
            .any(|c| c.config == unfolded);
        if !allowed || !self.tried.insert(unfolded.clone()) {
            return Ok(None);
        }
        let why = format!(
            "{} missed the tolerance: the same without conv-bn folding (the norms keep their fp32 parameters)",
            failed.label()
        );
        let scored = self.trial(unfolded.clone(), why)?;
        self.bf16_unfolded_missed = scored.is_none();
        Ok(scored.map(|s| (unfolded, s)))
    }

    /// The accuracy-aware int8 fallback, for an int8 config that ran but
    /// missed the tolerance: a child measures each layer's sensitivity (the
    /// outputs with that layer alone quantized), then configs keep the 1, 2,
    /// ... most sensitive layers in fp32 until one is accurate, at most
    /// half the layers (beyond that, little int8 is left), within the
    /// budget. Returns the first accurate one and its score.
    pub(super) fn int8_fallback(
        &mut self,
        failed: &Config,
    ) -> anyhow::Result<Option<(Config, f64)>> {
        let inaccurate = self.results.trials.last().is_some_and(|t| {
            t.config == *failed && t.status == Status::Ok && t.accurate == Some(false)
        });
        if !inaccurate
            || !failed.dtype.is_int8()
            || !failed.fp32_layers.is_empty()
            || self.int8_fp32_layers.contains_key(&failed.dtype)
            || self.should_stop()
        {
            return Ok(None);
        }
        if self.fallback_budget_spent() {
            self.int8_fp32_layers.insert(failed.dtype, None);
            self.results.int8_fallbacks.push(Int8Fallback {
                config: failed.label(),
                all_int8: None,
                sensitivity: Vec::new(),
                sensitivity_wall_s: 0.0,
                tried: Vec::new(),
                kept_fp32: None,
                problem: Some(format!(
                    "not run: int8 fallbacks already took their share of the budget ({:.0}%)",
                    FALLBACK_BUDGET_SHARE * 100.0
                )),
            });
            return Ok(None);
        }
        let started = Instant::now();
        let found = self.int8_fallback_search(failed);
        self.fallback_spent += started.elapsed();
        found
    }

    /// Whether int8 fallbacks have used their share of the budget (never,
    /// without a budget: they are bounded by their steps).
    pub(super) fn fallback_budget_spent(&self) -> bool {
        self.settings
            .budget
            .is_some_and(|b| self.fallback_spent >= b.mul_f64(FALLBACK_BUDGET_SHARE))
    }

    /// The fallback itself: the sensitivity child, then the fallback
    /// trials, until one is accurate, one fails (the next would fail the
    /// same way: the layers are the same, one more of them in fp32), the
    /// steps end or the fallbacks' share of the budget is spent.
    pub(super) fn int8_fallback_search(
        &mut self,
        failed: &Config,
    ) -> anyhow::Result<Option<(Config, f64)>> {
        let started = Instant::now();
        if self.settings.progress {
            eprintln!(
                "int8 fallback: {} missed the tolerance; measuring each layer's sensitivity ...",
                failed.label()
            );
        }
        let mut spec = self.spec(failed, false);
        spec.job = Job::LayerSensitivity;
        // One quantization (prepare, calibrate, convert) and one pass over
        // the inputs per layer: a longer limit than one trial's, within
        // what is left of the budget.
        let mut limit = self.limit * SENSITIVITY_LIMIT_TRIALS;
        if let Some(budget) = self.settings.budget {
            let share_left = budget
                .mul_f64(FALLBACK_BUDGET_SHARE)
                .saturating_sub(self.fallback_spent);
            limit = limit
                .min(budget.saturating_sub(self.start.elapsed()).max(self.limit))
                .min(share_left.max(MIN_SENSITIVITY_LIMIT));
        }
        spec.time_limit_s = Some(limit.as_secs_f64());
        let outcome = crate::trial::spawn(&spec, self.scratch.path(), limit);
        let mut record = Int8Fallback {
            config: failed.label(),
            all_int8: None,
            sensitivity: Vec::new(),
            sensitivity_wall_s: outcome.wall_s,
            tried: Vec::new(),
            kept_fp32: None,
            problem: None,
        };
        let Some(measured) = outcome.sensitivity else {
            record.problem = Some(outcome.reason.unwrap_or_else(|| "no answer".into()));
            self.results.int8_fallbacks.push(record);
            self.results.write_atomic(self.output)?;
            return Ok(None);
        };
        record.all_int8.clone_from(&measured.all_int8);
        record.sensitivity = measured.ranked();
        let ranked: Vec<String> = record.sensitivity.iter().map(|l| l.layer.clone()).collect();
        let steps = (measured.layers.len() / 2).max(1).min(ranked.len());
        let mut found = None;
        for k in 1..=steps {
            if self.should_stop()
                || self.settings.budget.is_some_and(|b| {
                    self.fallback_spent + started.elapsed() >= b.mul_f64(FALLBACK_BUDGET_SHARE)
                })
            {
                break;
            }
            let mut config = failed.clone();
            config.fp32_layers = ranked[..k].to_vec();
            if !self.tried.insert(config.clone()) {
                continue;
            }
            record.tried.push(config.label());
            let why = format!(
                "int8 fallback: {} with its {k} most sensitive layer(s) in fp32",
                failed.label()
            );
            if let Some(score) = self.trial(config.clone(), why)? {
                record.kept_fp32 = Some(config.fp32_layers.clone());
                found = Some((config, score));
                break;
            }
            let last = self.results.trials.last().expect("just measured");
            if last.status != Status::Ok {
                record.problem =
                    Some(format!(
                    "stopped: the fallback trial {} {} ({}); the next ones keep the same layers",
                    last.label,
                    last.status.name(),
                    last.reason.as_deref().unwrap_or("no reason").lines().next().unwrap_or("")
                ));
                break;
            }
        }
        self.int8_fp32_layers
            .insert(failed.dtype, record.kept_fp32.clone());
        if self.settings.progress {
            match &record.kept_fp32 {
                Some(layers) => {
                    eprintln!("int8 fallback: accurate with {} in fp32", layers.join(", "))
                }
                None => eprintln!("int8 fallback: no accurate config within {steps} step(s)"),
            }
        }
        self.results.int8_fallbacks.push(record);
        self.results.write_atomic(self.output)?;
        Ok(found)
    }

    /// An int8 config whose dtype needed a fallback keeps the same layers
    /// in fp32 (another layout, fuser or allocator does not change which
    /// layers int8 breaks), where its backend can keep layers in fp32 (the
    /// inductor backend quantizes the whole program: an inductor config
    /// labelled with fp32 layers it never kept was measured on ViT).
    pub(super) fn with_known_fp32_layers(&self, config: &mut Config) {
        if let Some(Some(layers)) = self.int8_fp32_layers.get(&config.dtype) {
            if config.fp32_layers.is_empty() {
                let mut kept = config.clone();
                kept.fp32_layers.clone_from(layers);
                if space::coherent(&kept, self.planned.usable) {
                    *config = kept;
                }
            }
        }
    }
}
