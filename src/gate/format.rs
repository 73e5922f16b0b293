//! The gate's outputs: Markdown (a CI job summary or pull-request comment)
//! and JUnit XML (one test case per model/config).
use super::{Comparison, GateReport, Ratio, Verdict};

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "improved",
        Verdict::WithinNoise => "within noise",
        Verdict::Regressed => "REGRESSED",
    }
}

fn ratio_cell(r: &Option<Ratio>) -> String {
    match r {
        Some(r) => format!(
            "{:.2} -> {:.2} ms ({:+.1}%, {})",
            r.baseline_ms,
            r.current_ms,
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

/// Markdown summary.
pub fn markdown(report: &GateReport) -> String {
    let mut out = format!(
        "## ipex-tune gate: {}\n\nBaseline `{}` vs current `{}`, regression threshold {:.1}%.\n\n",
        if report.passed { "passed" } else { "FAILED" },
        report.baseline_model,
        report.current_model,
        report.max_regression * 100.0
    );
    if !report.host_differences.is_empty() {
        out += "Host or stack differs (compared with --allow-host-change):\n\n";
        for d in &report.host_differences {
            out += &format!("- {d}\n");
        }
        out += "\n";
    }
    out += "| status | config | median latency | p99 latency | samples/s | why |\n|---|---|---|---|---|---|\n";
    for c in &report.comparisons {
        let sps = match c.samples_per_s {
            (Some(a), Some(b)) => format!("{a:.1} -> {b:.1}"),
            (Some(a), None) => format!("{a:.1} -> -"),
            (None, Some(b)) => format!("- -> {b:.1}"),
            (None, None) => "-".into(),
        };
        let why = c
            .failures
            .iter()
            .chain(c.notes.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        out += &format!(
            "| {} | `{}` | {} | {} | {} | {} |\n",
            status(c),
            c.label,
            ratio_cell(&c.median),
            ratio_cell(&c.p99),
            sps,
            why.replace('|', "\\|")
        );
    }
    out
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
        if !c.passed() {
            let message = c.failures.join("; ");
            out += &format!(
                "      <failure message=\"{}\">median: {}; p99: {}</failure>\n",
                xml_escape(&message),
                xml_escape(&ratio_cell(&c.median)),
                xml_escape(&ratio_cell(&c.p99))
            );
        }
        out += &format!(
            "      <system-out>median: {}; p99: {}{}</system-out>\n    </testcase>\n",
            xml_escape(&ratio_cell(&c.median)),
            xml_escape(&ratio_cell(&c.p99)),
            if c.notes.is_empty() {
                String::new()
            } else {
                format!("; {}", xml_escape(&c.notes.join("; ")))
            }
        );
    }
    out += "  </testsuite>\n</testsuites>\n";
    out
}
