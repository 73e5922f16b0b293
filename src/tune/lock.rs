//! One timing run per set of cores. Two benchmarks on the same cores ruin
//! each other's figures (measured 20x slower on 2 cores) and neither can
//! tell, so a run holds an exclusive lock on every CPU it times on, and a
//! second run on any of them waits or stops with a message naming the
//! holder. Runs on disjoint CPUs proceed side by side.
//!
//! The locks are `flock`s on one file per CPU in a shared folder
//! (`/tmp/ipex-tune-locks`, or `IPEX_TUNE_LOCK_DIR`): the kernel releases
//! them when the process ends, however it ends, so a killed run never
//! leaves a stale lock. Each file holds its holder's pid, command and
//! start time for the message. Trial children run under their parent's
//! lock (the files are opened close-on-exec; children never take it).
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The folder of the lock files, shared by every user of the host.
pub fn lock_dir() -> PathBuf {
    std::env::var_os("IPEX_TUNE_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/ipex-tune-locks"))
}

/// What to do when another run holds some of the cores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LockPolicy {
    /// `--no-lock`: time regardless (for those who know the cores are theirs).
    Skip,
    /// Wait up to this long for the cores (zero: refuse at once).
    WaitUpTo(Duration),
}

/// The cores are held by another run (exit code 4).
#[derive(Debug, thiserror::Error)]
#[error("{}", describe_busy(.cpus, .holder, .waited))]
pub struct CoresBusy {
    pub cpus: Vec<u32>,
    /// The holder's own description: pid, command, since when.
    pub holder: String,
    pub waited: Option<Duration>,
}

fn describe_busy(cpus: &[u32], holder: &str, waited: &Option<Duration>) -> String {
    let waited = match waited {
        Some(d) if !d.is_zero() => format!(" (waited {}s)", d.as_secs()),
        _ => String::new(),
    };
    format!(
        "CPU {} is being timed by another ipex-tune run ({holder}){waited}; two runs on the same cores ruin both measurements: wait for it (--lock-wait 30m), choose other cores (--cores), or pass --no-lock",
        crate::host::topology::cpu_list(cpus)
    )
}

/// The locks a run holds until it is dropped.
#[derive(Debug)]
pub struct CoresLock {
    _files: Vec<File>,
}

/// Takes the lock of every CPU in `cpus` (in ascending order, so two runs
/// never hold halves of each other's sets) as `policy` says. `what`
/// (`this_process()`) is written into the files for a waiting run's
/// message; `on_wait` is called once when the run starts waiting.
pub fn lock_cores(
    cpus: &[u32],
    policy: LockPolicy,
    what: &str,
    mut on_wait: impl FnMut(&CoresBusy),
) -> anyhow::Result<Option<CoresLock>> {
    let wait = match policy {
        LockPolicy::Skip => return Ok(None),
        LockPolicy::WaitUpTo(d) => d,
    };
    let dir = lock_dir();
    create_shared_dir(&dir)?;
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let started = Instant::now();
    let mut told = false;
    loop {
        match try_lock_all(&dir, &sorted, what)? {
            Ok(files) => return Ok(Some(CoresLock { _files: files })),
            Err(mut busy) => {
                let waited = started.elapsed();
                if waited >= wait {
                    busy.waited = Some(waited);
                    return Err(busy.into());
                }
                if !told {
                    on_wait(&busy);
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(500).min(wait - waited));
            }
        }
    }
}

/// Either every lock, or the first busy CPU and its holder (the locks
/// taken so far are released when their files drop).
fn try_lock_all(
    dir: &std::path::Path,
    cpus: &[u32],
    what: &str,
) -> anyhow::Result<Result<Vec<File>, CoresBusy>> {
    let mut files = Vec::with_capacity(cpus.len());
    for &cpu in cpus {
        let path = dir.join(format!("cpu{cpu}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open the lock file {}: {e}", path.display()))?;
        share(&path);
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.rewind()?;
                file.write_all(what.as_bytes())?;
                files.push(file);
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut written = String::new();
                file.read_to_string(&mut written).ok();
                let holder = describe_holder(&written, now_unix());
                return Ok(Err(CoresBusy {
                    cpus: vec![cpu],
                    holder,
                    waited: None,
                }));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                anyhow::bail!("cannot lock {}: {e}", path.display())
            }
        }
    }
    Ok(Ok(files))
}

/// Creates the lock folder writable by every user (sticky, like /tmp).
fn create_shared_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create the lock folder {}: {e}", dir.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).ok();
    }
    Ok(())
}

/// Lets another user's run open (and lock) the same file; best effort:
/// only the file's owner may change it.
fn share(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).ok();
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a lock file holds: "PID START_UNIX COMMAND...", one line.
pub fn this_process() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|p| p.rsplit('/').next().unwrap_or(&p).to_string())
        .unwrap_or_default();
    let command: Vec<String> = std::iter::once(program).chain(args).collect();
    format!(
        "{} {} {}",
        std::process::id(),
        now_unix(),
        command.join(" ")
    )
}

/// "pid 123: ipex-tune run m.pt, for 3m 12s" from a lock file's line.
fn describe_holder(written: &str, now: u64) -> String {
    let mut parts = written.trim().splitn(3, ' ');
    match (
        parts.next().and_then(|p| p.parse::<u32>().ok()),
        parts.next().and_then(|s| s.parse::<u64>().ok()),
        parts.next(),
    ) {
        (Some(pid), Some(start), Some(command)) => {
            let s = now.saturating_sub(start);
            format!("pid {pid}: {command}, for {}m {}s", s / 60, s % 60)
        }
        _ => "a process that did not say who it is".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_core_sets_exclude_each_other_and_disjoint_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        // The variable is read per call; tests in this module use their own folder.
        let lock =
            |cpus: &[u32]| try_lock_all(dir.path(), cpus, "77 100 ipex-tune run m.pt").unwrap();
        let first = lock(&[0, 1]).expect("free cores lock");
        let busy = lock(&[1, 2]).expect_err("CPU 1 is held");
        assert_eq!(busy.cpus, vec![1]);
        assert!(
            busy.holder.starts_with("pid 77: ipex-tune run m.pt, for "),
            "{}",
            busy.holder
        );
        assert!(lock(&[2, 3]).is_ok(), "disjoint cores are free");
        drop(first);
        assert!(lock(&[1, 2]).is_ok(), "released on drop");
    }

    #[test]
    fn the_message_names_the_cores_the_holder_and_the_ways_out() {
        let busy = CoresBusy {
            cpus: vec![3],
            holder: "pid 7: ipex-tune run m.pt, since then".into(),
            waited: Some(Duration::from_secs(2)),
        };
        let text = busy.to_string();
        for needle in [
            "CPU 3",
            "pid 7",
            "waited 2s",
            "--no-lock",
            "--lock-wait",
            "--cores",
        ] {
            assert!(text.contains(needle), "{text}");
        }
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn skip_takes_nothing() {
        assert!(lock_cores(&[0], LockPolicy::Skip, "x", |_| {})
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_holder_is_described_from_its_line() {
        assert_eq!(
            describe_holder("12 1000 ipex-tune run a b.pt\n", 1075),
            "pid 12: ipex-tune run a b.pt, for 1m 15s"
        );
        assert_eq!(
            describe_holder("", 5),
            "a process that did not say who it is"
        );
    }
}
