//! Fuzz targets for everything that reads text a user wrote: rule files,
//! suite files, rule conditions, config labels, `--input-shape` and results
//! files (and the report rendered from whatever the reader accepts).
//!
//! Each target mutates valid seeds (the bundled rules and suites, real
//! results files, labels and shapes from the README): bytes flipped,
//! inserted, deleted, duplicated, truncated, and numbers swapped for
//! awkward values (-1, 0, 1e309, null, "", [], huge), which keeps much of
//! the input parseable so the checks behind the parser are reached too.
//! The property is always "no panic", plus round trips where there is one.
//!
//! `cargo test` runs a fixed, seeded batch per target (reproducible, fast).
//! `make fuzz` runs each target for `IPEX_TUNE_FUZZ_SECS` seconds with fresh
//! random seeds; a failure prints the shrunk input, which then becomes a
//! named regression test at the end of this file.
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

/// Values swapped in for numbers, and inserted as tokens.
const AWKWARD: &[&str] = &[
    "-1",
    "0",
    "-0",
    "1e309",
    "-1e309",
    "1e-320",
    "NaN",
    "inf",
    "null",
    "true",
    "\"\"",
    "[]",
    "{}",
    "99999999999999999999",
    "4294967296",
    "9223372036854775808",
    "0.5",
    "\"x\"",
    "~",
    "&a",
    "*a",
    "!!binary",
    "\u{0}",
    "\u{feff}",
    "é",
    "💥",
    ":",
    "- ",
    "\n",
    "\t",
    "'",
    "\"",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "x",
    "/",
    "+",
    "in",
    "==",
    ">=",
    "exists",
    "int",
    "float",
];

/// One edit of a seed.
#[derive(Debug, Clone)]
enum Edit {
    FlipBit { at: usize, bit: u8 },
    Insert { at: usize, token: usize },
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
    Truncate { at: usize },
    SwapNumber { at: usize, token: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(at, bit)| Edit::FlipBit { at, bit }),
        (at, any::<usize>()).prop_map(|(at, token)| Edit::Insert { at, token }),
        (at, 1usize..64).prop_map(|(at, len)| Edit::Delete { at, len }),
        (at, 1usize..64).prop_map(|(at, len)| Edit::Duplicate { at, len }),
        at.prop_map(|at| Edit::Truncate { at }),
        (at, any::<usize>()).prop_map(|(at, token)| Edit::SwapNumber { at, token }),
    ]
}

fn apply(seed: &str, edits: &[Edit]) -> String {
    let mut b = seed.as_bytes().to_vec();
    for e in edits {
        let n = b.len().max(1);
        match *e {
            Edit::FlipBit { at, bit } => {
                if !b.is_empty() {
                    b[at % n] ^= 1 << bit;
                }
            }
            Edit::Insert { at, token } => {
                let at = at % (b.len() + 1);
                b.splice(at..at, AWKWARD[token % AWKWARD.len()].bytes());
            }
            Edit::Delete { at, len } => {
                let at = at % n.min(b.len() + 1);
                let end = (at + len).min(b.len());
                b.drain(at.min(end)..end);
            }
            Edit::Duplicate { at, len } => {
                let at = at % (b.len() + 1);
                let end = (at + len).min(b.len());
                let copy = b[at..end].to_vec();
                b.splice(at..at, copy);
            }
            Edit::Truncate { at } => b.truncate(at % (b.len() + 1)),
            Edit::SwapNumber { at, token } => {
                let start = at % (b.len() + 1);
                if let Some(first) = b[start..].iter().position(u8::is_ascii_digit) {
                    let from = start + first;
                    let len = b[from..]
                        .iter()
                        .position(|c| !(c.is_ascii_digit() || b".eE+-".contains(c)))
                        .unwrap_or(b.len() - from);
                    b.splice(from..from + len, AWKWARD[token % AWKWARD.len()].bytes());
                }
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// A seed, edited 0..8 times.
fn mutated(seeds: Vec<String>) -> impl Strategy<Value = String> {
    let count = seeds.len();
    (0..count, prop::collection::vec(edit(), 0..8))
        .prop_map(move |(i, edits)| apply(&seeds[i], &edits))
}

/// Runs `check` on mutated seeds: a fixed seeded batch of `cases`, or, with
/// IPEX_TUNE_FUZZ_SECS set, fresh random batches until that time is up.
/// Returns how many inputs were tried.
fn fuzz(
    name: &str,
    seeds: Vec<String>,
    cases: u32,
    check: impl Fn(&str) -> Result<(), TestCaseError>,
) -> u64 {
    let strategy = mutated(seeds);
    let config = |cases| RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    };
    let fail = |e| panic!("fuzz target {name} failed: {e}");
    let secs: Option<u64> = std::env::var("IPEX_TUNE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    let Some(secs) = secs else {
        let mut runner = TestRunner::new_with_rng(
            config(cases),
            proptest::test_runner::TestRng::deterministic_rng(
                proptest::test_runner::RngAlgorithm::ChaCha,
            ),
        );
        runner.run(&strategy, |s| check(&s)).unwrap_or_else(fail);
        return cases as u64;
    };
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tried = 0u64;
    while Instant::now() < deadline {
        let mut runner = TestRunner::new(config(2000));
        runner.run(&strategy, |s| check(&s)).unwrap_or_else(fail);
        tried += 2000;
    }
    eprintln!("fuzz target {name}: {tried} inputs in {secs}s, no failure");
    tried
}

fn rule_seeds() -> Vec<String> {
    let mut seeds: Vec<String> = crate::bundled::RULES
        .iter()
        .map(|(_, t)| t.to_string())
        .collect();
    seeds.push(include_str!("../tests/fixtures/rules-broken/mistakes.yaml").into());
    seeds
}

#[test]
fn rule_files() {
    fuzz("rule files", rule_seeds(), 300, |text| {
        let (rules, _problems) = crate::rules::load::parse_file(Path::new("fuzz.yaml"), text);
        let _ = crate::rules::load::duplicate_ids(&rules);
        Ok(())
    });
}

#[test]
fn suite_files() {
    let seeds = crate::bundled::SUITES
        .iter()
        .map(|(_, t)| t.to_string())
        .collect();
    fuzz("suite files", seeds, 500, |text| {
        if let Ok(suite) = crate::suite::Suite::from_text(Path::new("fuzz.yaml"), text) {
            let _ = crate::suite::largest_batch_bytes(&suite);
        }
        Ok(())
    });
}

#[test]
fn rule_conditions() {
    let seeds = [
        "env.OMP_NUM_THREADS > host.cores.usable",
        "host.isa.level in [AVX2, AVX512]",
        "host.isa.avx512_bf16 == false",
        "model.ops.conv exists",
        "suite.dynamic_shapes == true",
        "host.numa.nodes >= 2",
        "torch.version < 2.1",
        "env.ONEDNN_MAX_CPU_ISA in ['AVX2', \"AVX512_CORE\"]",
        "model.params_bytes <= 1.5e9",
    ]
    .map(String::from)
    .to_vec();
    fuzz("rule conditions", seeds, 3000, |text| {
        if let Ok(c) = crate::rules::condition::parse_comparison(text, 1) {
            let condition = crate::rules::condition::Condition::Cmp(c);
            // Evaluated with its facts absent, numeric and textual.
            for value in [None, Some("8"), Some("AVX2")] {
                let mut facts = crate::rules::facts::Facts::default();
                if let Some(v) = value {
                    for name in condition.facts() {
                        facts.set(name, v);
                    }
                }
                let mut observed = Vec::new();
                let _ = condition.eval(&facts, &mut observed);
                let _ = crate::rules::condition::Observed::describe_all(&observed);
            }
        }
        Ok(())
    });
}

#[test]
fn config_labels() {
    let seeds = [
        "stock/O0/fp32/glibc",
        "stock/O1+fold+prepack/int8-static/t1/i2/glibc-tuned",
        "ipex/O1+fold+prepack/onednn/bf16/t2/s2/jemalloc",
        "ipex/O1+prepack/bf16-autocast/t1/tcmalloc",
        "stock/O1/int8-static+fp32:fc3,fc2/t2/glibc",
        "stock/O1+fold/texpr/int8-dyn/t4/i2/glibc",
    ]
    .map(String::from)
    .to_vec();
    fuzz("config labels", seeds, 5000, |text| {
        if let Ok(config) = text.parse::<crate::config::Config>() {
            // What parses prints a label that parses back to the same config.
            let again = config.label().parse::<crate::config::Config>();
            prop_assert_eq!(again.as_ref(), Ok(&config), "label {:?}", config.label());
        }
        Ok(())
    });
}

#[test]
fn input_shapes() {
    let seeds = [
        "8x3x224x224",
        "8x128:int1000",
        "4x512",
        "1x80x100",
        "16x13:float",
        "2x64:int",
    ]
    .map(String::from)
    .to_vec();
    fuzz("--input-shape", seeds, 5000, |text| {
        if let Ok((input, batch)) = crate::suite::parse_input_shape("x", text) {
            prop_assert!(batch >= 1);
            for d in &input.shape {
                if let crate::suite::Dim::Fixed(n) = d {
                    prop_assert!(*n >= 1, "size {} from {:?}", n, text);
                }
            }
            prop_assert!(input.high.is_none_or(|h| h >= 1));
        }
        Ok(())
    });
}

#[test]
fn results_files_and_their_reports() {
    let seeds = vec![
        include_str!("../tests/fixtures/results/cnn-cv-epyc-avx2.json").to_string(),
        include_str!("../tests/fixtures/results/cnn-cv-epyc-avx512bf16.json").to_string(),
    ];
    fuzz("results files", seeds, 150, |text| {
        if let Ok(results) = crate::record::Results::from_text(Path::new("fuzz.json"), text) {
            let _ = crate::report::markdown::render(&results);
            let _ = crate::report::summary::render(&results);
        }
        Ok(())
    });
}

// Regression tests: every input a fuzz target found, pinned by name.

/// config_labels: a count whose first character is not ASCII was split in
/// the middle of the character (a panic in `str::split_at`).
#[test]
fn a_label_count_starting_with_a_multibyte_character_is_refused() {
    let err = "stock/O1+fold+prepack/int8-static/\u{fffd}1/i2/glibc-tuned"
        .parse::<crate::config::Config>()
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown part '\u{fffd}1'"),
        "{err}"
    );
}
