//! Shared helpers for the integration tests: one command builder, fixture paths.
#![allow(dead_code)]

use std::path::PathBuf;

use assert_cmd::Command;

/// The real `ipex-tune` binary.
pub fn ipex_tune() -> Command {
    let mut cmd = Command::cargo_bin("ipex-tune").expect("binary built");
    // Tests must not depend on a user's IPEX override or preload.
    cmd.env_remove("IPEX_TUNE_IPEX_LIBRARY")
        .env_remove("LD_PRELOAD");
    cmd
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// The facts tests/fixtures/generate.py computed with Python's torch.
pub fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("valid JSON")
}

/// Asserts the run failed as a user error should: exit code 2, exactly one
/// line on stderr that mentions `needle`, no panic or backtrace.
pub fn assert_one_line_user_error(output: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "expected exit code 2, got {:?}; stderr: {stderr}",
        output.status
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {stderr}");
    assert!(
        lines[0].contains(needle),
        "{:?} does not mention {needle:?}",
        lines[0]
    );
    assert!(
        !stderr.contains("panicked")
            && !stderr.contains("backtrace")
            && !stderr.contains("Exception raised from")
    );
}
