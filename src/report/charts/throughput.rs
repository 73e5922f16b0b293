//! Throughput per config: a bar per trial, stock and the winner highlighted.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{bars, measured, Draw};
use crate::record::Results;

pub struct Throughput;

impl Draw for Throughput {
    fn name(&self) -> &'static str {
        "throughput"
    }

    fn size(&self, results: &Results) -> (u32, u32) {
        super::rows_size(measured(results).len())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        results: &Results,
        root: &DrawingArea<DB, Shift>,
    ) -> anyhow::Result<()> {
        let values: Vec<(usize, f64)> = measured(results)
            .iter()
            .map(|t| (t.id, t.stats.as_ref().map_or(0.0, |s| s.samples_per_s)))
            .collect();
        bars(
            results,
            root,
            "Throughput (samples/s; red = stock, green = winner)",
            "samples/s",
            &values,
        )
    }
}
