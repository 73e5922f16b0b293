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

use clap::Parser;

use error::{exit_code, UserError};

fn main() {
    native::os::default_sigpipe();
    let cli = cli::Cli::parse();
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
