//! The gate's outputs: Markdown (a CI job summary or pull-request comment)
//! and JUnit XML (one test case per model/config).
use super::{Comparison, GateReport, Metric, Ratio, Verdict};

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "improved",
        Verdict::WithinThreshold => "within threshold",
        Verdict::Regressed => "REGRESSED",
        Verdict::Inconclusive => "INCONCLUSIVE",
    }
}

fn ratio_cell(r: Option<&Ratio>) -> String {
    match r {
        Some(r) if r.metric == Metric::Throughput => format!(
            "{:.1} -> {:.1} samples/s ({:+.1}%, {})",
            r.baseline,
            r.current,
            (r.current / r.baseline - 1.0) * 100.0,
            verdict_word(r.verdict)
        ),
        Some(r) => format!(
            "{:.2} -> {:.2} ms ({:+.1}%, {})",
            r.baseline,
            r.current,
            (r.ratio - 1.0) * 100.0,
            verdict_word(r.verdict)
        ),
        None => "-".into(),
    }
}

fn status(c: &Comparison) -> &'static str {
    if !c.passed() {
        "FAIL"
    } else if !c.notes.is_empty() {
        "note"
    } else {
        "pass"
    }
}

fn find(ratios: &[Ratio], metric: Metric) -> Option<&Ratio> {
    ratios.iter().find(|r| r.metric == metric)
}

/// Markdown summary: a row per config and input shape.
pub fn markdown(report: &GateReport) -> String {
    let mut out = format!(
        "## ipex-tune gate: {}\n\nBaseline `{}` vs current `{}`, regression threshold {:.1}%; a comparison whose 95% interval straddles the threshold is inconclusive{}.\n\n",
        if report.passed { "passed" } else { "FAILED" },
        report.baseline_model,
        report.current_model,
        report.max_regression * 100.0,
        if report.inconclusive_passes {
            " (passes: --inconclusive-passes)"
        } else {
            " (fails)"
        }
    );
    if !report.host_differences.is_empty() {
        out += "Host or stack differs (compared with --allow-host-change):\n\n";
        for d in &report.host_differences {
            out += &format!("- {d}\n");
        }
        out += "\n";
    }
    if let Some(change) = &report.model_changed {
        out += &format!("Note: {change}.\n\n");
    }
    for noisy in &report.noisy_runs {
        out += &format!("Note: {noisy}.\n\n");
    }
    out += "| status | config | shape | throughput | median latency | p99 latency | why |\n|---|---|---|---|---|---|---|\n";
    for c in &report.comparisons {
        let why = c
            .failures
            .iter()
            .chain(c.notes.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
            .replace('|', "\\|");
        if c.shapes.is_empty() {
            out += &format!(
                "| {} | `{}` | - | - | - | - | {why} |\n",
                status(c),
                c.label
            );
        }
        for (i, shape) in c.shapes.iter().enumerate() {
            out += &format!(
                "| {} | `{}` | {} | {} | {} | {} | {} |\n",
                if i == 0 { status(c) } else { "" },
                c.label,
                shape.shape,
                ratio_cell(find(&shape.ratios, Metric::Throughput)),
                ratio_cell(find(&shape.ratios, Metric::Median)),
                ratio_cell(find(&shape.ratios, Metric::P99)),
                if i == 0 { why.as_str() } else { "" }
            );
        }
    }
    out
}

/// One line per shape: its three comparisons.
fn shapes_text(c: &Comparison) -> String {
    c.shapes
        .iter()
        .map(|s| {
            format!(
                "{}: throughput {}; median {}; p99 {}",
                s.shape,
                ratio_cell(find(&s.ratios, Metric::Throughput)),
                ratio_cell(find(&s.ratios, Metric::Median)),
                ratio_cell(find(&s.ratios, Metric::P99))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// JUnit XML: a test suite per gate, a test case per model/config.
pub fn junit(report: &GateReport) -> String {
    let failures = report.comparisons.iter().filter(|c| !c.passed()).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"ipex-tune gate\" tests=\"{}\" failures=\"{failures}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">\n",
        report.comparisons.len(),
        xml_escape(&report.current_model),
        report.comparisons.len()
    );
    for c in &report.comparisons {
        out += &format!(
            "    <testcase classname=\"{}\" name=\"{}\">\n",
            xml_escape(&report.current_model),
            xml_escape(&c.label)
        );
        let shapes = xml_escape(&shapes_text(c));
        if !c.passed() {
            out += &format!(
                "      <failure message=\"{}\">{shapes}</failure>\n",
                xml_escape(&c.failures.join("; "))
            );
        }
        out += &format!(
            "      <system-out>{shapes}{}</system-out>\n    </testcase>\n",
            if c.notes.is_empty() {
                String::new()
            } else {
                format!("\n{}", xml_escape(&c.notes.join("; ")))
            }
        );
    }
    out += "  </testsuite>\n</testsuites>\n";
    out
}
