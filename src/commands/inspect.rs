//! `ipex-tune inspect MODEL [--method NAME] [--json]`.
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use crate::backend::ipex_library as ipex;
use crate::cli::InspectArgs;
use crate::error::exit_code;
use crate::model::{load_module_for_facts, ModelFacts, TensorSummary};
use crate::suite::arguments::fed_text;

pub fn run(args: &InspectArgs) -> anyhow::Result<i32> {
    let module = match load_module_for_facts(&args.model) {
        Ok(module) => module,
        // A model saved after IPEX's optimizations holds IPEX ops, which only
        // resolve once the IPEX library has registered them.
        Err(e) if e.to_string().contains("ipex") => {
            ipex::load()?;
            load_module_for_facts(&args.model)?
        }
        Err(e) => return Err(e.into()),
    };
    let facts = ModelFacts::read(&args.model, &module, &args.method)?;
    if args.json {
        super::json::print(super::json::schema::INSPECT, &facts)?;
    } else {
        print!("{}", render(&facts));
        if args.graph {
            println!("Inlined graph of `{}`:", args.method);
            print!("{}", module.graph_text(&args.method, true)?);
        }
    }
    Ok(exit_code::OK)
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn dtypes(summary: &TensorSummary) -> String {
    summary
        .dtypes
        .iter()
        .map(|(dtype, count)| format!("{dtype} x{count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn table(header: &[&str]) -> Table {
    let mut t = crate::term::table();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

/// The human-readable form: one table per kind of fact.
pub fn render(facts: &ModelFacts) -> String {
    let mut out = format!(
        "Model {} ({}), entry method `{}`\n",
        facts.path,
        human_bytes(facts.file_bytes),
        facts.method
    );

    let mut methods = table(&["method", "arguments", "returns"]);
    for m in &facts.methods {
        let args = m
            .arguments
            .iter()
            .map(|a| format!("{}: {}", a.name, a.type_name))
            .collect::<Vec<_>>()
            .join(", ");
        methods.add_row(vec![m.name.clone(), args, m.returns.join(", ")]);
    }
    out += &format!("{methods}\n");

    if let Some(entry) = facts.methods.iter().find(|m| m.name == facts.method) {
        let mut arguments = table(&["argument", "type", "what run feeds it"]);
        for (index, arg) in entry.arguments.iter().enumerate() {
            let hint = facts.input_hints.iter().find(|h| h.index == index);
            arguments.add_row(vec![
                arg.name.clone(),
                arg.type_name.clone(),
                fed_text(arg, hint),
            ]);
        }
        out += &format!("{arguments}\n");
    }

    let mut tensors = table(&["", "tensors", "elements", "bytes", "dtypes"]);
    for (name, s) in [
        ("parameters", &facts.parameters),
        ("buffers", &facts.buffers),
    ] {
        tensors.add_row(vec![
            Cell::new(name),
            Cell::new(s.tensors).set_alignment(CellAlignment::Right),
            Cell::new(s.count).set_alignment(CellAlignment::Right),
            Cell::new(human_bytes(s.bytes)).set_alignment(CellAlignment::Right),
            Cell::new(dtypes(s)),
        ]);
    }
    out += &format!("{tensors}\n");

    let mut groups = table(&["op group", "count"]);
    for (group, count) in &facts.op_groups {
        groups.add_row(vec![
            Cell::new(group),
            Cell::new(count).set_alignment(CellAlignment::Right),
        ]);
    }
    out += &format!("{groups}\n");

    let cf = &facts.control_flow;
    let mut flow = table(&["control flow", "count"]);
    for (what, count) in [
        ("prim::If (all)", cf.if_count),
        ("  raise-only guards", cf.raise_only_if),
        ("  data-dependent", cf.data_dependent_if),
        ("prim::Loop (all)", cf.loop_count),
        ("  data-dependent", cf.data_dependent_loop),
    ] {
        flow.add_row(vec![
            Cell::new(what),
            Cell::new(count).set_alignment(CellAlignment::Right),
        ]);
    }
    out += &format!("{flow}\n");

    let mut ops = table(&["op kind", "count"]);
    let mut sorted: Vec<_> = facts.ops.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (kind, count) in sorted {
        ops.add_row(vec![
            Cell::new(kind),
            Cell::new(count).set_alignment(CellAlignment::Right),
        ]);
    }
    out += &format!("{ops}\n");
    out += &format!(
        "IPEX ops in the graph: {}\n",
        if facts.ipex_ops.is_empty() {
            "none".to_string()
        } else {
            facts.ipex_ops.join(", ")
        }
    );
    out
}
