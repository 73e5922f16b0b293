//! Families of candidates (backend x dtype): every family is measured once
//! before the guided search varies any of them, and a family whose trials
//! fail the same way is stopped, so a budget cannot sink into one broken
//! family (45 failing int8 trials on a scripted MobileNetV3 left no time for
//! a single IPEX trial).
use std::collections::BTreeMap;

use super::fallback::keep_best;
use super::Session;
use crate::config::Config;
use crate::record::{Skipped, Status, StoppedFamily, TrialRecord};
use crate::search::{guided, Candidate};

/// Trials of a family that fail the same way before it is stopped.
const SAME_FAILURES_TO_STOP: usize = 2;

/// A family (with its fuser: see [`stop_scope`]) whose fastest accurate
/// trial scores below this share of the best so far is not varied
/// further: its graph passes, layout and allocator move a config by
/// percents, not by the factor between backends or dtypes (on ConvNeXt,
/// stock's int8 at 49 samples/s against IPEX's int8 at 95, and the guided
/// sweep spent three trials on stock's folding and prepacking variants
/// before the budget ran out). A fuser can move it by that factor (bf16
/// with the oneDNN Graph fuser: 124 against 70), so a variant with a fuser
/// its family has not run with is still tried. The share is far below the
/// host's noise, which moves a figure by up to a third.
const FAR_BEHIND: f64 = 0.65;

/// Whether a score is below [`FAR_BEHIND`] of the best (scores are higher
/// is better: samples/s, or minus a latency in ms).
fn far_behind(score: f64, best: f64) -> bool {
    if best > 0.0 {
        score < FAR_BEHIND * best
    } else {
        score < best / FAR_BEHIND
    }
}

/// A config's family: its backend and dtype, e.g. "ipex/int8-static".
pub fn family(config: &Config) -> String {
    format!("{}/{}", config.backend.label(), config.dtype.label())
}

/// What a stop covers: the family, and the fuser when there is one (the
/// oneDNN Graph fuser failing on a model says nothing of the family without
/// it: on GPT-2 and BERT every `ipex/.../onednn/...` trial failed with "bad
/// optional access" while the same family without the fuser won the run).
pub fn stop_scope(config: &Config) -> String {
    match config.fuser {
        crate::config::Fuser::None => family(config),
        fuser => format!(
            "{}/{}/{}",
            config.backend.label(),
            fuser.label(),
            config.dtype.label()
        ),
    }
}

/// What makes two failures "the same": the status and the reason's first
/// line with numbers blanked (sizes, addresses and layer counts differ
/// between layouts; the cause does not).
fn failure_key(record: &TrialRecord) -> Option<String> {
    if record.status == Status::Ok || record.status == Status::Interrupted {
        return None;
    }
    let reason = record.reason.as_deref().unwrap_or("");
    let first = reason.lines().next().unwrap_or("");
    let mut blanked = String::new();
    for c in first.chars().take(160) {
        if !c.is_ascii_digit() {
            blanked.push(c);
        } else if !blanked.ends_with('#') {
            blanked.push('#');
        }
    }
    Some(format!("{}: {blanked}", record.status.name()))
}

/// The cause of a failure, for telling whether two families of one backend
/// fail alike: the failure key up to the error's type (what follows, e.g.
/// a C++ compile error's command line with its hashed paths, differs from
/// family to family).
fn cause(key: &str) -> &str {
    ["Error", "Exception"]
        .iter()
        .filter_map(|t| key.find(t).map(|i| &key[..i + t.len()]))
        .min_by_key(|prefix| prefix.len())
        .unwrap_or(key)
}

/// What a stop across families (dtypes) covers: a fuser on its backend,
/// e.g. "ipex/onednn", or a backend without a fuser, e.g. "inductor".
/// None for stock without a fuser: stock is the reference and always runs.
pub fn wide_scope(config: &Config) -> Option<String> {
    match config.fuser {
        crate::config::Fuser::None if config.backend == crate::config::Backend::Stock => None,
        crate::config::Fuser::None => Some(config.backend.label().to_string()),
        fuser => Some(format!("{}/{}", config.backend.label(), fuser.label())),
    }
}

/// The stop of a wide scope when trials of [`SAME_FAILURES_TO_STOP`]
/// families (dtypes) or more in it failed with the cause of `key`: the
/// inductor backend's C++ compile of GPT-2 failed for fp32, bf16,
/// bf16-autocast and int8 alike, at half a minute each; the oneDNN Graph
/// fuser failed with "bad optional access" for fp32, bf16, bf16-autocast
/// and dynamic int8 on a scripted MobileNetV3, one trial per dtype.
fn wide_stop(trials: &[TrialRecord], failed: &TrialRecord, key: &str) -> Option<StoppedFamily> {
    let scope = wide_scope(&failed.config)?;
    let mut families: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    for t in trials {
        let alike = wide_scope(&t.config).as_ref() == Some(&scope)
            && failure_key(t).is_some_and(|k| cause(&k) == cause(key));
        if alike {
            ids.push(t.id);
            if !families.contains(&family(&t.config)) {
                families.push(family(&t.config));
            }
        }
    }
    (families.len() >= SAME_FAILURES_TO_STOP).then(|| StoppedFamily {
        family: scope,
        reason: first_line(failed, key),
        trials: ids,
    })
}

/// A failed trial's reason as a stop names it: its first line.
fn first_line(failed: &TrialRecord, key: &str) -> String {
    let reason = failed.reason.as_deref().unwrap_or(key);
    reason.lines().next().unwrap_or("").to_string()
}

impl Session<'_> {
    /// Why the family of `config` is stopped (or its whole backend), if it is.
    pub(super) fn family_stopped(&self, config: &Config) -> Option<String> {
        let name = stop_scope(config);
        let backend = config.backend.label();
        let wide = wide_scope(config);
        self.results
            .stopped_families
            .iter()
            .find(|f| f.family == name || f.family == backend || Some(&f.family) == wide.as_ref())
            .map(|f| {
                format!(
                    "family {} stopped: {} of its trials failed the same way ({})",
                    f.family,
                    f.trials.len(),
                    f.reason
                )
            })
    }

    /// Why `config` is not tried: the fastest accurate trial of its family
    /// with its fuser is far behind `best` (one with no accurate trial yet
    /// may still become accurate, and is tried).
    pub(super) fn family_far_behind(&self, config: &Config, best: f64) -> Option<String> {
        let name = stop_scope(config);
        let fastest = self
            .results
            .trials
            .iter()
            .skip(1)
            .filter(|t| stop_scope(&t.config) == name)
            .filter(|t| t.status == Status::Ok && t.accurate == Some(true))
            .filter_map(|t| self.settings.objective.score(t))
            .reduce(f64::max)?;
        far_behind(fastest, best).then(|| {
            format!(
                "family {name} is far behind the best so far: its fastest accurate trial scores {fastest:.1}, under {:.0}% of {best:.1}",
                FAR_BEHIND * 100.0
            )
        })
    }

    /// After a trial: when it is the family's second failure of the same
    /// kind, the family is stopped and the results say why.
    pub(super) fn note_family_failure(&mut self, id: usize) {
        let Some(record) = self.results.trials.get(id) else {
            return;
        };
        let Some(key) = failure_key(record) else {
            return;
        };
        let name = stop_scope(&record.config);
        if self
            .results
            .stopped_families
            .iter()
            .any(|f| f.family == name)
        {
            return;
        }
        let same: Vec<usize> = self
            .results
            .trials
            .iter()
            .filter(|t| stop_scope(&t.config) == name && failure_key(t).as_ref() == Some(&key))
            .map(|t| t.id)
            .collect();
        if same.len() >= SAME_FAILURES_TO_STOP {
            self.results.stopped_families.push(StoppedFamily {
                family: name,
                reason: first_line(record, &key),
                trials: same,
            });
            return;
        }
        // Families failing with one cause across dtypes stop their backend,
        // or their fuser on its backend (a fuser's failures say nothing of
        // the backend without it: see stop_scope).
        let wide = wide_scope(&record.config);
        if self
            .results
            .stopped_families
            .iter()
            .any(|f| Some(&f.family) == wide.as_ref())
        {
            return;
        }
        if let Some(stop) = wide_stop(&self.results.trials, record, &key) {
            self.results.stopped_families.push(stop);
        }
    }

    /// `config` moved to the layout and allocator of the run's best trial
    /// so far (after the expert's floor, the layout the expert is fastest
    /// in), when the family allows it there: a family first measured in
    /// another layout is judged by that layout, not by itself (Inductor's
    /// int8 on ResNet-18 trailed IPEX's at t2 and beat it at t1/i2).
    fn in_best_layout(&self, config: &Config, members: &[&Candidate]) -> Option<Config> {
        let best = &self.results.winner.as_ref()?.config;
        let mut moved = config.clone();
        moved.threads = best.threads;
        moved.streams = best.streams;
        moved.instances = best.instances;
        moved.allocator = best.allocator;
        members.iter().any(|c| c.config == moved).then_some(moved)
    }

    /// One trial of every allowed family no trial has measured yet: its
    /// candidate closest to the guided search's start. Int8 families that
    /// miss the tolerance get their fallback. Returns the best found.
    pub(super) fn every_family_once(
        &mut self,
        allowed: &[&Candidate],
    ) -> anyhow::Result<Option<(Config, f64)>> {
        let mut families: BTreeMap<String, Vec<&Candidate>> = BTreeMap::new();
        for c in allowed {
            families.entry(family(&c.config)).or_default().push(c);
        }
        let mut best: Option<(Config, f64)> = None;
        for (name, members) in families {
            // Stock's own trial (O0, the baseline) does not stand for its
            // family's optimized configs.
            let measured = self
                .results
                .trials
                .iter()
                .skip(1)
                .any(|t| family(&t.config) == name);
            if measured {
                continue;
            }
            let Some(start) = guided::start(&members, self.planned.usable) else {
                continue;
            };
            let config = self.in_best_layout(&start, &members).unwrap_or(start);
            if self.should_stop() {
                break;
            }
            // Its backend may have stopped (families failing alike).
            if self.family_stopped(&config).is_some() {
                continue;
            }
            if let Some(reason) = self.would_overrun(&config) {
                self.tried.insert(config.clone());
                self.results.skipped.push(Skipped {
                    label: config.label(),
                    reason,
                });
                continue;
            }
            if !self.tried.insert(config.clone()) {
                continue;
            }
            let why = format!("the first trial of the family {name}: every family is measured once before any is varied");
            let scored = self.trial_or_fallback(config, why)?;
            keep_best(&mut best, scored);
        }
        Ok(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backend, Dtype};

    fn failed(reason: &str) -> TrialRecord {
        let mut config = Config::stock();
        config.backend = Backend::Ipex;
        config.dtype = Dtype::Int8Static;
        let mut record = super::super::record_for_tests(config, Status::Failed);
        record.reason = Some(reason.into());
        record
    }

    #[test]
    fn a_fuser_failing_alike_in_two_dtypes_stops_on_its_backend() {
        let failed = |id: usize, label: &str, reason: &str| {
            let mut r = super::super::record_for_tests(label.parse().unwrap(), Status::Failed);
            r.id = id;
            r.reason = Some(reason.into());
            r
        };
        let why = "exit 3: instance 1: bad optional access";
        let bf16 = failed(1, "ipex/O1+prepack/onednn/bf16/t1/i2/tcmalloc", why);
        let fp32 = failed(2, "ipex/O1+prepack/onednn/fp32/t1/i2/tcmalloc", why);
        let plain = failed(3, "ipex/O1+prepack/int8-dyn/t1/i2/tcmalloc", why);
        let key = failure_key(&fp32).unwrap();
        // One dtype is not yet the fuser's failure.
        assert!(wide_stop(std::slice::from_ref(&bf16), &bf16, &key).is_none());
        // The same failure without the fuser says nothing of it.
        let trials = [bf16.clone(), plain.clone()];
        assert!(wide_stop(&trials, &bf16, &key).is_none());
        let trials = [bf16, plain.clone(), fp32.clone()];
        let stop = wide_stop(&trials, &fp32, &key).unwrap();
        assert_eq!(stop.family, "ipex/onednn");
        assert_eq!(stop.trials, [1, 2]);
        assert_eq!(stop.reason, why);
        let int8: Config = "ipex/O1+prepack/onednn/int8-static/t1/i2/tcmalloc"
            .parse()
            .unwrap();
        assert_eq!(wide_scope(&int8).as_deref(), Some("ipex/onednn"));
        let stock: Config = "stock/O1+prepack/onednn/bf16/t1/i2/tcmalloc"
            .parse()
            .unwrap();
        assert_eq!(wide_scope(&stock).as_deref(), Some("stock/onednn"));
        // Without a fuser the scope is the backend; stock never stops.
        assert_eq!(wide_scope(&plain.config).as_deref(), Some("ipex"));
        assert_eq!(wide_scope(&Config::stock()), None);
    }

    #[test]
    fn the_cause_of_a_failure_ends_at_its_error_type() {
        assert_eq!(
            cause("failed: exit #: compile (AOTInductor): CppCompileError: C++ compile error Command: g++ /c/abc/x.cpp"),
            "failed: exit #: compile (AOTInductor): CppCompileError"
        );
        assert_eq!(cause("timeout"), "timeout");
    }

    #[test]
    fn far_behind_is_a_share_of_the_best_for_speeds_and_latencies() {
        assert!(far_behind(49.0, 95.0));
        assert!(!far_behind(80.0, 95.0));
        // Latency scores are minus milliseconds: 20 ms against 10 ms.
        assert!(far_behind(-20.0, -10.0));
        assert!(!far_behind(-12.0, -10.0));
    }

    #[test]
    fn failures_that_differ_only_in_numbers_are_the_same() {
        let a = failed("dtype: int8-static prepare: size 16 at node 12\nframes");
        let b = failed("dtype: int8-static prepare: size 32 at node 7");
        assert_eq!(failure_key(&a), failure_key(&b));
        assert_ne!(failure_key(&a), failure_key(&failed("timeout")));
        let mut ok = failed("");
        ok.status = Status::Ok;
        assert_eq!(failure_key(&ok), None);
        assert_eq!(family(&a.config), "ipex/int8-static");
        let mut fused = a.config.clone();
        fused.fuser = crate::config::Fuser::Onednn;
        assert_eq!(family(&fused), "ipex/int8-static");
        assert_eq!(stop_scope(&fused), "ipex/onednn/int8-static");
        assert_eq!(stop_scope(&a.config), "ipex/int8-static");
    }
}
