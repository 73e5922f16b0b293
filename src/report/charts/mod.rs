//! Charts, one per file, behind [`Chart`]: each draws itself with plotters
//! onto any backend; the blanket impl renders SVG (inlined in the HTML
//! report) and PNG (exported files).
mod accuracy_speedup;
mod latency;
mod memory;
mod per_shape;
mod roofline;
mod throughput;

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::record::Results;

pub const SIZE: (u32, u32) = (900, 420);

/// Width of the label column of the per-trial charts (short labels fit).
pub const LABEL_AREA: u32 = 290;

/// A chart with one row per trial grows with the trials: 20 px a row.
pub fn rows_size(rows: usize) -> (u32, u32) {
    (SIZE.0, (90 + 20 * rows as u32).max(200))
}

/// Drawing a chart on a plotters backend.
pub trait Draw {
    /// File-name stem of the PNG export, e.g. "throughput".
    fn name(&self) -> &'static str;
    /// Pixel size for these results.
    fn size(&self, _results: &Results) -> (u32, u32) {
        SIZE
    }
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
            let root = SVGBackend::with_string(&mut out, self.size(results)).into_drawing_area();
            self.draw(results, &root)?;
            plot(root.present())?;
        }
        Ok(out)
    }

    fn png(&self, results: &Results, path: &Path) -> anyhow::Result<()> {
        super::fonts::register()?;
        let root = BitMapBackend::new(path, self.size(results)).into_drawing_area();
        self.draw(results, &root)?;
        plot(root.present())?;
        Ok(())
    }
}

/// Every chart of a report on `results`, in display order (the per-shape
/// panels only for suites with several shapes, the roofline only with a
/// profile).
pub fn all(results: &Results) -> Vec<Box<dyn Chart>> {
    let mut charts: Vec<Box<dyn Chart>> = vec![
        Box::new(throughput::Throughput),
        Box::new(latency::Latency),
        Box::new(memory::Memory),
        Box::new(accuracy_speedup::AccuracySpeedup),
    ];
    if !crate::report::summary::shape_rows(results).is_empty() {
        charts.insert(1, Box::new(per_shape::PerShape));
    }
    if results.profile.is_some() {
        charts.push(Box::new(roofline::Roofline));
    }
    charts
}

/// The roofline chart of the results' profile, as SVG.
pub fn roofline_svg(results: &Results) -> anyhow::Result<String> {
    roofline::Roofline.svg(results)
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

/// "#12 ipex O1+f+p onednn int8s t1 i2 tc": a trial's label shortened so
/// that it fits beside a bar (the legend under the charts spells it out).
pub fn short_label(id: usize, label: &str) -> String {
    let mut short = label.to_string();
    for (long, abbreviated) in SHORT_FORMS {
        short = short.replace(long, abbreviated);
    }
    format!("#{id} {}", short.replace('/', " "))
}

/// Long forms and their abbreviations in chart labels (order matters:
/// longer first).
pub const SHORT_FORMS: [(&str, &str); 9] = [
    ("+fold", "+f"),
    ("+prepack", "+p"),
    ("int8-static", "int8s"),
    ("int8-dyn", "int8d"),
    ("bf16-autocast", "bf16ac"),
    ("glibc-tuned", "glibc-t"),
    ("jemalloc", "je"),
    ("tcmalloc", "tc"),
    ("+fp32:", " fp32:"),
];

/// One horizontal bar per trial (`(trial id, value)`), labelled with its
/// short label and coloured by [`colour`]: the throughput and memory charts.
pub fn bars<DB: DrawingBackend>(
    results: &Results,
    root: &DrawingArea<DB, Shift>,
    caption: &str,
    x_desc: &str,
    bars: &[(usize, f64)],
) -> anyhow::Result<()> {
    plot(root.fill(&WHITE))?;
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9) * 1.12;
    let labels: Vec<String> = bars
        .iter()
        .map(|(id, _)| short_label(*id, &label_of(results, *id)))
        .collect();
    let mut chart = plot(
        ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(LABEL_AREA)
            .build_cartesian_2d(0.0..max, (0..bars.len()).into_segmented()),
    )?;
    plot(
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(bars.len())
            .y_label_style(("sans-serif", 12))
            .y_label_formatter(&|y| match y {
                SegmentValue::CenterOf(i) => labels
                    .get(top_down(*i, labels.len()))
                    .cloned()
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc(x_desc)
            .draw(),
    )?;
    plot(
        chart.draw_series(bars.iter().enumerate().map(|(i, (id, v))| {
            let i = top_down(i, bars.len());
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (*v, SegmentValue::Exact(i + 1)),
                ],
                colour(results, *id).filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        })),
    )?;
    Ok(())
}

/// Row `i` of `n` counted from the top (plotters counts segments upwards):
/// trial 0 first, as in the tables.
/// (plotters also asks for a label past the last row: there is none).
pub fn top_down(i: usize, n: usize) -> usize {
    if i < n {
        n - 1 - i
    } else {
        usize::MAX
    }
}

/// The label of trial `id`.
pub fn label_of(results: &Results, id: usize) -> String {
    results
        .trials
        .iter()
        .find(|t| t.id == id)
        .map(|t| t.label.clone())
        .unwrap_or_default()
}

/// The bar colour of a trial: stock, the winner, or another candidate.
pub fn colour(results: &Results, id: usize) -> RGBColor {
    let stock = crate::config::Config::stock().label();
    if id == 0 || label_of(results, id) == stock {
        STOCK
    } else if results.winner.as_ref().is_some_and(|w| w.trial == id) {
        WINNER
    } else {
        CANDIDATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_labels_fit_beside_a_bar() {
        let label = "ipex/O1+fold+prepack/onednn/int8-static/t1/i2/glibc-tuned";
        let short = short_label(12, label);
        assert_eq!(short, "#12 ipex O1+f+p onednn int8s t1 i2 glibc-t");
        assert!(short.len() <= 45);
    }
}
