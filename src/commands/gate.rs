//! `ipex-tune gate --baseline A.json --current B.json [--max-regression 5%]
//! [--junit FILE] [--markdown FILE] [--allow-host-change]`.
//!
//! Exit codes: 0 pass, 1 regression (or accuracy drift, or a config that
//! passed before and fails now), 2 usage or input error (including runs from
//! different hosts or torch stacks without --allow-host-change).
use crate::cli::GateArgs;
use crate::error::{exit_code, UserError};
use crate::gate::{self, format};
use crate::report::results::Results;

/// Parses "5%", "5" (percent) or "0.05".
pub fn parse_threshold(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = if let Some(p) = t.strip_suffix('%') {
        p.trim().parse::<f64>().map(|v| v / 100.0)
    } else {
        t.parse::<f64>()
            .map(|v| if v >= 1.0 { v / 100.0 } else { v })
    }
    .map_err(|_| format!("'{text}' is not a threshold; expected e.g. 5% or 0.05"))?;
    if !(0.0..1.0).contains(&value) {
        return Err(format!(
            "'{text}': expected a threshold between 0% and 100%"
        ));
    }
    Ok(value)
}

pub fn run(args: &GateArgs) -> anyhow::Result<i32> {
    let baseline = Results::read(&args.baseline)?;
    let current = Results::read(&args.current)?;
    let report = gate::gate(&baseline, &current, args.max_regression);
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
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{markdown}");
    }
    Ok(if report.passed {
        exit_code::OK
    } else {
        exit_code::VERDICT_FAILED
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert_eq!(parse_threshold("5%"), Ok(0.05));
        assert_eq!(parse_threshold("0.05"), Ok(0.05));
        assert_eq!(parse_threshold("5"), Ok(0.05));
        assert!(parse_threshold("lots").is_err());
        assert!(parse_threshold("150%").is_err());
    }
}
