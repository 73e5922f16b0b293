//! `ipex-tune bench`: the proof that the optimized runtime is real.
//!
//! Runs the fixture CNN, MLP and transformer encoder in a fixed set of modes
//! (stock, freeze, O1, oneDNN Graph, IPEX, bf16, dynamic int8), each with
//! several allocators, every mode in its own child through the same trial
//! protocol `run` uses (`trial::spawn`), and prints medians, ratios against
//! stock and the largest output difference against stock.
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use serde::Serialize;

use crate::cli::BenchArgs;
use crate::config::{Allocator, Backend, Config, Dtype, Fuser, Level};
use crate::error::{exit_code, UserError};
use crate::host::{ipex, TorchBuild};
use crate::record::Status;
use crate::trial::{self, TrialOutput, TrialSpec};
use crate::tune::{
    make_plan,
    session::{plain_spec, trial_options},
    Planned, Target,
};

/// A benchmark mode: a name and how it changes the stock config.
struct Mode {
    name: &'static str,
    config: Config,
}

fn o1(backend: Backend, fuser: Fuser, dtype: Dtype, prepack: bool) -> Config {
    Config {
        backend,
        level: Level::O1,
        conv_bn_folding: true,
        weights_prepack: prepack,
        fuser,
        dtype,
        ..Config::stock()
    }
}

fn modes(model: &str) -> Vec<Mode> {
    let mode = |name, config| Mode { name, config };
    let mut modes = vec![
        mode("stock", Config::stock()),
        mode(
            "freeze",
            Config {
                level: Level::O1,
                ..Config::stock()
            },
        ),
        mode(
            "O1 (freeze+fold+prepack)",
            o1(Backend::Stock, Fuser::None, Dtype::Fp32, true),
        ),
        mode(
            "oneDNN Graph",
            o1(Backend::Stock, Fuser::Onednn, Dtype::Fp32, false),
        ),
        mode(
            "IPEX + freeze",
            o1(Backend::Ipex, Fuser::None, Dtype::Fp32, true),
        ),
        mode("bf16", o1(Backend::Stock, Fuser::None, Dtype::Bf16, false)),
        mode(
            "bf16 + IPEX",
            o1(Backend::Ipex, Fuser::None, Dtype::Bf16, true),
        ),
        mode(
            "bf16 + oneDNN Graph",
            o1(Backend::Stock, Fuser::Onednn, Dtype::Bf16, false),
        ),
        mode(
            "bf16 autocast",
            o1(Backend::Stock, Fuser::None, Dtype::Bf16Autocast, true),
        ),
        mode(
            "bf16 autocast + IPEX",
            o1(Backend::Ipex, Fuser::None, Dtype::Bf16Autocast, true),
        ),
    ];
    if model == "mlp" {
        let int8 = |fuser| Config {
            level: Level::O1,
            dtype: Dtype::Int8Dynamic,
            fuser,
            ..Config::stock()
        };
        modes.push(mode("int8 dynamic", int8(Fuser::None)));
        modes.push(mode("int8 dynamic + oneDNN Graph", int8(Fuser::Onednn)));
    }
    modes
}

/// The fixed inputs of each fixture the benchmark knows: a suite and, for
/// the generic suite, the shapes.
fn target_for(model: &str, args: &BenchArgs) -> Result<Target, UserError> {
    let (suite, shapes): (&str, &[&str]) = match model {
        "cnn" => ("generic", &["8x3x112x112"]),
        "mlp" => ("generic", &["64x512"]),
        "encoder" => ("nlp", &[]),
        other => {
            return Err(UserError::BadValue(format!(
                "--models: unknown fixture '{other}'; the benchmark knows cnn, mlp, encoder"
            )))
        }
    };
    let path = args.fixtures.join(format!("{model}.pt"));
    if !path.is_file() {
        return Err(UserError::bad_model(
            &path,
            "no such fixture; expected a TorchScript file (--fixtures DIR)",
        ));
    }
    Ok(Target::fixture(
        path,
        suite,
        shapes.iter().map(|s| s.to_string()).collect(),
        Some(8).filter(|_| suite == "nlp"),
    ))
}

/// One row of the printed table.
#[derive(Debug, Clone, Serialize)]
struct Row {
    model: String,
    mode: String,
    config: String,
    allocator: String,
    result: Option<TrialOutput>,
    error: Option<String>,
    speedup: Option<f64>,
}

/// Runs one model's modes x allocators; stock with glibc first, saving the
/// outputs the others are compared with.
fn bench_model(
    model: &str,
    args: &BenchArgs,
    allocators: &[Allocator],
) -> anyhow::Result<Vec<Row>> {
    let mut planned: Planned = make_plan(&target_for(model, args)?, None)?;
    // The encoder: one sequence length, as the benchmark always measured it.
    if let Some(seq) = planned.suite.dims.get_mut("seq") {
        *seq = vec![64];
    }
    planned.suite.measure.min_time_s = args.min_time;
    planned.suite.measure.min_iters = args.min_iters;
    let options = trial_options(&planned, args.explain);
    let scratch = tempfile::tempdir()?;
    let reference = scratch.path().join(format!("{model}-stock.pt"));
    let limit = std::time::Duration::from_secs_f64(120.0 + args.min_time * 10.0);
    let mut rows = Vec::new();
    let mut stock_median = None;
    for mode in modes(model) {
        let is_stock = mode.name == "stock";
        if !is_stock
            && !args.only.is_empty()
            && !args.only.iter().any(|o| mode.name.contains(o.as_str()))
        {
            continue;
        }
        for (i, &allocator) in allocators.iter().enumerate() {
            // The reference run is stock with glibc's defaults.
            let saves = is_stock && i == 0;
            let config = Config {
                allocator: if saves { Allocator::Glibc } else { allocator },
                ..mode.config.clone()
            };
            let spec = TrialSpec {
                reference: (!saves).then(|| reference.clone()),
                save_outputs: saves.then(|| reference.clone()),
                ..plain_spec(&planned, config.clone(), options.clone())
            };
            eprintln!("bench: {model} / {} / {} ...", mode.name, config.allocator);
            let outcome = trial::spawn(&spec, scratch.path(), limit);
            let error =
                (outcome.status != Status::Ok).then(|| outcome.reason.clone().unwrap_or_default());
            let result = outcome.output;
            if saves {
                match &result {
                    Some(r) => stock_median = Some(r.stats.median_ms),
                    None => anyhow::bail!(
                        "the stock run of {model} failed: {}",
                        error.unwrap_or_default()
                    ),
                }
            }
            rows.push(Row {
                model: model.to_string(),
                mode: mode.name.to_string(),
                config: config.label(),
                allocator: config.allocator.to_string(),
                speedup: result
                    .as_ref()
                    .zip(stock_median)
                    .map(|(r, s)| s / r.stats.median_ms),
                result,
                error,
            });
        }
    }
    Ok(rows)
}

pub fn run(args: &BenchArgs) -> anyhow::Result<i32> {
    let allocators = args
        .allocators
        .iter()
        .map(|a| a.parse::<Allocator>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UserError::BadValue(format!("--allocators: {e}")))?;
    let _cores = super::lock_cores(&super::usable_cpus(), &args.lock)?;
    println!("{}", stack_summary()?);
    let mut rows = Vec::new();
    for model in &args.models {
        rows.extend(bench_model(model, args, &allocators)?);
    }
    if args.explain {
        for row in &rows {
            if let Some(graph) = row.result.as_ref().and_then(|r| r.executed_graph.as_ref()) {
                println!(
                    "== {} / {} / {}: executed graph\n{graph}",
                    row.model, row.mode, row.allocator
                );
            }
        }
    }
    println!("{}", render(&rows));
    println!("{}", summary(&rows));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
    }
    Ok(exit_code::OK)
}

/// One line on the torch stack the numbers come from.
fn stack_summary() -> anyhow::Result<String> {
    let torch = TorchBuild::read()?;
    let ipex = ipex::info(&torch);
    let capability = torch
        .config
        .lines()
        .find_map(|l| l.trim().strip_prefix("- CPU capability usage: "))
        .unwrap_or("unknown");
    Ok(format!(
        "libtorch {} ({} threads, ATen CPU capability {capability}, LLVM {}), IPEX {}",
        torch.version,
        torch.num_threads,
        if torch.llvm { "yes" } else { "no" },
        match (&ipex.version, ipex.compatible) {
            (Some(v), true) => format!("{v} (compatible)"),
            (_, _) => ipex.problem.unwrap_or_else(|| "unavailable".into()),
        }
    ))
}

fn render(rows: &[Row]) -> Table {
    let mut table = crate::term::table();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "model",
        "mode",
        "allocator",
        "median ms",
        "p90 ms",
        "iters",
        "vs stock",
        "max |diff| vs stock",
        "passes that changed the graph",
    ]);
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    for row in rows {
        let mut cells = vec![
            Cell::new(&row.model),
            Cell::new(&row.mode),
            Cell::new(&row.allocator),
        ];
        match &row.result {
            Some(r) => {
                let changed: Vec<&str> = r
                    .steps
                    .iter()
                    .filter(|s| s.changed)
                    .map(|s| s.pass.as_str())
                    .collect();
                cells.extend([
                    right(format!("{:.2}", r.stats.median_ms)),
                    right(format!("{:.2}", r.stats.p90_ms)),
                    right(r.stats.iterations.to_string()),
                    right(row.speedup.map(|s| format!("{s:.2}x")).unwrap_or_default()),
                    right(
                        r.accuracy
                            .as_ref()
                            .map(|a| format!("{:.2e}", a.max_abs))
                            .unwrap_or_else(|| "-".into()),
                    ),
                    Cell::new(changed.join(", ")),
                ]);
            }
            None => {
                cells.push(Cell::new("FAILED"));
                cells.extend((0..4).map(|_| Cell::new("")));
                cells.push(Cell::new(row.error.as_deref().unwrap_or("")));
            }
        }
        table.add_row(cells);
    }
    table
}

/// Best fp32, bf16 and int8 speedups per model, with the accuracy check.
fn summary(rows: &[Row]) -> String {
    let mut out = String::from("Best modes (speedup over stock with glibc's default malloc):\n");
    let mut models: Vec<&str> = rows.iter().map(|r| r.model.as_str()).collect();
    models.dedup();
    for model in models {
        for dtype in [
            Dtype::Fp32,
            Dtype::Bf16,
            Dtype::Bf16Autocast,
            Dtype::Int8Dynamic,
        ] {
            let tag = format!("/{}/", dtype.label());
            let best = rows
                .iter()
                .filter(|r| r.model == model && r.result.is_some() && r.config.contains(&tag))
                .max_by(|a, b| {
                    a.speedup
                        .unwrap_or(0.0)
                        .total_cmp(&b.speedup.unwrap_or(0.0))
                });
            if let Some(best) = best {
                let diff = best
                    .result
                    .as_ref()
                    .and_then(|r| r.accuracy.as_ref())
                    .map(|a| a.max_abs);
                out += &format!(
                    "  {model:8} {}: {:.2}x  {} / {}  (max |diff| {})\n",
                    dtype.label(),
                    best.speedup.unwrap_or(0.0),
                    best.mode,
                    best.allocator,
                    diff.map(|d| format!("{d:.2e}"))
                        .unwrap_or_else(|| "-".into())
                );
            }
        }
    }
    out
}
