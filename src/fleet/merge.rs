//! `ipex-tune merge`: shards' results files combined. Shards of one model
//! and suite from identical hosts become one results file: every shard's
//! trials (stock of each shard included, each trial's speedup against its
//! own shard's stock), the winner recomputed. Shards from different host
//! types are kept apart, one merged file per host type, each carrying the
//! table host type x winner. Missing and duplicate shards are reported.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::UserError;
use crate::gate::comparable_host_facts;
use crate::record::fleet::{HostTypeWinner, MergeRecord, MergedFile};
use crate::record::Results;

/// A host type's comparable facts (gate::comparable_host_facts).
type HostFacts = Vec<(&'static str, String)>;
/// Results files with their paths.
type Inputs = Vec<(PathBuf, Results)>;

/// The merge of a set of results files: one merged file per host type.
pub struct Merge {
    pub groups: Vec<Results>,
}

/// Merges `inputs` (path, results), writing nothing: refuses files of
/// different models, suites or objectives; groups the rest by host type.
/// `output` names the merged file; with several host types, each gets
/// `STEM.hostN.json` beside it.
pub fn merge(inputs: Inputs, output: &Path) -> Result<Merge, UserError> {
    let Some((first_path, first)) = inputs.first() else {
        return Err(UserError::BadValue("merge: no results files given".into()));
    };
    for (path, r) in &inputs[1..] {
        if let Some(problem) = mismatch(first, r) {
            return Err(UserError::BadValue(format!(
                "{}: {problem} than {}; merge combines shards of one model and suite",
                path.display(),
                first_path.display()
            )));
        }
    }
    // Host types in order of first appearance.
    let mut kinds: Vec<(HostFacts, Inputs)> = Vec::new();
    for (path, r) in inputs {
        let key = comparable_host_facts(&r);
        match kinds.iter_mut().find(|(k, _)| *k == key) {
            Some((_, files)) => files.push((path, r)),
            None => kinds.push((key, vec![(path, r)])),
        }
    }
    let several = kinds.len() > 1;
    let mut groups: Vec<Results> = kinds
        .into_iter()
        .enumerate()
        .map(|(k, (_, files))| {
            let out = if several {
                output.with_extension(format!("host{}.json", k + 1))
            } else {
                output.to_path_buf()
            };
            merge_host_type(files, &out)
        })
        .collect::<Result<_, _>>()?;
    let table: Vec<HostTypeWinner> = groups
        .iter()
        .map(|g| {
            let merged = g.merged.as_ref().expect("set by merge_host_type");
            HostTypeWinner {
                host: host_name(g),
                files: merged.files.len(),
                output: merged.host_types[0].output.clone(),
                winner: g.winner.as_ref().map(|w| w.label.clone()),
                samples_per_s: g.winner.as_ref().map(|w| w.samples_per_s),
                speedup: g.winner.as_ref().map(|w| w.speedup),
            }
        })
        .collect();
    for g in &mut groups {
        if let Some(m) = g.merged.as_mut() {
            m.host_types = table.clone();
        }
    }
    Ok(Merge { groups })
}

/// Why two results files cannot be merged, if they cannot.
fn mismatch(a: &Results, b: &Results) -> Option<String> {
    let model = |r: &Results| {
        r.model
            .sha256
            .clone()
            .unwrap_or_else(|| r.model.path.clone())
    };
    if model(a) != model(b) {
        return Some(format!(
            "another model ({}, not {})",
            b.model.path, a.model.path
        ));
    }
    if a.model.method != b.model.method {
        return Some(format!("another method ({})", b.model.method));
    }
    // The same batches: the suite as run, its timing minimums aside.
    let inputs = |r: &Results| {
        let mut s = r.suite.clone();
        s.measure = a.suite.measure.clone();
        s
    };
    if inputs(a) != inputs(b) {
        return Some(format!(
            "another suite or other inputs ({}, not {})",
            b.suite.name, a.suite.name
        ));
    }
    if a.objective != b.objective {
        return Some("another objective".into());
    }
    if a.search.mode != b.search.mode {
        return Some(format!("another search ({})", b.search.mode));
    }
    None
}

/// "AMD EPYC, AVX512_BF16, 2 cores".
fn host_name(r: &Results) -> String {
    let facts = comparable_host_facts(r);
    let get = |name: &str| {
        facts
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    format!(
        "{}, {}, {} cores",
        get("CPU"),
        get("host.isa.level"),
        get("host.cores.usable")
    )
}

/// The shards of one host type, as one results file written to `output`.
fn merge_host_type(files: Inputs, output: &Path) -> Result<Results, UserError> {
    let shard_of = |r: &Results| r.shard.as_ref().map_or((1, 1), |s| (s.index, s.count));
    let counts: BTreeSet<usize> = files.iter().map(|(_, r)| shard_of(r).1).collect();
    if counts.len() > 1 {
        return Err(UserError::BadValue(format!(
            "the files of host {} were sharded {} ways; merge shards of one sweep",
            host_name(&files[0].1),
            counts
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        )));
    }
    let count = *counts.iter().next().unwrap_or(&1);
    let mut files = files;
    files.sort_by_key(|(_, r)| shard_of(r).0);
    let mut kept: Vec<(PathBuf, Results)> = Vec::new();
    let mut duplicates = Vec::new();
    for (path, r) in files {
        if kept.iter().any(|(_, k)| shard_of(k).0 == shard_of(&r).0) {
            duplicates.push(format!(
                "{} (shard {}/{count} again)",
                path.display(),
                shard_of(&r).0
            ));
        } else {
            kept.push((path, r));
        }
    }
    let present: BTreeSet<usize> = kept.iter().map(|(_, r)| shard_of(r).0).collect();
    let missing: Vec<usize> = (1..=count).filter(|i| !present.contains(i)).collect();

    let mut merged = kept[0].1.clone();
    merged.trials.clear();
    merged.skipped.clear();
    merged.int8_fallbacks.clear();
    merged.stopped_families.clear();
    merged.warnings.clear();
    merged.shard = None;
    merged.profile = None;
    merged.deploy = None;
    merged.stock_drift = None;
    // Each shard measured its own reference; the noisy ones said so in
    // their warnings, merged below.
    merged.reference = None;
    merged.search.wall_s = 0.0;
    // Every shard measures the expert's recipes; the first shard's trials
    // come first, so its expert record's trial ids hold in the merge.
    for (_, r) in &kept {
        let (index, _) = shard_of(r);
        let offset = merged.trials.len();
        for f in &r.stopped_families {
            let mut f = f.clone();
            f.trials.iter_mut().for_each(|id| *id += offset);
            merged.stopped_families.push(f);
        }
        for t in &r.trials {
            let mut t = t.clone();
            t.id = merged.trials.len();
            t.shard = Some(index);
            merged.trials.push(t);
        }
        merged.skipped.extend(r.skipped.iter().cloned());
        merged
            .int8_fallbacks
            .extend(r.int8_fallbacks.iter().cloned());
        for w in &r.warnings {
            if !merged.warnings.contains(w) {
                merged.warnings.push(w.clone());
            }
        }
        // The shards ran side by side: the sweep took the longest one.
        merged.search.wall_s = merged.search.wall_s.max(r.search.wall_s);
        // The drift farthest from 1 speaks for the merge.
        if let Some(d) = &r.stock_drift {
            if merged
                .stock_drift
                .as_ref()
                .is_none_or(|m| (d.ratio - 1.0).abs() > (m.ratio - 1.0).abs())
            {
                merged.stock_drift = Some(d.clone());
            }
        }
        merged.started_unix = merged.started_unix.min(r.started_unix);
    }
    merged.complete = missing.is_empty() && kept.iter().all(|(_, r)| r.complete);
    merged.interrupted = kept.iter().any(|(_, r)| r.interrupted);
    if !missing.is_empty() {
        merged.warnings.push(format!(
            "incomplete merge: shard(s) {} of {count} missing; their candidates were not measured",
            missing
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for d in &duplicates {
        merged
            .warnings
            .push(format!("duplicate shard left out of the merge: {d}"));
    }
    merged.merged = Some(MergeRecord {
        files: kept
            .iter()
            .map(|(path, r)| MergedFile {
                path: path.display().to_string(),
                shard: format!("{}/{count}", shard_of(r).0),
                trials: r.trials.len(),
                complete: r.complete,
            })
            .collect(),
        shard_count: count,
        missing_shards: missing,
        duplicates,
        host_types: vec![HostTypeWinner {
            host: host_name(&merged),
            files: kept.len(),
            output: output.display().to_string(),
            winner: None,
            samples_per_s: None,
            speedup: None,
        }],
    });
    // After `merged` is set: the winner of a merge ranks by speedup.
    merged.winner = crate::tune::session::winner(&merged, merged.objective);
    crate::tune::session::summarize_expert(&mut merged);
    crate::tune::session::summarize_migration(&mut merged);
    // The winner's deploy block and profile come from its own shard.
    if let Some(w) = &merged.winner {
        let shard = merged.trials[w.trial].shard;
        if let Some((_, r)) = kept.iter().find(|(_, r)| Some(shard_of(r).0) == shard) {
            merged.deploy = r.deploy.clone().filter(|d| d.config == w.label);
            merged.profile = r.profile.clone().filter(|p| p.config == w.label);
        }
    }
    Ok(merged)
}
