//! One thin file per subcommand, wiring the stages together. No stage calls a
//! command.
mod bench;
mod bench_harness;
mod bench_search;
mod doctor;
mod gate;
mod inspect;
mod json;
mod merge;
mod outputs;
mod plan;
mod profile;
mod report;
mod rules;
mod run;
mod schema;
mod trial;

use crate::cli::{Cli, Command, LockArgs};
use crate::tune::lock::{self, CoresLock};

/// Runs the chosen subcommand; returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Doctor(args) => doctor::run(&args),
        Command::Gate(args) => gate::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Profile(args) => profile::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Trial(args) => trial::run(&args),
        Command::Rules(args) => rules::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Completions(args) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut cmd, "ipex-tune", &mut std::io::stdout());
            Ok(crate::error::exit_code::OK)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
            Ok(crate::error::exit_code::OK)
        }
        Command::Bench(args) => bench::run(&args),
        Command::BenchSearch(args) => bench_search::run(&args),
        Command::BenchHarness(args) => bench_harness::run(&args),
    }
}

/// Holds the timing lock of `cpus` for a command that times (run, bench,
/// bench-harness) as `--no-lock`/`--lock-wait` say; tells the user once
/// when it starts waiting.
fn lock_cores(cpus: &[u32], args: &LockArgs) -> anyhow::Result<Option<CoresLock>> {
    lock::lock_cores(cpus, args.policy(), &lock::this_process(), |busy| {
        eprintln!("ipex-tune: waiting for the cores: {busy}");
    })
}

/// Every CPU this process may run on (what the benchmarks time on).
fn usable_cpus() -> Vec<u32> {
    crate::native::os::affinity().unwrap_or_default()
}
