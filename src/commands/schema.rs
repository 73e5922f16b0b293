//! `ipex-tune schema results|gate`: the JSON Schema of a results file or of
//! the gate's verdict, generated from the types that write them (the files
//! in docs/schemas are this output; a test keeps them in sync).
use crate::cli::SchemaArgs;
use crate::error::{exit_code, UserError};

pub fn run(args: &SchemaArgs) -> anyhow::Result<i32> {
    let schema = super::json::json_schema(&args.kind).ok_or_else(|| {
        UserError::BadValue(format!(
            "unknown schema '{}'; expected results or gate",
            args.kind
        ))
    })?;
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(exit_code::OK)
}
