//! Loading rule files (`rules/*.yaml`) with located validation: every
//! problem in every file is collected with its file, line and what was
//! expected, instead of stopping at the first.
//!
//! YAML is parsed with marked-yaml (over yaml-rust2), which keeps the line of
//! every node, so a mistake deep in a condition is reported where it is.
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use marked_yaml::types::MarkedMappingNode;
use marked_yaml::Node;

use super::condition::{parse_comparison, Condition};
use super::facts::{self, Facts, Kind, Value};
use super::knobs::{parse_value_spec, ValueSpec};
use super::rule::{Action, Examples, Rule, Severity, Source, OPTIONS};
use crate::config::Knob;

/// One mistake in a rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Every problem found while loading rules: one on one line, several one
/// per line under a count.
#[derive(Debug)]
pub struct LoadErrors(pub Vec<Problem>);

impl std::error::Error for LoadErrors {}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "in rule files: {one}"),
            many => {
                write!(f, "{} problem(s) in rule files:", many.len())?;
                for p in many {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}

struct Ctx<'a> {
    file: &'a Path,
    problems: Vec<Problem>,
}

fn line_of(node: &Node) -> usize {
    node.span().start().map(|m| m.line()).unwrap_or(0)
}

fn map_line(map: &MarkedMappingNode) -> usize {
    map.span().start().map(|m| m.line()).unwrap_or(0)
}

impl Ctx<'_> {
    fn problem(&mut self, line: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    fn scalar<'n>(
        &mut self,
        map: &'n MarkedMappingNode,
        key: &str,
        rule: &str,
    ) -> Option<(&'n str, usize)> {
        match map.get(key) {
            Some(Node::Scalar(s)) => Some((s.as_str(), line_of(map.get(key).unwrap()))),
            Some(other) => {
                self.problem(line_of(other), format!("{rule}: `{key}` must be a string"));
                None
            }
            None => {
                self.problem(map_line(map), format!("{rule}: missing `{key}`"));
                None
            }
        }
    }

    fn condition(&mut self, node: &Node, rule: &str) -> Option<Condition> {
        match node {
            Node::Scalar(s) => match parse_comparison(s.as_str(), line_of(node)) {
                Ok(cmp) => Some(Condition::Cmp(cmp)),
                Err(e) => {
                    self.problem(line_of(node), format!("{rule}: {e}"));
                    None
                }
            },
            Node::Sequence(items) => {
                let parsed: Vec<Option<Condition>> =
                    items.iter().map(|n| self.condition(n, rule)).collect();
                parsed
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Condition::All)
            }
            Node::Mapping(map) => {
                if map.len() != 1 {
                    self.problem(
                        line_of(node),
                        format!("{rule}: a condition mapping has exactly one key: all, any or not"),
                    );
                    return None;
                }
                let (key, value) = map.iter().next().unwrap();
                match key.as_str() {
                    "all" | "any" => {
                        let Node::Sequence(items) = value else {
                            self.problem(
                                line_of(value),
                                format!("{rule}: `{}` expects a list of conditions", key.as_str()),
                            );
                            return None;
                        };
                        let parsed: Vec<Option<Condition>> =
                            items.iter().map(|n| self.condition(n, rule)).collect();
                        let items = parsed.into_iter().collect::<Option<Vec<_>>>()?;
                        Some(if key.as_str() == "all" {
                            Condition::All(items)
                        } else {
                            Condition::Any(items)
                        })
                    }
                    "not" => self
                        .condition(value, rule)
                        .map(|c| Condition::Not(Box::new(c))),
                    other => {
                        self.problem(
                            line_of(node),
                            format!("{rule}: unknown condition '{other}'; expected all, any, not or a comparison string"),
                        );
                        None
                    }
                }
            }
        }
    }

    fn knob_values(&mut self, knob: Knob, node: &Node, rule: &str) -> Vec<ValueSpec> {
        let texts: Vec<(String, usize)> = match node {
            Node::Scalar(s) => vec![(s.as_str().to_string(), line_of(node))],
            Node::Sequence(items) => items
                .iter()
                .filter_map(|n| n.as_scalar().map(|s| (s.as_str().to_string(), line_of(n))))
                .collect(),
            Node::Mapping(_) => {
                self.problem(
                    line_of(node),
                    format!("{rule}: {knob} expects a value or a list of values"),
                );
                return Vec::new();
            }
        };
        texts
            .into_iter()
            .filter_map(|(text, line)| match parse_value_spec(knob, &text) {
                Ok(spec) => Some(spec),
                Err(e) => {
                    self.problem(line, format!("{rule}: bad value: {e}"));
                    None
                }
            })
            .collect()
    }

    /// `diagnose: MESSAGE`.
    fn diagnose(&mut self, body: &Node, rule: &str) -> Option<Action> {
        match body.as_scalar() {
            Some(text) if !text.as_str().trim().is_empty() => {
                Some(Action::Diagnose(text.as_str().trim().to_string()))
            }
            _ => {
                self.problem(
                    line_of(body),
                    format!("{rule}: `diagnose` expects a message"),
                );
                None
            }
        }
    }

    /// One `set: {OPTION: VALUE}` entry, checked against [`OPTIONS`].
    fn set_option(&mut self, name: &str, value: &Node, rule: &str) -> Option<Action> {
        let line = line_of(value);
        let Some((_, allowed)) = OPTIONS.iter().find(|(o, _)| *o == name) else {
            let known: Vec<&str> = OPTIONS.iter().map(|(o, _)| *o).collect();
            self.problem(
                line,
                format!(
                    "{rule}: unknown option '{name}'; expected one of {}",
                    known.join(", ")
                ),
            );
            return None;
        };
        let text = value.as_scalar().map(|s| s.as_str()).unwrap_or("");
        let numeric_threads = name == "calibration.threads" && text.parse::<u32>().is_ok();
        if !(allowed.contains(&text) || numeric_threads) {
            self.problem(
                line,
                format!(
                    "{rule}: bad value '{text}' for {name}; expected one of {}",
                    allowed.join(", ")
                ),
            );
            return None;
        }
        Some(Action::Set {
            option: name.to_string(),
            value: typed_value(Kind::Any, text),
        })
    }

    /// One `forbid|require|prefer: {KNOB: VALUES}` entry.
    fn knob_action(
        &mut self,
        (verb, verb_line): (&str, usize),
        name: &str,
        value: &Node,
        rule: &str,
    ) -> Option<Action> {
        let line = line_of(value);
        let knob = match Knob::parse(name) {
            Ok(knob) => knob,
            Err(e) => {
                self.problem(line, format!("{rule}: {e}"));
                return None;
            }
        };
        let values = self.knob_values(knob, value, rule);
        if values.is_empty() {
            return None;
        }
        match verb {
            "forbid" => Some(Action::Forbid { knob, values }),
            "prefer" => Some(Action::Prefer { knob, values }),
            "require" if values.len() == 1 => Some(Action::Require {
                knob,
                value: values.into_iter().next().expect("one value"),
            }),
            "require" => {
                self.problem(line, format!("{rule}: require takes one value for {knob}"));
                None
            }
            other => {
                self.problem(
                    verb_line,
                    format!("{rule}: unknown action '{other}'; expected forbid, require, prefer, set or diagnose"),
                );
                None
            }
        }
    }

    fn actions(&mut self, node: &Node, rule: &str) -> Vec<Action> {
        let Node::Mapping(map) = node else {
            self.problem(
                line_of(node),
                format!("{rule}: `then` expects forbid, require, prefer, set and/or diagnose"),
            );
            return Vec::new();
        };
        let mut actions = Vec::new();
        for (verb, body) in map.iter() {
            if verb.as_str() == "diagnose" {
                actions.extend(self.diagnose(body, rule));
                continue;
            }
            let Node::Mapping(entries) = body else {
                self.problem(
                    line_of(body),
                    format!(
                        "{rule}: `{}` expects a mapping of knob: value",
                        verb.as_str()
                    ),
                );
                continue;
            };
            for (name, value) in entries.iter() {
                let action = if verb.as_str() == "set" {
                    self.set_option(name.as_str(), value, rule)
                } else {
                    self.knob_action((verb.as_str(), line_of(body)), name.as_str(), value, rule)
                };
                actions.extend(action);
            }
        }
        if actions.is_empty() && self.problems.is_empty() {
            self.problem(line_of(node), format!("{rule}: `then` has no action"));
        }
        actions
    }

    fn facts(&mut self, node: Option<&Node>, rule: &str, what: &str, line: usize) -> Facts {
        let mut facts = Facts::new();
        let Some(node) = node else {
            self.problem(
                line,
                format!("{rule}: examples need `{what}` (facts that make the rule {what})"),
            );
            return facts;
        };
        let Node::Mapping(map) = node else {
            self.problem(
                line_of(node),
                format!("{rule}: examples.{what} expects a mapping of fact: value"),
            );
            return facts;
        };
        for (name, value) in map.iter() {
            let Some(spec) = facts::lookup(name.as_str()) else {
                self.problem(
                    line_of(value),
                    format!(
                        "{rule}: unknown fact '{}' in examples.{what}",
                        name.as_str()
                    ),
                );
                continue;
            };
            let text = value.as_scalar().map(|s| s.as_str()).unwrap_or("");
            let v = typed_value(spec.kind, text);
            if spec.kind != Kind::Any && v.kind() != spec.kind {
                self.problem(
                    line_of(value),
                    format!(
                        "{rule}: bad value '{text}' for {}: expected {}",
                        name.as_str(),
                        spec.kind.name()
                    ),
                );
                continue;
            }
            facts.set(name.as_str(), v);
        }
        facts
    }
}

/// A YAML scalar as a fact value of `kind`.
fn typed_value(kind: Kind, text: &str) -> Value {
    match (kind, text) {
        (Kind::Bool | Kind::Any, "true") => Value::Bool(true),
        (Kind::Bool | Kind::Any, "false") => Value::Bool(false),
        (Kind::Str, _) => Value::Str(text.to_string()),
        _ => text
            .parse::<f64>()
            .map(Value::Num)
            .unwrap_or_else(|_| Value::Str(text.to_string())),
    }
}

fn is_kebab_case(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

const RULE_FIELDS: &[&str] = &[
    "id", "title", "source", "severity", "when", "then", "explain", "examples",
];

/// Reports every key of a rule that is not a rule field.
fn unknown_fields(ctx: &mut Ctx, map: &MarkedMappingNode, line: usize) {
    for key in map.keys() {
        if !RULE_FIELDS.contains(&key.as_str()) {
            ctx.problem(
                key.span().start().map(|m| m.line()).unwrap_or(line),
                format!(
                    "unknown field '{}'; expected one of {}",
                    key.as_str(),
                    RULE_FIELDS.join(", ")
                ),
            );
        }
    }
}

/// The rule's id (checked kebab-case), or a stand-in naming its line.
fn rule_id(ctx: &mut Ctx, map: &MarkedMappingNode, line: usize) -> String {
    match ctx.scalar(map, "id", "rule") {
        Some((id, id_line)) => {
            if !is_kebab_case(id) {
                ctx.problem(
                    id_line,
                    format!("bad id '{id}': expected kebab-case (lowercase words joined by '-')"),
                );
            }
            id.to_string()
        }
        None => format!("rule at line {line}"),
    }
}

fn source(ctx: &mut Ctx, map: &MarkedMappingNode, id: &str, line: usize) -> Option<Source> {
    match map.get("source") {
        Some(Node::Mapping(src)) => {
            let section = ctx.scalar(src, "section", id).map(|(s, _)| s.to_string());
            let releases = ctx.scalar(src, "releases", id).map(|(s, _)| s.to_string());
            let text = ctx.scalar(src, "text", id).map(|(s, _)| s.to_string());
            Some(Source {
                section: section?,
                releases: releases?,
                text: text?,
            })
        }
        Some(other) => {
            ctx.problem(
                line_of(other),
                format!("{id}: `source` expects section, releases and text"),
            );
            None
        }
        None => {
            ctx.problem(
                line,
                format!("{id}: missing `source` (section, releases, text)"),
            );
            None
        }
    }
}

fn examples(ctx: &mut Ctx, map: &MarkedMappingNode, id: &str, line: usize) -> Examples {
    match map.get("examples") {
        Some(Node::Mapping(ex)) => {
            let ex_line = map_line(ex);
            Examples {
                fires: ctx.facts(ex.get("fires"), id, "fires", ex_line),
                holds: ctx.facts(ex.get("holds"), id, "holds", ex_line),
            }
        }
        _ => {
            ctx.problem(
                line,
                format!("{id}: missing `examples` (fires: facts, holds: facts)"),
            );
            Examples::default()
        }
    }
}

/// Parses one rule, reporting every problem with its line; None when it
/// has any.
fn parse_rule(ctx: &mut Ctx, node: &Node) -> Option<Rule> {
    let Node::Mapping(map) = node else {
        ctx.problem(line_of(node), "a rule must be a mapping with id, title, source, severity, when, then, explain, examples");
        return None;
    };
    let line = map_line(map);
    let before = ctx.problems.len();
    unknown_fields(ctx, map, line);
    let id = rule_id(ctx, map, line);
    let title = ctx.scalar(map, "title", &id).map(|(s, _)| s.to_string());
    let explain = ctx
        .scalar(map, "explain", &id)
        .map(|(s, _)| s.trim().to_string());
    let severity = ctx.scalar(map, "severity", &id).and_then(|(s, l)| {
        Severity::parse(s).or_else(|| {
            ctx.problem(
                l,
                format!("{id}: bad severity '{s}'; expected info, warn or fail"),
            );
            None
        })
    });
    let source = source(ctx, map, &id, line);
    let when = match map.get("when") {
        Some(node) => ctx.condition(node, &id),
        None => {
            ctx.problem(line, format!("{id}: missing `when`"));
            None
        }
    };
    let actions = match map.get("then") {
        Some(node) => ctx.actions(node, &id),
        None => {
            ctx.problem(line, format!("{id}: missing `then`"));
            Vec::new()
        }
    };
    let examples = examples(ctx, map, &id, line);
    if ctx.problems.len() > before {
        return None;
    }
    Some(Rule {
        id,
        title: title?,
        source: source?,
        severity: severity?,
        when: when?,
        actions,
        explain: explain?,
        examples,
        file: ctx.file.to_path_buf(),
        line,
    })
}

/// Parses one rule file's text: a mapping with a `rules:` list.
pub fn parse_file(file: &Path, text: &str) -> (Vec<Rule>, Vec<Problem>) {
    let mut ctx = Ctx {
        file,
        problems: Vec::new(),
    };
    let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
    let root = match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(root) => root,
        Err(e) => {
            let line = yaml_error_line(&e);
            ctx.problem(line, format!("not valid YAML: {e}"));
            return (Vec::new(), ctx.problems);
        }
    };
    let rules_node = match &root {
        Node::Mapping(map) => map.get("rules"),
        _ => None,
    };
    let Some(Node::Sequence(items)) = rules_node else {
        ctx.problem(line_of(&root), "expected a mapping with a `rules:` list");
        return (Vec::new(), ctx.problems);
    };
    let rules = items
        .iter()
        .filter_map(|n| parse_rule(&mut ctx, n))
        .collect();
    (rules, ctx.problems)
}

fn yaml_error_line(e: &marked_yaml::LoadError) -> usize {
    use marked_yaml::LoadError::*;
    match e {
        TopLevelMustBeMapping(m)
        | TopLevelMustBeSequence(m)
        | UnexpectedAnchor(m)
        | MappingKeyMustBeScalar(m)
        | UnexpectedTag(m)
        | ScanError(m, _) => m.line(),
        DuplicateKey(inner) => inner.key.span().start().map(|m| m.line()).unwrap_or(0),
    }
}

/// A problem for every rule whose id an earlier rule already uses.
pub fn duplicate_ids(rules: &[Rule]) -> Vec<Problem> {
    let mut seen: HashMap<&str, (&Path, usize)> = HashMap::new();
    let mut problems = Vec::new();
    for rule in rules {
        if let Some((file, line)) = seen.get(rule.id.as_str()) {
            problems.push(Problem {
                file: rule.file.clone(),
                line: rule.line,
                message: format!(
                    "duplicate id '{}' (first defined at {}:{line})",
                    rule.id,
                    file.display()
                ),
            });
        } else {
            seen.insert(&rule.id, (&rule.file, rule.line));
        }
    }
    problems
}

/// Loads every `*.yaml` file of the given directories (in name order).
/// Ids must be unique across all of them.
pub fn load_dirs(dirs: &[PathBuf]) -> Result<Vec<Rule>, LoadErrors> {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                problems.push(Problem {
                    file: dir.clone(),
                    line: 0,
                    message: format!("cannot read the rule directory: {e}"),
                });
                continue;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    let (mut parsed, mut found) = parse_file(&file, &text);
                    rules.append(&mut parsed);
                    problems.append(&mut found);
                }
                Err(e) => problems.push(Problem {
                    file: file.clone(),
                    line: 0,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
    }
    problems.extend(duplicate_ids(&rules));
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(LoadErrors(problems))
    }
}

#[cfg(test)]
mod tests;
