//! `ipex-tune trial --spec-file FILE` (hidden): the child side of a trial.
use crate::cli::TrialArgs;
use crate::error::{exit_code, UserError};
use crate::runtime::child::{run_child, run_compile_child, run_instance_child};
use crate::runtime::sensitivity::run_sensitivity_child;
use crate::trial::{Job, TrialSpec};

pub fn run(args: &TrialArgs) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(&args.spec_file).map_err(|e| {
        UserError::BadValue(format!(
            "{}: cannot read the trial spec: {e}",
            args.spec_file.display()
        ))
    })?;
    let spec: TrialSpec = serde_json::from_str(&text).map_err(|e| {
        UserError::BadValue(format!(
            "{}: not a trial spec: {e}",
            args.spec_file.display()
        ))
    })?;
    // Every run of the entry method in this process gets the suite's call
    // (values for non-tensor arguments, defaults) around the batch's tensors.
    if !spec.suite.call.is_empty() {
        crate::native::set_call_arguments(&crate::suite::native_plan(&spec.suite.call))?;
    }
    let answer = match spec.job {
        Job::Measure if spec.instance.is_some() => {
            serde_json::to_string(&run_instance_child(&spec)?)?
        }
        Job::Measure => serde_json::to_string(&run_child(&spec)?)?,
        Job::LayerSensitivity => serde_json::to_string(&run_sensitivity_child(&spec)?)?,
        Job::Compile => serde_json::to_string(&run_compile_child(&spec)?)?,
    };
    println!("{answer}");
    Ok(exit_code::OK)
}
