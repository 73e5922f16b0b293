//! What else the machine did while a trial was timed. Two benchmarks at
//! once on a small host ruin both, and memory pressure from another process
//! made stock 50x slower once: a figure measured under interference must
//! say so (and the session measures it again). Per timed window:
//! - CPU time other processes (and the hypervisor: steal) took on the
//!   trial's cores, from /proc/stat's per-CPU counters minus this process's
//!   own CPU time (getrusage);
//! - this process's page faults and context switches (getrusage): major
//!   faults mean memory pressure, involuntary switches preemption.
use serde::{Deserialize, Serialize};

use crate::native::os::{clock_ticks, self_usage, Usage};

/// A timed window's interference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Interference {
    pub window_s: f64,
    pub cores: usize,
    /// CPU seconds other processes used on the trial's cores.
    pub others_cpu_s: f64,
    /// Seconds the hypervisor gave the trial's cores to someone else.
    pub steal_s: f64,
    pub major_faults: u64,
    pub minor_faults: u64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
}

/// Interference above this share of the cores' time marks a trial.
pub const DISTURBED_SHARE: f64 = 0.05;

impl Interference {
    /// The share of the trial's core time others (or steal) took.
    pub fn share(&self) -> f64 {
        let capacity = self.window_s * self.cores.max(1) as f64;
        if capacity > 0.0 {
            (self.others_cpu_s + self.steal_s) / capacity
        } else {
            0.0
        }
    }

    /// Why this window's figures are not trustworthy, if they are not.
    /// One clock tick (10 ms) of others' CPU is below what /proc/stat
    /// resolves, so short windows need at least two ticks to count.
    pub fn disturbed(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.share() > DISTURBED_SHARE && self.others_cpu_s + self.steal_s > 0.02 {
            why.push(format!(
                "other processes or steal took {:.0}% of the trial's cores ({:.2} s of {:.2} s x {})",
                self.share() * 100.0,
                self.others_cpu_s + self.steal_s,
                self.window_s,
                self.cores
            ));
        }
        if self.major_faults > 0 {
            why.push(format!(
                "{} major page fault(s): memory pressure",
                self.major_faults
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// Minor page faults per call of a window of `calls` calls.
    pub fn minor_faults_per_call(&self, calls: usize) -> f64 {
        self.minor_faults as f64 / calls.max(1) as f64
    }

    /// Two windows of the same cores, one after the other (processes timed
    /// in turn), as one.
    pub fn plus(self, other: Interference) -> Interference {
        Interference {
            window_s: self.window_s + other.window_s,
            cores: self.cores.max(other.cores),
            others_cpu_s: self.others_cpu_s + other.others_cpu_s,
            steal_s: self.steal_s + other.steal_s,
            major_faults: self.major_faults + other.major_faults,
            minor_faults: self.minor_faults + other.minor_faults,
            voluntary_switches: self.voluntary_switches + other.voluntary_switches,
            involuntary_switches: self.involuntary_switches + other.involuntary_switches,
        }
    }

    /// The worse of two windows (e.g. instances timed at once).
    pub fn worse(self, other: Interference) -> Interference {
        if other.share() > self.share() || other.major_faults > self.major_faults {
            other
        } else {
            self
        }
    }
}

/// Busy and steal ticks of some CPUs, from /proc/stat.
fn cpu_ticks(cpus: &[u32]) -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    parse_cpu_ticks(&stat, cpus)
}

/// (busy, steal) ticks summed over the `cpuN` lines of `cpus`: busy is
/// user + nice + system + irq + softirq (guest time is inside user).
pub fn parse_cpu_ticks(stat: &str, cpus: &[u32]) -> (u64, u64) {
    let mut busy = 0;
    let mut steal = 0;
    for line in stat.lines() {
        let mut fields = line.split_whitespace();
        let Some(cpu) = fields
            .next()
            .and_then(|name| name.strip_prefix("cpu"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if !cpus.contains(&cpu) {
            continue;
        }
        let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        busy += at(0) + at(1) + at(2) + at(5) + at(6);
        steal += at(7);
    }
    (busy, steal)
}

/// A window being watched.
pub struct Probe {
    cpus: Vec<u32>,
    start: std::time::Instant,
    ticks: (u64, u64),
    usage: Usage,
}

impl Probe {
    /// Starts watching the trial's `cpus`.
    pub fn start(cpus: &[u32]) -> Probe {
        Probe {
            cpus: cpus.to_vec(),
            start: std::time::Instant::now(),
            ticks: cpu_ticks(cpus),
            usage: self_usage(),
        }
    }

    /// What happened since `start`.
    pub fn finish(self) -> Interference {
        let (busy, steal) = cpu_ticks(&self.cpus);
        let usage = self_usage();
        let hz = clock_ticks();
        let busy_s = busy.saturating_sub(self.ticks.0) as f64 / hz;
        Interference {
            window_s: self.start.elapsed().as_secs_f64(),
            cores: self.cpus.len(),
            others_cpu_s: (busy_s - (usage.cpu_s - self.usage.cpu_s)).max(0.0),
            steal_s: steal.saturating_sub(self.ticks.1) as f64 / hz,
            major_faults: usage.major_faults - self.usage.major_faults,
            minor_faults: usage.minor_faults - self.usage.minor_faults,
            voluntary_switches: usage.voluntary_switches - self.usage.voluntary_switches,
            involuntary_switches: usage.involuntary_switches - self.usage.involuntary_switches,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 0 50 1000 0 0 0 0 0 0\n\
                        cpu0 10 1 5 500 7 2 3 4 0 0\n\
                        cpu1 20 0 10 500 0 0 0 6 0 0\n\
                        intr 12345\n";

    #[test]
    fn ticks_of_the_given_cpus_only() {
        // cpu0: 10 + 1 + 5 + 2 + 3 = 21 busy (iowait 7 is idle), steal 4.
        assert_eq!(parse_cpu_ticks(STAT, &[0]), (21, 4));
        assert_eq!(parse_cpu_ticks(STAT, &[0, 1]), (51, 10));
        assert_eq!(parse_cpu_ticks(STAT, &[7]), (0, 0));
    }

    #[test]
    fn a_quiet_window_is_not_disturbed() {
        let quiet = Interference {
            window_s: 2.0,
            cores: 2,
            others_cpu_s: 0.01,
            ..Interference::default()
        };
        assert!(quiet.disturbed().is_none());
        let busy = Interference {
            others_cpu_s: 1.0,
            ..quiet.clone()
        };
        assert!((busy.share() - 0.25).abs() < 1e-9);
        assert!(busy.disturbed().unwrap().contains("25%"));
        let paging = Interference {
            major_faults: 3,
            ..quiet.clone()
        };
        assert!(paging.disturbed().unwrap().contains("memory pressure"));
        assert_eq!(quiet.clone().worse(busy.clone()), busy);
    }

    #[test]
    fn a_real_window_measures_this_process() {
        let cpus = crate::native::os::affinity().unwrap_or_default();
        let probe = Probe::start(&cpus);
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let seen = probe.finish();
        assert_eq!(seen.cores, cpus.len());
        assert!(seen.window_s > 0.0 && seen.others_cpu_s >= 0.0);
    }
}
