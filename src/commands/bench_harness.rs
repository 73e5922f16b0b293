//! `ipex-tune bench-harness`: benchmarks of the measuring harness itself,
//! on fixture models.
//!
//! - P3, overhead: in this process, blocks of calls of the loaded model in a
//!   bare loop (one clock read around the block) alternate with blocks of
//!   the timed loop every trial uses (`measure::timing::timed_loop`, a clock
//!   read and a record per call, the interference probe around it), in
//!   ABBA order. The overhead is the median over pairs of a timed block
//!   and the bare block next to it (timed / bare, minus one), with its 95%
//!   bootstrap interval. Target: <= 1%.
//!   Pairs of neighbours, not the two kinds' medians: the bare blocks' own
//!   spread (shown, the host's steadiness) was 5.7% on a shared VM, and a
//!   ratio of medians carried that drift (+2.08% once, with a loop whose
//!   own cost is two clock reads per call).
//! - P4, repeatability: stock and other configs (`--configs`, e.g. a run's
//!   winner; by default frozen fp32 on every core, the same as one
//!   instance per core, and IPEX fp32) measured `--repeats` times, each
//!   window in its own child as `run` measures a trial. Within a repeat,
//!   stock is measured at the start, the middle and the end, as `run`
//!   measures its reference, and the other configs between, taking turns
//!   (the order rotating) so that a slow stretch of the host hits them
//!   alike, `--windows` rounds of them (3 by default: a config's figure of
//!   the repeat is the median of its windows, as `run`'s playoff ranks
//!   its finalists). Per config and shape: the spread of the medians ((max - min) /
//!   median of medians), the spread of its ratio to the same repeat's
//!   stock reference (the median of its three windows, the figure `run`
//!   divides by), and the page faults per call. Target: <= 3% for every
//!   config and for stock's reference; stock's single windows are shown
//!   beside it, not judged.
//! - P5, where stock's spread comes from: stock's windows, each in fresh
//!   processes, as `run` measures it (three processes pooled) and with one
//!   suspect changed at a time (one process; each batch size alone, in a
//!   process of its own, instead of round robin with the others; one
//!   process timed as long as a pooled one; glibc's malloc thresholds
//!   fixed; jemalloc; one thread), `--cause-windows` rounds taken in turn.
//!   Per variant and shape: the windows' spread and coefficient of
//!   variation, and each window's minor page faults per call (glibc giving
//!   its heap back and faulting it in again on every call is the
//!   mechanism: hundreds per call in the processes that do it, none in the
//!   others). A suspect whose variant is much steadier than one process of
//!   stock is a cause (glibc's thresholds were, by 3-6x here).

use std::path::Path;
use std::time::{Duration, Instant};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment};

use crate::cli::{BenchHarnessArgs, FixtureModel};
use crate::config::{Allocator, Backend, Config, Level};
use crate::error::{exit_code, UserError};
use crate::measure::interference::Probe;
use crate::measure::stats::{bootstrap_ci, mean, median, spread, stddev};
use crate::measure::timing::{timed_loop, warm_up, WarmUp};
use crate::record::Status;
use crate::runtime::apply;
use crate::suite::batches;
use crate::trial::{self, TrialSpec};
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
    /// The median of neighbouring blocks' timed / bare, minus one.
    overhead: f64,
    overhead_ci95: (f64, f64),
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
        // ABBA: alternate which kind goes first, so drift hits both alike,
        // and every timed block has a bare neighbour (`neighbour_pairs`).
        if is_bare_block(block) {
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
    let ratios: Vec<f64> = neighbour_pairs(&bare, &timed).map(|(b, t)| t / b).collect();
    let ci = bootstrap_ci(&ratios, median, 0.95, 2000, 27);
    Ok(Overhead {
        bare_ms: median(&bare),
        timed_ms: median(&timed),
        overhead: median(&ratios) - 1.0,
        overhead_ci95: (ci.0 - 1.0, ci.1 - 1.0),
        bare_spread: spread(&bare),
    })
}

/// Whether block `block` of P3's ABBA sequence (bare, timed, timed, bare,
/// bare, timed, ...) is a bare one.
fn is_bare_block(block: usize) -> bool {
    block.is_multiple_of(2) == (block / 2).is_multiple_of(2)
}

/// (bare, timed) per-call times of neighbouring blocks: in ABBA order the
/// k-th bare and the k-th timed block of each kind are always next to
/// each other (blocks 0-1, 3-2, 4-5, 7-6, ...).
fn neighbour_pairs<'a>(bare: &'a [f64], timed: &'a [f64]) -> impl Iterator<Item = (f64, f64)> + 'a {
    bare.iter().copied().zip(timed.iter().copied())
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

/// Stock's windows in each P4 repeat: at its start, its middle and its
/// end, as `run` measures its reference (the start, every half budget, the
/// end), whose median is the figure every ratio divides by.
const STOCK_WINDOWS: usize = 3;

/// The order of the children of one P4 repeat (indices into the configs,
/// 0 being stock): stock at the start, the middle and the end, the other
/// configs between, `windows` rounds of them in turn, each round rotated
/// (and the first by the repeat) so that none always comes first.
fn repeat_order(others: usize, repeat: usize, windows: usize) -> Vec<usize> {
    let rotated: Vec<usize> = (0..windows)
        .flat_map(|round| (0..others).map(move |k| 1 + (repeat + round + k) % others))
        .collect();
    let (first, second) = rotated.split_at((others * windows).div_ceil(2));
    let mut order = vec![0];
    order.extend(first);
    order.push(0);
    order.extend(second);
    order.push(0);
    debug_assert_eq!(order.iter().filter(|&&i| i == 0).count(), STOCK_WINDOWS);
    order
}

/// What one child measured in P4.
struct Window {
    /// (shape, samples/s, median ms per call) of every input shape.
    shapes: Vec<(String, f64, f64)>,
    /// Minor page faults per timed call. Stock allocates every activation
    /// through glibc, which maps and unmaps large blocks as its dynamic
    /// thresholds move; each fault costs more in a VM that hands freed
    /// pages back to its host, and how many a call takes differs from one
    /// process to the next.
    faults_per_call: Option<f64>,
}

fn window(spec: &TrialSpec, scratch: &Path, limit: Duration) -> Result<Window, String> {
    let outcome = trial::spawn(spec, scratch, limit);
    match (outcome.status, outcome.output) {
        (Status::Ok, Some(output)) => Ok(Window {
            faults_per_call: output
                .interference
                .as_ref()
                .map(|i| i.minor_faults_per_call(output.stats.iterations)),
            shapes: output
                .per_shape
                .into_iter()
                .map(|s| (s.shape, s.stats.samples_per_s, s.stats.median_ms))
                .collect(),
        }),
        (status, _) => Err(format!(
            "{status:?}: {}",
            outcome.reason.unwrap_or_default()
        )),
    }
}

/// One row of P4: a config (or stock's reference) at one shape.
#[derive(Default)]
struct Repeats {
    label: String,
    shape: String,
    medians_ms: Vec<f64>,
    /// samples/s over the same repeat's stock reference (empty for stock).
    ratios: Vec<f64>,
    faults_per_call: Vec<f64>,
    /// Whether the <= 3% target applies: to every config and to stock's
    /// reference, not to stock's single windows.
    judged: bool,
    /// Why a repeat failed, if one did.
    failed: Option<String>,
}

/// The row of `label` at `shape`, added (judged) on first use.
fn row<'r>(rows: &'r mut Vec<Repeats>, label: &str, shape: &str) -> &'r mut Repeats {
    let at = match rows
        .iter()
        .position(|r| r.label == label && r.shape == shape)
    {
        Some(at) => at,
        None => {
            rows.push(Repeats {
                label: label.to_string(),
                shape: shape.to_string(),
                judged: true,
                ..Default::default()
            });
            rows.len() - 1
        }
    };
    &mut rows[at]
}

/// The row name of a config measured `windows` times per repeat.
fn config_row(config: &Config, windows: usize) -> String {
    if windows > 1 {
        format!("{}, median of {windows} per repeat", config.label())
    } else {
        config.label()
    }
}

/// P4 on one model: `--repeats` repeats, each measuring stock three times
/// (start, middle, end: its median is the repeat's reference, as in `run`)
/// and every other config `--windows` times between, in turn, each window
/// in its own child.
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
    let stock = configs[0].label();
    let each_window = format!("{stock}, each window");
    let reference = format!("{stock}, median of {STOCK_WINDOWS} per repeat (what run divides by)");
    let mut rows: Vec<Repeats> = Vec::new();
    let mut failed: Vec<usize> = Vec::new();
    for repeat in 0..args.repeats {
        eprintln!(
            "bench-harness: P4 repeat {} of {} ({} configs, stock {STOCK_WINDOWS} times) ...",
            repeat + 1,
            args.repeats,
            configs.len()
        );
        let mut windows: Vec<Vec<Window>> = configs.iter().map(|_| Vec::new()).collect();
        for i in repeat_order(configs.len() - 1, repeat, args.windows) {
            if failed.contains(&i) {
                continue;
            }
            match window(&specs[i], scratch.path(), limit) {
                Ok(w) => windows[i].push(w),
                Err(why) if i == 0 => anyhow::bail!("stock failed ({why})"),
                Err(why) => {
                    failed.push(i);
                    rows.push(Repeats {
                        label: configs[i].label(),
                        failed: Some(why),
                        ..Default::default()
                    });
                }
            }
        }
        let shapes: Vec<String> = windows[0][0].shapes.iter().map(|s| s.0.clone()).collect();
        for shape in &shapes {
            let at = |w: &Window| w.shapes.iter().find(|s| &s.0 == shape).cloned();
            let stock_windows: Vec<(String, f64, f64)> = windows[0].iter().filter_map(at).collect();
            let stock_rate = median(&stock_windows.iter().map(|s| s.1).collect::<Vec<_>>());
            let stock_ms = median(&stock_windows.iter().map(|s| s.2).collect::<Vec<_>>());
            let faults: Vec<f64> = windows[0]
                .iter()
                .filter_map(|w| w.faults_per_call)
                .collect();
            let single = row(&mut rows, &each_window, shape);
            single.judged = false;
            single.medians_ms.extend(stock_windows.iter().map(|s| s.2));
            single.faults_per_call.extend(&faults);
            let whole = row(&mut rows, &reference, shape);
            whole.medians_ms.push(stock_ms);
            if !faults.is_empty() {
                whole.faults_per_call.push(median(&faults));
            }
            // Each config's figure of the repeat: the median of its
            // windows, as run ranks a finalist of its playoff.
            for (config, measured) in configs.iter().zip(&windows).skip(1) {
                let at_shape: Vec<(String, f64, f64)> = measured.iter().filter_map(at).collect();
                if at_shape.is_empty() {
                    continue;
                }
                let rate = median(&at_shape.iter().map(|s| s.1).collect::<Vec<_>>());
                let ms = median(&at_shape.iter().map(|s| s.2).collect::<Vec<_>>());
                let faults: Vec<f64> = measured.iter().filter_map(|w| w.faults_per_call).collect();
                let r = row(&mut rows, &config_row(config, args.windows), shape);
                r.medians_ms.push(ms);
                r.ratios.push(rate / stock_rate);
                if !faults.is_empty() {
                    r.faults_per_call.push(median(&faults));
                }
            }
        }
    }
    Ok(rows)
}

/// One variant of P5: what it changes, its config and how many processes
/// each of its windows is timed in.
struct Suspect {
    name: &'static str,
    config: Config,
    processes: usize,
    /// The share of `--min-time` its window is timed for.
    window_share: f64,
    /// Each batch size timed in a process of its own (a suite of that one
    /// size, an equal share of the window), not round robin with the others.
    alone: bool,
}

/// P5's variants: stock as `run` measures it, then one suspect of its
/// spread changed at a time.
fn suspects() -> Vec<Suspect> {
    let stock = Config::stock();
    let one = |name, config| Suspect {
        name,
        config,
        processes: 1,
        window_share: 1.0,
        alone: false,
    };
    let pooled = crate::trial::spec::STOCK_PROCESSES;
    vec![
        Suspect {
            name: "stock as run times it (processes pooled)",
            config: stock.clone(),
            processes: pooled,
            window_share: 1.0,
            alone: false,
        },
        one("stock, one process per window", stock.clone()),
        // The round robin times every shape in one process: the largest
        // batch's calls raise glibc's dynamic mmap and trim thresholds for
        // all of them. A process serving one small batch size may instead
        // give its heap's top back and fault it in again on every call, or
        // not, as its heap's layout falls (the cnn fixture's batch 1 on 2
        // threads, in Python: 550 minor faults and 2.2 ms per call in some
        // processes of its own, 4 faults and 1.4 ms in others; no faults
        // and 1.1-1.4 ms after batch 8 ran).
        Suspect {
            name: "each batch size alone (a process of its own), one process",
            config: stock.clone(),
            processes: 1,
            window_share: 1.0,
            alone: true,
        },
        // As long as each pooled process times: tells the window's length
        // (a state glibc reaches over time) from the number of processes.
        Suspect {
            name: "stock, one process, a pooled process's share of the window",
            config: stock.clone(),
            processes: 1,
            window_share: 1.0 / pooled as f64,
            alone: false,
        },
        one(
            "glibc's malloc thresholds fixed (glibc-tuned), one process",
            Config {
                allocator: Allocator::GlibcTuned,
                ..stock.clone()
            },
        ),
        one(
            "jemalloc, one process",
            Config {
                allocator: Allocator::Jemalloc,
                ..stock.clone()
            },
        ),
        one(
            "one thread (no OpenMP team to wake), one process",
            Config {
                threads: Some(1),
                ..stock
            },
        ),
    ]
}

/// One row of P5: a suspect at one shape, its windows' medians (ms) and
/// minor page faults per call (over the window's calls of every shape it
/// timed: a suspect alone times one).
struct CauseRow {
    suspect: &'static str,
    label: String,
    shape: String,
    medians_ms: Vec<f64>,
    faults_per_call: Vec<f64>,
}

/// P5 on one model: every suspect's windows, `--cause-windows` rounds, the
/// order rotating each round, each window in fresh processes.
fn stock_causes(planned: &Planned, args: &BenchHarnessArgs) -> anyhow::Result<Vec<CauseRow>> {
    let batch_sizes = &planned.suite.batch_sizes;
    // With one batch size (or batches from a file) "alone" is what the
    // one-process variant already measures.
    let suspects: Vec<Suspect> = suspects()
        .into_iter()
        .filter(|v| !v.alone || (batch_sizes.len() > 1 && planned.suite.input_file.is_none()))
        .collect();
    let scratch = tempfile::tempdir()?;
    let limit = Duration::from_secs_f64(120.0 + 10.0 * args.min_time);
    // Each suspect's windows: one spec, or one per batch size when alone.
    let specs: Vec<Vec<TrialSpec>> = suspects
        .iter()
        .map(|v| {
            let spec = |batch_sizes: Vec<i64>, share: f64| {
                let mut spec = plain_spec(planned, v.config.clone(), trial_options(planned, false));
                spec.suite.batch_sizes = batch_sizes;
                spec.options.processes = v.processes;
                spec.options.min_time_s = args.min_time * v.window_share * share;
                spec
            };
            if v.alone {
                // Each size an equal share of the window.
                let share = 1.0 / batch_sizes.len() as f64;
                batch_sizes.iter().map(|&b| spec(vec![b], share)).collect()
            } else {
                vec![spec(batch_sizes.clone(), 1.0)]
            }
        })
        .collect();
    let mut rows: Vec<CauseRow> = Vec::new();
    for round in 0..args.cause_windows {
        eprintln!(
            "bench-harness: P5 round {} of {} ({} variants of stock) ...",
            round + 1,
            args.cause_windows,
            suspects.len()
        );
        for k in 0..suspects.len() {
            let i = (round + k) % suspects.len();
            let mut shapes = Vec::new();
            for spec in &specs[i] {
                let measured = window(spec, scratch.path(), limit)
                    .map_err(|why| anyhow::anyhow!("{} failed ({why})", suspects[i].name))?;
                let faults = measured.faults_per_call;
                shapes.extend(measured.shapes.into_iter().map(|s| (s, faults)));
            }
            for ((shape, _, ms), faults) in shapes {
                let at = rows
                    .iter()
                    .position(|r| r.suspect == suspects[i].name && r.shape == shape);
                let row = match at {
                    Some(at) => &mut rows[at],
                    None => {
                        rows.push(CauseRow {
                            suspect: suspects[i].name,
                            label: suspects[i].config.label(),
                            shape,
                            medians_ms: Vec::new(),
                            faults_per_call: Vec::new(),
                        });
                        rows.last_mut().expect("just pushed")
                    }
                };
                row.medians_ms.push(ms);
                row.faults_per_call.extend(faults);
            }
        }
    }
    // By suspect in their order, then shape.
    let order = |name: &str| suspects.iter().position(|v| v.name == name);
    rows.sort_by(|a, b| (order(a.suspect), &a.shape).cmp(&(order(b.suspect), &b.shape)));
    Ok(rows)
}

/// Figures of a table cell, `digits` decimals each, space-separated.
fn joined(values: &[f64], digits: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.digits$}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(args: &BenchHarnessArgs) -> anyhow::Result<i32> {
    if args.calls == 0 || args.blocks == 0 || args.windows == 0 || args.repeats < 2 {
        return Err(UserError::BadValue(
            "--calls, --blocks and --windows must be at least 1 and --repeats at least 2".into(),
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
        "overhead (95% CI), neighbouring blocks",
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
        "page faults/call",
        "target <= 3%",
    ]);
    let mut p5 = crate::term::table();
    p5.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "model",
        "variant",
        "config",
        "shape",
        "medians of the windows (ms)",
        "median",
        "spread",
        "cv",
        "page faults/call",
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
            right(format!(
                "{:+.2}% ({:+.2}%..{:+.2}%)",
                o.overhead * 100.0,
                o.overhead_ci95.0 * 100.0,
                o.overhead_ci95.1 * 100.0
            )),
            Cell::new(if o.overhead <= 0.01 { "met" } else { "NOT met" }),
            right(format!("{:.1}%", o.bare_spread * 100.0)),
        ]);
        if args.cause_windows > 0 {
            for row in stock_causes(&planned, args)? {
                let cv = stddev(&row.medians_ms) / mean(&row.medians_ms);
                p5.add_row(vec![
                    Cell::new(model),
                    Cell::new(row.suspect),
                    Cell::new(&row.label),
                    Cell::new(&row.shape),
                    right(joined(&row.medians_ms, 3)),
                    right(format!("{:.3}", median(&row.medians_ms))),
                    right(format!("{:.1}%", spread(&row.medians_ms) * 100.0)),
                    right(format!("{:.1}%", cv * 100.0)),
                    right(joined(&row.faults_per_call, 0)),
                ]);
            }
        }
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
                right(joined(&row.medians_ms, 3)),
                right(format!("{:.2}%", spread(&row.medians_ms) * 100.0)),
                right(joined(&row.ratios, 3)),
                right(if row.ratios.is_empty() {
                    String::new()
                } else {
                    format!("{:.2}%", spread(&row.ratios) * 100.0)
                }),
                right(joined(&row.faults_per_call, 0)),
                Cell::new(match (row.judged, worst <= 0.03) {
                    (false, _) => "-",
                    (true, true) => "met",
                    (true, false) => "NOT met",
                }),
            ]);
        }
    }
    println!("P3: the timed loop's overhead against a bare loop (same process, same inputs)\n{p3}");
    println!(
        "P4: {} repeats, each window in its own child: stock at each repeat's start, middle and end, the other configs {} time(s) each between (taking turns)\n{p4}",
        args.repeats, args.windows
    );
    if args.cause_windows > 0 {
        println!(
            "P5: where stock's spread comes from: {} windows of each variant, in turn, each in fresh processes (cv: standard deviation over mean)\n{p5}",
            args.cause_windows
        );
    }
    Ok(exit_code::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timed_block_is_paired_with_the_bare_block_beside_it() {
        let kinds: Vec<bool> = (0..8).map(is_bare_block).collect();
        assert_eq!(kinds, [true, false, false, true, true, false, false, true]);
        // Block numbers of the k-th bare and k-th timed block.
        let bare: Vec<f64> = (0..8)
            .filter(|&b| is_bare_block(b))
            .map(|b| b as f64)
            .collect();
        let timed: Vec<f64> = (0..8)
            .filter(|&b| !is_bare_block(b))
            .map(|b| b as f64)
            .collect();
        for (b, t) in neighbour_pairs(&bare, &timed) {
            assert_eq!((b - t).abs(), 1.0, "blocks {b} and {t} are not neighbours");
        }
    }

    #[test]
    fn stock_opens_splits_and_closes_every_repeat_and_the_others_rotate() {
        assert_eq!(repeat_order(3, 0, 1), [0, 1, 2, 0, 3, 0]);
        assert_eq!(repeat_order(3, 1, 1), [0, 2, 3, 0, 1, 0]);
        assert_eq!(repeat_order(3, 2, 1), [0, 3, 1, 0, 2, 0]);
        assert_eq!(repeat_order(1, 4, 1), [0, 1, 0, 0]);
        assert_eq!(repeat_order(0, 0, 1), [0, 0, 0]);
        // Several windows each: rounds in turn, each round rotated.
        assert_eq!(repeat_order(3, 0, 3), [0, 1, 2, 3, 2, 3, 0, 1, 3, 1, 2, 0]);
        assert_eq!(repeat_order(2, 1, 2), [0, 2, 1, 0, 1, 2, 0]);
    }
}
