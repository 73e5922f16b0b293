//! One thin file per subcommand, wiring the stages together. No stage calls a
//! command.
mod bench;
mod bench_harness;
mod bench_search;
mod doctor;
mod gate;
mod inspect;
mod plan;
mod report;
mod rules;
mod run;
mod trial;

use crate::cli::{Cli, Command};

/// Runs the chosen subcommand; returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Doctor(args) => doctor::run(&args),
        Command::Gate(args) => gate::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Trial(args) => trial::run(&args),
        Command::Rules(args) => rules::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::BenchSearch(args) => bench_search::run(&args),
        Command::BenchHarness(args) => bench_harness::run(&args),
    }
}
