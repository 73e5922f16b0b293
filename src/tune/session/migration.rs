//! "Should I leave IPEX?" answered for this model and host: the fastest
//! accurate IPEX trial against the fastest accurate Inductor trial (IPEX
//! was archived after 2.8; upstream's CPU path is torch.export +
//! AOTInductor), with the ratio's interval and each one's accuracy.
use crate::config::Backend;
use crate::measure::shapes::interval_around;
use crate::record::{BackendBest, Migration, Results, Status, TrialRecord};

/// The fastest accurate trial of `backend`.
fn best_of(trials: &[TrialRecord], backend: Backend) -> Option<&TrialRecord> {
    trials
        .iter()
        .filter(|t| t.config.backend == backend)
        .filter(|t| t.status == Status::Ok && t.accurate == Some(true))
        .filter(|t| t.stats.is_some())
        .max_by(|a, b| samples_per_s(a).total_cmp(&samples_per_s(b)))
}

fn samples_per_s(t: &TrialRecord) -> f64 {
    t.stats.as_ref().map_or(0.0, |s| s.samples_per_s)
}

fn best(t: &TrialRecord) -> BackendBest {
    BackendBest {
        trial: t.id,
        label: t.label.clone(),
        samples_per_s: samples_per_s(t),
        min_cosine: t.accuracy.as_ref().map(|a| a.cosine),
        max_abs: t.accuracy.as_ref().map(|a| a.max_abs),
        compile_s: t.compile.as_ref().map(|c| c.seconds),
    }
}

/// Fills `results.migration` when the run measured either backend.
pub fn summarize(results: &mut Results) {
    let trials = &results.trials;
    let tried = |b: Backend| trials.iter().any(|t| t.config.backend == b);
    if !tried(Backend::Ipex) && !tried(Backend::Inductor) {
        results.migration = None;
        return;
    }
    let ipex = best_of(trials, Backend::Ipex);
    let inductor = best_of(trials, Backend::Inductor);
    let (ratio, ci95) = match (ipex, inductor) {
        (Some(i), Some(n)) => {
            let ratio = samples_per_s(n) / samples_per_s(i);
            (
                Some(ratio),
                interval_around(ratio, &i.per_shape, &n.per_shape),
            )
        }
        _ => (None, None),
    };
    let verdict = verdict(
        ipex.is_some(),
        inductor.is_some(),
        ratio,
        ci95,
        tried(Backend::Inductor),
    );
    results.migration = Some(Migration {
        ipex: ipex.map(best),
        inductor: inductor.map(best),
        inductor_over_ipex: ratio,
        ci95,
        verdict,
    });
}

/// Which to deploy, from whether each backend ran accurately and the
/// ratio's interval (a tie within noise favours the maintained path).
fn verdict(
    ipex: bool,
    inductor: bool,
    ratio: Option<f64>,
    ci95: Option<(f64, f64)>,
    inductor_tried: bool,
) -> String {
    match (ipex, inductor, ratio) {
        (true, true, Some(r)) => {
            let (lo, hi) = ci95.unwrap_or((r, r));
            if lo > 1.0 {
                format!("leave IPEX: Inductor is {r:.2}x IPEX here (95% CI {lo:.2}-{hi:.2})")
            } else if hi < 1.0 {
                format!(
                    "stay on IPEX for now: Inductor reaches {r:.2}x IPEX here (95% CI {lo:.2}-{hi:.2})"
                )
            } else {
                format!(
                    "either: Inductor and IPEX are not apart beyond noise ({r:.2}x, 95% CI {lo:.2}-{hi:.2}); Inductor is the maintained path"
                )
            }
        }
        (true, false, _) if inductor_tried => {
            "stay on IPEX for now: no Inductor config ran accurately here".into()
        }
        (true, false, _) => {
            "not compared: no Inductor config was measured (see the inductor rules in plan)".into()
        }
        (false, true, _) => "Inductor: no IPEX config ran accurately here".into(),
        _ => "not compared: neither backend ran accurately".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_follows_the_interval() {
        let v = |r: f64, ci: (f64, f64)| verdict(true, true, Some(r), Some(ci), true);
        assert!(v(1.3, (1.2, 1.4)).starts_with("leave IPEX"));
        assert!(v(0.7, (0.6, 0.8)).starts_with("stay on IPEX"));
        assert!(v(1.02, (0.95, 1.1)).starts_with("either"));
        assert!(
            verdict(true, false, None, None, true).contains("no Inductor config ran accurately")
        );
        assert!(verdict(true, false, None, None, false).starts_with("not compared"));
    }
}
