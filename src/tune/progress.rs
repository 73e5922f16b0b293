//! What `run` shows while it works, on stderr: a live line for the trial
//! being measured (trial k of the planned count, elapsed, budget left, an
//! estimate of the end) and, above it, one line per finished trial
//! (samples/s, speedup, accuracy, status). On a terminal the live line is a
//! spinner and statuses are coloured; otherwise (CI logs, pipes) each trial
//! gets a plain start line and a result line, no escape codes.
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::record::{Status, TrialRecord};
use crate::term::{self, Paint};

/// How far a run is, and how it is shown.
pub struct Progress {
    enabled: bool,
    terminal: bool,
    paint: Paint,
    start: Instant,
    budget: Option<Duration>,
    /// Trials the run expects in all (stock twice included), when known
    /// up front (a `--config` list, the grid); the guided search decides
    /// as it goes.
    planned: Option<usize>,
    /// Wall seconds of the trials so far.
    walls: Vec<f64>,
}

impl Progress {
    pub fn new(enabled: bool, budget: Option<Duration>) -> Progress {
        Progress {
            enabled,
            terminal: std::io::stderr().is_terminal(),
            paint: term::for_stderr(),
            start: Instant::now(),
            budget,
            planned: None,
            walls: Vec::new(),
        }
    }

    /// The count of trials the search will run (stock's two included).
    pub fn plan(&mut self, searched: usize) {
        self.planned = Some(searched + 2);
    }

    /// "trial 3 of 12 · 1m05s · budget left 3m55s · about 2m20s to go".
    fn status_line(&self, id: usize) -> String {
        let k = id + 1;
        let mut parts = vec![match self.planned {
            Some(n) => format!("trial {k} of {}", n.max(k)),
            None => format!("trial {k}"),
        }];
        let elapsed = self.start.elapsed();
        parts.push(format_duration(elapsed));
        let left = self.budget.map(|b| b.saturating_sub(elapsed));
        if let Some(left) = left {
            parts.push(format!("budget left {}", format_duration(left)));
        }
        if let Some(eta) = estimate_left(&self.walls, self.planned, id, left) {
            parts.push(format!("about {} to go", format_duration(eta)));
        }
        parts.join(" · ")
    }

    /// Shows that trial `id` started; the spinner (on a terminal) lives
    /// until [`Progress::finished`].
    pub fn started(&self, id: usize, label: &str) -> Option<ProgressBar> {
        if !self.enabled {
            return None;
        }
        let line = format!("{} · {label}", self.status_line(id));
        if self.terminal {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"),
            );
            bar.set_message(line);
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            eprintln!("{line} ...");
            None
        }
    }

    /// One line for a finished trial (printed above the spinner).
    pub fn finished(&mut self, record: &TrialRecord) {
        self.walls.push(record.wall_s);
        if self.enabled {
            eprintln!("{}", self.result_line(record));
        }
    }

    fn result_line(&self, t: &TrialRecord) -> String {
        let p = &self.paint;
        let status = match (t.status, t.accurate) {
            (Status::Ok, Some(false)) => p.warn("inaccurate"),
            (Status::Ok, _) => p.pass("ok"),
            (other, _) => p.fail(other.name()),
        };
        let figures = match &t.stats {
            Some(s) => format!(
                "{:>10.1} samples/s {:>7}",
                s.samples_per_s,
                t.speedup.map_or(String::new(), |x| format!("{x:.2}x"))
            ),
            None => format!("{:>28}", ""),
        };
        let why = match (&t.accuracy_problem, &t.reason) {
            (Some(problem), _) => format!(" ({problem})"),
            (None, Some(reason)) if t.status != Status::Ok => format!(" ({reason})"),
            _ => String::new(),
        };
        format!("#{:<3} {status} {figures}  {}{why}", t.id, t.label)
    }
}

/// The time the remaining planned trials should take at the mean pace so
/// far, never beyond what is left of the budget.
fn estimate_left(
    walls: &[f64],
    planned: Option<usize>,
    id: usize,
    budget_left: Option<Duration>,
) -> Option<Duration> {
    let mean = (!walls.is_empty()).then(|| walls.iter().sum::<f64>() / walls.len() as f64)?;
    let by_plan = planned.map(|n| Duration::from_secs_f64(mean * n.saturating_sub(id) as f64));
    match (by_plan, budget_left) {
        (Some(p), Some(b)) => Some(p.min(b)),
        (Some(p), None) => Some(p),
        (None, Some(b)) => Some(b),
        (None, None) => None,
    }
}

/// "45s", "3m05s", "1h02m".
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn the_estimate_follows_the_pace_and_stays_within_the_budget() {
        let walls = [2.0, 4.0];
        // 3 s a trial, trial index 2 of 10 planned: 8 trials left.
        assert_eq!(
            estimate_left(&walls, Some(10), 2, None),
            Some(Duration::from_secs(24))
        );
        assert_eq!(
            estimate_left(&walls, Some(10), 2, Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
        assert_eq!(estimate_left(&[], Some(10), 0, None), None);
    }

    #[test]
    fn status_lines_count_trials_against_the_plan() {
        let mut p = Progress::new(false, None);
        p.plan(3);
        let line = p.status_line(1);
        assert!(line.starts_with("trial 2 of 5 · "), "{line}");
        let unplanned = Progress::new(false, Some(Duration::from_secs(60)));
        let line = unplanned.status_line(0);
        assert!(line.starts_with("trial 1 · 0s · budget left "), "{line}");
    }
}
