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

/// The sibling files a file of `folder` names (`super::NAME`, or
/// `crate::PATH::NAME` for the folder's own path), other than itself.
fn sibling_uses(folder: &Path, file: &Path, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let own = folder
        .strip_prefix(src())
        .unwrap()
        .to_string_lossy()
        .replace('/', "::");
    let me = file.file_stem().unwrap().to_string_lossy().to_string();
    let mut used = BTreeSet::new();
    for prefix in ["super::".to_string(), format!("crate::{own}::")] {
        for (i, _) in text.match_indices(&prefix) {
            let rest = &text[i + prefix.len()..];
            let mut heads = vec![rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(0)];
                heads.extend(group.split(',').map(|part| {
                    part.trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect::<String>()
                }));
            }
            used.extend(
                heads
                    .into_iter()
                    .filter(|h| siblings.contains(h) && *h != me),
            );
        }
    }
    used
}

/// Inside every folder, the files' imports of each other form no circle
/// (a piece two files share lives below both).
#[test]
fn no_circle_inside_a_folder() {
    let mut folders = vec![src()];
    let mut problems = Vec::new();
    while let Some(folder) = folders.pop() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
        let name = |p: &Path| p.file_stem().unwrap().to_string_lossy().to_string();
        let siblings: BTreeSet<String> = files
            .iter()
            .map(|p| name(p))
            .filter(|n| n != "mod" && n != "main")
            .collect();
        let edges: Vec<(String, BTreeSet<String>)> = files
            .iter()
            .filter(|p| siblings.contains(&name(p)))
            .map(|p| (name(p), sibling_uses(&folder, p, &siblings)))
            .collect();
        let targets = |from: &str| {
            edges
                .iter()
                .find(|(n, _)| n == from)
                .map(|(_, t)| t.clone())
                .unwrap_or_default()
        };
        // A circle: a file reachable from one of its own imports.
        for (from, direct) in &edges {
            let mut seen = BTreeSet::new();
            let mut stack: Vec<String> = direct.iter().cloned().collect();
            while let Some(next) = stack.pop() {
                if next == *from {
                    problems.push(format!(
                        "{}: {from} is in an import circle",
                        folder.display()
                    ));
                    break;
                }
                if seen.insert(next.clone()) {
                    stack.extend(targets(&next));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
