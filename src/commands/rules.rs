//! `ipex-tune rules list | explain ID | check [DIR] | facts`.
use comfy_table::presets::UTF8_FULL_CONDENSED;

use super::json;
use crate::cli::{RulesArgs, RulesCommand};
use crate::error::{exit_code, UserError};
use crate::rules::{self, engine, facts, load, Rule};

pub fn run(args: &RulesArgs) -> anyhow::Result<i32> {
    match &args.command {
        RulesCommand::List if args.json => {
            let rules = rules::load(&args.rules)?;
            let list: Vec<RuleJson> = rules.iter().map(RuleJson::from).collect();
            json::print(
                json::schema::RULES_LIST,
                &serde_json::json!({ "rules": list }),
            )?;
            Ok(exit_code::OK)
        }
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
            if args.json {
                json::print(json::schema::RULES_EXPLAIN, &RuleJson::from(rule))?;
            } else {
                print!("{}", render_explain(rule));
            }
            Ok(exit_code::OK)
        }
        RulesCommand::Check { dir } => check(dir.as_deref(), args.json),
        RulesCommand::Facts if args.json => {
            let list: Vec<serde_json::Value> = facts::REGISTRY
                .iter()
                .map(|spec| {
                    serde_json::json!({
                        "name": spec.name,
                        "prefix": spec.name.ends_with('.'),
                        "type": spec.kind.name(),
                        "meaning": spec.doc,
                    })
                })
                .collect();
            json::print(
                json::schema::RULES_FACTS,
                &serde_json::json!({ "facts": list }),
            )?;
            Ok(exit_code::OK)
        }
        RulesCommand::Facts => {
            let mut t = crate::term::table();
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

/// A rule as `rules list --json` and `rules explain --json` print it.
#[derive(serde::Serialize)]
struct RuleJson {
    id: String,
    title: String,
    severity: &'static str,
    source: serde_json::Value,
    when: String,
    then: Vec<String>,
    explain: String,
    examples: serde_json::Value,
    file: String,
    line: usize,
}

impl From<&Rule> for RuleJson {
    fn from(r: &Rule) -> RuleJson {
        RuleJson {
            id: r.id.clone(),
            title: r.title.clone(),
            severity: r.severity.name(),
            source: serde_json::json!({
                "section": r.source.section,
                "releases": r.source.releases,
                "text": r.source.text,
            }),
            when: r.when.to_string(),
            then: r.actions.iter().map(|a| a.to_string()).collect(),
            explain: r.explain.clone(),
            examples: serde_json::json!({
                "fires": r.examples.fires,
                "holds": r.examples.holds,
            }),
            file: r.file.display().to_string(),
            line: r.line,
        }
    }
}

/// Validates a directory (the bundled rules when none is given) and runs
/// every rule's examples. Problems go to stdout with file:line (or as JSON);
/// exit 1 when any.
fn check(dir: Option<&std::path::Path>, as_json: bool) -> anyhow::Result<i32> {
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
    let problem_json = |file: String, line: usize, message: String| serde_json::json!({ "file": file, "line": line, "message": message });
    let rules = match loaded {
        Ok(rules) => rules,
        Err(load::LoadErrors(problems)) => {
            if as_json {
                let list: Vec<_> = problems
                    .iter()
                    .map(|p| problem_json(p.file.display().to_string(), p.line, p.message.clone()))
                    .collect();
                json::print(
                    json::schema::RULES_CHECK,
                    &serde_json::json!({ "passed": false, "rules": 0, "problems": list }),
                )?;
            } else {
                for p in &problems {
                    println!("{p}");
                }
                println!("{} problem(s)", problems.len());
            }
            return Ok(exit_code::VERDICT_FAILED);
        }
    };
    let mut failures = Vec::new();
    for rule in &rules {
        if let Err(e) = engine::check_examples(rule, &facts::Facts::new()) {
            failures.push(problem_json(
                rule.file.display().to_string(),
                rule.line,
                e.to_string(),
            ));
        }
    }
    if as_json {
        json::print(
            json::schema::RULES_CHECK,
            &serde_json::json!({
                "passed": failures.is_empty(),
                "rules": rules.len(),
                "problems": failures,
            }),
        )?;
        return Ok(if failures.is_empty() {
            exit_code::OK
        } else {
            exit_code::VERDICT_FAILED
        });
    }
    for f in &failures {
        println!(
            "{}:{}: {}",
            f["file"].as_str().unwrap_or(""),
            f["line"],
            f["message"].as_str().unwrap_or("")
        );
    }
    let failures = failures.len();
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
    let mut t = crate::term::table();
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
