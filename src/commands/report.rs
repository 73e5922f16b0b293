//! `ipex-tune report RESULTS.json [--html FILE] [--png DIR] [--markdown FILE]`.
use super::outputs::{check_outputs, Output};
use crate::cli::ReportArgs;
use crate::error::{exit_code, UserError};
use crate::record::Results;
use crate::report;

pub fn run(args: &ReportArgs) -> anyhow::Result<i32> {
    let mut outputs = Vec::new();
    if let Some(html) = &args.html {
        outputs.push(("--html", html.as_path(), Output::File));
    }
    if let Some(png) = &args.png {
        outputs.push(("--png", png.as_path(), Output::Folder));
    }
    if let Some(markdown) = &args.markdown {
        outputs.push(("--markdown", markdown.as_path(), Output::File));
    }
    check_outputs(&outputs)?;
    let results = Results::read(&args.results)?;
    if args.html.is_none() && args.png.is_none() && args.markdown.is_none() {
        print!("{}", report::markdown::render(&results));
        return Ok(exit_code::OK);
    }
    let written = report::write_reports(
        &results,
        args.html.as_deref(),
        args.png.as_deref(),
        args.markdown.as_deref(),
    )
    .map_err(|e| UserError::BadValue(format!("cannot write the report: {e:#}")))?;
    for path in written {
        println!("wrote {path}");
    }
    Ok(exit_code::OK)
}
