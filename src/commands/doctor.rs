//! `ipex-tune doctor [--json]`: the host profile and every environment rule
//! as PASS / INFO / WARN / FAIL. Exits 1 when any check FAILs.
use std::time::Duration;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment};
use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::error::exit_code;
use crate::host::HostProfile;
use crate::rules::{self, condition::Observed, facts::Scope, gather, Facts, Rule, Severity};

/// One environment check.
#[derive(Debug, Serialize)]
pub struct Check {
    pub rule: String,
    /// PASS (the rule does not fire), INFO, WARN or FAIL.
    pub status: &'static str,
    pub title: String,
    pub facts: Vec<Observed>,
    /// What to do (the rule's explanation), when it fires.
    pub fix: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    /// The host profile (absent when facts were given with --host-facts).
    host: Option<&'a HostProfile>,
    /// The facts the checks were evaluated over.
    facts: &'a Facts,
    checks: &'a [Check],
    failed: bool,
}

pub fn run(args: &DoctorArgs) -> anyhow::Result<i32> {
    let rules = rules::load(&args.rules)?;
    let (host, facts) = match &args.host_facts {
        Some(path) => (None, Facts::from_json_file(path)?),
        None => {
            let host = HostProfile::detect(Duration::from_millis(args.sample_ms))?;
            let facts = gather::host_facts(&host);
            (Some(host), facts)
        }
    };
    let checks = evaluate(&rules, &facts);
    let failed = checks.iter().any(|c| c.status == "FAIL");
    if args.json {
        let report = Report {
            host: host.as_ref(),
            facts: &facts,
            checks: &checks,
            failed,
        };
        super::json::print(super::json::schema::DOCTOR, &report)?;
    } else {
        if let Some(host) = &host {
            print!("{}", render_host(host));
        }
        print!("{}", render_checks(&checks));
    }
    Ok(if failed {
        exit_code::VERDICT_FAILED
    } else {
        exit_code::OK
    })
}

/// Every environment rule as a check over `facts`.
pub fn evaluate(rules: &[Rule], facts: &Facts) -> Vec<Check> {
    let mut checks = Vec::new();
    for rule in rules.iter().filter(|r| r.scope() == Scope::Environment) {
        let mut observed = Vec::new();
        let fires = rule.when.eval(facts, &mut observed);
        let mut seen = Vec::new();
        observed.retain(|o| {
            let new = !seen.contains(&o.fact);
            seen.push(o.fact.clone());
            new
        });
        checks.push(Check {
            rule: rule.id.clone(),
            status: match (fires, rule.severity) {
                (false, _) => "PASS",
                (true, Severity::Info) => "INFO",
                (true, Severity::Warn) => "WARN",
                (true, Severity::Fail) => "FAIL",
            },
            title: rule.title.clone(),
            facts: observed,
            fix: fires.then(|| rule.explain.clone()),
        });
    }
    checks
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

fn kib(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

type Rows = Vec<(String, String)>;

/// CPU, ISA level, every ISA extension, and what the OS disabled.
fn isa_rows(host: &HostProfile) -> Rows {
    let isa = &host.isa;
    let extensions = [
        ("SSE4.2", isa.sse4_2),
        ("AVX2", isa.avx2),
        ("AVX512F", isa.avx512f),
        ("AVX512BW", isa.avx512bw),
        ("AVX512VL", isa.avx512vl),
        ("AVX512DQ", isa.avx512dq),
        ("AVX512_VNNI", isa.avx512_vnni),
        ("AVX512_BF16", isa.avx512_bf16),
        ("AVX512_FP16", isa.avx512_fp16),
        ("AVX_VNNI", isa.avx_vnni),
        ("AMX_TILE", isa.amx_tile),
        ("AMX_BF16", isa.amx_bf16),
        ("AMX_INT8", isa.amx_int8),
    ];
    let mut rows: Rows = vec![
        (
            "CPU".into(),
            format!(
                "{} ({}, family {} model {})",
                host.cpu.model_name, host.cpu.vendor, host.cpu.family, host.cpu.model
            ),
        ),
        ("ISA level".into(), host.isa_level.clone()),
        (
            "ISA".into(),
            extensions
                .iter()
                .map(|(name, on)| format!("{name} {}", yes(*on)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("bf16 for oneDNN".into(), yes(host.onednn_bf16).into()),
    ];
    if !isa.disabled_by_os.is_empty() {
        rows.push(("disabled by the OS".into(), isa.disabled_by_os.join(", ")));
    }
    rows
}

/// Packages, NUMA nodes with their CPUs and memory, caches.
fn topology_rows(host: &HostProfile) -> Rows {
    let Some(topo) = &host.topology else {
        return vec![(
            "topology".into(),
            "unavailable (hwloc could not load it)".into(),
        )];
    };
    let mut rows: Rows = vec![(
        "topology".into(),
        format!(
            "{} package(s), {} NUMA node(s), {} physical / {} logical cores",
            topo.packages,
            topo.numa_nodes.len().max(1),
            topo.cores_physical,
            topo.cores_logical
        ),
    )];
    for node in &topo.numa_nodes {
        rows.push((
            format!("NUMA node {}", node.id),
            format!("CPUs {:?}, {}", node.cpus, gib(node.memory_bytes)),
        ));
    }
    rows.push((
        "caches".into(),
        format!(
            "L1d {}, L2 {}, L3 {}",
            kib(topo.caches.l1d),
            kib(topo.caches.l2),
            kib(topo.caches.l3)
        ),
    ));
    rows
}

/// Memory, what this process may use, and how busy the host is.
fn resource_rows(host: &HostProfile) -> Rows {
    let l = &host.limits;
    vec![
        (
            "memory".into(),
            format!(
                "{} total, {} available, transparent huge pages {}",
                gib(host.memory.total_bytes),
                gib(host.memory.available_bytes),
                host.memory
                    .transparent_hugepages
                    .as_deref()
                    .unwrap_or("unknown")
            ),
        ),
        (
            "usable".into(),
            format!(
                "{} core(s): affinity {:?}, CPU quota {}, memory limit {}",
                l.usable_cores,
                l.affinity,
                l.cgroup_cpu_quota
                    .map(|q| format!("{q:.2}"))
                    .unwrap_or_else(|| "none".into()),
                l.cgroup_memory_limit
                    .map(gib)
                    .unwrap_or_else(|| "none".into())
            ),
        ),
        (
            "quietness".into(),
            format!(
                "load {:.2} (1m), others used {:.1}% of a CPU over {} ms",
                host.quietness.load_1m, host.quietness.others_cpu_percent, host.quietness.sample_ms
            ),
        ),
    ]
}

/// libtorch, IPEX and the environment variables that matter.
fn stack_rows(host: &HostProfile) -> Rows {
    let torch = &host.torch;
    let mut rows: Rows = vec![
        (
            "libtorch".into(),
            format!(
                "{} ({} build), MKLDNN {}, OpenMP {}, LLVM {}, {} threads by default",
                torch.version,
                if torch.cuda_compiled { "CUDA" } else { "CPU" },
                yes(torch.mkldnn),
                yes(torch.openmp),
                yes(torch.llvm),
                torch.num_threads
            ),
        ),
        (
            "IPEX".into(),
            match (&host.ipex.version, host.ipex.compatible) {
                (Some(v), true) => format!(
                    "{v}, compatible ({})",
                    host.ipex.library.as_deref().unwrap_or("")
                ),
                _ => host
                    .ipex
                    .problem
                    .clone()
                    .unwrap_or_else(|| "unavailable".into()),
            },
        ),
    ];
    if host.env.is_empty() {
        rows.push((
            "environment".into(),
            "none of the variables that matter is set".into(),
        ));
    }
    rows.extend(host.env.iter().map(|(k, v)| (format!("${k}"), v.clone())));
    rows
}

/// The host profile as a two-column table.
pub fn render_host(host: &HostProfile) -> String {
    let mut t = crate::term::table();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["host", ""]);
    let sections = [isa_rows, topology_rows, resource_rows, stack_rows];
    for (k, v) in sections.iter().flat_map(|rows| rows(host)) {
        t.add_row(vec![Cell::new(k), Cell::new(v)]);
    }
    format!("{t}\n")
}

/// The checks as a table, then the fixes of those that fired.
pub fn render_checks(checks: &[Check]) -> String {
    let mut t = crate::term::table();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["status", "rule", "check", "facts"]);
    // Rule ids are names to copy: never wrapped.
    if let Some(column) = t.column_mut(1) {
        column.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
    }
    for c in checks {
        let facts = Observed::describe_all(&c.facts);
        t.add_row(vec![
            crate::term::cell(
                c.status,
                match c.status {
                    "PASS" => Some(crate::term::Tone::Pass),
                    "FAIL" => Some(crate::term::Tone::Fail),
                    "WARN" => Some(crate::term::Tone::Warn),
                    _ => None,
                },
            )
            .set_alignment(CellAlignment::Center),
            Cell::new(&c.rule),
            Cell::new(&c.title),
            Cell::new(facts),
        ]);
    }
    let mut out = format!("{t}\n");
    for c in checks
        .iter()
        .filter(|c| c.status == "WARN" || c.status == "FAIL")
    {
        out += &format!(
            "{} {}: {}\n",
            c.status,
            c.rule,
            c.fix.as_deref().unwrap_or("")
        );
    }
    let count = |s: &str| checks.iter().filter(|c| c.status == s).count();
    out += &format!(
        "{} checks: {} pass, {} info, {} warn, {} fail\n",
        checks.len(),
        count("PASS"),
        count("INFO"),
        count("WARN"),
        count("FAIL")
    );
    out
}
