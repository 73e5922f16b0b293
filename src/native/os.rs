//! libc calls: dynamic loading that is never undone, and glibc malloc tuning;
//! reading a child process's answer.
use std::ffi::{CStr, CString};
use std::path::Path;

/// A libc call that failed, with what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OsError {
    #[error("cannot load {path}: {reason}")]
    Dlopen { path: String, reason: String },
    #[error("mallopt({param}, {value}) failed")]
    Mallopt { param: &'static str, value: i32 },
    #[error("sched_setaffinity({cpus:?}) failed: {reason}")]
    Affinity { cpus: Vec<u32>, reason: String },
    #[error("set_mempolicy(MPOL_BIND, node {node}) failed: {reason}")]
    Membind { node: u32, reason: String },
}

/// Binds this thread's future memory allocations to NUMA node `node`
/// (set_mempolicy(MPOL_BIND)); threads it starts afterwards inherit it.
pub fn bind_memory_to_node(node: u32) -> Result<(), OsError> {
    const MPOL_BIND: libc::c_long = 2;
    let mut mask = [0u64; 16];
    let word = (node / 64) as usize;
    if word >= mask.len() {
        return Err(OsError::Membind {
            node,
            reason: "node number beyond 1023".into(),
        });
    }
    mask[word] = 1u64 << (node % 64);
    // SAFETY: the mask outlives the call; maxnode is its size in bits.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_set_mempolicy,
            MPOL_BIND,
            mask.as_ptr(),
            (mask.len() * 64) as libc::c_ulong,
        )
    };
    if rc != 0 {
        return Err(OsError::Membind {
            node,
            reason: std::io::Error::last_os_error().to_string(),
        });
    }
    Ok(())
}

/// Loads a shared library for the life of the process (it is never closed:
/// libraries such as IPEX register JIT passes and operators that must outlive
/// every module using them).
pub fn dlopen_forever(path: &Path) -> Result<(), OsError> {
    let failed = |reason: String| OsError::Dlopen {
        path: path.display().to_string(),
        reason,
    };
    let c_path = CString::new(path.to_string_lossy().as_bytes())
        .map_err(|_| failed("the path contains a NUL byte".into()))?;
    // SAFETY: valid C string; the handle is intentionally leaked.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns NULL or a valid C string.
        let message = unsafe {
            let e = libc::dlerror();
            if e.is_null() {
                "unknown dlopen error".to_string()
            } else {
                CStr::from_ptr(e).to_string_lossy().into_owned()
            }
        };
        return Err(failed(message));
    }
    Ok(())
}

/// Tunes glibc malloc against the allocation churn of tensor workloads: large
/// activations above the (dynamic) mmap threshold are mmap'd and unmapped on
/// every iteration, and freed heap top is trimmed back to the OS, so each
/// iteration page-faults its memory in again. Raising the mmap threshold to
/// glibc's maximum and keeping freed memory (trim threshold, top pad) makes
/// steady-state iterations reuse it. Must run before the allocations it
/// should affect.
pub fn tune_glibc_malloc() -> Result<(), OsError> {
    // 32 MiB is glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit.
    const MMAP_THRESHOLD: i32 = 32 * 1024 * 1024;
    const TRIM_THRESHOLD: i32 = 1024 * 1024 * 1024;
    const TOP_PAD: i32 = 64 * 1024 * 1024;
    for (param, value, name) in [
        (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD, "M_MMAP_THRESHOLD"),
        (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD, "M_TRIM_THRESHOLD"),
        (libc::M_TOP_PAD, TOP_PAD, "M_TOP_PAD"),
    ] {
        // SAFETY: mallopt only changes allocator parameters.
        if unsafe { libc::mallopt(param, value) } != 1 {
            return Err(OsError::Mallopt { param: name, value });
        }
    }
    Ok(())
}

/// The XCR0 register (which register states the OS saves: SSE, AVX,
/// AVX-512, AMX), or None where XGETBV is unavailable.
pub fn xcr0() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        if !std::arch::is_x86_feature_detected!("xsave") {
            return None;
        }
        // OSXSAVE (CPUID.1:ECX bit 27): the OS has enabled XGETBV.
        let leaf1 = std::arch::x86_64::__cpuid(1);
        if leaf1.ecx & (1 << 27) == 0 {
            return None;
        }
        // SAFETY: XGETBV is enabled (checked above).
        Some(unsafe { read_xcr0() })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "xsave")]
unsafe fn read_xcr0() -> u64 {
    std::arch::x86_64::_xgetbv(0)
}

/// The logical CPUs in this process's affinity mask (sched_getaffinity).
pub fn affinity() -> Option<Vec<u32>> {
    // SAFETY: cpu_set_t is plain data; zeroed is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this process; the size matches the set.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return None;
    }
    let max = libc::CPU_SETSIZE as usize;
    // SAFETY: CPU_ISSET reads within the set.
    Some(
        (0..max)
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .map(|cpu| cpu as u32)
            .collect(),
    )
}

/// How a child process ended, with its peak resident memory.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub max_rss_bytes: u64,
}

/// Reaps `pid` if it has ended (wait4 with WNOHANG), returning its exit and
/// peak RSS (ru_maxrss). None while it runs.
pub fn wait4_nohang(pid: i32) -> Option<Exit> {
    wait4(pid, libc::WNOHANG)
}

/// Waits for `pid` to end and reaps it (wait4, blocking; retried when a
/// signal interrupts it). None if it is not this process's child.
pub fn wait4_blocking(pid: i32) -> Option<Exit> {
    loop {
        if let Some(exit) = wait4(pid, 0) {
            return Some(exit);
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

fn wait4(pid: i32, flags: libc::c_int) -> Option<Exit> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to locals.
    let rc = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
    if rc != pid {
        return None;
    }
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Some(Exit {
        code,
        signal,
        // Linux reports ru_maxrss in KiB.
        max_rss_bytes: usage.ru_maxrss.max(0) as u64 * 1024,
    })
}

/// Signal dispositions for a command-line tool:
/// - SIGPIPE back to its default action (end the process quietly): Rust
///   ignores it, which turns `ipex-tune ... | head` into a "Broken pipe"
///   panic when the reader goes away.
/// - SIGXFSZ ignored: a write beyond the file size limit (`ulimit -f`)
///   then fails with EFBIG, which ipex-tune reports naming the file,
///   instead of killing the process mid-write. Trial children inherit it.
pub fn set_signal_dispositions() {
    // SAFETY: signal() with SIG_DFL or SIG_IGN only changes a disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// This process's resource usage so far (all threads).
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User + system CPU seconds.
    pub cpu_s: f64,
    pub minor_faults: u64,
    pub major_faults: u64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
}

/// getrusage(RUSAGE_SELF).
pub fn self_usage() -> Usage {
    // SAFETY: rusage is plain data; getrusage fills it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a local.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Usage::default();
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Usage {
        cpu_s: secs(u.ru_utime) + secs(u.ru_stime),
        minor_faults: u.ru_minflt.max(0) as u64,
        major_faults: u.ru_majflt.max(0) as u64,
        voluntary_switches: u.ru_nvcsw.max(0) as u64,
        involuntary_switches: u.ru_nivcsw.max(0) as u64,
    }
}

/// Clock ticks per second of /proc/stat's counters (USER_HZ).
pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// The name of a signal, e.g. "SIGSEGV".
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}

/// Spawns `command` so that the child is killed if this process dies
/// (PR_SET_PDEATHSIG): a run killed with SIGKILL leaves no trial behind.
pub fn spawn_dying_with_parent(
    command: &mut std::process::Command,
    cpus: &[u32],
) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    // The child starts on its CPUs, so that OpenMP (which sizes its default
    // team from the affinity mask when the library loads) sees them: stock
    // with default threads under `--cores` runs as under taskset.
    // SAFETY: cpu_set_t is plain data; zeroed is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if (cpu as usize) < libc::CPU_SETSIZE as usize {
            // SAFETY: CPU_SET writes within the set for cpu < CPU_SETSIZE.
            unsafe { libc::CPU_SET(cpu as usize, &mut set) };
        }
    }
    let restrict = !cpus.is_empty();
    // SAFETY: the closure only calls prctl and sched_setaffinity, which are
    // async-signal-safe, on a set built before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if restrict
                && libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Keeps address-space randomization for measuring children (the
/// environment variable set to 1): each child then gets a layout of its
/// own, as every process of a user does.
pub const KEEP_ASLR_ENV: &str = "IPEX_TUNE_ASLR";

/// Starts `command` (and the processes it starts) with one fixed address
/// layout: personality ADDR_NO_RANDOMIZE, what `setarch -R` does, as
/// benchmarking guides advise (LLVM's "Benchmarking tips"). Where the heap
/// and the mapped regions land decides how often glibc's malloc hands
/// memory back and faults it in again: on a 2-core VM, the same stock
/// model took 1550 page faults a call in some processes and 3100 in others
/// (20% slower at batch 8), and with one layout 11 of 12 took 1550.
/// Does nothing when IPEX_TUNE_ASLR=1 or the kernel refuses.
pub fn with_fixed_address_layout(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    if std::env::var(KEEP_ASLR_ENV).is_ok_and(|v| v == "1") {
        return;
    }
    // SAFETY: the closure only calls personality(2), which is
    // async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            // 0xffffffff queries the current persona without changing it.
            let current = libc::personality(0xffff_ffff);
            if current != -1 {
                libc::personality((current | libc::ADDR_NO_RANDOMIZE) as libc::c_ulong);
            }
            Ok(())
        });
    }
}

/// Restricts this process (and the threads it starts later) to `cpus`.
pub fn set_process_affinity(cpus: &[u32]) -> Result<(), OsError> {
    if cpus.is_empty() {
        return Ok(());
    }
    // SAFETY: cpu_set_t is plain data; zeroed is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: CPU_SET writes within the set for cpu < CPU_SETSIZE.
        if (cpu as usize) < libc::CPU_SETSIZE as usize {
            unsafe { libc::CPU_SET(cpu as usize, &mut set) };
        }
    }
    // SAFETY: pid 0 is this process; the size matches the set.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(OsError::Affinity {
            cpus: cpus.to_vec(),
            reason: std::io::Error::last_os_error().to_string(),
        });
    }
    Ok(())
}

/// Why a Python step failed, from its stderr.
#[derive(Debug, PartialEq, Eq)]
pub enum StepFailure<'a> {
    /// The step's own one-line reason: its last line after its prefix.
    Own(&'a str),
    /// The step died before saying why: the last non-empty line, if any
    /// (a traceback's exception, an interpreter's message).
    Other(Option<&'a str>),
}

/// The reason a Python step (a child that reports failures as
/// `PREFIX reason`) gives on stderr.
pub fn step_failure<'a>(stderr: &'a str, prefix: &str) -> StepFailure<'a> {
    match stderr.lines().rev().find_map(|l| l.strip_prefix(prefix)) {
        Some(own) => StepFailure::Own(own.trim()),
        None => StepFailure::Other(stderr.lines().rev().map(str::trim).find(|l| !l.is_empty())),
    }
}

/// The answer a child process printed: its last line that starts a JSON
/// object (libraries may print before it).
pub fn last_json_line(stdout: &str) -> &str {
    stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_steps_own_reason_wins_over_its_last_line() {
        let stderr = "warning: x\ninductor compile failed: CppCompileError: g++ exited 1\nTraceback ...\n  File y\n\n";
        assert_eq!(
            step_failure(stderr, "inductor compile failed: "),
            StepFailure::Own("CppCompileError: g++ exited 1")
        );
        assert_eq!(
            step_failure(
                "Traceback\nRuntimeError: boom  \n\n",
                "inductor compile failed: "
            ),
            StepFailure::Other(Some("RuntimeError: boom"))
        );
        assert_eq!(step_failure("\n \n", "p: "), StepFailure::Other(None));
    }

    #[test]
    fn a_child_started_with_a_fixed_layout_is_not_randomized() {
        let persona = |fixed: bool| {
            let mut command = std::process::Command::new("cat");
            command.arg("/proc/self/personality");
            if fixed {
                with_fixed_address_layout(&mut command);
            }
            let out = command.output().unwrap();
            u64::from_str_radix(String::from_utf8_lossy(&out.stdout).trim(), 16).unwrap()
        };
        let flag = libc::ADDR_NO_RANDOMIZE as u64;
        assert_ne!(persona(true) & flag, 0);
        assert_eq!(
            persona(false) & flag,
            0,
            "this test's own process runs with ASLR"
        );
    }
}
