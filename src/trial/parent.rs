//! The parent's side of a trial: start `ipex-tune trial` as a child with
//! the config's allocator, drain its pipes, enforce the time limit, read
//! its peak RSS from wait4, and turn crashes, timeouts and out-of-memory
//! kills into a failed trial instead of a failed run.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::preload;
use super::spec::{Job, SensitivityOutput, TrialOutput, TrialSpec};
use crate::native::{self, os::Exit as ChildExit};
use crate::record::{CompileRecord, Status};

/// The parent's record of a child.
#[derive(Debug, Clone)]
pub struct ChildOutcome {
    pub status: Status,
    pub reason: Option<String>,
    pub output: Option<TrialOutput>,
    /// The answer of a `Job::LayerSensitivity` child.
    pub sensitivity: Option<SensitivityOutput>,
    /// The answer of a `Job::Compile` child.
    pub compile: Option<CompileRecord>,
    pub peak_rss_bytes: u64,
    pub wall_s: f64,
    /// With `onednn_verbose`: oneDNN's `exec` lines (which kernels ran).
    pub onednn_exec: Vec<String>,
}

/// Set by the run's Ctrl-C handler: the current child is stopped and the run ends.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Why the parent ended a child itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    No,
    Interrupted,
    TimedOut,
}

/// A started child and the threads reading its pipes.
struct Running {
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

/// The time limit of a compile child (export, quantization, AOTInductor:
/// about 15-60 s per input shape on 2 cores, several times that with
/// max-autotune).
const COMPILE_LIMIT: Duration = Duration::from_secs(1200);

/// Runs `spec` in a child process and waits for it (at most `limit`). A
/// config of a backend that compiles ahead of time is compiled first in a
/// child of its own (`Job::Compile`, at most [`COMPILE_LIMIT`]), so that the
/// measuring child loads cached packages and its peak RSS and time limit
/// are the measurement's alone; the compile is the output's `compile`, its
/// time part of the outcome's wall time.
pub fn spawn(spec: &TrialSpec, scratch: &Path, limit: Duration) -> ChildOutcome {
    let compiles = crate::backend::spec(spec.config.backend).compiles_ahead()
        && spec.job == Job::Measure
        && spec.instance.is_none();
    if !compiles {
        return spawn_one(spec, scratch, limit);
    }
    let mut compile = spec.clone();
    compile.job = Job::Compile;
    compile.fault = None;
    let compiled = spawn_one(&compile, scratch, COMPILE_LIMIT);
    let Some(record) = compiled
        .compile
        .clone()
        .filter(|_| compiled.status == Status::Ok)
    else {
        return compiled;
    };
    let mut measured = spawn_one(spec, scratch, limit);
    measured.wall_s += compiled.wall_s;
    if let Some(output) = measured.output.as_mut() {
        // The measuring child found the packages cached; whether this
        // trial compiled them is the compile child's answer.
        output.compile = Some(record);
    }
    measured
}

fn spawn_one(spec: &TrialSpec, scratch: &Path, limit: Duration) -> ChildOutcome {
    let start = Instant::now();
    let fail = |reason: String| ChildOutcome {
        status: Status::Failed,
        reason: Some(reason),
        output: None,
        sensitivity: None,
        compile: None,
        peak_rss_bytes: 0,
        wall_s: start.elapsed().as_secs_f64(),
        onednn_exec: Vec::new(),
    };
    let spec_path = match write_spec(spec, scratch) {
        Ok(path) => path,
        Err(e) => return fail(format!("cannot write the trial spec: {e}")),
    };
    let running = match start_child(spec, &spec_path) {
        Ok(running) => running,
        Err(e) => return fail(format!("{e:#}")),
    };
    let (exit, stopped, stdout, stderr) = wait(running, start, limit);
    let _ = std::fs::remove_file(&spec_path);
    keep_child_logs(spec, &stdout, &stderr);
    let (status, reason, answer) = classify(&exit, stopped, limit, spec.job, &stdout, &stderr);
    let (mut output, mut sensitivity, mut compile) = (None, None, None);
    match answer {
        Some(Answer::Measured(measured)) => output = Some(*measured),
        Some(Answer::Sensitivity(answer)) => sensitivity = Some(answer),
        Some(Answer::Compiled(record)) => compile = Some(record),
        None => {}
    }
    ChildOutcome {
        status,
        reason,
        output,
        sensitivity,
        compile,
        peak_rss_bytes: exit.max_rss_bytes,
        wall_s: start.elapsed().as_secs_f64(),
        onednn_exec: if spec.options.onednn_verbose {
            stdout
                .lines()
                .filter(|l| l.starts_with("onednn_verbose,") && l.contains(",exec,"))
                .map(String::from)
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// With `IPEX_TUNE_CHILD_LOGS=DIR`, a child's stdout and stderr are kept as
/// `DIR/<config label>.stdout|stderr`: how one reads what a trial printed,
/// e.g. `ONEDNN_VERBOSE=1`'s primitive list, without changing the run.
fn keep_child_logs(spec: &TrialSpec, stdout: &str, stderr: &str) {
    let Some(dir) = std::env::var_os("IPEX_TUNE_CHILD_LOGS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let name = spec.config.label().replace('/', "_");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{name}.stdout")), stdout);
    let _ = std::fs::write(dir.join(format!("{name}.stderr")), stderr);
}

fn write_spec(spec: &TrialSpec, scratch: &Path) -> anyhow::Result<PathBuf> {
    let path = scratch.join(format!("trial-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(spec)?)?;
    Ok(path)
}

fn start_child(spec: &TrialSpec, spec_path: &Path) -> anyhow::Result<Running> {
    let exe = std::env::current_exe().context("cannot find ipex-tune itself")?;
    let mut command = Command::new(exe);
    command
        .arg("trial")
        .arg("--spec-file")
        .arg(spec_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    preload::configure_child(&mut command, spec.config.allocator)?;
    // One address layout for every measuring child: randomized layouts
    // put stock's glibc heap in states that differ by 20% (see
    // with_fixed_address_layout).
    native::os::with_fixed_address_layout(&mut command);
    if spec.options.onednn_verbose {
        // oneDNN reads it when it first runs a primitive.
        command.env("ONEDNN_VERBOSE", "1");
    }
    let mut child = native::os::spawn_dying_with_parent(&mut command, &spec.options.cpus)
        .context("cannot start the trial")?;
    // Drain the pipes while waiting, so a chatty child cannot block.
    let stdout = drain(child.stdout.take().expect("piped"));
    let stderr = drain(child.stderr.take().expect("piped"));
    Ok(Running {
        child,
        stdout,
        stderr,
    })
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    })
}

/// Waits for the child, killing it on Ctrl-C or past the limit. A thread
/// blocks in wait4 and this one wakes 4 times a second to check Ctrl-C
/// and the limit: a parent polling every 10 ms woke 100 times a second on
/// the cores the child times, preempting its threads (stock, 2 OpenMP
/// threads on 2 cores: 135 involuntary switches per timed second).
fn wait(
    mut running: Running,
    start: Instant,
    limit: Duration,
) -> (ChildExit, Stopped, String, String) {
    let pid = running.child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    let reaper = std::thread::spawn(move || {
        let _ = tx.send(native::os::wait4_blocking(pid));
    });
    let mut stopped = Stopped::No;
    let exit = loop {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(Some(exit)) => break exit,
            Ok(None) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // Not our child any more (cannot happen for a child we
                // spawned): the earlier polling loop's answer.
                break native::os::wait4_nohang(pid).unwrap_or(ChildExit {
                    code: None,
                    signal: None,
                    max_rss_bytes: 0,
                });
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if stopped == Stopped::No {
            if INTERRUPTED.load(Ordering::SeqCst) {
                stopped = Stopped::Interrupted;
                let _ = running.child.kill();
            } else if start.elapsed() > limit {
                stopped = Stopped::TimedOut;
                let _ = running.child.kill();
            }
        }
    };
    let _ = reaper.join();
    let stdout = running.stdout.join().unwrap_or_default();
    let stderr = running.stderr.join().unwrap_or_default();
    (exit, stopped, stdout, stderr)
}

/// The line of a failed child's stderr that says what failed. libtorch's
/// messages put it last among lines such as `RuntimeError: ...` (after "The
/// following operation failed in the TorchScript interpreter" and a
/// TorchScript traceback) and may end in a C++ backtrace whose last line
/// names only a dispatcher registration. So: the last `...Error: ` line
/// after ipex-tune's own error line, else that line, else the last line.
/// A Rust panic (a tch call that panics, e.g. on a failed allocation) puts
/// its message on the line after `thread '...' panicked at FILE:LINE:`.
pub fn error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if let Some(i) = lines
        .iter()
        .rposition(|l| l.starts_with("thread '") && l.contains(" panicked at "))
    {
        if let Some(message) = lines.get(i + 1).filter(|l| !l.starts_with("note: ")) {
            // A libtorch error inside the message carries its C++ frames
            // after an escaped newline: the first line says it.
            let first = message.split("\\n").next().unwrap_or(message);
            return format!("panic: {first}");
        }
    }
    let ours = lines
        .iter()
        .rposition(|l| l.starts_with("ipex-tune: error: "));
    let is_error = |l: &&str| {
        l.split_once(": ")
            .is_some_and(|(head, _)| head.ends_with("Error") && !head.contains(' '))
    };
    let after = ours.map_or(&lines[..], |i| &lines[i..]);
    after
        .iter()
        .rev()
        .find(|l| is_error(l))
        .map(|l| l.to_string())
        .or_else(|| ours.map(|i| lines[i]["ipex-tune: error: ".len()..].to_string()))
        .or_else(|| lines.last().map(|l| l.to_string()))
        .unwrap_or_default()
}

/// A child's answer, by its job.
enum Answer {
    Measured(Box<TrialOutput>),
    Sensitivity(SensitivityOutput),
    Compiled(CompileRecord),
}

fn classify(
    exit: &ChildExit,
    stopped: Stopped,
    limit: Duration,
    job: Job,
    stdout: &str,
    stderr: &str,
) -> (Status, Option<String>, Option<Answer>) {
    // libtorch's allocator says "not enough memory" (allocation too large)
    // or "can't allocate memory" (malloc refused, e.g. under `ulimit -d`).
    let oom_message = [
        "not enough memory",
        "can't allocate memory",
        "Cannot allocate memory",
        "std::bad_alloc",
    ]
    .iter()
    .any(|m| stderr.contains(m));
    match (stopped, exit.signal, exit.code) {
        (Stopped::Interrupted, _, _) => (
            Status::Interrupted,
            Some("interrupted (Ctrl-C)".into()),
            None,
        ),
        (Stopped::TimedOut, _, _) => (
            Status::Timeout,
            Some(format!(
                "no result within the time limit of {}s",
                limit.as_secs()
            )),
            None,
        ),
        (_, Some(9), _) => (
            Status::OutOfMemory,
            Some(format!(
                "killed by SIGKILL (the kernel's out-of-memory killer?) at {} MiB",
                exit.max_rss_bytes >> 20
            )),
            None,
        ),
        (_, Some(sig), _) => (
            Status::Crashed,
            Some(format!("signal {sig} ({})", native::os::signal_name(sig))),
            None,
        ),
        (_, None, Some(0)) => {
            let line = crate::native::os::last_json_line(stdout);
            let answer = match job {
                Job::Measure => {
                    serde_json::from_str::<TrialOutput>(line).map(|o| Answer::Measured(Box::new(o)))
                }
                Job::LayerSensitivity => {
                    serde_json::from_str::<SensitivityOutput>(line).map(Answer::Sensitivity)
                }
                Job::Compile => serde_json::from_str::<CompileRecord>(line).map(Answer::Compiled),
            };
            match answer {
                Ok(answer) => (Status::Ok, None, Some(answer)),
                Err(e) => (
                    Status::Failed,
                    Some(format!("unreadable trial result ({e})")),
                    None,
                ),
            }
        }
        (_, None, code) => (
            if oom_message {
                Status::OutOfMemory
            } else {
                Status::Failed
            },
            Some(format!(
                "exit {}: {}",
                code.unwrap_or(-1),
                error_line(stderr)
            )),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_line_is_ipex_tunes_not_the_backtrace_tail() {
        let stderr = "ipex-tune: error: RuntimeError: Expected tensor for argument #1 'indices'\n\
                      Exception raised from checkScalarTypes at aten/src/ATen/TensorUtils.cpp:206\n\
                      PythonDispatcher: registered at PythonFallbackKernel.cpp:198 [backend fallback]\n";
        assert_eq!(
            error_line(stderr),
            "RuntimeError: Expected tensor for argument #1 'indices'"
        );
        assert_eq!(error_line("plain failure\n\n"), "plain failure");
        let interpreter =
            "ipex-tune: error: The following operation failed in the TorchScript interpreter.\n\
                           Traceback of TorchScript, serialized code (most recent call last):\n\
                           File \"code/__torch__.py\", line 12, in forward\n\
                           RuntimeError: expected m1 and m2 to have the same dtype\n";
        assert_eq!(
            error_line(interpreter),
            "RuntimeError: expected m1 and m2 to have the same dtype"
        );
        assert_eq!(error_line(""), "");
        // A panic's message, not the backtrace note after it.
        let panic = "thread 'main' (42) panicked at src/runtime/quant.rs:10:5:\ncalled `Result::unwrap()` on an `Err` value: Torch(\"can't allocate memory\\nframe #0: c10::alloc_cpu\\n\")\nnote: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n";
        assert_eq!(
            error_line(panic),
            "panic: called `Result::unwrap()` on an `Err` value: Torch(\"can't allocate memory"
        );
    }
}
