//! `run --shard I/N`: which candidates one shard of a sweep measures. The
//! partition is deterministic (position modulo N over the candidate list,
//! which is itself deterministic for a model, suite and host type), so N
//! shards on N identical hosts measure the unsharded list exactly once
//! between them; stock is measured in every shard, as each shard's own
//! reference. With no flag, the index and count come from the scheduler.
use std::str::FromStr;

pub use crate::record::fleet::Shard;

impl FromStr for Shard {
    type Err = String;

    /// "I/N", 1 <= I <= N.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("'{s}': expected I/N with 1 <= I <= N, e.g. 2/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard {
            index,
            count,
            source: "--shard".into(),
        })
    }
}

/// The shard a scheduler gave this process, from `env` (a variable's
/// value by name): a Slurm job array (SLURM_ARRAY_TASK_ID, its MIN and
/// STEP, and SLURM_ARRAY_TASK_COUNT or MAX for the count) or a Kubernetes
/// Indexed Job (JOB_COMPLETION_INDEX, 0-based, with the count from
/// `count` (--shard-count) or IPEX_TUNE_SHARD_COUNT). None when neither
/// scheduler set its index; an error names a variable that is malformed
/// or a count that is missing.
pub fn from_env(
    env: &dyn Fn(&str) -> Option<String>,
    count: Option<usize>,
) -> Result<Option<Shard>, String> {
    let number = |name: &str| -> Result<Option<usize>, String> {
        match env(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<usize>().map(Some).map_err(|_| {
                format!(
                    "{name}='{v}': expected a whole number (the scheduler's shard index or count)"
                )
            }),
        }
    };
    let count_from = |fallback: Option<usize>| -> Result<Option<usize>, String> {
        Ok(count.or(number("IPEX_TUNE_SHARD_COUNT")?).or(fallback))
    };
    let (index0, count, source) = if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        let from_max =
            number("SLURM_ARRAY_TASK_MAX")?.map(|max| (max.saturating_sub(min)) / step + 1);
        let slurm_count = number("SLURM_ARRAY_TASK_COUNT")?.or(from_max);
        let Some(n) = count_from(slurm_count)? else {
            return Err("SLURM_ARRAY_TASK_ID is set but not the array's size (SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MAX): pass --shard I/N".into());
        };
        if id < min {
            return Err(format!(
                "SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}"
            ));
        }
        ((id - min) / step, n, format!("SLURM_ARRAY_TASK_ID={id}"))
    } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let Some(n) = count_from(None)? else {
            return Err("JOB_COMPLETION_INDEX is set but not the number of shards: pass --shard-count N (the Job's completions) or set IPEX_TUNE_SHARD_COUNT".into());
        };
        (index, n, format!("JOB_COMPLETION_INDEX={index}"))
    } else {
        if count.is_some() {
            return Err("--shard-count needs a shard index: JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID, or pass --shard I/N".into());
        }
        return Ok(None);
    };
    if count == 0 || index0 >= count {
        return Err(format!(
            "{source}: shard {} of {count} does not exist (the index must be below the count)",
            index0 + 1
        ));
    }
    Ok(Some(Shard {
        index: index0 + 1,
        count,
        source,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    #[test]
    fn flags_parse_and_partition_round_robin() {
        let s: Shard = "2/3".parse().unwrap();
        assert_eq!((s.index, s.count), (2, 3));
        let taken: Vec<usize> = (0..7).filter(|&i| s.takes(i)).collect();
        assert_eq!(taken, [1, 4]);
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        // The shards cover every position exactly once.
        let shards: Vec<Shard> = (1..=3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for position in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.takes(position)).count(), 1);
        }
    }

    #[test]
    fn schedulers_give_index_and_count() {
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        let s = from_env(&slurm, None).unwrap().unwrap();
        assert_eq!((s.index, s.count), (2, 3));
        assert_eq!(s.source, "SLURM_ARRAY_TASK_ID=5");
        // --array=0-8:4 gives ids 0, 4, 8: three tasks.
        let stepped = env(&[
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_STEP", "4"),
            ("SLURM_ARRAY_TASK_MAX", "8"),
        ]);
        let s = from_env(&stepped, None).unwrap().unwrap();
        assert_eq!((s.index, s.count), (3, 3));
        let k8s = env(&[
            ("JOB_COMPLETION_INDEX", "0"),
            ("IPEX_TUNE_SHARD_COUNT", "4"),
        ]);
        let s = from_env(&k8s, None).unwrap().unwrap();
        assert_eq!((s.index, s.count), (1, 4));
        let s = from_env(&env(&[("JOB_COMPLETION_INDEX", "3")]), Some(4))
            .unwrap()
            .unwrap();
        assert_eq!((s.index, s.count), (4, 4));
        assert_eq!(from_env(&env(&[]), None).unwrap(), None);
    }

    /// docs/fleet.md names only scheduler variables this module reads.
    #[test]
    fn the_fleet_docs_name_the_variables_read_here() {
        let doc = include_str!("../../docs/fleet.md");
        let mut named = std::collections::BTreeSet::new();
        for word in doc.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("SLURM_ARRAY_")
                || word == "JOB_COMPLETION_INDEX"
                || word.starts_with("IPEX_TUNE_SHARD")
            {
                named.insert(word);
            }
        }
        assert!(named.len() >= 5, "{named:?}");
        // What from_env asks for, down the Slurm and the Kubernetes paths.
        let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        for pairs in [
            &[("SLURM_ARRAY_TASK_ID", "1")][..],
            &[("JOB_COMPLETION_INDEX", "0")][..],
        ] {
            let values = env(pairs);
            let recording = |name: &str| {
                asked.borrow_mut().insert(name.to_string());
                values(name)
            };
            let _ = from_env(&recording, None);
        }
        for variable in named {
            assert!(asked.borrow().contains(variable), "{variable} is not read");
        }
    }

    #[test]
    fn scheduler_mistakes_are_named() {
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<usize>, &'a str);
        let cases: [Case; 5] = [
            (&[("JOB_COMPLETION_INDEX", "1")], None, "--shard-count"),
            (&[("JOB_COMPLETION_INDEX", "4")], Some(4), "does not exist"),
            (
                &[("SLURM_ARRAY_TASK_ID", "x")],
                None,
                "SLURM_ARRAY_TASK_ID='x'",
            ),
            (
                &[("SLURM_ARRAY_TASK_ID", "1")],
                None,
                "SLURM_ARRAY_TASK_COUNT",
            ),
            (&[], Some(3), "needs a shard index"),
        ];
        for (pairs, count, expected) in cases {
            let e = from_env(&env(pairs), count).unwrap_err();
            assert!(e.contains(expected), "{pairs:?}: {e}");
        }
    }
}
