//! Per-shape panels, for suites with several input shapes: one small panel
//! per shape with stock's and the winner's samples/s side by side and the
//! speedup on that shape (over all shapes, a large batch can hide a small
//! one that got slower).
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{plot, Draw, STOCK, WINNER};
use crate::record::Results;
use crate::report::summary::shape_rows;

pub struct PerShape;

impl Draw for PerShape {
    fn name(&self) -> &'static str {
        "per-shape"
    }

    fn draw<DB: DrawingBackend>(
        &self,
        results: &Results,
        root: &DrawingArea<DB, Shift>,
    ) -> anyhow::Result<()> {
        plot(root.fill(&WHITE))?;
        let rows = shape_rows(results);
        let root = root.titled(
            "Per shape: samples/s of stock (red) and the winner (green)",
            ("sans-serif", 18),
        );
        let root = plot(root)?;
        let panels = root.split_evenly((1, rows.len().max(1)));
        for (row, panel) in rows.iter().zip(panels.iter()) {
            let stock = row.stock.map_or(0.0, |s| s.0);
            let max = stock.max(row.winner.0).max(1e-9) * 1.15;
            let mut chart = plot(
                ChartBuilder::on(panel)
                    .caption(
                        format!("{} ({})", row.shape, row.speedup),
                        ("sans-serif", 13),
                    )
                    .margin(10)
                    .x_label_area_size(24)
                    .y_label_area_size(56)
                    .build_cartesian_2d((0..1usize).into_segmented(), 0.0..max),
            )?;
            plot(
                chart
                    .configure_mesh()
                    .disable_x_mesh()
                    .x_labels(2)
                    .x_label_formatter(&|x| match x {
                        SegmentValue::CenterOf(0) => "stock".into(),
                        SegmentValue::CenterOf(1) => "winner".into(),
                        _ => String::new(),
                    })
                    .draw(),
            )?;
            plot(
                chart.draw_series([(0usize, stock, STOCK), (1, row.winner.0, WINNER)].map(
                    |(i, v, c)| {
                        let mut bar = Rectangle::new(
                            [
                                (SegmentValue::Exact(i), 0.0),
                                (SegmentValue::Exact(i + 1), v),
                            ],
                            c.filled(),
                        );
                        bar.set_margin(0, 0, 12, 12);
                        bar
                    },
                )),
            )?;
        }
        Ok(())
    }
}
