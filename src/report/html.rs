//! The HTML report: one self-contained file (no network, no scripts, no
//! external fonts), readable on a laptop and printable. Every string that
//! comes from a model, file name, rule or environment is escaped.
use super::charts;
use crate::record::Results;
use crate::record::Status;

const TEMPLATE: &str = include_str!("template.html");

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn card(title: &str, big: &str, class: &str, small: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"muted\">{}</div><div class=\"big {class}\">{}</div><div>{}</div></div>",
        escape(title),
        escape(big),
        escape(small)
    )
}

fn summary(results: &Results) -> String {
    let mut cards = String::new();
    match &results.winner {
        Some(w) => {
            cards += &card(
                "winner",
                &format!("{:.2}x stock", w.speedup),
                "ok",
                &match (w.speedup_ci95, &w.tie) {
                    (_, Some(tie)) => format!(
                        "{} (tie with {}: {:.2}x, 95% CI {:.2}-{:.2})",
                        w.label, tie.label, tie.ratio, tie.ci95.0, tie.ci95.1
                    ),
                    (Some((lo, hi)), None) => format!("{} (95% CI {lo:.2}-{hi:.2}x)", w.label),
                    (None, None) => w.label.clone(),
                },
            );
            cards += &card(
                "throughput",
                &format!("{:.1}/s", w.samples_per_s),
                "",
                "samples per second",
            );
        }
        None => cards += &card("winner", "none", "bad", "no accurate candidate finished"),
    }
    if let Some(expert) = &results.expert {
        let big = match expert.winner_ratio {
            Some(r) => format!("{r:.2}x expert"),
            None => "-".to_string(),
        };
        let class = match expert.winner_ratio {
            Some(r) if r >= 1.0 => "ok",
            Some(_) => "bad",
            None => "",
        };
        let small = super::summary::expert_text(results).unwrap_or_default();
        cards += &card("vs expert", &big, class, &small);
    }
    if let Some(m) = &results.migration {
        let big = match m.inductor_over_ipex {
            Some(r) => format!("{r:.2}x"),
            None => "-".to_string(),
        };
        let small = super::summary::migration_text(results).unwrap_or_default();
        cards += &card("Inductor / IPEX", &big, "", &small);
    }
    let out = results
        .trials
        .iter()
        .filter(|t| t.accurate == Some(false))
        .count();
    let failed = results
        .trials
        .iter()
        .filter(|t| t.status != Status::Ok)
        .count();
    cards += &card(
        "accuracy",
        if out == 0 {
            "all within tolerance"
        } else {
            "some out of tolerance"
        },
        if out == 0 { "ok" } else { "bad" },
        &format!("{out} candidate(s) outside the suite's tolerance; never chosen"),
    );
    cards += &card(
        "trials",
        &results.trials.len().to_string(),
        "",
        &format!(
            "{failed} failed; search {} in {:.0}s",
            results.search.mode, results.search.wall_s
        ),
    );
    let mut html = format!("<div class=\"summary\">{cards}</div>");
    for w in &results.warnings {
        html += &format!("<p class=\"bad\">warning: {}</p>", escape(w));
    }
    if !results.complete {
        html += "<p class=\"bad\">This run did not complete: the results hold the trials that finished.</p>";
    }
    html
}

/// The expert's recipes: each recipe in each launcher layout, the config
/// that ran it and its figures, or why it was not measured.
fn expert_table(results: &Results) -> String {
    let Some(expert) = &results.expert else {
        return String::new();
    };
    let mut html = String::from(
        "<h3 id=\"expert\">The expert's recipes</h3><p class=\"muted\">IPEX's documented Python recipes for CPU inference, in the launcher's layouts, measured before the search explored: the floor of the winner.</p>\
         <table><tr><th>recipe</th><th>in Python</th><th>layout</th><th>config</th><th>samples/s</th><th>accuracy</th><th>vs stock</th></tr>",
    );
    for r in &expert.recipes {
        let trial = r.trial.and_then(|id| results.trials.get(id));
        let (figure, accuracy, speedup) = match (trial, &r.skipped) {
            (Some(t), _) => (
                t.stats.as_ref().map_or_else(
                    || format!("{}: {}", t.status.name(), t.reason.as_deref().unwrap_or("")),
                    |s| format!("{:.1}", s.samples_per_s),
                ),
                match (t.accurate, &t.accuracy) {
                    (Some(true), Some(a)) => format!("ok, max|d| {:.1e}", a.max_abs),
                    (Some(false), _) => format!(
                        "out: {}",
                        t.accuracy_problem
                            .as_deref()
                            .unwrap_or("outside the tolerance")
                    ),
                    _ => String::new(),
                },
                super::summary::speedup_text(t.speedup, t.speedup_ci95),
            ),
            (None, Some(why)) => (format!("not measured: {why}"), String::new(), String::new()),
            (None, None) => (String::new(), String::new(), String::new()),
        };
        let best = expert
            .best
            .as_ref()
            .is_some_and(|b| Some(b.trial) == r.trial);
        html += &format!(
            "<tr{}><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if best { " class=\"winner\"" } else { "" },
            escape(&r.recipe),
            escape(&r.python),
            escape(&r.layout),
            escape(r.label.as_deref().unwrap_or("-")),
            escape(&figure),
            escape(&accuracy),
            escape(&speedup)
        );
    }
    html + "</table>"
}

fn trials_table(results: &Results) -> String {
    let mut html = String::from(
        "<table><tr><th>#</th><th>config</th><th>samples/s</th><th>p50 ms</th><th>p99 ms</th><th>median 95% CI</th>\
         <th>peak RSS</th><th>accuracy</th><th>vs stock</th><th>status</th><th>why tried</th></tr>",
    );
    for t in &results.trials {
        let s = t.stats.as_ref();
        let winner = results.winner.as_ref().is_some_and(|w| w.trial == t.id);
        let accuracy = match (t.accurate, &t.accuracy) {
            (Some(true), Some(a)) => format!(
                "<span class=\"ok\">ok</span> max|d| {:.1e}, cos {:.6}",
                a.max_abs, a.cosine
            ),
            (Some(false), Some(a)) => format!(
                "<span class=\"bad\">out</span> max|d| {:.1e}: {}",
                a.max_abs,
                escape(t.accuracy_problem.as_deref().unwrap_or(""))
            ),
            (Some(true), None) => "reference".into(),
            _ => String::new(),
        };
        let mut status = match t.status {
            Status::Ok => "<span class=\"ok\">ok</span>".to_string(),
            other => format!(
                "<span class=\"bad\">{}</span>: {}",
                other.name(),
                escape(t.reason.as_deref().unwrap_or(""))
            ),
        };
        // The measurement's own warnings (spread, interference, warm-up).
        for w in &t.warnings {
            status += &format!("<div class=\"warn\">&#9888; {}</div>", escape(w));
        }
        html += &format!(
            "<tr{}><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            if winner { " class=\"winner\"" } else { "" },
            t.id,
            escape(&t.label),
            s.map(|s| format!("{:.1}", s.samples_per_s)).unwrap_or_default(),
            s.map(|s| format!("{:.2}", s.median_ms)).unwrap_or_default(),
            s.map(|s| format!("{:.2}", s.p99_ms)).unwrap_or_default(),
            s.map(|s| format!("{:.2}..{:.2}", s.median_ci95_ms.0, s.median_ci95_ms.1)).unwrap_or_default(),
            if t.peak_rss_bytes > 0 { format!("{} MiB", t.peak_rss_bytes >> 20) } else { String::new() },
            accuracy,
            super::summary::speedup_text(t.speedup, t.speedup_ci95),
            status,
            escape(&t.why)
        );
    }
    html += "</table>";
    let rows = super::summary::shape_rows(results);
    if !rows.is_empty() {
        html += "<h3>Per shape, stock &rarr; winner</h3><table><tr><th>shape</th><th>samples/s</th><th>p50 ms</th><th>p99 ms</th><th>speedup (95% CI)</th></tr>";
        for r in rows {
            html += &format!(
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&r.shape),
                escape(&super::summary::pair(r.stock.map(|s| s.0), r.winner.0, 1)),
                escape(&super::summary::pair(r.stock.map(|s| s.1), r.winner.1, 2)),
                escape(&super::summary::pair(r.stock.map(|s| s.2), r.winner.2, 2)),
                escape(&r.speedup)
            );
        }
        html += "</table>";
    }
    if !results.skipped.is_empty() {
        html += &format!(
            "<details><summary>{} candidate(s) not tried</summary><table><tr><th>config</th><th>why not</th></tr>",
            results.skipped.len()
        );
        for s in &results.skipped {
            html += &format!(
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                escape(&s.label),
                escape(&s.reason)
            );
        }
        html += "</table></details>";
    }
    html
}

fn firings(results: &Results) -> String {
    let mut html = String::new();
    if !results.plan.exclusions.is_empty() {
        html += "<table><tr><th>knob</th><th>value</th><th>excluded because</th><th>rule</th></tr>";
        for e in &results.plan.exclusions {
            html += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code> {}</td></tr>",
                escape(&e.knob),
                escape(&e.value),
                escape(&e.how),
                escape(&e.rule),
                escape(&e.reason)
            );
        }
        html += "</table>";
    }
    for f in &results.plan.firings {
        let facts = f
            .facts
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_ref()
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "unset".into())
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        html += &format!(
            "<details><summary><code>{}</code> ({}) {}</summary><p>{}</p><p class=\"muted\">facts: {}; actions: {}</p></details>",
            escape(&f.rule),
            escape(&f.severity),
            escape(&f.title),
            escape(&f.explain),
            escape(&facts),
            escape(&f.actions.join("; "))
        );
    }
    if html.is_empty() {
        html = "<p class=\"muted\">No rule fired.</p>".into();
    }
    html
}

fn host(results: &Results) -> String {
    let mut rows: Vec<(String, String)> = vec![
        ("run started".into(), utc_date(results.started_unix)),
        ("command".into(), results.command.join(" ")),
    ];
    if let Some(h) = &results.host {
        rows.push((
            "CPU".into(),
            format!(
                "{} ({}, family {} model {})",
                h.cpu.model_name, h.cpu.vendor, h.cpu.family, h.cpu.model
            ),
        ));
        rows.push(("ISA level".into(), h.isa_level.clone()));
        if let Some(t) = &h.topology {
            rows.push((
                "topology".into(),
                format!(
                    "{} package(s), {} NUMA node(s), {} physical / {} logical cores",
                    t.packages,
                    t.numa_nodes.len(),
                    t.cores_physical,
                    t.cores_logical
                ),
            ));
            for node in &t.numa_nodes {
                rows.push((
                    format!("NUMA node {}", node.id),
                    format!(
                        "CPUs {}, {} MiB",
                        crate::host::topology::cpu_list(&node.cpus),
                        node.memory_bytes >> 20
                    ),
                ));
            }
        }
        rows.push((
            "usable cores".into(),
            format!(
                "{} (affinity {})",
                h.limits.usable_cores,
                crate::host::topology::cpu_list(&h.limits.affinity)
            ),
        ));
        rows.push((
            "memory".into(),
            format!(
                "{} MiB, transparent huge pages {}",
                h.memory.total_bytes >> 20,
                h.memory
                    .transparent_hugepages
                    .as_deref()
                    .unwrap_or("unknown")
            ),
        ));
        rows.push((
            "host".into(),
            format!("{}, kernel {}", h.hostname, h.kernel),
        ));
        rows.push(("libtorch".into(), h.torch.version.clone()));
        rows.push((
            "IPEX".into(),
            h.ipex
                .version
                .clone()
                .unwrap_or_else(|| h.ipex.problem.clone().unwrap_or_default()),
        ));
        if h.env.is_empty() {
            rows.push((
                "environment".into(),
                "none of the variables that matter is set".into(),
            ));
        }
        for (k, v) in &h.env {
            rows.push((format!("${k}"), v.clone()));
        }
    } else {
        for (k, v) in results
            .facts
            .0
            .iter()
            .filter(|(k, _)| !k.starts_with("model.") && !k.starts_with("suite."))
        {
            rows.push((k.clone(), v.to_string()));
        }
    }
    let mut html = String::from("<table>");
    for (k, v) in rows {
        html += &format!("<tr><th>{}</th><td>{}</td></tr>", escape(&k), escape(&v));
    }
    html + "</table>"
}

/// "2026-11-29 14:18:50 UTC" from Unix seconds (civil date from days,
/// H. Hinnant's algorithm).
pub fn utc_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

fn model(results: &Results) -> String {
    let m = &results.model;
    let groups = m
        .op_groups
        .iter()
        .map(|(g, n)| format!("{g} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "<table><tr><th>file</th><td><code>{}</code></td></tr><tr><th>method</th><td><code>{}</code></td></tr>\
         <tr><th>parameters</th><td>{} elements, {} KiB</td></tr><tr><th>op groups</th><td>{}</td></tr>\
         <tr><th>control flow</th><td>{} if ({} data-dependent), {} loop</td></tr>\
         <tr><th>suite</th><td>{}: {}</td></tr></table>",
        escape(&m.path),
        escape(&m.method),
        m.parameters.count,
        m.parameters.bytes >> 10,
        escape(&groups),
        m.control_flow.if_count,
        m.control_flow.data_dependent_if,
        m.control_flow.loop_count,
        escape(&results.suite.name),
        escape(&results.suite.description)
    )
}

/// How to run the winner: the results' `deploy` block.
fn deploy(results: &Results) -> String {
    let Some(d) = &results.deploy else {
        return String::new();
    };
    let text = super::summary::deploy_text(results);
    format!(
        "<h2 id=\"deploy\">Deploy the winner</h2><p>How to run <code>{}</code> outside ipex-tune (<code>{{command}}</code>: your program).</p><pre class=\"deploy\">{}</pre>",
        escape(&d.config),
        escape(&text)
    )
}

/// A sharded or merged run: the shard, or the merged files and the table
/// host type x winner.
fn fleet(results: &Results) -> String {
    let lines = super::summary::fleet_lines(results);
    let Some(m) = &results.merged else {
        return if lines.is_empty() {
            String::new()
        } else {
            format!("<h2 id=\"shards\">Shards</h2><p>{}</p>", escape(&lines))
        };
    };
    let mut html = format!(
        "<h2 id=\"shards\">Shards</h2><p>{}</p><table><tr><th>file</th><th>shard</th><th>trials</th><th>complete</th></tr>",
        escape(lines.lines().next().unwrap_or(""))
    );
    for f in &m.files {
        html += &format!(
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&f.path),
            escape(&f.shard),
            f.trials,
            if f.complete { "yes" } else { "no" }
        );
    }
    html += "</table>";
    if m.host_types.len() > 1 {
        html += "<table><tr><th>host type</th><th>files</th><th>winner</th><th>samples/s</th><th>vs stock</th><th>merged results</th></tr>";
        for h in &m.host_types {
            html += &format!(
                "<tr><td>{}</td><td class=\"num\">{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>",
                escape(&h.host),
                h.files,
                escape(h.winner.as_deref().unwrap_or("none")),
                h.samples_per_s.map_or(String::new(), |s| format!("{s:.1}")),
                h.speedup.map_or(String::new(), |s| format!("{s:.2}x")),
                escape(&h.output)
            );
        }
        html += "</table>";
    }
    html
}

/// Where the winner's time goes (`run --profile`): the verdicts, the roofs
/// and the model against them, the roofline, the ops by kind, the top
/// ops with their shapes, and the oneDNN kernels with their ISA.
fn profile(results: &Results) -> anyhow::Result<String> {
    let Some(p) = &results.profile else {
        return Ok(String::new());
    };
    let calls = p.profile.calls.max(1) as f64;
    let mut html = format!(
        "<h2 id=\"profile\">Where the time goes: <code>{}</code></h2>\
         <p>Timed loop: median {:.3} ms, mean {:.3} ms per call. Profiled over {} round(s): the ops account for \
         {:.3} ms of the calls' {:.3} ms ({:.0}%); the rest is the interpreter and glue.</p><ul>",
        escape(&p.config),
        p.median_ms,
        p.mean_ms,
        p.profile.rounds,
        p.ops_ms_per_call,
        p.profiled_ms_per_call,
        100.0 * p.ops_ms_per_call / p.profiled_ms_per_call.max(1e-12)
    );
    for v in &p.verdicts {
        html += &format!("<li>{}</li>", escape(v));
    }
    let roofs = p
        .roofs
        .peak_gflops
        .iter()
        .map(|(d, g)| {
            let from = p
                .roofs
                .peak_from
                .get(d)
                .map_or(String::new(), |f| format!(" ({f})"));
            format!("{d} {g:.1} GFLOP/s{}", escape(&from))
        })
        .collect::<Vec<_>>()
        .join(", ");
    html += &format!(
        "<li>Roofs measured on {} thread(s): {roofs}; STREAM triad {:.1} GB/s.</li>",
        p.roofs.threads, p.roofs.triad_gb_s
    );
    if let Some(m) = &p.model {
        html += &format!(
            "<li>The model: {:.3} GFLOP per call (counted on {}), {:.1} FLOP/byte, {:.1} GFLOP/s over the timed mean: \
             <b>{:.0}% of the {} peak</b> ({:.1} GFLOP/s).</li>",
            m.gflop_per_call,
            escape(&m.flops_from),
            m.intensity,
            m.gflops,
            100.0 * m.share_of_peak,
            escape(&m.dtype),
            m.peak_gflops
        );
    }
    html += "</ul>";
    html += &format!(
        "<figure id=\"chart-roofline\">{}</figure>",
        charts::roofline_svg(results)?
    );
    html += "<table><tr><th>op kind</th><th>calls/call</th><th>ms/call</th><th>share</th></tr>";
    for k in p.by_kind.iter().take(10) {
        html += &format!(
            "<tr><td><code>{}</code></td><td class=\"num\">{:.1}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.1}%</td></tr>",
            escape(&k.kind),
            k.calls_per_call,
            k.ms_per_call,
            100.0 * k.share
        );
    }
    html += "</table>";
    let mut ops: Vec<_> = p.profile.ops.iter().collect();
    ops.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    if !ops.is_empty() {
        html += "<details><summary>Top ops with their input shapes</summary><table><tr><th>op</th><th>input shapes</th><th>dtypes</th><th>calls/call</th><th>ms/call</th></tr>";
        for op in ops.iter().take(15) {
            html += &format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{:.4}</td></tr>",
                escape(&op.name),
                escape(&super::profile::shapes_text(&op.shapes)),
                escape(&op.dtypes.join(",")),
                op.calls as f64 / calls,
                op.total_ms / calls
            );
        }
        html += "</table></details>";
    }
    if !p.kernels.is_empty() {
        html += "<table><tr><th>oneDNN primitive</th><th>implementation</th><th>ISA</th><th>src dtype</th><th>primitives</th><th>runs</th><th>ms/run (oneDNN)</th></tr>";
        for k in &p.kernels {
            html += &format!(
                "<tr><td>{}</td><td><code>{}</code></td><td><b>{}</b></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.4}</td></tr>",
                escape(&k.kernel.kind),
                escape(&k.kernel.implementation),
                escape(&k.kernel.isa),
                escape(&k.kernel.src_dtype),
                k.primitives,
                k.executions,
                k.ms_per_run
            );
        }
        html += "</table>";
    }
    Ok(html)
}

/// Renders the whole report.
pub fn render(results: &Results) -> anyhow::Result<String> {
    let mut chart_html = String::new();
    // The roofline belongs to the profile section.
    for chart in charts::all(results)
        .into_iter()
        .filter(|c| c.name() != "roofline")
    {
        chart_html += &format!(
            "<figure id=\"chart-{}\">{}</figure>\n",
            chart.name(),
            chart.svg(results)?
        );
    }
    chart_html += &format!(
        "<p class=\"muted\">Chart labels are trial numbers and short config labels: {}.</p>\n",
        charts::SHORT_FORMS
            .iter()
            .filter(|(long, _)| long.starts_with(char::is_alphanumeric) || long.starts_with('+'))
            .map(|(long, short)| format!(
                "<code>{}</code> = <code>{}</code>",
                escape(short.trim()),
                escape(long.trim_end_matches(':'))
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let title = format!("ipex-tune: {} ({})", results.model.path, results.suite.name);
    let subtitle = format!(
        "{} {}, search {}, {} trial(s)",
        results.tool.name,
        results.tool.version,
        results.search.mode,
        results.trials.len()
    );
    Ok(TEMPLATE
        .replace("{{title}}", &escape(&title))
        .replace("{{subtitle}}", &escape(&subtitle))
        .replace("{{summary}}", &summary(results))
        .replace("{{charts}}", &chart_html)
        .replace(
            "{{trials}}",
            &(trials_table(results) + &expert_table(results)),
        )
        .replace("{{deploy}}", &deploy(results))
        .replace("{{profile}}", &(fleet(results) + &profile(results)?))
        .replace("{{firings}}", &firings(results))
        .replace("{{host}}", &host(results))
        .replace("{{model}}", &model(results)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_from_unix_seconds() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(1_795_963_904), "2026-11-29 14:51:44 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
