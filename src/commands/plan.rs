//! `ipex-tune plan MODEL --suite NAME [--json]`: the candidate configurations
//! the rules allow, and for every knob value excluded or forced, the rule
//! and why.
use std::time::Duration;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;

use crate::cli::{PlanArgs, TargetArgs};
use std::path::{Path, PathBuf};

use crate::error::{exit_code, UserError};
use crate::host::HostProfile;
use crate::model::{load_module, ModelFacts};
use crate::rules::{self, gather, Facts, Plan};
use crate::suite::{batches, Suite};

#[derive(Serialize)]
struct PlanReport<'a> {
    model: &'a str,
    method: &'a str,
    suite: &'a str,
    /// The distinct input shapes the suite generates.
    input_shapes: Vec<String>,
    usable_cores: usize,
    /// The host profile (absent with --host-facts).
    host: Option<&'a HostProfile>,
    /// Every fact the rules were evaluated over.
    facts: &'a Facts,
    plan: &'a Plan,
}

/// Everything plan and run need: the facts and the plan.
pub struct Planned {
    pub model_path: PathBuf,
    /// The host profile (absent when facts were given with --host-facts).
    pub host: Option<HostProfile>,
    pub model: ModelFacts,
    pub suite: Suite,
    pub facts: Facts,
    /// Cores the candidates may use.
    pub usable: usize,
    pub plan: Plan,
}

/// Profiles the host, inspects the model, loads the suite and the rules,
/// and evaluates them.
/// `host_facts` replaces profiling the host (reproducible tests).
pub fn make_plan(args: &TargetArgs, host_facts: Option<&Path>) -> anyhow::Result<Planned> {
    let rules = rules::load(&args.rules)?;
    let module = load_module(&args.model)?;
    let model = ModelFacts::read(&args.model, &module, &args.method)?;
    drop(module);
    let mut suite = if args.suite == "generic" {
        Suite::generic(&model, &args.input_shape)?
    } else {
        if !args.input_shape.is_empty() {
            return Err(UserError::BadValue("--input-shape is for --suite generic".into()).into());
        }
        Suite::find(&args.suite, &args.suites)?
    };
    if let Some(batch) = args.batch_size {
        if batch < 1 {
            return Err(
                UserError::BadValue(format!("--batch-size {batch}: expected a size >= 1")).into(),
            );
        }
        suite.batch_sizes = vec![batch];
    }
    suite.check_fits(&model)?;
    let (host, mut facts) = match host_facts {
        Some(path) => (None, Facts::from_json_file(path)?),
        None => {
            let host = HostProfile::detect(Duration::from_millis(200))?;
            let facts = gather::host_facts(&host);
            (Some(host), facts)
        }
    };
    let fact_num = |name: &str| facts.get(name).and_then(|v| v.as_num());
    let usable_cores = fact_num("host.cores.usable").unwrap_or(1.0) as usize;
    let available_bytes =
        (fact_num("host.memory.available_mib").unwrap_or(0.0) * 1024.0 * 1024.0) as u64;
    let usable = args.threads.unwrap_or(usable_cores).max(1);
    facts.extend(&gather::model_facts(&model, available_bytes));
    facts.extend(&gather::suite_facts(&suite));
    facts.extend(&gather::run_facts(usable));
    let batch_sizes: Vec<usize> = suite.batch_sizes.iter().map(|&b| b as usize).collect();
    let plan = rules::plan(&rules, &facts, usable, &batch_sizes);
    Ok(Planned {
        model_path: args.model.clone(),
        host,
        model,
        suite,
        facts,
        usable,
        plan,
    })
}

pub fn run(args: &PlanArgs) -> anyhow::Result<i32> {
    let planned = make_plan(&args.target, args.host_facts.as_deref())?;
    if args.json {
        let report = PlanReport {
            model: &planned.model.path,
            method: &planned.model.method,
            suite: &planned.suite.name,
            input_shapes: input_shapes(&planned.suite),
            facts: &planned.facts,
            usable_cores: planned.usable,
            host: planned.host.as_ref(),
            plan: &planned.plan,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&planned, args.limit));
    }
    Ok(exit_code::OK)
}

/// Each batch the suite generates, as its shape key and tensor shapes.
fn input_shapes(suite: &Suite) -> Vec<String> {
    batches(suite)
        .iter()
        .map(|b| {
            let shapes: Vec<String> = b
                .tensors
                .iter()
                .map(|t| format!("{:?}", t.size()))
                .collect();
            format!("{}: {}", b.shape_key, shapes.join(" "))
        })
        .collect()
}

/// The plan for people: domains, exclusions, options, conflicts, candidates.
pub fn render(planned: &Planned, limit: usize) -> String {
    let plan = &planned.plan;
    let shapes = input_shapes(&planned.suite);
    let mut out = format!(
        "Plan for {} (`{}`) with suite {}: {} input batch(es), {}\n",
        planned.model.path,
        planned.model.method,
        planned.suite.name,
        shapes.len(),
        if planned.suite.dynamic_shapes() {
            "dynamic shapes"
        } else {
            "static shapes"
        }
    );

    let mut domains = Table::new();
    domains
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["knob", "allowed values"]);
    for (knob, values) in &plan.domains {
        domains.add_row(vec![knob.clone(), values.join(", ")]);
    }
    out += &format!("{domains}\n");

    if !plan.exclusions.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "knob",
            "value",
            "excluded because",
            "rule",
            "why",
        ]);
        for e in &plan.exclusions {
            t.add_row(vec![
                e.knob.clone(),
                e.value.clone(),
                e.how.clone(),
                e.rule.clone(),
                e.reason.clone(),
            ]);
        }
        out += &format!("{t}\n");
    }
    if !plan.candidate_exclusions.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_header(vec!["rule (over candidate knobs)", "candidates excluded"]);
        for (rule, count) in &plan.candidate_exclusions {
            t.add_row(vec![rule.clone(), count.to_string()]);
        }
        out += &format!("{t}\n");
    }
    if !plan.options.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_header(vec!["option", "value", "rule"]);
        for (option, (value, rule)) in &plan.options {
            t.add_row(vec![option.clone(), value.to_string(), rule.clone()]);
        }
        out += &format!("{t}\n");
    }
    let mut firings = Table::new();
    firings.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "rule fired",
        "severity",
        "facts",
        "actions",
    ]);
    for f in &plan.firings {
        let facts = f
            .facts
            .iter()
            .map(|o| match &o.value {
                Some(v) => format!("{}={v}", o.fact),
                None => format!("{} unset", o.fact),
            })
            .collect::<Vec<_>>()
            .join(", ");
        firings.add_row(vec![
            f.rule.clone(),
            f.severity.name().to_string(),
            facts,
            f.actions.join("; "),
        ]);
    }
    out += &format!("{firings}\n");
    for conflict in &plan.conflicts {
        out += &format!("CONFLICT: {conflict}\n");
    }
    out += &format!("{} candidate configurations", plan.candidates.len());
    if plan.candidates.len() > limit {
        out += &format!(
            " (first {limit}, in the order the rules prefer; --limit N or --json for more)"
        );
    }
    out += ":\n";
    for c in plan.candidates.iter().take(limit) {
        out += &format!("  {}", c.label);
        if !c.preferred_by.is_empty() {
            out += &format!("   (preferred by {})", c.preferred_by.join(", "));
        }
        out.push('\n');
    }
    out
}
