//! `ipex-tune merge FILES... -o OUT`: the shards of a sweep as one results
//! file per host type (fleet::merge), with the table host type x winner.
use super::outputs::{check_outputs, Output};
use crate::cli::MergeArgs;
use crate::error::exit_code;
use crate::fleet::merge::merge;
use crate::record::fleet::HostTypeWinner;
use crate::record::Results;

pub fn run(args: &MergeArgs) -> anyhow::Result<i32> {
    check_outputs(&[("--output", args.output.as_path(), Output::ReplacedFile)])?;
    let inputs = args
        .files
        .iter()
        .map(|path| Results::read(path).map(|r| (path.clone(), r)))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = merge(inputs, &args.output)?;
    let mut outputs = Vec::new();
    for (results, row) in merged.groups.iter().zip(host_types(&merged.groups)) {
        let path = std::path::PathBuf::from(&row.output);
        results.write_atomic(&path)?;
        outputs.push(row.output.clone());
    }
    // (host type, missing shard indices, shard count) per incomplete group.
    let missing: Vec<(String, Vec<usize>, usize)> = merged
        .groups
        .iter()
        .zip(host_types(&merged.groups))
        .filter_map(|(g, row)| {
            let m = g.merged.as_ref()?;
            (!m.missing_shards.is_empty())
                .then(|| (row.host, m.missing_shards.clone(), m.shard_count))
        })
        .collect();
    let incomplete = !missing.is_empty();
    if args.json {
        let groups: Vec<_> = merged
            .groups
            .iter()
            .filter_map(|g| g.merged.as_ref())
            .collect();
        super::json::print(
            super::json::schema::MERGE,
            &serde_json::json!({
                "outputs": outputs,
                "host_types": host_types(&merged.groups),
                "files": groups.iter().map(|m| &m.files).collect::<Vec<_>>(),
                "missing_shards": groups.iter().map(|m| &m.missing_shards).collect::<Vec<_>>(),
                "duplicates": groups.iter().flat_map(|m| m.duplicates.iter()).collect::<Vec<_>>(),
                "complete": !incomplete,
            }),
        )?;
    } else {
        print!(
            "{}",
            crate::report::summary::fleet_table(&host_types(&merged.groups))
        );
        for g in &merged.groups {
            for w in g
                .warnings
                .iter()
                .filter(|w| w.starts_with("incomplete merge") || w.starts_with("duplicate shard"))
            {
                println!("warning: {w}");
            }
        }
    }
    for (host, shards, count) in &missing {
        eprintln!(
            "ipex-tune: incomplete merge on {host}: shard(s) {} of {count} missing{}",
            shards
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if args.allow_missing {
                " (--allow-missing)"
            } else {
                "; rerun them, or pass --allow-missing"
            }
        );
    }
    Ok(if incomplete && !args.allow_missing {
        exit_code::VERDICT_FAILED
    } else {
        exit_code::OK
    })
}

/// The table host type x winner (the same in every group).
fn host_types(groups: &[Results]) -> Vec<HostTypeWinner> {
    groups
        .first()
        .and_then(|g| g.merged.as_ref())
        .map(|m| m.host_types.clone())
        .unwrap_or_default()
}
