//! ipex-tune: find, prove and guard the fastest accurate CPU configuration
//! for a TorchScript model.
#![deny(unsafe_code)]

// In pipeline order (ARCHITECTURE.md): each module uses only modules
// above it in this list.
mod bundled;
mod error;
mod native;
mod config;
mod host;
mod model;
mod suite;
mod rules;
mod search;
mod measure;
mod record;
mod trial;
mod runtime;
mod tune;
mod report;
mod gate;
mod cli;
mod commands;
#[cfg(test)]
mod fuzz;

use clap::error::ErrorKind;
use clap::Parser;

use error::{exit_code, UserError};

fn main() {
    native::os::set_signal_dispositions();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => usage_error(err),
    };
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole cause chain on one line.
            eprintln!("ipex-tune: error: {err:#}");
            if err.downcast_ref::<tune::lock::CoresBusy>().is_some() {
                exit_code::CORES_BUSY
            } else if err.downcast_ref::<UserError>().is_some()
                || err.downcast_ref::<host::ipex::IpexError>().is_some()
                || err.downcast_ref::<rules::load::LoadErrors>().is_some()
            {
                exit_code::USAGE
            } else {
                exit_code::INTERNAL
            }
        }
    };
    std::process::exit(code);
}

/// A command line clap refuses: one line naming the value and what was
/// expected (clap's first line, with its tip), exit 2. Help and version
/// requests print as clap prints them.
fn usage_error(err: clap::Error) -> ! {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        err.exit();
    }
    let text = err.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ");
    let tip = lines
        .find_map(|l| l.strip_prefix("tip: "))
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    eprintln!("ipex-tune: error: {first}{tip}; see ipex-tune --help");
    std::process::exit(exit_code::USAGE);
}
