//! The layering of ARCHITECTURE.md, checked on the source: src/main.rs
//! declares the top-level modules in pipeline order, and no module may use
//! one declared after it (no cycles, no reaching into a later stage).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `mod NAME;` lines of main.rs, in order.
fn declared_order() -> Vec<String> {
    std::fs::read_to_string(src().join("main.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a module's files name as `crate::X`.
fn uses(module: &str) -> BTreeSet<String> {
    let mut files = Vec::new();
    let dir = src().join(module);
    if dir.is_dir() {
        rust_files(&dir, &mut files);
    } else {
        files.push(src().join(format!("{module}.rs")));
    }
    let mut used = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                used.insert(name);
            }
            // `use crate::{a, b::c}`
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(0)];
                for part in group.split(',') {
                    let head: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !head.is_empty() {
                        used.insert(head);
                    }
                }
            }
        }
    }
    used.remove(module);
    used
}

#[test]
fn no_module_uses_a_later_stage() {
    let order = declared_order();
    assert!(order.len() > 10, "{order:?}");
    let mut problems = Vec::new();
    for (i, module) in order.iter().enumerate() {
        for used in uses(module) {
            match order.iter().position(|m| *m == used) {
                Some(j) if j > i => problems.push(format!("{module} uses {used}, a later stage")),
                Some(_) => {}
                None => problems.push(format!("{module} uses crate::{used}, not a module")),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
