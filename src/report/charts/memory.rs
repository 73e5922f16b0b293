//! Peak memory (the trial child's peak RSS) per config.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{bars, Draw};
use crate::record::Results;

pub struct Memory;

impl Draw for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn size(&self, results: &Results) -> (u32, u32) {
        super::rows_size(
            results
                .trials
                .iter()
                .filter(|t| t.peak_rss_bytes > 0)
                .count(),
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        results: &Results,
        root: &DrawingArea<DB, Shift>,
    ) -> anyhow::Result<()> {
        let values: Vec<(usize, f64)> = results
            .trials
            .iter()
            .filter(|t| t.peak_rss_bytes > 0)
            .map(|t| (t.id, t.peak_rss_bytes as f64 / (1 << 20) as f64))
            .collect();
        bars(
            results,
            root,
            "Peak memory (RSS of the trial process, MiB)",
            "MiB",
            &values,
        )
    }
}
