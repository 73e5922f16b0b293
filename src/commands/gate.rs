//! `ipex-tune gate --baseline A.json --current B.json [--max-regression 5%]
//! [--junit FILE] [--markdown FILE] [--allow-host-change]`.
//!
//! Exit codes: 0 pass, 1 regression or inconclusive comparison (or accuracy
//! drift, or a config that passed before and fails now), 2 usage or input error (including runs from
//! different hosts or torch stacks without --allow-host-change).
use super::outputs::{check_outputs, Output};
use crate::cli::GateArgs;
use crate::error::{exit_code, UserError};
use crate::gate::{self, format};
use crate::record::Results;

pub fn run(args: &GateArgs) -> anyhow::Result<i32> {
    let mut outputs = Vec::new();
    if let Some(markdown) = &args.markdown {
        outputs.push(("--markdown", markdown.as_path(), Output::File));
    }
    if let Some(junit) = &args.junit {
        outputs.push(("--junit", junit.as_path(), Output::File));
    }
    check_outputs(&outputs)?;
    let baseline = Results::read(&args.baseline)?;
    let current = Results::read(&args.current)?;
    let report = gate::gate(
        &baseline,
        &current,
        args.max_regression,
        args.inconclusive_passes,
    );
    if !report.host_differences.is_empty() && !args.allow_host_change {
        return Err(UserError::BadValue(format!(
            "refusing to compare runs from different hosts or torch stacks ({}); pass --allow-host-change to compare anyway",
            report.host_differences.join("; ")
        ))
        .into());
    }
    let markdown = format::markdown(&report);
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown)
            .map_err(|e| UserError::BadValue(format!("{}: cannot write: {e}", path.display())))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, format::junit(&report))
            .map_err(|e| UserError::BadValue(format!("{}: cannot write: {e}", path.display())))?;
    }
    if args.json {
        super::json::print(super::json::schema::GATE, &report)?;
    } else {
        print!("{markdown}");
    }
    Ok(if report.passed {
        exit_code::OK
    } else {
        exit_code::VERDICT_FAILED
    })
}
