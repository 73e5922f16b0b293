//! The README's synopses against `--help`: every flag a command's `--help`
//! shows is in its synopsis, and every flag a synopsis names exists.
mod common;

use std::collections::BTreeSet;

use common::ipex_tune;

fn flags(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("--") {
        let tail = &rest[i + 2..];
        let len = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
            .unwrap_or(tail.len());
        if len > 0 {
            out.insert(format!("--{}", &tail[..len]));
        }
        rest = &tail[len..];
    }
    out
}

/// The flags of `ipex-tune COMMAND --help` (options lines only).
fn help_flags(command: &str) -> BTreeSet<String> {
    let out = ipex_tune().args([command, "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let options: String = help
        .lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ") + "\n")
        .collect();
    let mut set = flags(&options);
    set.remove("--help");
    set
}

/// The synopsis of `command` in the README: the lines of a code block
/// from `ipex-tune COMMAND ` up to the next line that is not indented.
fn synopsis_flags(readme: &str, command: &str) -> BTreeSet<String> {
    let start = format!("ipex-tune {command} ");
    let mut text = String::new();
    let mut inside = false;
    for line in readme.lines() {
        if line.starts_with(&start) && line.contains('[') {
            inside = true;
            text += line;
            continue;
        }
        if inside {
            if line.starts_with(' ') {
                text += line;
            } else {
                break;
            }
        }
    }
    assert!(!text.is_empty(), "no synopsis for {command}");
    flags(&text)
}

#[test]
fn synopses_list_exactly_the_flags_of_help() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for command in [
        "run", "plan", "profile", "doctor", "inspect", "report", "gate", "merge",
    ] {
        let help = help_flags(command);
        let synopsis = synopsis_flags(&readme, command);
        let missing: Vec<_> = help.difference(&synopsis).collect();
        let unknown: Vec<_> = synopsis.difference(&help).collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "{command}: README synopsis lacks {missing:?}, names unknown {unknown:?}"
        );
    }
}
