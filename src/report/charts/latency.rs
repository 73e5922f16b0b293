//! Latency distribution per config, one row per trial: a box from the
//! first to the third quartile, the median as a bar across it, whiskers to
//! the furthest iteration within 1.5 IQR of the box (Tukey's; never past
//! the data), and p99 as a circle. The axis ends past every whisker and
//! p99, so nothing is cut off.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, label_of, measured, plot, short_label, Draw, LABEL_AREA};
use crate::record::Results;

pub struct Latency;

/// Quartiles and whiskers of one trial's latencies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxStats {
    pub low: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub high: f64,
}

/// Linear-interpolated quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + (next - sorted[i]) * frac,
        None => sorted[i],
    }
}

/// Tukey's box of `values`: whiskers at the furthest values within 1.5 IQR.
pub fn box_stats(values: &[f64]) -> Option<BoxStats> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let (q1, median, q3) = (
        quantile(&sorted, 0.25),
        quantile(&sorted, 0.5),
        quantile(&sorted, 0.75),
    );
    let reach = 1.5 * (q3 - q1);
    let low = sorted
        .iter()
        .copied()
        .find(|v| *v >= q1 - reach)
        .unwrap_or(q1);
    let high = sorted
        .iter()
        .rev()
        .copied()
        .find(|v| *v <= q3 + reach)
        .unwrap_or(q3);
    Some(BoxStats {
        low,
        q1,
        median,
        q3,
        high,
    })
}

impl Draw for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn size(&self, results: &Results) -> (u32, u32) {
        super::rows_size(
            measured(results)
                .iter()
                .filter(|t| !t.latencies_ms.is_empty())
                .count(),
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        results: &Results,
        root: &DrawingArea<DB, Shift>,
    ) -> anyhow::Result<()> {
        plot(root.fill(&WHITE))?;
        let rows: Vec<(usize, BoxStats, f64)> = measured(results)
            .into_iter()
            .filter_map(|t| {
                let stats = box_stats(&t.latencies_ms)?;
                Some((
                    t.id,
                    stats,
                    t.stats.as_ref().map_or(stats.high, |s| s.p99_ms),
                ))
            })
            .collect();
        let max = rows
            .iter()
            .map(|(_, b, p99)| b.high.max(*p99))
            .fold(1e-6, f64::max)
            * 1.08;
        let labels: Vec<String> = rows
            .iter()
            .map(|(id, _, _)| short_label(*id, &label_of(results, *id)))
            .collect();
        let mut chart = plot(
            ChartBuilder::on(root)
                .caption(
                    "Latency per iteration (ms): box = quartiles, | = median, whiskers within 1.5 IQR, o = p99",
                    ("sans-serif", 16),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(LABEL_AREA)
                .build_cartesian_2d(0.0..max, (0..rows.len()).into_segmented()),
        )?;
        plot(
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(rows.len())
                .y_label_style(("sans-serif", 12))
                .y_label_formatter(&|y| match y {
                    SegmentValue::CenterOf(i) => labels
                        .get(super::top_down(*i, labels.len()))
                        .cloned()
                        .unwrap_or_default(),
                    _ => String::new(),
                })
                .x_desc("ms")
                .draw(),
        )?;
        for (i, (id, b, p99)) in rows.iter().enumerate() {
            let i = super::top_down(i, rows.len());
            let c = colour(results, *id);
            let centre = SegmentValue::CenterOf(i);
            let mut body = Rectangle::new(
                [
                    (b.q1, SegmentValue::Exact(i)),
                    (b.q3, SegmentValue::Exact(i + 1)),
                ],
                c.mix(0.35).filled(),
            );
            body.set_margin(4, 4, 0, 0);
            plot(chart.draw_series([body]))?;
            let whisker = |from: f64, to: f64| {
                PathElement::new(
                    vec![(from, centre.clone()), (to, centre.clone())],
                    c.stroke_width(1),
                )
            };
            plot(chart.draw_series([whisker(b.low, b.q1), whisker(b.q3, b.high)]))?;
            let mut median = Rectangle::new(
                [
                    (b.median, SegmentValue::Exact(i)),
                    (b.median + max * 0.002, SegmentValue::Exact(i + 1)),
                ],
                c.filled(),
            );
            median.set_margin(2, 2, 0, 0);
            plot(chart.draw_series([median]))?;
            plot(chart.draw_series([Circle::new((*p99, centre.clone()), 4, c.stroke_width(2))]))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiskers_stop_at_the_data() {
        // Quartiles 2 and 4 (IQR 2): the fences are -1 and 7; 100 is an
        // outlier, so the upper whisker is the largest value within, 5.
        let b = box_stats(&[1.0, 2.0, 3.0, 4.0, 5.0, 2.0, 3.0, 4.0, 100.0]).unwrap();
        assert_eq!((b.q1, b.median, b.q3), (2.0, 3.0, 4.0));
        assert_eq!((b.low, b.high), (1.0, 5.0));
        // All equal: a flat box, whiskers on it.
        let flat = box_stats(&[2.0; 5]).unwrap();
        assert_eq!((flat.low, flat.high), (2.0, 2.0));
        assert!(box_stats(&[]).is_none());
    }
}
