//! `ipex-tune profile MODEL --suite S [--config LABEL]`: where one config's
//! time goes (tune::profile collects it; report::profile prints it).
use serde::Serialize;

use crate::cli::ProfileArgs;
use crate::config::Config;
use crate::error::{exit_code, UserError};
use crate::measure::profile::ProfileRecord;
use crate::report;
use crate::tune::make_plan;

#[derive(Serialize)]
struct ProfileReport<'a> {
    model: String,
    suite: String,
    #[serde(flatten)]
    record: &'a ProfileRecord,
}

pub fn run(args: &ProfileArgs) -> anyhow::Result<i32> {
    let config: Config = match &args.config {
        Some(label) => label
            .parse()
            .map_err(|e: crate::config::LabelError| UserError::BadValue(e.to_string()))?,
        None => Config::stock(),
    };
    let planned = make_plan(&args.target.target(), None)?;
    let _cores = super::lock_cores(&planned.cpus, &args.lock)?;
    let say = |line: &str| eprintln!("profile: {line}");
    let record = crate::tune::profile::collect(&planned, &config, args.rounds, &say)?;
    if args.json {
        let report = ProfileReport {
            model: planned.model.path.clone(),
            suite: planned.suite.name.clone(),
            record: &record,
        };
        super::json::print(super::json::schema::PROFILE, &report)?;
    } else {
        print!(
            "{}",
            report::profile::render(&record, &planned.model.path, &planned.suite.name, args.top)
        );
    }
    Ok(exit_code::OK)
}
