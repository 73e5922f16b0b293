//! `ModelFacts`: what a model is, read from its TorchScript.
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ops::op_group;
use crate::error::UserError;
use crate::native::Module;

/// One argument of a method (`self` excluded).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Argument {
    pub name: String,
    /// TorchScript type annotation, e.g. `Tensor`, `Optional[Tensor]`, `int`.
    #[serde(rename = "type")]
    pub type_name: String,
    pub has_default: bool,
    /// The default as TorchScript prints it (`1.`, `None`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A method and its schema.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct MethodSchema {
    pub name: String,
    pub arguments: Vec<Argument>,
    pub returns: Vec<String>,
    /// The full schema as TorchScript prints it.
    pub schema: String,
}

/// Totals over a set of tensors (parameters or buffers).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct TensorSummary {
    /// Number of elements.
    pub count: u64,
    /// Number of tensors.
    pub tensors: u64,
    pub bytes: u64,
    /// Elements per dtype, e.g. `{"float": 1024}`.
    pub dtypes: BTreeMap<String, u64>,
}

/// Control flow of the inlined graph.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ControlFlow {
    /// All `prim::If` nodes, including nested ones.
    #[serde(rename = "if")]
    pub if_count: u64,
    /// All `prim::Loop` nodes, including nested ones.
    #[serde(rename = "loop")]
    pub loop_count: u64,
    /// Branches that exist only to raise (argument and dimension checks).
    pub raise_only_if: u64,
    /// Branches whose condition is computed from tensor values (e.g.
    /// `if x.sum() > 0`): the control flow that matters for quantization and
    /// tracing. Guards on sizes, dims, dtypes, attributes or None do not count.
    pub data_dependent_if: u64,
    /// Loops whose trip count or condition is computed from tensor values.
    pub data_dependent_loop: u64,
    /// Deepest block nesting.
    pub max_block_depth: u64,
}

/// Everything `inspect` reports; the model half of the rule engine's facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ModelFacts {
    pub path: String,
    pub file_bytes: u64,
    /// The file's SHA-256 (provenance: the gate says when the model changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The method the facts below describe (the entry point).
    pub method: String,
    pub methods: Vec<MethodSchema>,
    pub parameters: TensorSummary,
    pub buffers: TensorSummary,
    /// Op kind -> count over the inlined graph of `method`, nested blocks included.
    pub ops: BTreeMap<String, u64>,
    /// Op group (see model::ops) -> count.
    pub op_groups: BTreeMap<String, u64>,
    pub control_flow: ControlFlow,
    /// Nodes in the inlined graph.
    pub nodes: u64,
    /// IPEX ops already in the graph (a model saved after ipex.optimize + trace).
    pub ipex_ops: Vec<String>,
    /// Attributes the entry method assigns (`self.state = ...`), as dotted
    /// paths from the module: state kept between calls. Every trial's
    /// outputs are compared from the state the model loaded with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assigned_attributes: Vec<String>,
    /// What the model says about each input's sizes (suites fill their
    /// open dimensions from it).
    #[serde(default)]
    pub input_hints: Vec<InputHint>,
    /// Set when the file given is a program saved by `torch.export.save`:
    /// the facts above are its TorchScript trace's; `path`, `file_bytes`
    /// and `sha256` are the program file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<super::pt2::ProgramFacts>,
}

/// One tensor input of the entry method, as the model describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InputHint {
    /// Position among the method's arguments (after self).
    pub index: usize,
    /// The sizes a traced graph recorded for it (None when scripted).
    pub sizes: Option<Vec<i64>>,
    /// The op that fixes a size or bound (e.g. `aten::lstm`).
    pub consumer: Option<String>,
    /// Which dimension it fixes (-1: the last; 1: channels) and to what.
    pub dim: Option<i64>,
    pub size: Option<i64>,
    /// The exclusive bound of integer ids (an embedding's rows).
    pub bound: Option<i64>,
}

#[derive(Deserialize)]
struct RawGraphFacts {
    ops: BTreeMap<String, u64>,
    control_flow: ControlFlow,
    nodes: u64,
    #[serde(default)]
    assigned_attributes: Vec<String>,
}

#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    numel: u64,
    bytes: u64,
}

#[derive(Deserialize)]
struct RawTensors {
    parameters: Vec<RawTensor>,
    buffers: Vec<RawTensor>,
}

fn summarize(tensors: &[RawTensor]) -> TensorSummary {
    let mut summary = TensorSummary::default();
    for t in tensors {
        summary.count += t.numel;
        summary.tensors += 1;
        summary.bytes += t.bytes;
        *summary.dtypes.entry(t.dtype.clone()).or_default() += t.numel;
    }
    summary
}

fn internal(path: &Path, what: &str, e: impl std::fmt::Display) -> UserError {
    UserError::bad_model(path, format!("{what}: {e}"))
}

impl ModelFacts {
    /// Reads the facts of `module` (loaded from `path`) for `method`.
    /// `method` must exist: the error lists the methods there are.
    pub fn read(path: &Path, module: &Module, method: &str) -> Result<ModelFacts, UserError> {
        let methods: Vec<MethodSchema> = module
            .methods_json()
            .map_err(|e| internal(path, "cannot list methods", e.headline()))
            .and_then(|json| {
                serde_json::from_str(&json).map_err(|e| internal(path, "bad method list", e))
            })?;
        if !methods.iter().any(|m| m.name == method) {
            let names: Vec<&str> = methods.iter().map(|m| m.name.as_str()).collect();
            return Err(UserError::bad_model(
                path,
                format!(
                    "has no method '{method}'; its methods are: {}",
                    if names.is_empty() {
                        "(none)".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
        let graph: RawGraphFacts = module
            .graph_facts_json(method)
            .map_err(|e| internal(path, "cannot read the graph", e.headline()))
            .and_then(|json| {
                serde_json::from_str(&json).map_err(|e| internal(path, "bad graph facts", e))
            })?;
        let tensors: RawTensors = module
            .tensors_json()
            .map_err(|e| internal(path, "cannot list parameters", e.headline()))
            .and_then(|json| {
                serde_json::from_str(&json).map_err(|e| internal(path, "bad parameter list", e))
            })?;
        let mut op_groups = BTreeMap::new();
        for (kind, count) in &graph.ops {
            if let Some(group) = op_group(kind) {
                *op_groups.entry(group.to_string()).or_default() += count;
            }
        }
        let ipex_ops = graph
            .ops
            .keys()
            .filter(|k| op_group(k) == Some("ipex"))
            .cloned()
            .collect();
        Ok(ModelFacts {
            path: path.display().to_string(),
            file_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            sha256: super::integrity::sha256_hex(path).ok(),
            method: method.to_string(),
            methods,
            parameters: summarize(&tensors.parameters),
            buffers: summarize(&tensors.buffers),
            ops: graph.ops,
            op_groups,
            control_flow: graph.control_flow,
            nodes: graph.nodes,
            ipex_ops,
            assigned_attributes: graph.assigned_attributes,
            // Best effort: a model that cannot be frozen gives no hints.
            input_hints: module
                .input_hints_json(method)
                .ok()
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default(),
            program: None,
        })
    }

    /// The facts of a model given as `given`, read from the file the
    /// runtime loads (`file`): for a program, its trace's facts under the
    /// program file's name, size and digest.
    pub fn read_file(
        given: &Path,
        file: &super::pt2::ModelFile,
        module: &Module,
        method: &str,
    ) -> Result<ModelFacts, UserError> {
        let mut facts = ModelFacts::read(&file.torchscript, module, method)?;
        if let Some(program) = &file.program {
            facts.path = given.display().to_string();
            facts.file_bytes = std::fs::metadata(given).map(|m| m.len()).unwrap_or(0);
            facts.sha256 = super::integrity::sha256_hex(given).ok();
            facts.program = Some(program.clone());
        }
        Ok(facts)
    }
}
