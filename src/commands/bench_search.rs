//! `ipex-tune bench-search`: is the rules-guided search worth it? For each
//! fixture model, runs `ipex-tune run` once with `--search rules` and once
//! with `--search grid` (same trial settings, side by side), then prints the
//! speedup each found over stock, how close the guided search came to the
//! grid's best, and how long each took.
use std::path::PathBuf;
use std::process::Command;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment};

use crate::cli::BenchSearchArgs;
use crate::error::exit_code;
use crate::record::Results;

fn run_one(
    args: &BenchSearchArgs,
    model: &str,
    suite: &str,
    shape: Option<&str>,
    mode: &str,
) -> anyhow::Result<PathBuf> {
    let output = args.out.join(format!("{model}-{suite}-{mode}.json"));
    if args.reuse && output.is_file() {
        return Ok(output);
    }
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("run")
        .arg(args.set.fixtures.join(format!("{model}.pt")))
        .args(["--suite", suite, "--search", mode, "--quiet"])
        .args([
            "--min-time",
            &args.min_time.to_string(),
            "--min-iters",
            &args.min_iters.to_string(),
        ])
        .arg("--output")
        .arg(&output);
    if let Some(shape) = shape {
        command.args(["--input-shape", shape]);
    }
    eprintln!("bench-search: {model} ({suite}) --search {mode} ...");
    let status = command.status()?;
    anyhow::ensure!(
        status.success(),
        "ipex-tune run on {model} with --search {mode} failed ({status})"
    );
    Ok(output)
}

pub fn run(args: &BenchSearchArgs) -> anyhow::Result<i32> {
    let mut table = crate::term::table();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "model",
        "suite",
        "stock samples/s",
        "rules: best",
        "rules: trials",
        "rules: wall s",
        "grid: best",
        "grid: trials",
        "grid: wall s",
        "rules best / grid best",
        "rules time / grid time",
    ]);
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    for entry in args.set.entries()? {
        let (model, suite, shape) = (
            entry.model.as_str(),
            entry.suite.as_str(),
            entry.shape.as_deref(),
        );
        let rules = Results::read(&run_one(args, model, suite, shape, "rules")?)?;
        let grid = Results::read(&run_one(args, model, suite, shape, "grid")?)?;
        let stock = rules
            .trials
            .first()
            .and_then(|t| t.stats.as_ref())
            .map(|s| s.samples_per_s)
            .unwrap_or(0.0);
        let best = |r: &Results| r.winner.as_ref().map(|w| w.samples_per_s).unwrap_or(0.0);
        let speedup = |r: &Results| r.winner.as_ref().map(|w| w.speedup).unwrap_or(0.0);
        table.add_row(vec![
            Cell::new(model),
            Cell::new(suite),
            right(format!("{stock:.1}")),
            right(format!("{:.1} ({:.2}x)", best(&rules), speedup(&rules))),
            right(rules.trials.len().to_string()),
            right(format!("{:.0}", rules.search.wall_s)),
            right(format!("{:.1} ({:.2}x)", best(&grid), speedup(&grid))),
            right(grid.trials.len().to_string()),
            right(format!("{:.0}", grid.search.wall_s)),
            right(format!(
                "{:.1}%",
                100.0 * best(&rules) / best(&grid).max(f64::MIN_POSITIVE)
            )),
            right(format!(
                "{:.1}%",
                100.0 * rules.search.wall_s / grid.search.wall_s.max(f64::MIN_POSITIVE)
            )),
        ]);
        if let Some(w) = &rules.winner {
            eprintln!("  {model}: rules winner {}", w.label);
        }
        if let Some(w) = &grid.winner {
            eprintln!("  {model}: grid winner  {}", w.label);
        }
    }
    println!("{table}");
    println!("Target: the rules-guided search reaches >= 95% of the grid's best in <= 25% of the grid's time.");
    Ok(exit_code::OK)
}
