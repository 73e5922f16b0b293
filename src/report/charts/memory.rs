//! Peak memory (the trial child's peak RSS) per config.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, plot, Draw};
use crate::report::results::Results;

pub struct Memory;

impl Draw for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn draw<DB: DrawingBackend>(
        &self,
        results: &Results,
        root: &DrawingArea<DB, Shift>,
    ) -> anyhow::Result<()> {
        plot(root.fill(&WHITE))?;
        let trials: Vec<_> = results
            .trials
            .iter()
            .filter(|t| t.peak_rss_bytes > 0)
            .collect();
        let mib: Vec<f64> = trials
            .iter()
            .map(|t| t.peak_rss_bytes as f64 / (1 << 20) as f64)
            .collect();
        let max = mib.iter().cloned().fold(0.0, f64::max).max(1.0) * 1.1;
        let mut chart = plot(
            ChartBuilder::on(root)
                .caption(
                    "Peak memory (RSS of the trial process, MiB)",
                    ("sans-serif", 18),
                )
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(70)
                .build_cartesian_2d((0..trials.len()).into_segmented(), 0.0..max),
        )?;
        plot(
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(trials.len().min(40))
                .x_label_formatter(&|x| match x {
                    SegmentValue::CenterOf(i) => trials
                        .get(*i)
                        .map(|t| format!("#{}", t.id))
                        .unwrap_or_default(),
                    _ => String::new(),
                })
                .y_desc("MiB")
                .draw(),
        )?;
        plot(
            chart.draw_series(trials.iter().zip(&mib).enumerate().map(|(i, (t, v))| {
                Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), *v),
                    ],
                    colour(results, t.id).filled(),
                )
            })),
        )?;
        Ok(())
    }
}
