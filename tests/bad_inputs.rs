//! The bad-input corpus: what a new user gets wrong, across every command.
//! Each case must end with its documented exit code and one line on stderr
//! naming the input and what was expected: no panic, no backtrace, no
//! libtorch stack, and nothing lost (a results file that was there before a
//! refused run is still there, byte for byte).
mod common;

use std::path::{Path, PathBuf};

use common::{fixture, ipex_tune, ipex_tune_limited};

/// One bad input: the arguments (`{dir}` is the case folder, `{fx}` the
/// fixtures), extra environment, a `ulimit` to run under, and what must
/// come out.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    ulimit: Option<&'static str>,
    code: i32,
    needle: &'static str,
}

const fn case(
    name: &'static str,
    args: &'static [&'static str],
    code: i32,
    needle: &'static str,
) -> Case {
    Case {
        name,
        args,
        env: &[],
        ulimit: None,
        code,
        needle,
    }
}

const MLP: &str = "{fx}/mlp.pt";
const KEPT: &str = "{dir}/kept.json";

/// `run` on the MLP with the generic suite, writing over `{dir}/kept.json`
/// (which must survive every refused run).
macro_rules! run_mlp {
    ($($extra:expr),*) => {
        &["run", MLP, "--suite", "generic", "--input-shape", "4x512", "--output", KEPT,
          "--min-time", "0.05", "--min-iters", "3", $($extra),*]
    };
}

#[rustfmt::skip]
fn corpus() -> Vec<Case> {
    let t = |c: Case, env: &'static [(&'static str, &'static str)]| Case { env, ..c };
    let u = |c: Case, ulimit: &'static str| Case {
        ulimit: Some(ulimit),
        ..c
    };
    vec![
        // Model files.
        case("missing model", &["inspect", "{dir}/nope.pt"], 2, "nope.pt: no such file"),
        case("empty model", &["inspect", "{dir}/empty.pt"], 2, "empty.pt: is empty"),
        case("text as model", &["inspect", "{dir}/notes.pt"], 2, "notes.pt: is not a TorchScript archive"),
        case("folder as model", &["inspect", "{dir}"], 2, "is a directory"),
        case("random bytes", &["inspect", "{dir}/random.pt"], 2, "random.pt: is not a TorchScript archive"),
        case("zip without TorchScript", &["inspect", "{fx}/bad/not_torchscript.zip"], 2, "cannot load as TorchScript"),
        case("truncated model", &["plan", "{dir}/truncated.pt", "--suite", "cv"], 2, "truncated.pt: is truncated or damaged"),
        case("CRC-corrupted model", &[ "run", "{dir}/corrupted.pt", "--suite", "generic", "--input-shape", "4x512", "--output", KEPT, ], 2, "is corrupted"),
        case("pickle of an unknown class", &["inspect", "{dir}/unknown_class.pt"], 2, "Unknown type name 'foo.Bar'"),
        // Methods and signatures.
        case("unknown method (inspect)", &["inspect", MLP, "--method", "nope"], 2, "has no method 'nope'; its methods are: forward"),
        case("unknown method (run)", run_mlp!("--method", "nope"), 2, "has no method 'nope'"),
        case("too many shapes", &[ "run", MLP, "--suite", "generic", "--input-shape", "4x512", "--input-shape", "4x8", "--output", KEPT, ], 2, "takes 1 argument(s) (x); got 2 shape(s)"),
        case("a suite the model cannot take", &["run", "{fx}/cnn.pt", "--suite", "nlp", "--output", KEPT], 2, "`forward` takes (x), the suite gives (input_ids, attention_mask)"),
        // --input-shape strings.
        case("shape with an empty size", &["plan", MLP, "--suite", "generic", "--input-shape", "4xx512"], 2, "--input-shape '4xx512': expected sizes joined by x"),
        case("shape with a zero", &["plan", MLP, "--suite", "generic", "--input-shape", "0x512"], 2, "--input-shape '0x512'"),
        case("negative shape", &["plan", MLP, "--suite", "generic", "--input-shape", "-4x512"], 2, "--input-shape '-4x512'"),
        case("unknown input kind", &[ "plan", MLP, "--suite", "generic", "--input-shape", "4x512:float99", ], 2, "unknown kind 'float99'"),
        case("sizes that overflow", &[ "plan", MLP, "--suite", "generic", "--input-shape", "99999999999x99999999999", ], 2, "their sizes overflow 64 bits"),
        case("a batch beyond memory", &[ "plan", MLP, "--suite", "generic", "--input-shape", "9999999x99999", ], 2, "more than the"),
        // Suites and rules.
        case("unknown suite", &["plan", MLP, "--suite", "nope"], 2, "--suite: unknown suite 'nope'"),
        case("missing suite folder", &["plan", MLP, "--suite", "cv", "--suites", "/nope"], 2, "--suites /nope: not a directory"),
        case("suite that is not YAML", &["plan", MLP, "--suite", "broken", "--suites", "{dir}/suites"], 2, "broken.yaml"),
        case("suite with a wrong type", &[ "plan", MLP, "--suite", "wrongtype", "--suites", "{dir}/suites", ], 2, "wrongtype.yaml"),
        case("suite with an unknown field", &["plan", MLP, "--suite", "extra", "--suites", "{dir}/suites"], 2, "extra.yaml:6: Unknown field `turbo`, expected one of `name`"),
        case("missing rules folder", &["plan", MLP, "--suite", "cv", "--rules", "/nope"], 2, "/nope"),
        case("rule file that is not YAML", &["plan", MLP, "--suite", "cv", "--rules", "{dir}/rules-yaml"], 2, "bad.yaml:3: not valid YAML"),
        case("rule on an unknown fact", &["doctor", "--rules", "{dir}/rules-fact"], 2, "unknown fact 'host.isa.avx9000'"),
        case("unknown rule id", &["rules", "explain", "no-such-rule"], 2, "unknown rule 'no-such-rule'"),
        // Results files for report and gate.
        case("missing results", &["report", "{dir}/none.json"], 2, "none.json: cannot read"),
        case("truncated results", &["report", "{dir}/truncated.json"], 2, "truncated.json: not JSON"),
        case("results of another schema", &["report", "{dir}/other-schema.json"], 2, "schema 'someone/else/v9'"),
        case("results without a schema", &[ "gate", "--baseline", "{dir}/no-schema.json", "--current", "{dir}/no-schema.json", ], 2, "no `schema` field"),
        case("results with wrong types", &[ "gate", "--baseline", "{fx}/results/cnn-cv-epyc-avx2.json", "--current", "{dir}/wrong-types.json", ], 2, "wrong-types.json: not a valid"),
        case("results with NaN", &["report", "{dir}/nan.json"], 2, "nan.json: not JSON"),
        case("results with a huge array", &["report", "{dir}/huge.json"], 2, "huge.json: not a valid"),
        case("report into a file's subfolder", &[ "report", "{fx}/results/cnn-cv-epyc-avx2.json", "--html", "{dir}/empty.pt/r.html", ], 2, "--html: "),
        case("report to a full disk", &[ "report", "{fx}/results/cnn-cv-epyc-avx2.json", "--markdown", "/dev/full", ], 2, "/dev/full: No space left on device"),
        case("gate to a full disk", &[ "gate", "--baseline", "{fx}/results/cnn-cv-epyc-avx2.json", "--current", "{fx}/results/cnn-cv-epyc-avx2.json", "--junit", "/dev/full", ], 2, "/dev/full: cannot write"),
        case("results onto a device", &["run", MLP, "--suite", "generic", "--input-shape", "4x512", "--output", "/dev/full"], 2, "--output: /dev/full: is not a regular file"),
        // Command-line values.
        case("no cores", run_mlp!("--threads", "0"), 2, "--threads 0"),
        case("more cores than usable", run_mlp!("--threads", "4096"), 2, "--threads 4096"),
        case("CPU outside the affinity", run_mlp!("--cores", "0-4095"), 2, "--cores 0-4095"),
        case("bad budget", run_mlp!("--budget", "soon"), 2, "'soon' is not a duration"),
        case("negative minimum time", &["run", MLP, "--suite", "generic", "--input-shape", "4x512", "--output", KEPT, "--min-time", "-1"], 2, "'-1': expected seconds >= 0"),
        case("zero iterations", &["run", MLP, "--suite", "generic", "--input-shape", "4x512", "--output", KEPT, "--min-iters", "0"], 2, "'0': expected a whole number >= 1"),
        case("bad percentile", run_mlp!("--objective", "latency", "--percentile", "42"), 2, "expected 50, 90 or 99"),
        case("bad config label", run_mlp!("--config", "stock/O3/fp32/glibc"), 2, "the level is O0, O1 or O2"),
        case("bad regression threshold", &["gate", "--baseline", "a", "--current", "b", "--max-regression", "lots"], 2, "'lots' is not a threshold"),
        case("unknown flag", run_mlp!("--turbo"), 2, "unexpected argument '--turbo'"),
        case("zero batch", run_mlp!("--batch-size", "0"), 2, "--batch-size 0"),
        // Environment.
        t(case("IPEX missing", run_mlp!("--config", "ipex/O1+prepack/fp32/t1/glibc"), 2, "IPEX library not found"), &[("IPEX_TUNE_IPEX_LIBRARY", "/nope/libintel-ext-pt-cpu.so")]),
        t(case("IPEX for another libtorch", run_mlp!("--config", "ipex/O1+prepack/fp32/t1/glibc"), 2, "IPEX 2.5.0+cpu needs libtorch 2.5.*"), &[("IPEX_TUNE_IPEX_LIBRARY", "{dir}/ipex/lib/libintel-ext-pt-cpu.so")]),
        t(case("OMP_NUM_THREADS not a number", run_mlp!(), 2, "OMP_NUM_THREADS='abc'"), &[("OMP_NUM_THREADS", "abc")]),
        t(case("allocator library missing", run_mlp!("--config", "stock/O1/fp32/t1/jemalloc"), 2, "jemalloc not found"), &[("IPEX_TUNE_ALLOCATOR_DIRS", "{dir}")]),
        // Resource limits: a results file beyond the file size limit is an
        // error naming it, and the previous file stays.
        u(case("results beyond the file size limit", run_mlp!("--config", "stock/O1/fp32/t1/glibc"), 3, "cannot write the results file"), "ulimit -f 4"),
    ]
}

/// The files the cases read, made in `dir`.
fn make_inputs(dir: &Path) {
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    write("empty.pt", b"");
    write("notes.pt", b"these are my notes, not a model\n");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    write("random.pt", &random);
    let model = std::fs::read(fixture("mlp.pt")).unwrap();
    write("truncated.pt", &model[..model.len() / 2]);
    write("corrupted.pt", &flip_weight_bytes(&model));
    write("unknown_class.pt", &unknown_class_archive());
    // Suites.
    std::fs::create_dir_all(dir.join("suites")).unwrap();
    let cv =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("suites/cv.yaml"))
            .unwrap();
    write("suites/broken.yaml", b"name: broken\nbatch_sizes: [1, 8\n");
    write(
        "suites/wrongtype.yaml",
        cv.replace("batch_sizes: [1, 8]", "batch_sizes: big")
            .as_bytes(),
    );
    write(
        "suites/extra.yaml",
        cv.replace("dims: {}", "dims: {}\nturbo: true").as_bytes(),
    );
    // Rules.
    std::fs::create_dir_all(dir.join("rules-yaml")).unwrap();
    write("rules-yaml/bad.yaml", b"rules:\n  - id: [unclosed\n");
    std::fs::create_dir_all(dir.join("rules-fact")).unwrap();
    let mistakes = std::fs::read_to_string(fixture("rules-broken/mistakes.yaml")).unwrap();
    // The first rule of the broken fixture alone: an unknown fact.
    let first: String = mistakes
        .split("\n  - id:")
        .take(2)
        .collect::<Vec<_>>()
        .join("\n  - id:");
    write("rules-fact/one.yaml", first.as_bytes());
    // Results files.
    let sample = std::fs::read_to_string(fixture("results/cnn-cv-epyc-avx2.json")).unwrap();
    write("kept.json", sample.as_bytes());
    write("truncated.json", &sample.as_bytes()[..sample.len() / 3]);
    write(
        "other-schema.json",
        sample
            .replacen("ipex-tune/results/v1", "someone/else/v9", 1)
            .as_bytes(),
    );
    let mut value: serde_json::Value = serde_json::from_str(&sample).unwrap();
    let without = {
        let mut v = value.clone();
        v.as_object_mut().unwrap().remove("schema");
        v
    };
    write("no-schema.json", without.to_string().as_bytes());
    value["trials"] = serde_json::json!("many");
    write("wrong-types.json", value.to_string().as_bytes());
    write(
        "nan.json",
        sample
            .replacen("\"samples_per_s\": ", "\"samples_per_s\": NaN, \"x\": ", 1)
            .as_bytes(),
    );
    let huge = format!(
        "{{\"schema\": \"ipex-tune/results/v2\", \"trials\": [{}]}}",
        vec!["1e308"; 2_000_000].join(",")
    );
    write("huge.json", huge.as_bytes());
    // IPEX built for another libtorch (the version is read, never loaded).
    std::fs::create_dir_all(dir.join("ipex/lib")).unwrap();
    write("ipex/lib/libintel-ext-pt-cpu.so", b"");
    write("ipex/_version.py", b"__version__ = \"2.5.0+cpu\"\n");
}

/// The model with four bytes inverted inside its first weight record.
fn flip_weight_bytes(model: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(model)).unwrap();
    let start = (0..archive.len())
        .find_map(|i| {
            let file = archive.by_index(i).unwrap();
            (file.name().contains("/data/") && file.size() >= 8).then(|| file.data_start())
        })
        .expect("a weight record") as usize;
    let mut bytes = model.to_vec();
    for b in &mut bytes[start..start + 4] {
        *b = !*b;
    }
    bytes
}

/// A TorchScript-shaped archive whose pickle names a class nobody defines.
fn unknown_class_archive() -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let stored =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
        // PROTO 2, GLOBAL 'foo Bar', EMPTY_TUPLE, NEWOBJ, STOP.
        zip.start_file("archive/data.pkl", stored).unwrap();
        zip.write_all(b"\x80\x02cfoo\nBar\nq\x00)\x81q\x01.")
            .unwrap();
        zip.start_file("archive/constants.pkl", stored).unwrap();
        zip.write_all(b"\x80\x02).").unwrap();
        zip.start_file("archive/version", stored).unwrap();
        zip.write_all(b"3\n").unwrap();
        zip.finish().unwrap();
    }
    out.into_inner()
}

fn expand(text: &str, dir: &Path) -> String {
    text.replace("{dir}", &dir.display().to_string())
        .replace("{fx}", &common::fixtures().display().to_string())
}

#[test]
fn every_bad_input_is_one_line_with_its_exit_code_and_nothing_is_lost() {
    let cases = corpus();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        make_inputs(dir.path());
        let kept_before = std::fs::read(dir.path().join("kept.json")).unwrap();
        let args: Vec<String> = case.args.iter().map(|a| expand(a, dir.path())).collect();
        let mut cmd = match case.ulimit {
            None => ipex_tune(),
            Some(limit) => ipex_tune_limited(limit),
        };
        for (k, v) in case.env {
            cmd.env(k, expand(v, dir.path()));
        }
        let out = cmd.args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // libgomp reports a bad OMP_NUM_THREADS itself when it loads.
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("libgomp: "))
            .collect();
        let mut problems = Vec::new();
        if out.status.code() != Some(case.code) {
            problems.push(format!(
                "exit {:?}, expected {}",
                out.status.code(),
                case.code
            ));
        }
        if lines.len() != 1 {
            problems.push(format!("{} lines on stderr", lines.len()));
        }
        if !lines.first().is_some_and(|l| l.contains(case.needle)) {
            problems.push(format!("no {:?}", case.needle));
        }
        if ["panicked", "backtrace", "Exception raised from"]
            .iter()
            .any(|bad| stderr.contains(bad))
        {
            problems.push("a panic or a stack".into());
        }
        if std::fs::read(dir.path().join("kept.json")).ok().as_deref() != Some(&kept_before[..]) {
            problems.push("the results file that was there changed".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {} — stderr: {}",
                case.name,
                problems.join(", "),
                stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A .npy file of `rows` x 512 float32 halves (the MLP's input).
fn write_npy(path: &std::path::Path, rows: usize) {
    use std::io::Write;
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, 512), }}");
    // Magic, version, header length, then the header padded to 64 bytes.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    file.write_all(b"\x93NUMPY\x01\x00").unwrap();
    file.write_all(&(header.len() as u16).to_le_bytes())
        .unwrap();
    file.write_all(header.as_bytes()).unwrap();
    let row: Vec<u8> = std::iter::repeat_n(0.5f32.to_le_bytes(), 512)
        .flatten()
        .collect();
    for _ in 0..rows {
        file.write_all(&row).unwrap();
    }
}

/// A config that needs more memory than the process may have: static int8
/// calibrates by running the model over the calibration batch, here
/// 150000x512 (300 MB per activation), while every trial measures 4000x512.
/// Every trial loads the calibration file (300 MB), but only int8-static
/// holds its activations: measured on an AMD EPYC, peak RSS 700 MB for
/// stock and O1 fp32, 1020 MB for int8-static. `ulimit -d 850000` (KB)
/// sits between, with room either side for other hosts' libraries. That
/// trial is recorded as out of memory, with libtorch's message, and the
/// run goes on to a winner.
#[test]
fn a_trial_out_of_memory_is_recorded_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let calibration = dir.path().join("calibration.npy");
    write_npy(&calibration, 150_000);
    let one = "stock/O1/fp32/t1/glibc";
    let two = "stock/O1/int8-static/t1/glibc";
    let run = ipex_tune_limited("ulimit -d 850000")
        .arg("run")
        .arg(fixture("mlp.pt"))
        .args(["--suite", "generic", "--input-shape", "4000x512"])
        .args(["--min-time", "0", "--min-iters", "1", "--quiet"])
        .arg("--calibration")
        .arg(&calibration)
        .args(["--config", one, "--config", two, "--output"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let trial = common::trial(&results, two);
    assert_eq!(trial["status"], "out-of-memory", "{trial}");
    assert!(
        trial["reason"]
            .as_str()
            .unwrap()
            .contains("can't allocate memory"),
        "{trial}"
    );
    assert_eq!(common::trial(&results, one)["status"], "ok");
    assert_eq!(results["complete"], true);
    assert!(results["winner"].is_object());
}
