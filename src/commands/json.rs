//! Every `--json` output names its format: a `schema` field first
//! (`ipex-tune/NAME/vN`), then the command's own fields. The results file
//! and the gate's verdict also have JSON Schema files in docs/schemas,
//! generated from the Rust types (`ipex-tune schema results|gate`).
use serde::Serialize;

/// The schema names of the command outputs (the results file's own is
/// record::SCHEMA).
pub mod schema {
    pub const DOCTOR: &str = "ipex-tune/doctor/v1";
    pub const INSPECT: &str = "ipex-tune/inspect/v1";
    pub const PLAN: &str = "ipex-tune/plan/v1";
    pub const GATE: &str = "ipex-tune/gate/v1";
    pub const REPORT: &str = "ipex-tune/report/v1";
    pub const PROFILE: &str = "ipex-tune/profile/v2";
    pub const MERGE: &str = "ipex-tune/merge/v1";
    pub const RULES_LIST: &str = "ipex-tune/rules-list/v1";
    pub const RULES_EXPLAIN: &str = "ipex-tune/rules-explain/v1";
    pub const RULES_CHECK: &str = "ipex-tune/rules-check/v1";
    pub const RULES_FACTS: &str = "ipex-tune/rules-facts/v1";
}

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    schema: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// `body` (a struct or map) as pretty JSON with `schema` first.
pub fn render<T: Serialize>(schema: &'static str, body: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&Tagged { schema, body })?)
}

/// Prints [`render`] on stdout.
pub fn print<T: Serialize>(schema: &'static str, body: &T) -> anyhow::Result<()> {
    println!("{}", render(schema, body)?);
    Ok(())
}

/// The JSON Schema of a results file or of the gate's verdict.
pub fn json_schema(kind: &str) -> Option<serde_json::Value> {
    let schema = match kind {
        "results" => schemars::schema_for!(crate::record::Results),
        "gate" => schemars::schema_for!(GateOutput),
        _ => return None,
    };
    let mut value = serde_json::to_value(schema).ok()?;
    let (id, title) = match kind {
        "results" => (crate::record::SCHEMA, "ipex-tune results file"),
        _ => (schema::GATE, "ipex-tune gate verdict (gate --json)"),
    };
    value["$id"] = serde_json::json!(format!("https://ipex-tune.invalid/schemas/{id}"));
    value["title"] = serde_json::json!(title);
    Some(value)
}

/// What `gate --json` prints: the schema name, then the report.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)] // describes the output for schemars; never built
struct GateOutput {
    /// Always "ipex-tune/gate/v1".
    schema: String,
    #[serde(flatten)]
    report: crate::gate::GateReport,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_comes_first_and_fields_follow() {
        #[derive(Serialize)]
        struct Body {
            b: u32,
            a: &'static str,
        }
        let text = render(schema::PLAN, &Body { b: 1, a: "x" }).unwrap();
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
            .collect();
        assert_eq!(keys, ["schema", "b", "a"]);
        assert!(text.contains("\"ipex-tune/plan/v1\""));
    }
}
