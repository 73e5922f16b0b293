//! `ipex-tune inspect MODEL [--method NAME] [--json]`.
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use crate::backend::ipex_library as ipex;
use crate::cli::InspectArgs;
use crate::error::exit_code;
use crate::model::pt2::ProgramFacts;
use crate::model::{load_module_for_facts, ModelFacts, TensorSummary};
use crate::suite::arguments::fed_text;

pub fn run(args: &InspectArgs) -> anyhow::Result<i32> {
    let file = crate::model::pt2::resolve(&args.model)?;
    let module = match load_module_for_facts(&file.torchscript) {
        Ok(module) => module,
        // A model saved after IPEX's optimizations holds IPEX ops, which only
        // resolve once the IPEX library has registered them.
        Err(e) if e.to_string().contains("ipex") => {
            ipex::load()?;
            load_module_for_facts(&file.torchscript)?
        }
        Err(e) => return Err(e.into()),
    };
    let facts = ModelFacts::read_file(&args.model, &file, &module, &args.method)?;
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

/// What a `.pt2` program is beside its trace's facts.
fn program_text(program: &ProgramFacts) -> String {
    let inputs = program
        .example_inputs
        .iter()
        .map(|i| {
            let sizes: Vec<String> = i.sizes.iter().map(|s| s.to_string()).collect();
            format!("{} {}", sizes.join("x"), i.dtype)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let dynamic = if program.dynamic_dims.is_empty() {
        "none (the program takes its example's sizes only)".to_string()
    } else {
        program
            .dynamic_dims
            .iter()
            .map(|d| {
                let max = d.max.map_or("inf".to_string(), |m| m.to_string());
                let min = d.min.map_or("?".to_string(), |m| m.to_string());
                format!(
                    "input {} dim {} ({}) in [{min}, {max}]",
                    d.input, d.dim, d.symbol
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    format!(
        "Program: {} ({} ops, {} output(s)), example inputs {inputs}; dynamic dims: {dynamic}\n\
         Runs as: stock and ipex on its TorchScript trace {}; inductor compiles the program\n",
        program.format, program.graph_nodes, program.outputs, program.torchscript
    )
}

/// The human-readable form: one table per kind of fact.
pub fn render(facts: &ModelFacts) -> String {
    let mut out = format!(
        "Model {} ({}), entry method `{}`\n",
        facts.path,
        human_bytes(facts.file_bytes),
        facts.method
    );

    if let Some(program) = &facts.program {
        out += &program_text(program);
    }

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
    if !facts.assigned_attributes.is_empty() {
        out += &format!(
            "State kept between calls: {} (assigned by `{}`; run compares every trial's outputs from the state the model loaded with)\n",
            facts.assigned_attributes.join(", "),
            facts.method
        );
    }
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
