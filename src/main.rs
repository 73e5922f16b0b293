//! ipex-tune: find, prove and guard the fastest accurate CPU configuration
//! for a TorchScript model.
#![deny(unsafe_code)]

// In pipeline order (ARCHITECTURE.md): each module uses only modules
// above it in this list.
mod bundled;
mod error;
mod term;
mod native;
mod config;
mod host;
mod model;
mod backend;
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
mod fleet;
mod cli;
mod commands;
#[cfg(test)]
mod fuzz;

use clap::error::ErrorKind;

use error::{exit_code, UserError};

fn main() {
    native::os::set_signal_dispositions();
    let cli = match parse_command_line() {
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

/// Parses the command line; `--version` names the commit and the torch
/// stack it finds (worked out only when asked: it reads the libraries).
fn parse_command_line() -> Result<cli::Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut command = cli::Cli::command();
    if std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-V")
    {
        command = command.version(version_text());
    }
    let matches = command.try_get_matches()?;
    cli::Cli::from_arg_matches(&matches)
}

/// "0.1.0 (git 1a2b3c4d5e6f), libtorch 2.7.0, IPEX 2.7.0+cpu".
fn version_text() -> String {
    let torch = host::torch::TorchBuild::read().ok();
    let stack = match &torch {
        Some(t) => {
            let ipex = host::ipex::info(t);
            format!(
                "libtorch {}, IPEX {}",
                t.version,
                match (ipex.version, ipex.compatible) {
                    (Some(v), true) => v,
                    (Some(v), false) =>
                        format!("{v} (not usable: {})", ipex.problem.unwrap_or_default()),
                    (None, _) => "not found".into(),
                }
            )
        }
        None => "libtorch unknown".into(),
    };
    format!(
        "{} (git {}), {stack}",
        env!("CARGO_PKG_VERSION"),
        env!("IPEX_TUNE_GIT_HASH")
    )
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
