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

/// Colour only where asked for: never in a pipe or with NO_COLOR, and
/// CLICOLOR_FORCE=1 forces it (for tools that keep coloured logs).
#[test]
fn colour_follows_no_color_and_clicolor_force() {
    let host = common::fixture("hosts/epyc-avx512bf16-2core.json");
    let doctor = |env: &[(&str, &str)]| {
        let mut cmd = ipex_tune();
        cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .arg("doctor")
            .arg("--host-facts")
            .arg(&host)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(!doctor(&[]).contains('\x1b'), "a pipe gets no escape codes");
    assert!(doctor(&[("CLICOLOR_FORCE", "1")]).contains("\x1b["));
    assert!(!doctor(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'));
}

/// `run`'s progress on stderr (not a terminal here: plain lines): trial k
/// of the planned count with the budget left, and one result line per
/// finished trial.
#[test]
fn run_shows_trial_k_of_n_and_a_line_per_finished_trial() {
    let dir = tempfile::tempdir().unwrap();
    let t = common::host::all_threads();
    let out = ipex_tune()
        .arg("run")
        .arg(common::fixture("mlp.pt"))
        .args(["--suite", "generic", "--input-shape", "4x512"])
        .args(["--min-time", "0.05", "--min-iters", "3", "--budget", "10m"])
        .args(["--config", &format!("stock/O1+prepack/fp32/{t}/glibc")])
        .arg("--output")
        .arg(dir.path().join("r.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("trial 1 of 3 · "), "{stderr}");
    assert!(stderr.contains("trial 3 of 3 · "), "{stderr}");
    assert!(stderr.contains("budget left "), "{stderr}");
    let results: Vec<&str> = stderr.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(results.len(), 3, "{stderr}");
    assert!(
        results[1].contains("samples/s") && results[1].contains(" ok "),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "no escape codes off a terminal");
}
