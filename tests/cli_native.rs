//! The command line as a shell user meets it: completions, the man page and
//! `--version`.
mod common;

use common::ipex_tune;

fn stdout_of(args: &[&str]) -> String {
    let out = ipex_tune().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        for word in ["run", "doctor", "gate", "suite", "max-regression"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
        insta::assert_snapshot!(format!("completions_{shell}"), script);
    }
}

#[test]
fn bash_accepts_the_bash_completions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ipex-tune.bash");
    std::fs::write(&file, stdout_of(&["completions", "bash"])).unwrap();
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_man_page_names_every_command() {
    let page = stdout_of(&["man"]);
    assert!(page.starts_with(".ie") || page.contains(".TH ipex-tune 1"));
    for command in [
        "doctor",
        "inspect",
        "plan",
        "run",
        "report",
        "gate",
        "rules",
        "completions",
    ] {
        assert!(page.contains(command), "the man page lacks {command}");
    }
}

#[test]
fn version_names_the_commit_and_the_torch_stack() {
    let version = stdout_of(&["--version"]);
    assert!(version.starts_with("ipex-tune 0.1.0 (git "), "{version}");
    assert!(version.contains("libtorch 2.7.0"), "{version}");
    assert!(version.contains("IPEX "), "{version}");
}
