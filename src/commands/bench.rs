//! `ipex-tune bench`: the proof that the optimized runtime is real.
//!
//! Runs the fixture CNN, MLP and transformer encoder in a fixed set of modes
//! (stock, freeze, O1, oneDNN Graph, IPEX, bf16, dynamic int8), each with
//! several allocators, every mode in its own child process (`bench-child`),
//! and prints medians, ratios against stock and the largest output
//! difference against stock.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::cli::{BenchArgs, BenchChildArgs};
use crate::error::{exit_code, UserError};
use crate::host::{ipex, TorchBuild};
use crate::measure::{stats, timing};
use crate::native;
use crate::runtime::allocator;
use crate::runtime::apply::{self, Step};
use crate::runtime::config::{Allocator, Backend, Config, Dtype, Fuser, Level};

/// How one input tensor is generated (seeded).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum InputSpec {
    /// Standard normal floats of this shape.
    Normal(Vec<i64>),
    /// Integer token ids in [0, vocab).
    Tokens { shape: Vec<i64>, vocab: i64 },
    /// An all-ones int64 mask.
    Ones(Vec<i64>),
}

impl InputSpec {
    fn make(&self) -> Tensor {
        let options = (Kind::Float, tch::Device::Cpu);
        match self {
            InputSpec::Normal(shape) => Tensor::randn(shape.as_slice(), options),
            InputSpec::Tokens { shape, vocab } => {
                Tensor::randint(*vocab, shape.as_slice(), (Kind::Int64, tch::Device::Cpu))
            }
            InputSpec::Ones(shape) => {
                Tensor::ones(shape.as_slice(), (Kind::Int64, tch::Device::Cpu))
            }
        }
    }
}

/// What one child measures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildSpec {
    pub model: PathBuf,
    pub method: String,
    pub config: Config,
    pub inputs: Vec<InputSpec>,
    pub seed: i64,
    pub min_time_s: f64,
    pub min_iters: usize,
    /// Write the outputs here (the stock run does, for the others to compare).
    pub save_outputs: Option<PathBuf>,
    /// Compare the outputs with the tensors saved here.
    pub reference: Option<PathBuf>,
    /// Report the optimized graph that was executed.
    pub explain: bool,
}

/// Which fusers were active in the child.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FuserState {
    pub texpr: bool,
    pub cpu_fusion: bool,
    pub onednn_graph: bool,
}

/// What one child reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildResult {
    pub median_ms: f64,
    pub p10_ms: f64,
    pub p90_ms: f64,
    pub iterations: usize,
    pub first_call_ms: f64,
    pub warmup_iterations: usize,
    pub warmup_steady: bool,
    pub max_abs_diff: Option<f64>,
    pub threads: usize,
    pub fusers: FuserState,
    pub steps: Vec<Step>,
    /// e.g. `tensor`, `tuple(tensor,tensor)`.
    pub output_structure: String,
    pub executed_graph: Option<String>,
}

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
    let mut modes = vec![
        Mode {
            name: "stock",
            config: Config::stock(),
        },
        Mode {
            name: "freeze",
            config: Config {
                level: Level::O1,
                ..Config::stock()
            },
        },
        Mode {
            name: "O1 (freeze+fold+prepack)",
            config: o1(Backend::Stock, Fuser::None, Dtype::Fp32, true),
        },
        Mode {
            name: "oneDNN Graph",
            config: o1(Backend::Stock, Fuser::Onednn, Dtype::Fp32, false),
        },
        Mode {
            name: "IPEX + freeze",
            config: o1(Backend::Ipex, Fuser::None, Dtype::Fp32, true),
        },
        Mode {
            name: "bf16",
            config: o1(Backend::Stock, Fuser::None, Dtype::Bf16, false),
        },
        Mode {
            name: "bf16 + IPEX",
            config: o1(Backend::Ipex, Fuser::None, Dtype::Bf16, true),
        },
        Mode {
            name: "bf16 + oneDNN Graph",
            config: o1(Backend::Stock, Fuser::Onednn, Dtype::Bf16, false),
        },
    ];
    if model == "mlp" {
        modes.push(Mode {
            name: "int8 dynamic",
            config: Config {
                level: Level::O1,
                dtype: Dtype::Int8Dynamic,
                ..Config::stock()
            },
        });
        modes.push(Mode {
            name: "int8 dynamic + oneDNN Graph",
            config: Config {
                level: Level::O1,
                dtype: Dtype::Int8Dynamic,
                fuser: Fuser::Onednn,
                ..Config::stock()
            },
        });
    }
    modes
}

/// The fixed inputs of each fixture the benchmark knows.
fn inputs_for(model: &str) -> Result<Vec<InputSpec>, UserError> {
    Ok(match model {
        "cnn" => vec![InputSpec::Normal(vec![8, 3, 112, 112])],
        "mlp" => vec![InputSpec::Normal(vec![64, 512])],
        "encoder" => vec![
            InputSpec::Tokens {
                shape: vec![8, 64],
                vocab: 1000,
            },
            InputSpec::Ones(vec![8, 64]),
        ],
        other => {
            return Err(UserError::BadValue(format!(
                "--models: unknown fixture '{other}'; the benchmark knows cnn, mlp, encoder"
            )))
        }
    })
}

/// One row of the printed table.
#[derive(Debug, Clone, Serialize)]
struct Row {
    model: String,
    mode: String,
    config: String,
    allocator: String,
    result: Option<ChildResult>,
    error: Option<String>,
    speedup: Option<f64>,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<i32> {
    let allocators = args
        .allocators
        .iter()
        .map(|a| a.parse::<Allocator>().map_err(UserError::BadValue))
        .collect::<Result<Vec<_>, _>>()?;
    println!("{}", stack_summary()?);
    let scratch = tempfile::tempdir()?;
    let mut rows = Vec::new();
    for model in &args.models {
        let inputs = inputs_for(model)?;
        let path = args.fixtures.join(format!("{model}.pt"));
        if !path.is_file() {
            return Err(UserError::bad_model(
                &path,
                "no such fixture; expected a TorchScript file",
            )
            .into());
        }
        let reference = scratch.path().join(format!("{model}-stock.pt"));
        let mut stock_median = None;
        for mode in modes(model) {
            let is_stock = mode.name == "stock";
            if !is_stock
                && !args.only.is_empty()
                && !args.only.iter().any(|o| mode.name.contains(o.as_str()))
            {
                continue;
            }
            for (i, allocator) in allocators.iter().enumerate() {
                // The reference run is stock with glibc's defaults.
                let allocator = if is_stock && i == 0 {
                    Allocator::Glibc
                } else {
                    *allocator
                };
                let config = Config {
                    allocator,
                    ..mode.config.clone()
                };
                let spec = ChildSpec {
                    model: path.clone(),
                    method: "forward".into(),
                    config: config.clone(),
                    inputs: inputs.clone(),
                    seed: 20261128,
                    min_time_s: args.min_time,
                    min_iters: args.min_iters,
                    save_outputs: (is_stock && stock_median.is_none()).then(|| reference.clone()),
                    reference: (!is_stock || stock_median.is_some()).then(|| reference.clone()),
                    explain: args.explain,
                };
                eprintln!("bench: {model} / {} / {allocator} ...", mode.name);
                let outcome = spawn_child(&spec);
                let (result, error) = match outcome {
                    Ok(r) => (Some(r), None),
                    Err(e) => (None, Some(e)),
                };
                if is_stock && stock_median.is_none() {
                    match &result {
                        Some(r) => stock_median = Some(r.median_ms),
                        None => anyhow::bail!(
                            "the stock run of {} failed: {}",
                            path.display(),
                            error.unwrap_or_default()
                        ),
                    }
                }
                let speedup = result
                    .as_ref()
                    .zip(stock_median)
                    .map(|(r, s)| s / r.median_ms);
                rows.push(Row {
                    model: model.clone(),
                    mode: mode.name.to_string(),
                    config: config.label(),
                    allocator: allocator.to_string(),
                    result,
                    error,
                    speedup,
                });
            }
        }
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
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "model",
        "mode",
        "allocator",
        "median ms",
        "p10..p90 ms",
        "iters",
        "vs stock",
        "max |diff| vs stock",
        "passes that changed the graph",
    ]);
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    for row in rows {
        match &row.result {
            Some(r) => {
                let changed: Vec<&str> = r
                    .steps
                    .iter()
                    .filter(|s| s.changed)
                    .map(|s| s.pass.as_str())
                    .collect();
                table.add_row(vec![
                    Cell::new(&row.model),
                    Cell::new(&row.mode),
                    Cell::new(&row.allocator),
                    right(format!("{:.2}", r.median_ms)),
                    right(format!("{:.2}..{:.2}", r.p10_ms, r.p90_ms)),
                    right(r.iterations.to_string()),
                    right(row.speedup.map(|s| format!("{s:.2}x")).unwrap_or_default()),
                    right(
                        r.max_abs_diff
                            .map(|d| format!("{d:.2e}"))
                            .unwrap_or_else(|| "-".into()),
                    ),
                    Cell::new(changed.join(", ")),
                ]);
            }
            None => {
                table.add_row(vec![
                    Cell::new(&row.model),
                    Cell::new(&row.mode),
                    Cell::new(&row.allocator),
                    Cell::new("FAILED"),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(row.error.as_deref().unwrap_or("")),
                ]);
            }
        }
    }
    table
}

/// Best fp32 and best bf16 speedups per model, with the fp32 accuracy check.
fn summary(rows: &[Row]) -> String {
    let mut out = String::from("Best modes (speedup over stock with glibc's default malloc):\n");
    let mut models: Vec<&str> = rows.iter().map(|r| r.model.as_str()).collect();
    models.dedup();
    for model in models {
        for (label, wanted) in [
            ("fp32", Dtype::Fp32),
            ("bf16", Dtype::Bf16),
            ("int8", Dtype::Int8Dynamic),
        ] {
            let best = rows
                .iter()
                .filter(|r| {
                    r.model == model && r.result.is_some() && r.config.contains(dtype_tag(wanted))
                })
                .max_by(|a, b| {
                    a.speedup
                        .unwrap_or(0.0)
                        .total_cmp(&b.speedup.unwrap_or(0.0))
                });
            if let Some(best) = best {
                let diff = best.result.as_ref().and_then(|r| r.max_abs_diff);
                out += &format!(
                    "  {model:8} {label}: {:.2}x  {} / {}  (max |diff| {})\n",
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

fn dtype_tag(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::Fp32 => "/fp32/",
        Dtype::Bf16 => "/bf16/",
        Dtype::Int8Dynamic => "/int8-dyn/",
        Dtype::Int8Static => "/int8-static/",
    }
}

/// Runs one mode in a child process; returns its result or why it failed.
fn spawn_child(spec: &ChildSpec) -> Result<ChildResult, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command
        .arg("bench-child")
        .arg("--spec")
        .arg(serde_json::to_string(spec).map_err(|e| e.to_string())?)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    allocator::configure_child(&mut command, spec.config.allocator)?;
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let limit = Duration::from_secs_f64(120.0 + spec.min_time_s * 10.0);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {}s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        return Err(match status.signal() {
            Some(sig) => format!("crashed with signal {sig} {last}"),
            None => format!("exit {}: {last}", status.code().unwrap_or(-1)),
        });
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(line).map_err(|e| format!("unreadable child result ({e}): {line}"))
}

/// The child: apply the config, warm up, time, compare outputs, print JSON.
pub fn run_child(args: &BenchChildArgs) -> anyhow::Result<i32> {
    let spec: ChildSpec = serde_json::from_str(&args.spec)
        .map_err(|e| UserError::BadValue(format!("--spec: not a valid child spec: {e}")))?;
    allocator::apply_in_process(spec.config.allocator).map_err(anyhow::Error::msg)?;
    apply::apply_process_settings(&spec.config)?;
    let prepared = apply::prepare(&spec.model, &spec.method, &spec.config, None)?;
    tch::manual_seed(spec.seed);
    let inputs: Vec<Tensor> = spec.inputs.iter().map(InputSpec::make).collect();
    let inputs = prepared.convert_inputs(&inputs);

    let first = Instant::now();
    let output_structure = prepared.run_raw(&inputs)?.structure;
    let first_call_ms = first.elapsed().as_secs_f64() * 1e3;
    let warm = timing::warm_up(&timing::WarmUp::default(), || {
        prepared.run(&inputs).map(|_| ())
    })?;
    let latencies = timing::timed_loop(
        Duration::from_secs_f64(spec.min_time_s),
        spec.min_iters,
        || prepared.run(&inputs).map(|_| ()),
    )?;
    // Outputs after warm-up: those of the graph that was timed.
    let timed_outputs = prepared.run(&inputs)?;
    let executed_graph = if spec.explain {
        Some(native::last_executed_graph()?)
    } else {
        None
    };

    if let Some(path) = &spec.save_outputs {
        let named: Vec<(String, &Tensor)> = timed_outputs
            .iter()
            .enumerate()
            .map(|(i, t)| (i.to_string(), t))
            .collect();
        Tensor::save_multi(&named, path)?;
    }
    let max_abs_diff = match &spec.reference {
        Some(path) => Some(max_abs_diff(&timed_outputs, path)?),
        None => None,
    };
    let sorted = stats::sorted(&latencies);
    let result = ChildResult {
        median_ms: stats::quantile(&sorted, 0.5) * 1e3,
        p10_ms: stats::quantile(&sorted, 0.1) * 1e3,
        p90_ms: stats::quantile(&sorted, 0.9) * 1e3,
        iterations: latencies.len(),
        first_call_ms,
        warmup_iterations: warm.latencies.len(),
        warmup_steady: warm.steady,
        max_abs_diff,
        threads: native::num_threads()?,
        fusers: FuserState {
            texpr: native::texpr_fuser_enabled()?,
            cpu_fusion: native::can_fuse_on_cpu()?,
            onednn_graph: native::onednn_fuser_enabled()?,
        },
        steps: prepared.steps.clone(),
        output_structure,
        executed_graph,
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(exit_code::OK)
}

fn max_abs_diff(outputs: &[Tensor], reference: &Path) -> anyhow::Result<f64> {
    let expected = Tensor::load_multi(reference)?;
    anyhow::ensure!(
        expected.len() == outputs.len(),
        "{} outputs, the stock run had {}",
        outputs.len(),
        expected.len()
    );
    let mut worst = 0.0f64;
    for (got, (_, want)) in outputs.iter().zip(expected.iter()) {
        anyhow::ensure!(
            got.size() == want.size(),
            "output shape {:?}, the stock run had {:?}",
            got.size(),
            want.size()
        );
        let diff = (got.to_kind(Kind::Double) - want.to_kind(Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        worst = worst.max(diff);
    }
    Ok(worst)
}
