//! Host quietness: load average and the CPU time other processes used over a
//! short sample, so a benchmark can say when its numbers are not trustworthy.
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Quietness {
    pub load_1m: f64,
    pub load_5m: f64,
    /// Busy CPU time of the whole machine minus this process, as a percentage
    /// of one CPU, over `sample_ms`.
    pub others_cpu_percent: f64,
    pub sample_ms: u64,
}

/// Total busy and total jiffies from the first line of /proc/stat.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    if values.len() < 5 {
        return None;
    }
    let total: u64 = values.iter().take(8).sum();
    // idle + iowait are not busy.
    let idle = values[3] + values[4];
    Some((total - idle, total))
}

/// utime + stime of this process from /proc/self/stat (fields 14 and 15).
pub fn parse_self_stat(text: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces: split after its ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Load averages from /proc/loadavg.
pub fn parse_loadavg(text: &str) -> Option<(f64, f64)> {
    let mut parts = text.split_whitespace();
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn sample() -> Option<(u64, u64, u64)> {
    let (busy, total) = parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
    let own = parse_self_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    Some((busy, total, own))
}

/// Samples /proc/stat for `duration`.
pub fn measure(duration: Duration) -> Quietness {
    let (load_1m, load_5m) = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| parse_loadavg(&t))
        .unwrap_or((0.0, 0.0));
    let before = sample();
    std::thread::sleep(duration);
    let after = sample();
    let others_cpu_percent = match (before, after) {
        (Some((b0, t0, o0)), Some((b1, t1, o1))) if t1 > t0 => {
            let cpus = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as f64;
            let busy = (b1 - b0).saturating_sub(o1 - o0) as f64;
            // jiffies over all CPUs -> percent of one CPU
            100.0 * busy / (t1 - t0) as f64 * cpus
        }
        _ => 0.0,
    };
    Quietness {
        load_1m,
        load_5m,
        others_cpu_percent,
        sample_ms: duration.as_millis() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_busy_excludes_idle_and_iowait() {
        let text = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4 5\n";
        assert_eq!(parse_proc_stat(text), Some((150, 1000)));
    }

    #[test]
    fn self_stat_handles_spaces_in_the_command_name() {
        let text = "1234 (ipex tune) R 1 2 3 4 5 6 7 8 9 10 40 2 0 0 20 0";
        assert_eq!(parse_self_stat(text), Some(42));
    }

    #[test]
    fn loadavg() {
        assert_eq!(parse_loadavg("0.50 1.25 2.00 1/100 42"), Some((0.5, 1.25)));
    }
}
