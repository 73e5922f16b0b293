//! Throughput per config: bars, stock highlighted.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, measured, plot, Draw};
use crate::report::results::Results;

pub struct Throughput;

impl Draw for Throughput {
    fn name(&self) -> &'static str {
        "throughput"
    }

    fn draw<DB: DrawingBackend>(
        &self,
        results: &Results,
        root: &DrawingArea<DB, Shift>,
    ) -> anyhow::Result<()> {
        plot(root.fill(&WHITE))?;
        let trials = measured(results);
        let values: Vec<f64> = trials
            .iter()
            .map(|t| t.stats.as_ref().map_or(0.0, |s| s.samples_per_s))
            .collect();
        let max = values.iter().cloned().fold(0.0, f64::max).max(1e-9) * 1.1;
        let mut chart = plot(
            ChartBuilder::on(root)
                .caption(
                    "Throughput (samples/s; red = stock, green = winner)",
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
                .y_desc("samples/s")
                .draw(),
        )?;
        plot(
            chart.draw_series(trials.iter().zip(&values).enumerate().map(|(i, (t, v))| {
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
