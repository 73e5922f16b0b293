//! Profile -> inspect -> suite -> rules -> space: everything `plan` shows
//! and `run` measures, computed once.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::objective::Objective;
use crate::config::{Config, ALL_KNOBS};
use crate::error::UserError;
use crate::host::HostProfile;
use crate::model::{load_module_for_facts, ModelFacts};
use crate::rules::engine::{Exclusion, Firing, Judgement};
use crate::rules::facts::Value;
use crate::rules::{self, gather, Facts, Rule};
use crate::search::recipes;
use crate::search::space::{self, Candidate, HostShape};
use crate::suite::{InputFile, Suite};

/// What the model is run with, as the command line gives it.
#[derive(Debug, Clone)]
pub struct Target {
    pub model: PathBuf,
    pub suite: String,
    pub method: String,
    pub input_shapes: Vec<String>,
    pub batch_size: Option<i64>,
    /// Cores the run may use (default: the usable cores).
    pub threads: Option<usize>,
    /// `--cores LIST`: only these CPUs.
    pub cores: Option<String>,
    /// `--nodes LIST`: only the CPUs of these NUMA nodes.
    pub nodes: Option<String>,
    /// `--inputs PATH`: real inputs for measurement and accuracy.
    pub inputs: Option<PathBuf>,
    /// `--calibration PATH`: real inputs for int8 calibration.
    pub calibration: Option<PathBuf>,
    /// `--labels PATH`: the class of every row of `inputs`.
    pub labels: Option<PathBuf>,
    /// `--max-accuracy-loss`: the task accuracy criterion.
    pub max_accuracy_loss: Option<crate::suite::AccuracyLoss>,
    pub rule_dirs: Vec<PathBuf>,
    pub suite_dirs: Vec<PathBuf>,
}

impl Target {
    /// A fixture model with a suite, as the benchmarks run it: the usable
    /// cores, the bundled rules and suites, the suite's generated inputs.
    pub fn fixture(
        model: PathBuf,
        suite: &str,
        input_shapes: Vec<String>,
        batch_size: Option<i64>,
    ) -> Target {
        Target {
            model,
            suite: suite.into(),
            method: "forward".into(),
            input_shapes,
            batch_size,
            threads: None,
            cores: None,
            nodes: None,
            inputs: None,
            calibration: None,
            labels: None,
            max_accuracy_loss: None,
            rule_dirs: Vec::new(),
            suite_dirs: Vec::new(),
        }
    }
}

/// The rules' verdict over the space: the JSON `plan` prints and the
/// results file keeps.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub firings: Vec<Firing>,
    /// The values each knob may take after the rules.
    pub domains: BTreeMap<String, Vec<String>>,
    pub exclusions: Vec<Exclusion>,
    /// Candidates excluded by rules over candidate knobs: rule id -> count.
    pub candidate_exclusions: BTreeMap<String, usize>,
    pub candidates: Vec<Candidate>,
    /// Options rules set: option -> (value, rule id).
    pub options: BTreeMap<String, (Value, String)>,
    /// Contradictions between rules, reported rather than silently resolved.
    pub conflicts: Vec<String>,
}

/// One of the expert's recipes in one of the launcher's layouts, as this
/// plan would run it: the allowed config, or the rule that rules it out.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedRecipe {
    pub recipe: &'static str,
    /// What the expert writes in Python for it.
    pub python: &'static str,
    pub layout: String,
    /// The allowed config that runs it (None: ruled out).
    pub config: Option<Config>,
    pub label: Option<String>,
    /// Why no allowed config runs it.
    pub excluded: Option<String>,
}

/// Everything plan and run need: the facts, the rules and the plan.
pub struct Planned {
    pub model_path: PathBuf,
    /// The host profile (absent when facts were given with --host-facts).
    pub host: Option<HostProfile>,
    pub model: ModelFacts,
    pub suite: Suite,
    pub facts: Facts,
    pub rules: Vec<Rule>,
    /// Cores the candidates may use.
    pub usable: usize,
    /// The host's shape the layouts come from.
    pub shape: HostShape,
    /// The CPUs trials use: one per physical core, node by node (empty
    /// with --host-facts: trials then use the process's affinity).
    pub cpus: Vec<u32>,
    /// The NUMA node of each of `cpus` (empty when unknown, never partial).
    pub cpu_nodes: Vec<u32>,
    pub plan: Plan,
}

impl Planned {
    /// The expert's recipes (search::recipes) in the launcher's layouts,
    /// every recipe in one layout before the next: what the guided search
    /// measures before it explores, and what `plan` shows. For throughput
    /// the multi-instance layouts come first (the launcher's throughput
    /// mode is where the expert is fastest on throughput), for latency one
    /// instance on all cores; a budget that runs out keeps those.
    pub fn expert_recipes(&self, objective: Objective) -> Vec<PlannedRecipe> {
        let allowed: Vec<&Candidate> = self
            .plan
            .candidates
            .iter()
            .filter(|c| space::uses_all_cores(&c.config, self.usable))
            .collect();
        let mut layouts = recipes::launcher_layouts(self.shape);
        if !matches!(objective, Objective::Latency { .. }) {
            layouts.reverse();
        }
        let mut out = Vec::new();
        for layout in layouts {
            for recipe in &recipes::RECIPES {
                let config = recipes::nearest(&allowed, recipe, &layout.layout);
                out.push(PlannedRecipe {
                    recipe: recipe.name,
                    python: recipe.python,
                    layout: layout.name.clone(),
                    label: config.as_ref().map(Config::label),
                    excluded: config
                        .is_none()
                        .then(|| self.why_not(&recipes::exact(recipe, &layout.layout))),
                    config,
                });
            }
        }
        out
    }

    /// Why `config` is not among the candidates: incoherent here, a knob
    /// value a rule took out of the space, or a rule over candidate knobs.
    pub fn why_not(&self, config: &Config) -> String {
        if !space::coherent(config, self.usable) {
            return format!(
                "{} is not a coherent config on {} core(s)",
                config.label(),
                self.usable
            );
        }
        for knob in ALL_KNOBS {
            let value = knob.value_of(config).to_string();
            let taken = self
                .plan
                .exclusions
                .iter()
                .find(|e| e.knob == knob.to_string() && e.value == value);
            if let Some(e) = taken {
                return format!("rule {}: {} ({} {})", e.rule, e.reason, e.knob, e.value);
            }
        }
        let batch_sizes: Vec<usize> = self.suite.batch_sizes.iter().map(|&b| b as usize).collect();
        let mut evaluation = rules::evaluate(
            &self.rules,
            &self.facts,
            space::base_domains(self.shape),
            &batch_sizes,
            self.usable,
        );
        match evaluation.judge(config) {
            Judgement::Excluded { rule } => {
                let title = self
                    .rules
                    .iter()
                    .find(|r| r.id == rule)
                    .map(|r| r.title.clone())
                    .unwrap_or_default();
                format!("rule {rule}: {title}")
            }
            Judgement::Allowed { .. } => format!(
                "{} is not among the layouts the search considers on this host",
                config.label()
            ),
        }
    }

    /// The explanation of a rule, for reports.
    pub fn explain(&self, id: &str) -> String {
        self.rules
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.explain.clone())
            .unwrap_or_default()
    }
}

/// A named suite's inputs feed the entry method's first tensor arguments;
/// `--input-shape NAME=VALUE` gives the others (non-tensor arguments) their
/// values, and arguments with defaults take them.
fn bind_suite_inputs(
    suite: &mut Suite,
    model: &ModelFacts,
    items: &[String],
) -> Result<(), UserError> {
    let mut named = Vec::new();
    for item in items {
        match crate::suite::split_named(item) {
            (Some(name), value) => named.push((name.to_string(), value.to_string())),
            (None, _) => {
                return Err(UserError::BadValue(format!(
                    "--input-shape {item}: shapes are for --suite generic; with --suite {} give only non-tensor arguments, as NAME=VALUE",
                    suite.name
                )))
            }
        }
    }
    let Some(entry) = model.methods.iter().find(|m| m.name == model.method) else {
        return Ok(());
    };
    // Without values to give, the inputs are the arguments (check_fits says
    // when they do not fit).
    let needs_value = entry
        .arguments
        .iter()
        .any(|a| !crate::suite::takes_tensor(&a.type_name) && !a.has_default);
    if named.is_empty() && !needs_value {
        return Ok(());
    }
    let n = suite.inputs.len();
    let fed = crate::suite::positional_tensors(&model.method, &entry.arguments, n, &named)?;
    let call = crate::suite::bind(&model.method, &entry.arguments, &fed, &named)?;
    suite.call = if crate::suite::is_plain(&call) {
        Vec::new()
    } else {
        call
    };
    Ok(())
}

/// The suite the target names, with its batch size override, checked
/// against the model's signature.
fn load_suite(target: &Target, model: &ModelFacts) -> anyhow::Result<Suite> {
    let mut suite = if target.suite == "generic" {
        Suite::generic(model, &target.input_shapes)?
    } else {
        let mut suite = Suite::find(&target.suite, &target.suite_dirs)?;
        bind_suite_inputs(&mut suite, model, &target.input_shapes)?;
        suite
    };
    if let Some(batch) = target.batch_size {
        if batch < 1 {
            return Err(
                UserError::BadValue(format!("--batch-size {batch}: expected a size >= 1")).into(),
            );
        }
        suite.batch_sizes = vec![batch];
    }
    let args: Vec<String> = model
        .methods
        .iter()
        .find(|m| m.name == model.method)
        .map(|m| m.arguments.iter().map(|a| a.name.clone()).collect())
        .unwrap_or_default();
    let file = |path: &PathBuf| InputFile {
        path: path.clone(),
        args: args.clone(),
    };
    suite.calibration_file = target.calibration.as_ref().map(file);
    suite.input_file = target.inputs.as_ref().map(file);
    suite.labels_file = target.labels.as_ref().map(file);
    suite.accuracy.max_loss = target.max_accuracy_loss;
    // A file of tensors brings its own arity; an image folder or token file
    // is decoded for the suite's inputs, fitted to the model like the
    // generated ones (image size, id bound).
    if suite.input_file.is_none() {
        suite.check_fits(model)?;
    }
    if target.suite != "generic" {
        suite.fit_to_model(model);
    }
    if let Some(program) = &model.program {
        suite.check_program(program, &model.path)?;
    }
    // Files are read now, so that a bad one is refused before any trial.
    for (what, file) in [
        ("--inputs", &suite.input_file),
        ("--calibration", &suite.calibration_file),
    ] {
        let Some(file) = file else { continue };
        // A List/Tuple/Dict argument takes several of a batch's tensors.
        let takes = args.len().max(suite.inputs.len());
        for (i, batch) in crate::suite::load_inputs(file, &suite)?.iter().enumerate() {
            if batch.len() > takes {
                return Err(UserError::BadValue(format!(
                    "{what} {}: batch {i} has {} tensors, `{}` takes ({})",
                    file.path.display(),
                    batch.len(),
                    model.method,
                    args.join(", ")
                ))
                .into());
            }
        }
    }
    Ok(suite)
}

/// Profiles the host, inspects the model, loads the suite and the rules,
/// evaluates them and lays out the allowed candidates.
/// `host_facts` replaces profiling the host (reproducible tests).
pub fn make_plan(target: &Target, host_facts: Option<&Path>) -> anyhow::Result<Planned> {
    check_omp_num_threads(std::env::var("OMP_NUM_THREADS").ok().as_deref())?;
    let rules = rules::load(&target.rule_dirs)?;
    let file = crate::model::pt2::resolve(&target.model)?;
    let module = load_module_for_facts(&file.torchscript)?;
    let model = ModelFacts::read_file(&target.model, &file, &module, &target.method)?;
    drop(module);
    let suite = load_suite(target, &model)?;
    let (host, mut facts) = match host_facts {
        Some(path) => (None, Facts::from_json_file(path)?),
        None => {
            let host = HostProfile::detect(Duration::from_millis(200))?;
            let facts = gather::host_facts(&host);
            (Some(host), facts)
        }
    };
    let fact_num = |name: &str| facts.get(name).and_then(|v| v.as_num());
    let available_bytes =
        (fact_num("host.memory.available_mib").unwrap_or(0.0) * 1024.0 * 1024.0) as u64;
    check_batch_fits(&suite, available_bytes)?;
    let (shape, cpus, cpu_nodes) = match &host {
        Some(h) => restrict(h, target)?,
        None => {
            if target.cores.is_some() || target.nodes.is_some() {
                return Err(UserError::BadValue(
                    "--cores/--nodes need the real host (not --host-facts)".into(),
                )
                .into());
            }
            (
                host_shape(&fact_num, target.threads)?,
                Vec::new(),
                Vec::new(),
            )
        }
    };
    let usable = shape.usable;
    facts.extend(&gather::model_facts(&model, available_bytes));
    facts.extend(&gather::suite_facts(&suite));
    facts.extend(&gather::run_facts(usable));
    let batch_sizes: Vec<usize> = suite.batch_sizes.iter().map(|&b| b as usize).collect();
    let mut evaluation = rules::evaluate(
        &rules,
        &facts,
        space::base_domains(shape),
        &batch_sizes,
        usable,
    );
    let candidates = space::candidates(&mut evaluation, shape);
    let plan = Plan {
        firings: evaluation
            .firings
            .into_iter()
            .chain(evaluation.candidate_firings.into_values())
            .collect(),
        domains: evaluation
            .domains
            .iter()
            .map(|(k, v)| {
                (
                    k.name().to_string(),
                    v.iter().map(|x| x.to_string()).collect(),
                )
            })
            .collect(),
        exclusions: evaluation.exclusions,
        candidate_exclusions: evaluation.candidate_exclusions,
        candidates,
        options: evaluation.options,
        conflicts: evaluation.conflicts,
    };
    Ok(Planned {
        // What the trials load: for a program, its TorchScript trace.
        model_path: file.torchscript,
        host,
        model,
        suite,
        facts,
        rules,
        usable,
        shape,
        cpu_nodes,
        cpus,
        plan,
    })
}

/// OMP_NUM_THREADS as libgomp reads it: positive integers, comma-separated
/// for nested levels. libgomp ignores anything else with a warning, so stock
/// would silently run with its default threads.
fn check_omp_num_threads(value: Option<&str>) -> Result<(), UserError> {
    let Some(value) = value else { return Ok(()) };
    let valid = value
        .split(',')
        .all(|n| n.trim().parse::<u32>().is_ok_and(|n| n >= 1));
    if valid {
        Ok(())
    } else {
        Err(UserError::BadValue(format!(
            "OMP_NUM_THREADS='{value}': expected a positive number of threads (e.g. 4) or unset (libgomp ignores this value, so stock would not run as you asked)"
        )))
    }
}

/// A batch of inputs larger than the memory available cannot even be
/// generated (and sizes whose product overflows would abort libtorch):
/// refused before anything is made, naming the sizes.
fn check_batch_fits(suite: &crate::suite::Suite, available_bytes: u64) -> Result<(), UserError> {
    let sizes = suite
        .inputs
        .iter()
        .map(|i| format!("{} {}", i.name, i.shape_text()))
        .collect::<Vec<_>>()
        .join(", ");
    let batches = suite
        .batch_sizes
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let problem = match crate::suite::largest_batch_bytes(suite) {
        None => "their sizes overflow 64 bits".to_string(),
        Some(bytes) if available_bytes > 0 && bytes > available_bytes => format!(
            "the largest batch of inputs is {:.1} GiB, more than the {:.1} GiB of memory available",
            bytes as f64 / (1u64 << 30) as f64,
            available_bytes as f64 / (1u64 << 30) as f64
        ),
        Some(_) => return Ok(()),
    };
    Err(UserError::BadValue(format!(
        "suite '{}' ({sizes}; batch {batches}): {problem}; expected sizes that fit (--input-shape, --batch-size)",
        suite.name
    )))
}

/// `--threads N` against the `available` physical cores: 0 and more than
/// available are refused; none means all of them.
fn checked_threads(threads: Option<usize>, available: usize) -> anyhow::Result<usize> {
    match threads {
        Some(0) => Err(UserError::BadValue("--threads 0: expected at least 1 core".into()).into()),
        Some(n) if n > available => Err(UserError::BadValue(format!(
            "--threads {n}: this process may use {available} physical core(s); expected 1..={available}"
        ))
        .into()),
        Some(n) => Ok(n),
        None => Ok(available),
    }
}

/// "0-3,8" -> [0, 1, 2, 3, 8].
pub fn parse_cpu_list(text: &str, what: &str) -> Result<Vec<u32>, UserError> {
    let bad = || UserError::BadValue(format!("{what} '{text}': expected a list like 0-3,8"));
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u32, u32) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b {
            return Err(bad());
        }
        out.extend(a..=b);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The CPUs of the real host a run may use (the affinity mask, narrowed by
/// --cores or --nodes), one per physical core, node by node, and the shape
/// they make, and the NUMA node of each CPU (empty without a topology).
fn restrict(
    host: &HostProfile,
    target: &Target,
) -> anyhow::Result<(HostShape, Vec<u32>, Vec<u32>)> {
    let affinity = &host.limits.affinity;
    let topology = host.topology.as_ref();
    let node_of = |cpu: u32| {
        topology.and_then(|t| {
            t.numa_nodes
                .iter()
                .find(|n| n.cpus.contains(&cpu))
                .map(|n| n.id)
        })
    };
    let allowed: Vec<u32> = match (&target.cores, &target.nodes) {
        (Some(list), _) => {
            let cpus = parse_cpu_list(list, "--cores")?;
            if let Some(bad) = cpus.iter().find(|c| !affinity.contains(c)) {
                return Err(UserError::BadValue(format!(
                    "--cores {list}: CPU {bad} is not one this process may use (affinity {})",
                    crate::host::topology::cpu_list(affinity)
                ))
                .into());
            }
            cpus
        }
        (None, Some(list)) => {
            let nodes = parse_cpu_list(list, "--nodes")?;
            let known: Vec<u32> = topology
                .map(|t| t.numa_nodes.iter().map(|n| n.id).collect())
                .unwrap_or_else(|| vec![0]);
            if let Some(bad) = nodes.iter().find(|n| !known.contains(n)) {
                return Err(UserError::BadValue(format!(
                    "--nodes {list}: no NUMA node {bad} here (nodes {})",
                    crate::host::topology::cpu_list(&known)
                ))
                .into());
            }
            affinity
                .iter()
                .copied()
                .filter(|&c| node_of(c).is_none_or(|n| nodes.contains(&n)))
                .collect()
        }
        (None, None) => affinity.clone(),
    };
    // One logical CPU per physical core (SMT siblings stay idle), node by node.
    let mut cpus: Vec<u32> = Vec::new();
    match topology {
        Some(t) => {
            for node in &t.numa_nodes {
                for core in &t.cores {
                    if let Some(&cpu) = core
                        .iter()
                        .find(|c| allowed.contains(c) && node.cpus.contains(c))
                    {
                        if !cpus.contains(&cpu) {
                            cpus.push(cpu);
                        }
                    }
                }
            }
        }
        None => cpus = allowed.clone(),
    }
    if cpus.is_empty() {
        cpus = allowed.clone();
    }
    // The cgroup quota may allow fewer cores than the mask.
    cpus.truncate(host.limits.usable_cores.max(1) as usize);
    let usable = checked_threads(target.threads, cpus.len())?;
    cpus.truncate(usable);
    let mut per_node: BTreeMap<Option<u32>, usize> = BTreeMap::new();
    for &c in &cpus {
        *per_node.entry(node_of(c)).or_default() += 1;
    }
    let cores_per_node = per_node.values().copied().min().unwrap_or(usable);
    // All or nothing: a partial map would pair CPUs with wrong nodes.
    let nodes: Vec<u32> = cpus
        .iter()
        .map(|&c| node_of(c))
        .collect::<Option<_>>()
        .unwrap_or_default();
    Ok((
        HostShape::new(usable, per_node.len(), cores_per_node),
        cpus,
        nodes,
    ))
}

/// The cores the run may use and how they sit in NUMA nodes, from the
/// host facts: the usable physical cores (SMT siblings are not used: the
/// usable logical CPUs scaled by physical/logical), or `--threads N`, which
/// may not exceed them.
fn host_shape(
    fact: &dyn Fn(&str) -> Option<f64>,
    threads: Option<usize>,
) -> anyhow::Result<HostShape> {
    let usable_logical = fact("host.cores.usable").unwrap_or(1.0).max(1.0);
    let physical = fact("host.cores.physical").unwrap_or(usable_logical);
    let logical = fact("host.cores.logical").unwrap_or(physical).max(physical);
    let usable = ((usable_logical * physical / logical).round() as usize).max(1);
    let usable = checked_threads(threads, usable)?;
    let nodes = fact("host.numa.nodes").unwrap_or(1.0) as usize;
    let per_node = fact("host.numa.cores_per_node").unwrap_or(0.0) as usize;
    Ok(HostShape::new(usable, nodes, per_node))
}

#[cfg(test)]
mod tests {
    use super::check_omp_num_threads as check;

    #[test]
    fn omp_num_threads_is_read_as_libgomp_reads_it() {
        assert!(check(None).is_ok());
        assert!(check(Some("4")).is_ok());
        assert!(check(Some("4,2")).is_ok());
        for bad in ["abc", "0", "-1", "", "4,x"] {
            let err = check(Some(bad)).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("OMP_NUM_THREADS='{bad}'")),
                "{err}"
            );
        }
    }
}
