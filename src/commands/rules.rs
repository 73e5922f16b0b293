//! `ipex-tune rules list | explain ID | check [DIR] | facts`.
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use crate::cli::{RulesArgs, RulesCommand};
use crate::error::{exit_code, UserError};
use crate::rules::{self, engine, facts, load, Rule};

pub fn run(args: &RulesArgs) -> anyhow::Result<i32> {
    match &args.command {
        RulesCommand::List => {
            let rules = rules::load(&args.rules)?;
            print!("{}", render_list(&rules));
            Ok(exit_code::OK)
        }
        RulesCommand::Explain { id } => {
            let rules = rules::load(&args.rules)?;
            let rule = rules.iter().find(|r| &r.id == id).ok_or_else(|| {
                UserError::BadValue(format!(
                    "unknown rule '{id}'; `ipex-tune rules list` shows the ids"
                ))
            })?;
            print!("{}", render_explain(rule));
            Ok(exit_code::OK)
        }
        RulesCommand::Check { dir } => check(dir.as_deref()),
        RulesCommand::Facts => {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED)
                .set_header(vec!["fact", "type", "meaning"]);
            for spec in facts::REGISTRY {
                let name = if spec.name.ends_with('.') {
                    format!("{}*", spec.name)
                } else {
                    spec.name.to_string()
                };
                t.add_row(vec![
                    name,
                    spec.kind.name().to_string(),
                    spec.doc.to_string(),
                ]);
            }
            println!("{t}");
            Ok(exit_code::OK)
        }
    }
}

/// Validates a directory (the bundled rules when none is given) and runs
/// every rule's examples. Problems go to stdout with file:line; exit 1 when any.
fn check(dir: Option<&std::path::Path>) -> anyhow::Result<i32> {
    let loaded = match dir {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(UserError::BadValue(format!(
                    "{}: not a directory of rule files",
                    dir.display()
                ))
                .into());
            }
            load::load_dirs(&[dir.to_path_buf()])
        }
        None => rules::load(&[]),
    };
    let rules = match loaded {
        Ok(rules) => rules,
        Err(load::LoadErrors(problems)) => {
            for p in &problems {
                println!("{p}");
            }
            println!("{} problem(s)", problems.len());
            return Ok(exit_code::VERDICT_FAILED);
        }
    };
    let mut failures = 0;
    for rule in &rules {
        if let Err(e) = engine::check_examples(rule, &facts::Facts::new()) {
            println!("{}:{}: {e}", rule.file.display(), rule.line);
            failures += 1;
        }
    }
    println!(
        "{} rule(s) checked, {} example failure(s)",
        rules.len(),
        failures
    );
    Ok(if failures == 0 {
        exit_code::OK
    } else {
        exit_code::VERDICT_FAILED
    })
}

fn render_list(rules: &[Rule]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["id", "severity", "source", "title"]);
    for r in rules {
        t.add_row(vec![
            r.id.clone(),
            r.severity.name().to_string(),
            format!("{} ({})", r.source.section, r.source.releases),
            r.title.clone(),
        ]);
    }
    format!("{t}\n{} rules\n", rules.len())
}

/// One rule in full.
pub fn render_explain(rule: &Rule) -> String {
    let actions = rule
        .actions
        .iter()
        .map(|a| format!("  - {a}"))
        .collect::<Vec<_>>()
        .join("\n");
    let fmt_facts = |f: &facts::Facts| {
        f.0.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{id}: {title}\n\
         severity: {severity}\n\
         source:   {section} ({releases})\n\
         \x20         \"{text}\"\n\
         when:     {when}\n\
         then:\n{actions}\n\
         examples: fires on {fires}; holds on {holds}\n\
         defined:  {file}:{line}\n\n\
         {explain}\n",
        id = rule.id,
        title = rule.title,
        severity = rule.severity.name(),
        section = rule.source.section,
        releases = rule.source.releases,
        text = rule.source.text,
        when = rule.when,
        fires = fmt_facts(&rule.examples.fires),
        holds = fmt_facts(&rule.examples.holds),
        file = rule.file.display(),
        line = rule.line,
        explain = textwrap(&rule.explain, 78),
    )
}

fn textwrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            out += &line;
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line += word;
    }
    out + &line
}
