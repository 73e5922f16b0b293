//! docs/fleet.md's examples stay true: the YAML parses, the scripts pass
//! `bash -n`, the shard counts agree, and every ipex-tune flag they use is
//! one `--help` lists. (That the scheduler variables they name are the ones
//! ipex-tune reads is a unit test beside the reader, src/fleet/shard.rs.)
mod common;

use std::path::PathBuf;

use common::ipex_tune;
use serde_json::Value;

fn doc() -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/fleet.md"))
        .unwrap()
}

/// The fenced code blocks of `lang` ("" for plain fences), in order.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        match &mut current {
            None => {
                if let Some(tag) = line.trim().strip_prefix("```") {
                    current = Some((tag.to_string(), String::new()));
                }
            }
            Some((tag, block)) => {
                if line.trim() == "```" {
                    if tag == lang {
                        out.push(std::mem::take(block));
                    }
                    current = None;
                } else {
                    block.push_str(line);
                    block.push('\n');
                }
            }
        }
    }
    out
}

fn yaml(text: &str) -> Value {
    marked_yaml::from_yaml(0, text).expect("valid YAML")
}

#[test]
fn the_scripts_and_manifests_parse_and_agree_on_the_shard_count() {
    let text = doc();
    let scripts = blocks(&text, "bash");
    assert_eq!(scripts.len(), 2, "the Slurm array and its merge");
    let dir = tempfile::tempdir().unwrap();
    for (i, script) in scripts.iter().enumerate() {
        let path = dir.path().join(format!("script{i}.sh"));
        std::fs::write(&path, script).unwrap();
        let out = std::process::Command::new("bash")
            .arg("-n")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Slurm: an array of 3, the shard from its variables.
    assert!(scripts[0].contains("#SBATCH --array=1-3"));
    assert!(
        !scripts[0].contains("--shard "),
        "the array gives the shard"
    );
    assert!(scripts[1].contains("ipex-tune merge") && scripts[1].contains("ipex-tune gate"));

    let manifests = blocks(&text, "yaml");
    assert_eq!(manifests.len(), 3, "two Kubernetes Jobs, one workflow");
    let tune = yaml(&manifests[0]);
    let spec = &tune["spec"];
    assert_eq!(tune["kind"], "Job");
    assert_eq!(spec["completionMode"], "Indexed");
    let container = &spec["template"]["spec"]["containers"][0];
    let count = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "IPEX_TUNE_SHARD_COUNT")
        .expect("the shard count")["value"]
        .clone();
    // marked-yaml reads every scalar as a string.
    assert_eq!(
        count, spec["completions"],
        "IPEX_TUNE_SHARD_COUNT = completions"
    );
    let merge = yaml(&manifests[1]);
    assert_eq!(merge["kind"], "Job");
    let merge_args = merge["spec"]["template"]["spec"]["containers"][0]["args"][0]
        .as_str()
        .unwrap();
    assert!(merge_args.contains("ipex-tune merge") && merge_args.contains("ipex-tune gate"));

    let workflow = yaml(&manifests[2]);
    let shards = workflow["jobs"]["tune"]["strategy"]["matrix"]["shard"]
        .as_array()
        .unwrap()
        .len();
    let steps = workflow["jobs"]["tune"]["steps"].to_string();
    assert!(steps.contains(&format!("--shard ${{{{ matrix.shard }}}}/{shards}")));
    let merge_job = &workflow["jobs"]["merge"];
    assert_eq!(merge_job["needs"], "tune");
    assert!(merge_job["steps"].to_string().contains("ipex-tune merge"));
}

/// Every `ipex-tune COMMAND --flag` of the examples is a flag of that
/// command's `--help`.
#[test]
fn the_examples_use_only_real_flags() {
    let text = doc();
    let mut code: String = blocks(&text, "bash").concat();
    code += &blocks(&text, "yaml").concat();
    code += &blocks(&text, "").concat();
    let code = code.replace("\\\n", " ");
    let mut checked = 0;
    for command in code.split("ipex-tune ").skip(1) {
        let words: Vec<&str> = command
            .split(|c: char| c.is_whitespace() || c == '"' || c == '&')
            .filter(|w| !w.is_empty())
            .collect();
        let name = words[0];
        let help = ipex_tune().args([name, "--help"]).output().unwrap();
        assert!(help.status.success(), "ipex-tune {name} --help");
        let help = String::from_utf8_lossy(&help.stdout);
        // The words up to the end of the line that holds the command.
        let line = command.lines().next().unwrap_or("");
        for flag in line
            .split_whitespace()
            .filter(|w| w.starts_with("--"))
            .map(|w| w.split(['=', ']']).next().unwrap())
        {
            assert!(help.contains(flag), "ipex-tune {name} has no {flag}");
            checked += 1;
        }
    }
    assert!(checked > 15, "{checked} flags checked");
}
