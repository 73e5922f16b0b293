//! Accuracy vs speedup: each measured candidate's speedup over stock
//! against its largest absolute output error (log scale); red = outside the
//! suite's tolerance.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{measured, plot, Draw, CANDIDATE, STOCK, WINNER};
use crate::record::Results;

pub struct AccuracySpeedup;

/// Errors of exactly 0 are drawn at this floor of the log axis.
const FLOOR: f64 = 1e-10;

impl Draw for AccuracySpeedup {
    fn name(&self) -> &'static str {
        "accuracy-speedup"
    }

    fn draw<DB: DrawingBackend>(
        &self,
        results: &Results,
        root: &DrawingArea<DB, Shift>,
    ) -> anyhow::Result<()> {
        plot(root.fill(&WHITE))?;
        let points: Vec<(usize, f64, f64, bool)> = measured(results)
            .into_iter()
            .filter_map(|t| {
                let error = t
                    .accuracy
                    .as_ref()
                    .map(|a| a.max_abs)
                    .unwrap_or(0.0)
                    .max(FLOOR);
                t.speedup
                    .map(|s| (t.id, s, error, t.accurate != Some(false)))
            })
            .collect();
        let max_speedup = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
        let max_error = points.iter().map(|p| p.2).fold(1e-6, f64::max) * 10.0;
        let mut chart = plot(
            ChartBuilder::on(root)
                .caption(
                    "Accuracy vs speedup (max abs error vs stock; red = out of tolerance)",
                    ("sans-serif", 18),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(80)
                .build_cartesian_2d(0.0..max_speedup, (FLOOR..max_error).log_scale()),
        )?;
        plot(
            chart
                .configure_mesh()
                .x_desc("speedup over stock (x)")
                .y_desc("max abs error")
                .y_label_formatter(&|v| format!("{v:.0e}"))
                .draw(),
        )?;
        let winner = results.winner.as_ref().map(|w| w.trial);
        plot(
            chart.draw_series(points.iter().map(|(id, speedup, error, ok)| {
                let colour = if !ok {
                    STOCK
                } else if Some(*id) == winner {
                    WINNER
                } else {
                    CANDIDATE
                };
                Circle::new((*speedup, *error), 5, colour.filled())
            })),
        )?;
        // Labels where there is room: the winner first, then the points no
        // other point beats on both speed and error (the front a user picks
        // from), then the rest; a label that would overlap one already
        // placed is left out (its point stays, and the table names it).
        let mut order: Vec<&(usize, f64, f64, bool)> = points.iter().collect();
        let dominated = |p: &(usize, f64, f64, bool)| {
            points
                .iter()
                .any(|q| q.0 != p.0 && q.1 >= p.1 && q.2 <= p.2 && (q.1 > p.1 || q.2 < p.2))
        };
        order.sort_by_key(|p| {
            (
                Some(p.0) != winner,
                dominated(p),
                std::cmp::Reverse(p.1 as i64),
            )
        });
        let mut placed: Vec<(i32, i32, i32)> = Vec::new();
        for (id, speedup, error, _) in order {
            let text = super::short_label(*id, &super::label_of(results, *id));
            let (x, y) = chart.backend_coord(&(*speedup, *error));
            let width = 7 * text.len() as i32;
            let (right, _) = root.dim_in_pixel();
            // Right of the point, or above it where the right edge is near.
            let (x, y) = if x + 7 + width < right as i32 - 4 {
                (x + 7, y - 6)
            } else {
                (x - width / 2, y - 20)
            };
            if placed
                .iter()
                .any(|&(px, py, pw)| (y - py).abs() < 14 && x < px + pw && px < x + width)
            {
                continue;
            }
            placed.push((x, y, width));
            plot(root.draw(&Text::new(text, (x, y), ("sans-serif", 12))))?;
        }
        Ok(())
    }
}
