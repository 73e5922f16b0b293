//! `ipex-tune bench-harness`: benchmarks of the measuring harness itself,
//! on fixture models.
//!
//! - P3, overhead: in this process, blocks of calls of the loaded model in a
//!   bare loop (one clock read around the block) alternate with blocks of
//!   the timed loop every trial uses (`measure::timing::timed_loop`, a clock
//!   read and a record per call, the interference probe around it). The
//!   overhead is the median timed block over the median bare block, minus
//!   one. Target: <= 1%.
//!   The bare blocks' own spread is the host's steadiness: on a shared VM
//!   the same loop in one process moves by tens of percent over seconds.
//! - P4, repeatability: stock (as `run` measures it) and other configs
//!   (`--configs`, e.g. a run's winner; by default frozen fp32 on every
//!   core, the same as one instance per core, and IPEX fp32) measured
//!   `--repeats` times, each in its own child as `run` measures it, the
//!   configs taking turns within each repeat (the order rotating) so that
//!   a slow stretch of the host hits them alike. Per config and shape: the
//!   spread of the medians ((max - min) / median of medians) and the
//!   spread of its ratio to the stock of the same repeat, the figure `run`
//!   reports. Target: <= 3% on a quiet host.
use std::time::{Duration, Instant};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment};

use crate::cli::{BenchHarnessArgs, FixtureModel};
use crate::config::{Backend, Config, Level};
use crate::error::{exit_code, UserError};
use crate::measure::interference::Probe;
use crate::measure::stats::{median, spread};
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

/// P3 on one model.
struct Overhead {
    bare_ms: f64,
    timed_ms: f64,
    overhead: f64,
    /// (slowest - fastest) / median of the bare blocks: the host's own
    /// steadiness over the benchmark.
    bare_spread: f64,
}

fn overhead(planned: &Planned, args: &BenchHarnessArgs) -> anyhow::Result<Overhead> {
    let config = config(planned);
    apply::apply_process_settings(&config)?;
    let batch = batches(&planned.suite)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the suite has no inputs"))?;
    let prepared = apply::prepare(
        &planned.model_path,
        "forward",
        &config,
        None,
        std::slice::from_ref(&batch.tensors),
    )?;
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
    Ok(Overhead {
        bare_ms: b,
        timed_ms: t,
        overhead: t / b - 1.0,
        bare_spread: spread(&bare),
    })
}

/// P4's configs: stock first, then `--configs` or the defaults.
fn p4_configs(planned: &Planned, args: &BenchHarnessArgs) -> anyhow::Result<Vec<Config>> {
    let mut configs = vec![Config::stock()];
    if args.configs.is_empty() {
        let fp32 = config(planned);
        configs.push(fp32.clone());
        if planned.usable > 1 {
            configs.push(Config {
                threads: Some(1),
                instances: planned.usable,
                ..fp32.clone()
            });
        }
        configs.push(Config {
            backend: Backend::Ipex,
            ..fp32
        });
    } else {
        for label in &args.configs {
            let config: Config = label
                .parse()
                .map_err(|e| UserError::BadValue(format!("--configs {label}: {e}")))?;
            if !configs.contains(&config) {
                configs.push(config);
            }
        }
    }
    Ok(configs)
}

/// One config's figures in P4, per shape.
struct Repeats {
    label: String,
    shape: String,
    medians_ms: Vec<f64>,
    /// samples/s over the same repeat's stock (empty for stock).
    ratios: Vec<f64>,
    /// Why a repeat failed, if one did.
    failed: Option<String>,
}

/// P4 on one model: every config `--repeats` times, taking turns.
fn repeatability(mut planned: Planned, args: &BenchHarnessArgs) -> anyhow::Result<Vec<Repeats>> {
    planned.suite.measure.min_time_s = args.min_time;
    let configs = p4_configs(&planned, args)?;
    let scratch = tempfile::tempdir()?;
    let limit = Duration::from_secs_f64(120.0 + 10.0 * args.min_time);
    // Stock's spec saves the accuracy reference; the others compare to it.
    let specs: Vec<_> = configs
        .iter()
        .map(|c| {
            let mut spec = plain_spec(&planned, c.clone(), trial_options(&planned, false));
            if *c != Config::stock() {
                spec.reference = None;
            }
            spec
        })
        .collect();
    let mut rows: Vec<Repeats> = Vec::new();
    for repeat in 0..args.repeats {
        eprintln!(
            "bench-harness: P4 repeat {} of {} ({} configs) ...",
            repeat + 1,
            args.repeats,
            configs.len()
        );
        // (config index, shape) -> samples/s in this repeat.
        let mut rates: Vec<(usize, String, f64)> = Vec::new();
        for k in 0..configs.len() {
            let i = (repeat + k) % configs.len();
            let label = configs[i].label();
            let outcome = trial::spawn(&specs[i], scratch.path(), limit);
            let output = match (outcome.status, outcome.output) {
                (Status::Ok, Some(output)) => output,
                (status, _) => {
                    let why = format!("{status:?}: {}", outcome.reason.unwrap_or_default());
                    if i == 0 {
                        anyhow::bail!("stock failed ({why})");
                    }
                    if !rows.iter().any(|r| r.label == label) {
                        rows.push(Repeats {
                            label,
                            shape: String::new(),
                            medians_ms: Vec::new(),
                            ratios: Vec::new(),
                            failed: Some(why),
                        });
                    }
                    continue;
                }
            };
            for shape in output.per_shape {
                rates.push((i, shape.shape.clone(), shape.stats.samples_per_s));
                match rows
                    .iter_mut()
                    .find(|r| r.label == label && r.shape == shape.shape)
                {
                    Some(row) => row.medians_ms.push(shape.stats.median_ms),
                    None => rows.push(Repeats {
                        label: label.clone(),
                        shape: shape.shape,
                        medians_ms: vec![shape.stats.median_ms],
                        ratios: Vec::new(),
                        failed: None,
                    }),
                }
            }
        }
        for (i, shape, rate) in rates.iter().filter(|r| r.0 != 0) {
            let stock = rates.iter().find(|s| s.0 == 0 && s.1 == *shape);
            let label = configs[*i].label();
            if let (Some(stock), Some(row)) = (
                stock,
                rows.iter_mut()
                    .find(|r| r.label == label && r.shape == *shape),
            ) {
                row.ratios.push(rate / stock.2);
            }
        }
    }
    Ok(rows)
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
        "bare blocks' spread (the host)",
    ]);
    let mut p4 = crate::term::table();
    p4.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "model",
        "config",
        "shape",
        "medians of the repeats (ms)",
        "spread",
        "x stock of the same repeat",
        "its spread",
        "target <= 3%",
    ]);
    for entry in args.set.entries()? {
        let planned = planned(&entry)?;
        let model = entry.model.as_str();
        eprintln!("bench-harness: P3 {model} ...");
        let o = overhead(&planned, args)?;
        p3.add_row(vec![
            Cell::new(model),
            right(format!("{:.4}", o.bare_ms)),
            right(format!("{:.4}", o.timed_ms)),
            right(format!("{:+.2}%", o.overhead * 100.0)),
            Cell::new(if o.overhead <= 0.01 { "met" } else { "NOT met" }),
            right(format!("{:.1}%", o.bare_spread * 100.0)),
        ]);
        for row in repeatability(planned, args)? {
            if let Some(why) = &row.failed {
                p4.add_row(vec![
                    Cell::new(model),
                    Cell::new(&row.label),
                    Cell::new(""),
                    Cell::new(format!("failed: {why}")),
                ]);
                continue;
            }
            let worst = if row.ratios.is_empty() {
                spread(&row.medians_ms)
            } else {
                spread(&row.medians_ms).max(spread(&row.ratios))
            };
            p4.add_row(vec![
                Cell::new(model),
                Cell::new(&row.label),
                Cell::new(&row.shape),
                right(
                    row.medians_ms
                        .iter()
                        .map(|m| format!("{m:.3}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                right(format!("{:.2}%", spread(&row.medians_ms) * 100.0)),
                right(
                    row.ratios
                        .iter()
                        .map(|r| format!("{r:.3}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                right(if row.ratios.is_empty() {
                    String::new()
                } else {
                    format!("{:.2}%", spread(&row.ratios) * 100.0)
                }),
                Cell::new(if worst <= 0.03 { "met" } else { "NOT met" }),
            ]);
        }
    }
    println!("P3: the timed loop's overhead against a bare loop (same process, same inputs)\n{p3}");
    println!(
        "P4: {} repeats of each config, each in its own child, the configs taking turns\n{p4}",
        args.repeats
    );
    Ok(exit_code::OK)
}
