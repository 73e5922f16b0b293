//! Charts, one per file, behind [`Chart`]: each draws itself with plotters
//! onto any backend; the blanket impl renders SVG (inlined in the HTML
//! report) and PNG (exported files).
mod accuracy_speedup;
mod latency;
mod memory;
mod throughput;

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::record::Results;

pub const SIZE: (u32, u32) = (900, 420);

/// Drawing a chart on a plotters backend.
pub trait Draw {
    /// File-name stem of the PNG export, e.g. "throughput".
    fn name(&self) -> &'static str;
    fn draw<DB: DrawingBackend>(
        &self,
        results: &Results,
        root: &DrawingArea<DB, Shift>,
    ) -> anyhow::Result<()>;
}

/// A chart that renders to SVG text or a PNG file.
pub trait Chart {
    fn name(&self) -> &'static str;
    fn svg(&self, results: &Results) -> anyhow::Result<String>;
    fn png(&self, results: &Results, path: &Path) -> anyhow::Result<()>;
}

impl<T: Draw> Chart for T {
    fn name(&self) -> &'static str {
        Draw::name(self)
    }

    fn svg(&self, results: &Results) -> anyhow::Result<String> {
        // plotters measures text with the font even when the SVG only names it.
        super::fonts::register()?;
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
            self.draw(results, &root)?;
            plot(root.present())?;
        }
        Ok(out)
    }

    fn png(&self, results: &Results, path: &Path) -> anyhow::Result<()> {
        super::fonts::register()?;
        let root = BitMapBackend::new(path, SIZE).into_drawing_area();
        self.draw(results, &root)?;
        plot(root.present())?;
        Ok(())
    }
}

/// Every chart of a report, in display order.
pub fn all() -> Vec<Box<dyn Chart>> {
    vec![
        Box::new(throughput::Throughput),
        Box::new(latency::Latency),
        Box::new(memory::Memory),
        Box::new(accuracy_speedup::AccuracySpeedup),
    ]
}

/// plotters' errors carry backend types; flatten them into anyhow.
pub fn plot<T, E: std::fmt::Debug>(result: Result<T, E>) -> anyhow::Result<T> {
    result.map_err(|e| anyhow::anyhow!("drawing failed: {e:?}"))
}

/// Trials that produced statistics, with their index labels ("#3").
pub fn measured(results: &Results) -> Vec<&crate::record::TrialRecord> {
    results
        .trials
        .iter()
        .filter(|t| t.stats.is_some())
        .collect()
}

pub const STOCK: RGBColor = RGBColor(214, 96, 77);
pub const CANDIDATE: RGBColor = RGBColor(67, 147, 195);
pub const WINNER: RGBColor = RGBColor(27, 120, 55);

/// A bar per trial (`(trial id, value)`), x labelled `#id`, coloured by
/// [`colour`]: the shape of the throughput and memory charts.
pub fn bars<DB: DrawingBackend>(
    results: &Results,
    root: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    bars: &[(usize, f64)],
) -> anyhow::Result<()> {
    plot(root.fill(&WHITE))?;
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9) * 1.1;
    let mut chart = plot(
        ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d((0..bars.len()).into_segmented(), 0.0..max),
    )?;
    plot(
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len().min(40))
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => bars
                    .get(*i)
                    .map(|b| format!("#{}", b.0))
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .y_desc(y_desc)
            .draw(),
    )?;
    plot(
        chart.draw_series(bars.iter().enumerate().map(|(i, (id, v))| {
            Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                colour(results, *id).filled(),
            )
        })),
    )?;
    Ok(())
}

/// The bar colour of a trial: stock, the winner, or another candidate.
pub fn colour(results: &Results, id: usize) -> RGBColor {
    if id == 0 {
        STOCK
    } else if results.winner.as_ref().is_some_and(|w| w.trial == id) {
        WINNER
    } else {
        CANDIDATE
    }
}
