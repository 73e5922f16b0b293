//! `ipex-tune bench-harness`: benchmarks of the measuring harness itself,
//! on fixture models.
//!
//! - P3, overhead: in this process, blocks of calls of the loaded model in a
//!   bare loop (one clock read around the block) alternate with blocks of
//!   the timed loop every trial uses (`measure::timing::timed_loop`, a clock
//!   read and a record per call, the interference probe around it). The
//!   overhead is the median timed block over the median bare block, minus
//!   one. Target: <= 1%.
//! - P4, repeatability: the same config measured `--repeats` times, each in
//!   its own child as `run` measures it; per input shape, the spread of the
//!   medians ((max - min) / median of medians). Target: <= 3% on a quiet
//!   host.
use std::time::{Duration, Instant};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment};

use crate::cli::{BenchHarnessArgs, FixtureModel};
use crate::config::{Config, Level};
use crate::error::{exit_code, UserError};
use crate::measure::interference::Probe;
use crate::measure::stats::median;
use crate::measure::timing::{timed_loop, warm_up, WarmUp};
use crate::record::Status;
use crate::runtime::apply;
use crate::suite::batches;
use crate::trial;
use crate::tune::{
    make_plan,
    session::{plain_spec, trial_options},
    Planned, Target,
};

/// The plan for one fixture model and its suite.
fn planned(entry: &FixtureModel) -> anyhow::Result<Planned> {
    make_plan(
        &Target::fixture(
            entry.path.clone(),
            &entry.suite,
            entry.shape.iter().cloned().collect(),
            None,
        ),
        None,
    )
}

/// The config both benchmarks measure: frozen, folded, prepacked fp32 on
/// every usable core (what most runs find first).
fn config(planned: &Planned) -> Config {
    Config {
        level: Level::O1,
        conv_bn_folding: true,
        weights_prepack: true,
        threads: Some(planned.usable),
        ..Config::stock()
    }
}

/// P3 on one model: (bare ms per call, timed ms per call, overhead).
fn overhead(planned: &Planned, args: &BenchHarnessArgs) -> anyhow::Result<(f64, f64, f64)> {
    let config = config(planned);
    apply::apply_process_settings(&config)?;
    let prepared = apply::prepare(&planned.model_path, "forward", &config, None)?;
    let batch = batches(&planned.suite)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the suite has no inputs"))?;
    let inputs = prepared.convert_inputs(&batch.tensors);
    // As a trial warms up, then longer: the first hundreds of calls of a
    // small model still speed up (allocator, caches), and would show as a
    // difference between whichever blocks come first.
    warm_up(&WarmUp::default(), || prepared.run(&inputs).map(|_| ()))?;
    for _ in 0..args.calls {
        prepared.run(&inputs)?;
    }
    let cpus = crate::native::os::affinity().unwrap_or_default();
    let (mut bare, mut timed) = (Vec::new(), Vec::new());
    for block in 0..2 * args.blocks {
        // Alternate which kind goes first, so drift hits both alike.
        if (block % 2 == 0) == (block / 2 % 2 == 0) {
            let start = Instant::now();
            for _ in 0..args.calls {
                prepared.run(&inputs)?;
            }
            bare.push(start.elapsed().as_secs_f64() * 1e3 / args.calls as f64);
        } else {
            let probe = Probe::start(&cpus);
            let window = timed_loop(Duration::ZERO, args.calls, |_| {
                prepared.run(&inputs)?;
                Ok(1)
            })?;
            let _ = probe.finish();
            timed.push(window.elapsed_s * 1e3 / args.calls as f64);
        }
    }
    let (b, t) = (median(&bare), median(&timed));
    Ok((b, t, t / b - 1.0))
}

/// P4 on one model: per shape, (shape, medians of the repeats, spread).
fn repeatability(
    mut planned: Planned,
    args: &BenchHarnessArgs,
) -> anyhow::Result<Vec<(String, Vec<f64>, f64)>> {
    planned.suite.measure.min_time_s = args.min_time;
    let scratch = tempfile::tempdir()?;
    let spec = plain_spec(&planned, config(&planned), trial_options(&planned, false));
    let limit = Duration::from_secs_f64(120.0 + 10.0 * args.min_time);
    let mut per_shape: Vec<(String, Vec<f64>)> = Vec::new();
    for repeat in 0..args.repeats {
        eprintln!(
            "bench-harness: P4 repeat {} of {} ...",
            repeat + 1,
            args.repeats
        );
        let outcome = trial::spawn(&spec, scratch.path(), limit);
        let output = match (outcome.status, outcome.output) {
            (Status::Ok, Some(output)) => output,
            (status, _) => anyhow::bail!(
                "the trial failed ({status:?}): {}",
                outcome.reason.unwrap_or_default()
            ),
        };
        for shape in output.per_shape {
            match per_shape.iter_mut().find(|(k, _)| *k == shape.shape) {
                Some((_, medians)) => medians.push(shape.stats.median_ms),
                None => per_shape.push((shape.shape, vec![shape.stats.median_ms])),
            }
        }
    }
    Ok(per_shape
        .into_iter()
        .map(|(shape, medians)| {
            let lo = medians.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = medians.iter().copied().fold(0.0, f64::max);
            let spread = (hi - lo) / median(&medians);
            (shape, medians, spread)
        })
        .collect())
}

pub fn run(args: &BenchHarnessArgs) -> anyhow::Result<i32> {
    if args.calls == 0 || args.blocks == 0 || args.repeats < 2 {
        return Err(UserError::BadValue(
            "--calls and --blocks must be at least 1 and --repeats at least 2".into(),
        )
        .into());
    }
    let _cores = super::lock_cores(&super::usable_cpus(), &args.lock)?;
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    let mut p3 = crate::term::table();
    p3.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "model",
        "bare loop ms/call",
        "timed loop ms/call",
        "overhead",
        "target <= 1%",
    ]);
    let mut p4 = crate::term::table();
    p4.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "model",
        "shape",
        "medians of the repeats (ms)",
        "spread",
        "target <= 3%",
    ]);
    for entry in args.set.entries()? {
        let planned = planned(&entry)?;
        let model = entry.model.as_str();
        eprintln!("bench-harness: P3 {model} ...");
        let (bare, timed, over) = overhead(&planned, args)?;
        p3.add_row(vec![
            Cell::new(model),
            right(format!("{bare:.4}")),
            right(format!("{timed:.4}")),
            right(format!("{:+.2}%", over * 100.0)),
            Cell::new(if over <= 0.01 { "met" } else { "NOT met" }),
        ]);
        for (shape, medians, spread) in repeatability(planned, args)? {
            p4.add_row(vec![
                Cell::new(model),
                Cell::new(shape),
                right(
                    medians
                        .iter()
                        .map(|m| format!("{m:.3}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                right(format!("{:.2}%", spread * 100.0)),
                Cell::new(if spread <= 0.03 { "met" } else { "NOT met" }),
            ]);
        }
    }
    println!("P3: the timed loop's overhead against a bare loop (same process, same inputs)\n{p3}");
    println!(
        "P4: {} repeats of stock/O1+fold+prepack/fp32 on every usable core, each in its own child\n{p4}",
        args.repeats
    );
    Ok(exit_code::OK)
}
