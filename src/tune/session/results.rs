//! The results file as a run starts it: the skeleton with the plan, the
//! run's warnings before any trial, and where each knob value came from.
use super::*;

/// Where each knob value came from.
pub(super) fn provenance(config: &Config, planned: &Planned) -> BTreeMap<String, String> {
    let stock = Config::stock();
    ALL_KNOBS
        .iter()
        .map(|knob| {
            let mut shaping: Vec<&str> = planned
                .plan
                .exclusions
                .iter()
                .filter(|e| e.knob == knob.name())
                .map(|e| e.rule.as_str())
                .collect();
            shaping.dedup();
            let source = if !shaping.is_empty() {
                format!("search within rules: {}", shaping.join(", "))
            } else if knob.value_of(config) == knob.value_of(&stock) {
                "default".to_string()
            } else {
                "search".to_string()
            };
            (knob.name().to_string(), source)
        })
        .collect()
}

/// The warnings of a run before any trial: rule contradictions, and every
/// rule of severity warn or fail that fired (e.g. host-not-quiet, whose
/// threshold lives in its rule).
pub(super) fn plan_warnings(planned: &Planned) -> Vec<String> {
    let conflicts = planned
        .plan
        .conflicts
        .iter()
        .map(|c| format!("rule conflict: {c}"));
    let firings = planned
        .plan
        .firings
        .iter()
        .filter(|f| matches!(f.severity, Severity::Warn | Severity::Fail))
        .map(|f| {
            format!(
                "{}: {} ({})",
                f.rule,
                f.title,
                Observed::describe_all(&f.facts)
            )
        });
    conflicts.chain(firings).collect()
}

/// The results file before the first trial.
pub(super) fn results_skeleton(planned: &Planned, settings: &Settings) -> Results {
    Results {
        schema: SCHEMA.to_string(),
        tool: Tool {
            name: "ipex-tune".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        started_unix: now_unix(),
        command: std::env::args().collect(),
        complete: false,
        interrupted: false,
        host: planned.host.clone(),
        facts: planned.facts.clone(),
        model: planned.model.clone(),
        suite: planned.suite.clone(),
        search: Search {
            mode: settings.search.name().into(),
            budget_s: settings.budget.map(|b| b.as_secs_f64()),
            space: 0,
            wall_s: 0.0,
        },
        plan: PlanRecord {
            firings: planned
                .plan
                .firings
                .iter()
                .map(|f| FiringRecord::from(f, &planned.explain(&f.rule)))
                .collect(),
            exclusions: planned
                .plan
                .exclusions
                .iter()
                .map(ExclusionRecord::from)
                .collect(),
            candidate_exclusions: planned.plan.candidate_exclusions.clone(),
            options: planned.plan.options.clone(),
            conflicts: planned.plan.conflicts.clone(),
        },
        trials: Vec::new(),
        skipped: Vec::new(),
        winner: None,
        stock_drift: None,
        reference: None,
        deploy: None,
        int8_fallbacks: Vec::new(),
        expert: None,
        migration: None,
        stopped_families: Vec::new(),
        playoff: None,
        profile: None,
        shard: settings.shard.clone(),
        merged: None,
        objective: settings.objective,
        warnings: plan_warnings(planned),
    }
}
