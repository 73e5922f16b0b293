//! Latency distribution per config: box plots (quartiles, whiskers at
//! 1.5 IQR), with the median and p99 marked.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, measured, plot, Draw};
use crate::record::Results;

pub struct Latency;

impl Draw for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn draw<DB: DrawingBackend>(
        &self,
        results: &Results,
        root: &DrawingArea<DB, Shift>,
    ) -> anyhow::Result<()> {
        plot(root.fill(&WHITE))?;
        let trials: Vec<_> = measured(results)
            .into_iter()
            .filter(|t| !t.latencies_ms.is_empty())
            .collect();
        let max = trials
            .iter()
            .filter_map(|t| t.stats.as_ref().map(|s| s.p99_ms))
            .fold(0.0f64, f64::max)
            .max(1e-6)
            * 1.15;
        let mut chart = plot(
            ChartBuilder::on(root)
                .caption(
                    "Latency per iteration (ms): box = quartiles, - = median, o = p99",
                    ("sans-serif", 18),
                )
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(70)
                .build_cartesian_2d((0..trials.len()).into_segmented(), 0.0f32..max as f32),
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
                .y_desc("ms")
                .draw(),
        )?;
        plot(chart.draw_series(trials.iter().enumerate().map(|(i, t)| {
            let values: Vec<f32> = t.latencies_ms.iter().map(|v| *v as f32).collect();
            Boxplot::new_vertical(SegmentValue::CenterOf(i), &Quartiles::new(&values))
                .width(14)
                .style(colour(results, t.id))
        })))?;
        plot(
            chart.draw_series(trials.iter().enumerate().filter_map(|(i, t)| {
                t.stats.as_ref().map(|s| {
                    Circle::new(
                        (SegmentValue::CenterOf(i), s.p99_ms as f32),
                        4,
                        colour(results, t.id).stroke_width(2),
                    )
                })
            })),
        )?;
        Ok(())
    }
}
