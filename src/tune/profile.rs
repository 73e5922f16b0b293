//! Profiling one config: where its time goes (per op, per graph node), the
//! oneDNN kernels and ISA that ran, and the model against the host's
//! measured roofs. Three children: the config measured as `run` measures it
//! and then profiled over `rounds` rounds (after the timed loop, so the
//! profiler never touches the measured figures); the same config with
//! oneDNN's verbose log on for a few calls; and, when the config's compute
//! ops hide their sizes (JIT-internal prepacked ops, packed quantized
//! weights), a short profile of stock, whose aten ops give the model's
//! FLOPs. Used by `ipex-tune profile` and `run --profile`.
use std::time::Duration;

use crate::config::{Config, Dtype};
use crate::measure::profile::{self, ProfileRecord};
use crate::measure::{roofline, roofs};
use crate::record::Status;
use crate::trial;
use crate::tune::session::{plain_spec, trial_options};
use crate::tune::Planned;

/// Profiles `config` on the planned target; `say` reports each step. The
/// caller holds the cores. A multi-instance config profiles one instance
/// (instances are independent copies), with the threads each has.
pub fn collect(
    planned: &Planned,
    config: &Config,
    rounds: usize,
    say: &dyn Fn(&str),
) -> anyhow::Result<ProfileRecord> {
    let mut config = config.clone();
    if config.instances > 1 {
        say(&format!(
            "{} runs {} independent instances; profiling one of them",
            config.label(),
            config.instances
        ));
        config.threads = Some(config.threads_per_worker(planned.usable));
        config.instances = 1;
    }
    let scratch = tempfile::tempdir()?;
    let limit = Duration::from_secs_f64(120.0 + 20.0 * planned.suite.measure.min_time_s);
    let mut options = trial_options(planned, false);
    options.profile_rounds = rounds;
    let spec = |config: &Config, options| plain_spec(planned, config.clone(), options);
    say(&format!(
        "measuring {} and timing every op ...",
        config.label()
    ));
    let measured = trial::spawn(&spec(&config, options.clone()), scratch.path(), limit);
    let output = match (measured.status, measured.output) {
        (Status::Ok, Some(output)) => output,
        (status, _) => anyhow::bail!(
            "{}: the config did not run ({}: {})",
            config.label(),
            status.name(),
            measured.reason.unwrap_or_default()
        ),
    };
    let op_profile = output
        .profile
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the child returned no op profile"))?;

    say("listing the oneDNN kernels that ran ...");
    let short = |mut o: trial::spec::TrialOptions| {
        o.min_time_s = 0.0;
        o.min_iters = 1;
        o
    };
    let mut verbose = short(options.clone());
    verbose.profile_rounds = 0;
    verbose.onednn_verbose = true;
    let listed = trial::spawn(&spec(&config, verbose), scratch.path(), limit);
    let kernels = profile::kernels(&listed.onednn_exec);
    let host = planned.host.as_ref();
    let verdicts = profile::verdicts(
        &kernels,
        host.is_some_and(|h| h.isa.amx_bf16 || h.isa.amx_int8),
        host.map_or("unknown", |h| h.isa_level.as_str()),
        matches!(config.dtype, Dtype::Bf16 | Dtype::Bf16Autocast),
    );

    let threads = config.threads_per_worker(planned.usable);
    say(&format!(
        "measuring this host's roofs on {threads} thread(s) (matmul and convolution per dtype, STREAM triad) ..."
    ));
    let roofs = roofs::measure(threads);
    let dtype = roof_dtype(config.dtype);
    // The model's FLOPs per call over the timed loop's mean time per call.
    let work = match roofline::model_work(&op_profile, dtype) {
        Some(work) => Some((work, "the config's own ops")),
        None => {
            say("counting the model's FLOPs on stock (this config's compute ops hide their sizes) ...");
            let mut stock = short(options.clone());
            stock.profile_rounds = 1;
            let counted = trial::spawn(&spec(&Config::stock(), stock), scratch.path(), limit);
            counted
                .output
                .and_then(|o| o.profile)
                .and_then(|p| roofline::model_work(&p, dtype))
                .map(|work| (work, "stock's ops (the same arithmetic)"))
        }
    };
    let model = work.and_then(|(work, source)| {
        roofline::model_point(work, output.stats.mean_ms, dtype, &roofs, source)
    });
    let (ops_ms_per_call, profiled_ms_per_call) = profile::coverage(&op_profile);
    Ok(ProfileRecord {
        config: config.label(),
        isa_level: host.map(|h| h.isa_level.clone()),
        median_ms: output.stats.median_ms,
        mean_ms: output.stats.mean_ms,
        samples_per_s: output.stats.samples_per_s,
        ops_ms_per_call,
        profiled_ms_per_call,
        by_kind: profile::by_kind(&op_profile),
        roofline: roofline::ops(&op_profile, &roofs),
        profile: op_profile,
        kernels: profile::kernel_uses(&kernels, &profile::kernel_ms(&listed.onednn_exec)),
        verdicts,
        roofs,
        model,
    })
}

/// The roof a config's model is read against.
fn roof_dtype(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::Fp32 => "fp32",
        Dtype::Bf16 | Dtype::Bf16Autocast => "bf16",
        Dtype::Int8Dynamic | Dtype::Int8Static => "int8",
    }
}
