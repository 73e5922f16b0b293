//! The `suite` stage: how to feed a model (`suites/*.yaml`): the inputs and
//! their shapes (static or dynamic), batch sizes, the accuracy metric and
//! per-dtype tolerances, and measurement minimums. Produces a [`Suite`] and
//! its seeded input batches.
pub mod arguments;
mod decoded;
mod files;
mod inputs;
pub use inputs::largest_batch_bytes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use arguments::{
    bind, is_plain, native_plan, positional_tensors, split_named, takes_tensor, CallArg,
};
pub use files::{calibration_batches, load_inputs, load_labels, suite_batches, InputFile};
pub use inputs::batches;

use crate::config::Dtype;
use crate::error::UserError;
use crate::model::ModelFacts;

/// How one input tensor is generated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    pub kind: InputKind,
    /// Dimensions: numbers, or names of `dims` (and `batch`).
    #[serde(default)]
    pub shape: Vec<Dim>,
    /// Exclusive upper bound of integer kinds (vocabulary size, embedding rows).
    #[serde(default)]
    pub high: Option<i64>,
}

impl InputSpec {
    /// The shape as written, e.g. `batchx3x224x224`.
    pub fn shape_text(&self) -> String {
        self.shape
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => n.to_string(),
                Dim::Named(name) => name.clone(),
            })
            .collect::<Vec<_>>()
            .join("x")
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Standard normal floats.
    Normal,
    /// Integer ids in [0, high).
    Tokens,
    /// An int64 attention mask: ones, with trailing padding zeros in some rows.
    Mask,
    /// EmbeddingBag indices (length: the sum of the bag sizes).
    BagIndices,
    /// EmbeddingBag offsets (one per sample).
    BagOffsets,
    /// Per-sample lengths (int64) of a padded sequence input.
    Lengths,
}

/// A dimension: a fixed size or the name of a dimension with several sizes.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Dim {
    Fixed(i64),
    Named(String),
}

impl<'de> Deserialize<'de> for Dim {
    // By hand: YAML scalars reach serde as strings, so `3` must be parsed.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dim, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Dim;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size or a dimension name")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dim, E> {
                Ok(Dim::Fixed(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dim, E> {
                Ok(Dim::Fixed(v as i64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dim, E> {
                Ok(v.parse()
                    .map(Dim::Fixed)
                    .unwrap_or_else(|_| Dim::Named(v.to_string())))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Bag sizes of EmbeddingBag inputs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bags {
    pub min: i64,
    pub max: i64,
}

/// Accuracy tolerances of one dtype.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Largest allowed absolute difference from stock fp32 outputs.
    pub max_abs: f64,
    /// Smallest allowed cosine similarity with stock fp32 outputs.
    pub min_cosine: f64,
    /// Smallest allowed top-1 agreement, when outputs look like class scores.
    #[serde(default)]
    pub min_top1: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccuracyPolicy {
    /// The metric that decides: max_abs, cosine or top1.
    pub metric: String,
    /// dtype -> tolerance.
    pub tolerance: BTreeMap<Dtype, Tolerance>,
    /// `--max-accuracy-loss`: with `--labels`, a config is accurate when its
    /// task top-1 is within this loss of stock's (instead of the output
    /// tolerance), as Neural Compressor's accuracy criterion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_loss: Option<AccuracyLoss>,
}

/// An allowed drop of the task accuracy.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct AccuracyLoss {
    pub value: f64,
    /// Relative to stock's accuracy (1% of it) or absolute (1 point).
    pub relative: bool,
}

impl AccuracyLoss {
    /// The lowest accuracy allowed given stock's.
    pub fn floor(&self, stock: f64) -> f64 {
        if self.relative {
            stock * (1.0 - self.value)
        } else {
            stock - self.value
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub min_time_s: f64,
    pub min_iters: usize,
}

/// A suite as written in YAML.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub name: String,
    pub description: String,
    pub batch_sizes: Vec<i64>,
    /// Named dimensions and the sizes each takes (several sizes: dynamic shapes).
    #[serde(default)]
    pub dims: BTreeMap<String, Vec<i64>>,
    #[serde(default)]
    pub bags: Option<Bags>,
    pub inputs: Vec<InputSpec>,
    pub accuracy: AccuracyPolicy,
    pub measure: Measure,
    #[serde(default = "default_seed")]
    pub seed: i64,
    /// Sizes taken from the model instead of the suite's own, and where
    /// from (filled by [`Suite::fit_to_model`]; not written in suite files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inferred: Vec<String>,
    /// `--inputs`: measure (and check accuracy) on these batches instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_file: Option<InputFile>,
    /// `--calibration`: static int8 calibrates on these batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_file: Option<InputFile>,
    /// `--labels`: the class of every row of `input_file`'s batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_file: Option<InputFile>,
    /// What each argument of the entry method is fed, when it is not just
    /// the inputs in order (non-tensor values, defaults); filled from the
    /// model's schema and `--input-shape NAME=VALUE`, not written in suite files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call: Vec<CallArg>,
}

fn default_seed() -> i64 {
    20261128
}

/// One `--input-shape` of the generic suite: `8x3x224x224` (floats) or
/// `8x128:int1000` (int64 ids below 1000); the first size is the batch.
pub(crate) fn parse_input_shape(name: &str, text: &str) -> Result<(InputSpec, i64), UserError> {
    let (dims, kind) = text.split_once(':').unwrap_or((text, ""));
    let sizes: Vec<i64> = dims
        .split('x')
        .map(|d| d.trim().parse::<i64>().ok().filter(|n| *n >= 1))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            UserError::BadValue(format!(
                "--input-shape '{text}': expected sizes joined by x, e.g. 8x3x224x224 or 8x128:int1000"
            ))
        })?;
    let (kind, high) = match kind {
        "" | "float" => (InputKind::Normal, None),
        "int" => (InputKind::Tokens, Some(100)),
        k if k.starts_with("int") && k[3..].parse::<i64>().is_ok_and(|n| n >= 1) => {
            (InputKind::Tokens, k[3..].parse::<i64>().ok())
        }
        other => {
            return Err(UserError::BadValue(format!(
                "--input-shape '{text}': unknown kind '{other}'; expected float or intN"
            )))
        }
    };
    let mut shape = vec![Dim::Named("batch".into())];
    shape.extend(sizes[1..].iter().map(|&s| Dim::Fixed(s)));
    let input = InputSpec {
        name: name.to_string(),
        kind,
        shape,
        high,
    };
    Ok((input, sizes[0]))
}

/// Names of the bundled suites (embedded in the binary).
pub fn bundled_names() -> Vec<String> {
    crate::bundled::SUITES
        .iter()
        .filter_map(|(file, _)| {
            Path::new(file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .collect()
}

fn yaml_error_line(e: &marked_yaml::FromYamlError, text: &str) -> usize {
    let line = yaml_error_mark(e);
    if line > 0 {
        return line;
    }
    // marked-yaml reports unknown fields without a position: find the key.
    let message = e.to_string();
    message
        .split('`')
        .nth(1)
        .and_then(|field| {
            text.lines()
                .position(|l| l.trim_start().starts_with(&format!("{field}:")))
                .map(|i| i + 1)
        })
        .unwrap_or(0)
}

fn yaml_error_mark(e: &marked_yaml::FromYamlError) -> usize {
    match e {
        marked_yaml::FromYamlError::ParseYaml(load) => match load {
            marked_yaml::LoadError::TopLevelMustBeMapping(m)
            | marked_yaml::LoadError::TopLevelMustBeSequence(m)
            | marked_yaml::LoadError::UnexpectedAnchor(m)
            | marked_yaml::LoadError::MappingKeyMustBeScalar(m)
            | marked_yaml::LoadError::UnexpectedTag(m)
            | marked_yaml::LoadError::ScanError(m, _) => m.line(),
            marked_yaml::LoadError::DuplicateKey(d) => {
                d.key.span().start().map(|m| m.line()).unwrap_or(0)
            }
        },
        marked_yaml::FromYamlError::FromNode(n) => n.start_mark().map(|m| m.line()).unwrap_or(0),
    }
}

impl Suite {
    /// Parses and validates a suite file.
    pub fn from_file(path: &Path) -> Result<Suite, UserError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            UserError::BadValue(format!("{}: cannot read suite: {e}", path.display()))
        })?;
        Suite::from_text(path, &text)
    }

    /// Parses and validates a suite's YAML; `path` names it in errors.
    pub fn from_text(path: &Path, text: &str) -> Result<Suite, UserError> {
        let suite: Suite = marked_yaml::from_yaml(0, text).map_err(|e| {
            UserError::BadValue(format!(
                "{}:{}: {e}",
                path.display(),
                yaml_error_line(&e, text)
            ))
        })?;
        suite
            .validate()
            .map_err(|e| UserError::BadValue(format!("{}: {e}", path.display())))?;
        Ok(suite)
    }

    /// Finds a suite by name in the user's directories, then the bundled ones.
    pub fn find(name: &str, extra_dirs: &[PathBuf]) -> Result<Suite, UserError> {
        // As --rules: a suite folder that is not there is a mistake, even
        // when the suite asked for is a bundled one.
        if let Some(missing) = extra_dirs.iter().find(|d| !d.is_dir()) {
            return Err(UserError::BadValue(format!(
                "--suites {}: not a directory; expected a folder of suite YAML files",
                missing.display()
            )));
        }
        for dir in extra_dirs {
            for ext in ["yaml", "yml"] {
                let path = dir.join(format!("{name}.{ext}"));
                if path.is_file() {
                    return Suite::from_file(&path);
                }
            }
        }
        let bundled_file = format!("suites/{name}.yaml");
        if let Some((file, text)) = crate::bundled::SUITES
            .iter()
            .find(|(f, _)| *f == bundled_file)
        {
            return Suite::from_text(Path::new(file), text);
        }
        let mut known: Vec<String> = extra_dirs
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .filter_map(|e| {
                let p = e.ok()?.path();
                if p.extension()? == "yaml" {
                    Some(p.file_stem()?.to_string_lossy().into_owned())
                } else {
                    None
                }
            })
            .collect();
        known.extend(bundled_names());
        known.sort();
        known.dedup();
        Err(UserError::BadValue(format!(
            "--suite: unknown suite '{name}'; expected one of {}",
            known.join(", ")
        )))
    }

    fn validate(&self) -> Result<(), String> {
        if self.batch_sizes.is_empty() || self.batch_sizes.iter().any(|&b| b < 1) {
            return Err("batch_sizes: expected a list of sizes >= 1".into());
        }
        if self.inputs.is_empty() {
            return Err("inputs: expected at least one input".into());
        }
        for input in &self.inputs {
            for dim in &input.shape {
                match dim {
                    Dim::Fixed(n) if *n < 1 => {
                        return Err(format!("input {}: dimension {n} must be >= 1", input.name))
                    }
                    Dim::Named(name) if name != "batch" && !self.dims.contains_key(name) => {
                        return Err(format!(
                            "input {}: unknown dimension '{name}'; expected a number, batch, or one of dims ({})",
                            input.name,
                            self.dims.keys().cloned().collect::<Vec<_>>().join(", ")
                        ))
                    }
                    _ => {}
                }
            }
            let needs_high = matches!(input.kind, InputKind::Tokens | InputKind::BagIndices);
            if needs_high && input.high.unwrap_or(0) < 1 {
                return Err(format!(
                    "input {}: kind {:?} needs `high` >= 1",
                    input.name, input.kind
                ));
            }
            let needs_bags = matches!(input.kind, InputKind::BagIndices | InputKind::BagOffsets);
            if needs_bags && self.bags.is_none() {
                return Err(format!(
                    "input {}: bag inputs need `bags: {{min, max}}`",
                    input.name
                ));
            }
        }
        if let Some(b) = &self.bags {
            if b.min < 1 || b.max < b.min {
                return Err(format!(
                    "bags: expected 1 <= min <= max, got {}..{}",
                    b.min, b.max
                ));
            }
        }
        for (name, sizes) in &self.dims {
            if sizes.is_empty() || sizes.iter().any(|&s| s < 1) {
                return Err(format!("dims.{name}: expected a list of sizes >= 1"));
            }
        }
        if !["max_abs", "cosine", "top1"].contains(&self.accuracy.metric.as_str()) {
            return Err(format!(
                "accuracy.metric: '{}' is not a metric; expected max_abs, cosine or top1",
                self.accuracy.metric
            ));
        }
        Ok(())
    }

    /// The generic suite: inputs built from the entry method's tensor
    /// arguments and one shape per argument, e.g. `8x3x224x224` (floats) or
    /// `8x128:int1000` (int64 ids below 1000). The first dimension is the batch.
    pub fn generic(model: &ModelFacts, shapes: &[String]) -> Result<Suite, UserError> {
        let entry = model
            .methods
            .iter()
            .find(|m| m.name == model.method)
            .expect("ModelFacts::read checked the method");
        // As a Python call: positional items fill the arguments in order
        // (those not given by name), NAME=TEXT gives one by name, the rest
        // take their defaults. A tensor argument's text is its shape (or
        // `none` for an Optional one); another argument's, its value.
        let given_by_name: Vec<(&str, &str)> = shapes
            .iter()
            .filter_map(|t| match split_named(t) {
                (Some(name), value) => Some((name, value)),
                (None, _) => None,
            })
            .collect();
        let mut positional = shapes
            .iter()
            .map(String::as_str)
            .filter(|t| split_named(t).0.is_none());
        let mut named = Vec::new();
        let mut inputs = Vec::new();
        let mut batch = None;
        for arg in &entry.arguments {
            let by_name = given_by_name
                .iter()
                .find(|(name, _)| *name == arg.name)
                .map(|(_, value)| *value);
            let Some(text) = by_name.or_else(|| positional.next()) else {
                continue;
            };
            if arguments::takes_tensor(&arg.type_name) && !text.eq_ignore_ascii_case("none") {
                let (input, batch_size) = parse_input_shape(&arg.name, text)?;
                batch.get_or_insert(batch_size);
                inputs.push(input);
            } else if let Some(structure) = arguments::structure_of(&arg.type_name) {
                // One suite input per element, named NAME.0 / NAME.KEY.
                let elements = arguments::split_elements(arg, structure, text)?;
                for (index, (key, shape)) in elements.iter().enumerate() {
                    let name = arguments::element_name(&arg.name, index, key.as_deref());
                    let (input, batch_size) = parse_input_shape(&name, shape)?;
                    batch.get_or_insert(batch_size);
                    inputs.push(input);
                }
            } else {
                named.push((arg.name.clone(), text.to_string()));
            }
        }
        let leftover = positional.count();
        for (name, value) in &given_by_name {
            if !entry.arguments.iter().any(|a| a.name == *name) {
                named.push((name.to_string(), value.to_string()));
            }
        }
        let fed: Vec<String> = inputs.iter().map(|i: &InputSpec| i.name.clone()).collect();
        let call = bind(&model.method, &entry.arguments, &fed, &named)?;
        if leftover > 0 {
            return Err(UserError::BadValue(format!(
                "--input-shape: {}; got {} shape(s)",
                arguments::takes(&model.method, &entry.arguments),
                inputs.len() + leftover
            )));
        }
        if inputs.is_empty() {
            return Err(UserError::BadValue(format!(
                "--input-shape: `{}` ({}) needs the shape of at least one tensor argument, e.g. --input-shape 8x3x224x224",
                model.method,
                arguments::signature(&entry.arguments)
            )));
        }
        let tolerance = |max_abs: f64, min_cosine: f64| Tolerance {
            max_abs,
            min_cosine,
            min_top1: None,
        };
        Ok(Suite {
            name: "generic".into(),
            description: format!("inputs of `{}` shaped by --input-shape", model.method),
            batch_sizes: vec![batch.unwrap_or(1)],
            dims: BTreeMap::new(),
            bags: None,
            inputs,
            accuracy: AccuracyPolicy {
                metric: "cosine".into(),
                tolerance: [
                    (Dtype::Fp32, tolerance(1e-4, 0.99999)),
                    (Dtype::Bf16, tolerance(5e-2, 0.999)),
                    (Dtype::Bf16Autocast, tolerance(5e-2, 0.999)),
                    (Dtype::Int8Dynamic, tolerance(1e-1, 0.99)),
                    (Dtype::Int8Static, tolerance(2e-1, 0.98)),
                ]
                .into(),
                max_loss: None,
            },
            measure: Measure {
                min_time_s: 1.0,
                min_iters: 20,
            },
            seed: default_seed(),
            inferred: Vec::new(),
            input_file: None,
            calibration_file: None,
            labels_file: None,
            call: if is_plain(&call) { Vec::new() } else { call },
        })
    }

    /// Whether inputs come in more than one shape.
    pub fn dynamic_shapes(&self) -> bool {
        let uses_dynamic_dim = self.inputs.iter().any(|i| {
            i.shape.iter().any(
                |d| matches!(d, Dim::Named(n) if self.dims.get(n).is_some_and(|s| s.len() > 1)),
            )
        });
        let variable_bags = self.bags.as_ref().is_some_and(|b| b.max > b.min)
            && self.inputs.iter().any(|i| i.kind == InputKind::BagIndices);
        uses_dynamic_dim || variable_bags
    }

    pub fn max_batch(&self) -> i64 {
        self.batch_sizes.iter().copied().max().unwrap_or(1)
    }

    /// Largest absolute value any input can take (normal floats counted at 6 sigma).
    pub fn max_abs_input(&self) -> f64 {
        let bags_max = self.bags.as_ref().map(|b| b.max).unwrap_or(1);
        self.inputs
            .iter()
            .map(|i| match i.kind {
                InputKind::Normal => 6.0,
                InputKind::Tokens | InputKind::BagIndices => (i.high.unwrap_or(1) - 1) as f64,
                InputKind::Mask => 1.0,
                InputKind::BagOffsets => (self.max_batch() * bags_max) as f64,
                InputKind::Lengths => {
                    self.dims.values().flatten().copied().max().unwrap_or(1) as f64
                }
            })
            .fold(0.0, f64::max)
    }

    /// Fills the suite's fixed sizes from what the model fixes: the feature
    /// size its first LSTM/GRU/linear layer reads, the channels of its first
    /// convolution, the rows of the embedding its ids index (a vocabulary
    /// smaller than the suite's bound would index out of range). Named
    /// dimensions (batch, seq, frames) stay the suite's. An image input
    /// (4 or more dimensions) of a traced model takes its fixed sizes from
    /// the example the model was traced with (an ImageNet CNN traced at
    /// 224x224 is measured at 224x224; its adaptive pooling would accept the
    /// suite's 112 without complaint). Each change is recorded in `inferred`.
    pub fn fit_to_model(&mut self, model: &ModelFacts) {
        for (spec, hint) in self.inputs.iter_mut().zip(&model.input_hints) {
            if let (Some(traced), InputKind::Normal) = (&hint.sizes, spec.kind) {
                if traced.len() >= 4 && traced.len() == spec.shape.len() {
                    let was = spec.shape_text();
                    let mut changed = false;
                    for (dim, &size) in spec.shape.iter_mut().zip(traced).skip(1) {
                        if let Dim::Fixed(fixed) = dim {
                            changed |= *fixed != size;
                            *fixed = size;
                        }
                    }
                    if changed {
                        self.inferred.push(format!(
                            "{}: {} (traced with {}; the suite said {was})",
                            spec.name,
                            spec.shape_text(),
                            traced
                                .iter()
                                .map(i64::to_string)
                                .collect::<Vec<_>>()
                                .join("x")
                        ));
                    }
                }
            }
            let by = hint.consumer.as_deref().unwrap_or("the model");
            if let (Some(bound), InputKind::Tokens | InputKind::BagIndices) =
                (hint.bound, spec.kind)
            {
                if spec.high != Some(bound) {
                    self.inferred.push(format!(
                        "{}: ids below {bound} ({by} has {bound} rows; the suite said {})",
                        spec.name,
                        spec.high.map_or("none".to_string(), |h| h.to_string())
                    ));
                    spec.high = Some(bound);
                }
            }
            let (Some(dim), Some(size), InputKind::Normal) = (hint.dim, hint.size, spec.kind)
            else {
                continue;
            };
            let at = if dim < 0 {
                spec.shape.len().checked_sub(dim.unsigned_abs() as usize)
            } else {
                Some(dim as usize).filter(|&d| d < spec.shape.len())
            };
            if let Some(Dim::Fixed(was)) = at.and_then(|j| spec.shape.get_mut(j)) {
                if *was != size {
                    self.inferred.push(format!(
                        "{}: dim {dim} = {size} ({by} reads {size}; the suite said {was})",
                        spec.name
                    ));
                    *was = size;
                }
            }
        }
    }

    /// Checks the suite's inputs against the model's entry method; the error
    /// names the expected and found arguments.
    /// A `.pt2` program takes its example's size in every dim it does not
    /// leave symbolic (and sizes within the range in those it does): each
    /// size the suite would feed is checked, so that a shape the program
    /// refuses is one line now rather than a failed trial per config.
    pub fn check_program(
        &self,
        program: &crate::model::pt2::ProgramFacts,
        path: &str,
    ) -> Result<(), UserError> {
        for (index, (input, example)) in self.inputs.iter().zip(&program.example_inputs).enumerate()
        {
            for (dim, (size, want)) in input.shape.iter().zip(&example.sizes).enumerate() {
                let sizes: Vec<i64> = match size {
                    Dim::Fixed(n) => vec![*n],
                    Dim::Named(name) if name == "batch" => self.batch_sizes.clone(),
                    Dim::Named(name) => self.dims.get(name).cloned().unwrap_or_default(),
                };
                let range = program
                    .dynamic_dims
                    .iter()
                    .find(|d| d.input == index && d.dim == dim)
                    .map(|d| (d.min.unwrap_or(0), d.max.unwrap_or(i64::MAX)));
                let allowed = |n: i64| match range {
                    Some((low, high)) => (low..=high).contains(&n),
                    None => n == *want,
                };
                if let Some(bad) = sizes.into_iter().find(|&n| !allowed(n)) {
                    let takes = match range {
                        Some((low, high)) if high == i64::MAX => format!("sizes >= {low} there"),
                        Some((low, high)) => format!("sizes {low} to {high} there"),
                        None => format!("only {want} there (its example's size; export with a dynamic dim for others)"),
                    };
                    return Err(UserError::BadValue(format!(
                        "suite '{}' feeds input {} ({}) size {bad} in dim {dim}; the program {path} takes {takes}",
                        self.name,
                        input.name,
                        input.shape_text(),
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn check_fits(&self, model: &ModelFacts) -> Result<(), UserError> {
        let entry = model
            .methods
            .iter()
            .find(|m| m.name == model.method)
            .expect("ModelFacts::read checked the method");
        let required: Vec<&str> = entry
            .arguments
            .iter()
            .filter(|a| !a.has_default)
            .map(|a| a.name.as_str())
            .collect();
        let all: Vec<&str> = entry.arguments.iter().map(|a| a.name.as_str()).collect();
        // A structured argument's elements (`feats.0`, `feats.1`) give it once.
        let mut given: Vec<&str> = self
            .inputs
            .iter()
            .map(|i| i.name.split('.').next().unwrap_or(&i.name))
            .collect();
        given.dedup();
        // Arguments given values (--input-shape NAME=VALUE) count as given.
        given.extend(
            self.call
                .iter()
                .zip(&entry.arguments)
                .filter_map(|(c, a)| matches!(c, CallArg::Value(_)).then_some(a.name.as_str())),
        );
        let fits = given.len() >= required.len() && given.len() <= all.len();
        if !fits {
            return Err(UserError::BadValue(format!(
                "suite '{}' does not fit {}: `{}` takes ({}), the suite gives ({})",
                self.name,
                model.path,
                model.method,
                all.join(", "),
                given.join(", ")
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled(name: &str) -> Suite {
        Suite::find(name, &[]).unwrap()
    }

    #[test]
    fn bundled_suites_load() {
        for name in ["nlp", "cv", "recsys", "speech"] {
            let suite = bundled(name);
            assert_eq!(suite.name, name);
        }
    }

    #[test]
    fn dynamic_shapes_follow_the_dims() {
        assert!(bundled("nlp").dynamic_shapes());
        assert!(!bundled("cv").dynamic_shapes());
        assert!(bundled("recsys").dynamic_shapes(), "variable bag sizes");
        assert!(bundled("speech").dynamic_shapes());
    }

    #[test]
    fn located_errors_for_bad_suites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        std::fs::write(
            &path,
            "name: bad\ndescription: x\nbatch_sizes: [1]\ncolour: red\n",
        )
        .unwrap();
        let err = Suite::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("bad.yaml:4"), "{err}");
        assert!(err.contains("colour"), "{err}");
    }
}
