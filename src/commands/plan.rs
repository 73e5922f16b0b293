//! `ipex-tune plan MODEL --suite NAME [--json]`: the candidate configurations
//! the rules allow, and for every knob value excluded or forced, the rule
//! and why.
use comfy_table::presets::UTF8_FULL_CONDENSED;
use serde::Serialize;

use crate::cli::PlanArgs;
use crate::error::exit_code;
use crate::host::HostProfile;
use crate::rules::condition::Observed;
use crate::rules::Facts;
use crate::suite::{suite_batches, Suite};
use crate::tune::plan::PlannedRecipe;
use crate::tune::{make_plan, Plan, Planned};

#[derive(Serialize)]
struct PlanReport<'a> {
    model: &'a str,
    method: &'a str,
    suite: &'a str,
    /// The distinct input shapes the suite generates.
    input_shapes: Vec<String>,
    /// Sizes taken from the model instead of the suite's, and why.
    inferred: &'a [String],
    usable_cores: usize,
    /// The host profile (absent with --host-facts).
    host: Option<&'a HostProfile>,
    /// Every fact the rules were evaluated over.
    facts: &'a Facts,
    plan: &'a Plan,
    /// The expert's recipes a run measures first, or why each is ruled out.
    expert_recipes: Vec<PlannedRecipe>,
}

pub fn run(args: &PlanArgs) -> anyhow::Result<i32> {
    let planned = make_plan(&args.target.target(), args.host_facts.as_deref())?;
    if args.json {
        let report = PlanReport {
            model: &planned.model.path,
            method: &planned.model.method,
            suite: &planned.suite.name,
            input_shapes: input_shapes(&planned.suite),
            inferred: &planned.suite.inferred,
            facts: &planned.facts,
            usable_cores: planned.usable,
            host: planned.host.as_ref(),
            plan: &planned.plan,
            expert_recipes: planned.expert_recipes(crate::tune::Objective::Throughput),
        };
        super::json::print(super::json::schema::PLAN, &report)?;
    } else {
        print!("{}", render(&planned, args.limit));
    }
    Ok(exit_code::OK)
}

/// Each batch the suite generates, as its shape key and tensor shapes.
fn input_shapes(suite: &Suite) -> Vec<String> {
    suite_batches(suite)
        .unwrap_or_default()
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

/// What each argument of the entry method is fed, when it is not just the
/// inputs in order: `forward(x=input 0, sr=16000, gain=default)`.
fn call_text(planned: &Planned) -> Option<String> {
    use crate::suite::CallArg;
    let suite = &planned.suite;
    if suite.call.is_empty() {
        return None;
    }
    let entry = planned
        .model
        .methods
        .iter()
        .find(|m| m.name == planned.model.method)?;
    let args: Vec<String> = entry
        .arguments
        .iter()
        .zip(&suite.call)
        .map(|(arg, fed)| {
            let value = match fed {
                CallArg::Tensor(i) => format!("input {i}"),
                CallArg::Value(v) => v.text(),
                CallArg::Default => "default".into(),
                CallArg::List(items) | CallArg::Tuple(items) => {
                    let items: Vec<String> = items.iter().map(|i| format!("input {i}")).collect();
                    let (open, close) = if matches!(fed, CallArg::List(_)) {
                        ("[", "]")
                    } else {
                        ("(", ")")
                    };
                    format!("{open}{}{close}", items.join(", "))
                }
                CallArg::Dict(items) => {
                    let items: Vec<String> = items
                        .iter()
                        .map(|(k, i)| format!("{k}: input {i}"))
                        .collect();
                    format!("{{{}}}", items.join(", "))
                }
            };
            format!("{}={value}", arg.name)
        })
        .collect();
    Some(format!("{}({})", planned.model.method, args.join(", ")))
}

fn table(header: Vec<&str>, rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut t = crate::term::table();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    for row in rows {
        t.add_row(row);
    }
    format!("{t}\n")
}

/// The tables of what the rules did: domains, exclusions (by knob value
/// and by candidate), options, firings. Empty tables are left out, except
/// domains and firings.
fn rule_tables(plan: &Plan) -> String {
    let mut out = table(
        vec!["knob", "allowed values"],
        plan.domains
            .iter()
            .map(|(knob, values)| vec![knob.clone(), values.join(", ")]),
    );
    if !plan.exclusions.is_empty() {
        out += &table(
            vec!["knob", "value", "excluded because", "rule", "why"],
            plan.exclusions.iter().map(|e| {
                vec![
                    e.knob.clone(),
                    e.value.clone(),
                    e.how.clone(),
                    e.rule.clone(),
                    e.reason.clone(),
                ]
            }),
        );
    }
    if !plan.candidate_exclusions.is_empty() {
        out += &table(
            vec!["rule (over candidate knobs)", "candidates excluded"],
            plan.candidate_exclusions
                .iter()
                .map(|(rule, count)| vec![rule.clone(), count.to_string()]),
        );
    }
    if !plan.options.is_empty() {
        out += &table(
            vec!["option", "value", "rule"],
            plan.options.iter().map(|(option, (value, rule))| {
                vec![option.clone(), value.to_string(), rule.clone()]
            }),
        );
    }
    out + &table(
        vec!["rule fired", "severity", "facts", "actions"],
        plan.firings.iter().map(|f| {
            vec![
                f.rule.clone(),
                f.severity.name().to_string(),
                Observed::describe_all(&f.facts),
                f.actions.join("; "),
            ]
        }),
    )
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
    for inferred in &planned.suite.inferred {
        out += &format!("from the model: {inferred}\n");
    }
    if let Some(call) = call_text(planned) {
        out += &format!("call: {call}\n");
    }
    if !planned.model.assigned_attributes.is_empty() {
        out += &format!(
            "state: `{}` assigns {} between calls; every trial's outputs are compared from the state the model loaded with\n",
            planned.model.method,
            planned.model.assigned_attributes.join(", ")
        );
    }
    out += &rule_tables(plan);
    for conflict in &plan.conflicts {
        out += &format!("CONFLICT: {conflict}\n");
    }
    out += &table(
        vec![
            "expert recipe (measured first)",
            "layout",
            "config, or why not",
        ],
        planned
            .expert_recipes(crate::tune::Objective::Throughput)
            .into_iter()
            .map(|r| {
                vec![
                    r.recipe.to_string(),
                    r.layout,
                    r.label.or(r.excluded).unwrap_or_default(),
                ]
            }),
    );
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
