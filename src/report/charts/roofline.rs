//! The roofline of the profiled config (the results' `profile` section):
//! the host's measured roofs per dtype (min of the compute peak and
//! intensity x triad bandwidth) on log-log axes, each compute op the
//! dispatcher sized as a dot, and the whole model as a diamond.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{plot, Draw, CANDIDATE, STOCK, WINNER};
use crate::record::Results;

pub struct Roofline;

/// The colour of a dtype's roof and ops.
fn colour(dtype: &str) -> RGBColor {
    match dtype {
        "bf16" => CANDIDATE,
        "int8" => STOCK,
        _ => RGBColor(40, 40, 40),
    }
}

impl Draw for Roofline {
    fn name(&self) -> &'static str {
        "roofline"
    }

    fn draw<DB: DrawingBackend>(
        &self,
        results: &Results,
        root: &DrawingArea<DB, Shift>,
    ) -> anyhow::Result<()> {
        plot(root.fill(&WHITE))?;
        let Some(p) = &results.profile else {
            return Ok(());
        };
        let roofs = &p.roofs;
        // Axes wide enough for every point and for the ridges (where the
        // bandwidth slope meets each peak).
        let ridges = roofs
            .peak_gflops
            .values()
            .map(|peak| peak / roofs.triad_gb_s.max(1e-9));
        let intensities = p
            .roofline
            .iter()
            .map(|o| o.intensity)
            .chain(p.model.as_ref().map(|m| m.intensity))
            .chain(ridges);
        let (lo, hi) = intensities
            .filter(|v| v.is_finite() && *v > 0.0)
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        let (x_lo, x_hi) = if hi > 0.0 {
            (lo / 4.0, hi * 4.0)
        } else {
            (0.01, 1000.0)
        };
        let top = roofs.peak_gflops.values().copied().fold(1.0, f64::max) * 2.0;
        let rates = p
            .roofline
            .iter()
            .map(|o| o.gflops)
            .chain(p.model.as_ref().map(|m| m.gflops))
            .chain([x_lo * roofs.triad_gb_s]);
        let y_lo = rates
            .filter(|v| v.is_finite() && *v > 0.0)
            .fold(top, f64::min)
            / 2.0;
        let mut chart = plot(
            ChartBuilder::on(root)
                .caption(
                    format!(
                        "Roofline of {} (measured roofs on {} thread(s); diamond = the model)",
                        p.config, roofs.threads
                    ),
                    ("sans-serif", 18),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..top).log_scale()),
        )?;
        plot(
            chart
                .configure_mesh()
                .x_desc("arithmetic intensity (FLOP/byte)")
                .y_desc("GFLOP/s")
                .x_label_formatter(&|v| number(*v))
                .y_label_formatter(&|v| number(*v))
                .draw(),
        )?;
        // The memory slope (intensity x triad bandwidth) up to the highest
        // ridge, then each dtype's compute ceiling from its own ridge on.
        let bandwidth = roofs.triad_gb_s;
        let highest_ridge = (top / 2.0 / bandwidth.max(1e-9)).min(x_hi);
        let slope = RGBColor(120, 120, 120);
        plot(chart.draw_series([PathElement::new(
            vec![
                (x_lo, x_lo * bandwidth),
                (highest_ridge, highest_ridge * bandwidth),
            ],
            slope.stroke_width(2),
        )]))?
        .label(format!("memory: STREAM triad {bandwidth:.1} GB/s"))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], slope.stroke_width(2)));
        for (dtype, peak) in &roofs.peak_gflops {
            let ridge = (peak / bandwidth.max(1e-9)).max(x_lo);
            let c = colour(dtype);
            plot(chart.draw_series([PathElement::new(
                vec![(ridge, *peak), (x_hi, *peak)],
                c.stroke_width(2),
            )]))?
            .label(format!("{dtype} peak: {peak:.0} GFLOP/s"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], c.stroke_width(2)));
        }
        plot(
            chart.draw_series(
                p.roofline
                    .iter()
                    .filter(|o| o.gflops > 0.0 && o.intensity > 0.0)
                    .map(|o| Circle::new((o.intensity, o.gflops), 4, colour(&o.dtype).filled())),
            ),
        )?;
        if let Some(m) = &p.model {
            let diamond = vec![(0, -8), (8, 0), (0, 8), (-8, 0)];
            plot(
                chart.draw_series([EmptyElement::at((m.intensity, m.gflops))
                    + Polygon::new(diamond, WINNER.filled())]),
            )?;
            let (x, y) = chart.backend_coord(&(m.intensity, m.gflops));
            plot(root.draw(&Text::new(
                format!(
                    "model: {:.0}% of the {} peak",
                    100.0 * m.share_of_peak,
                    m.dtype
                ),
                (x + 10, y - 6),
                ("sans-serif", 13),
            )))?;
        }
        plot(
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw(),
        )?;
        Ok(())
    }
}

/// An axis label on a log scale: as many decimals as the value needs.
fn number(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.1e}")
    }
}
