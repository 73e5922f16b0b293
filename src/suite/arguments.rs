//! The entry method's call: which argument gets which of a batch's tensors,
//! and what the others (`int`, `float`, `bool`, `str`, `Optional[...]`, any
//! argument with a default) are fed. `--input-shape NAME=VALUE` (or a bare
//! VALUE in the argument's position) gives a non-tensor argument its value;
//! `none` gives None; an argument with a default not given takes it.
//! `List[Tensor]` and `Tuple[Tensor, ...]` arguments take several suite
//! tensors (`NAME=[2x64,2x32]`), `Dict[str, Tensor]` named ones
//! (`NAME={ids:2x32:int1000,mask:2x32:int2}`): each element is a suite input
//! of its own, named `NAME.0` or `NAME.KEY`.
use serde::{Deserialize, Serialize};

use crate::error::UserError;
use crate::model::{Argument, InputHint};

/// A value for a non-tensor argument.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArgValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    None,
}

impl ArgValue {
    /// As the user writes it (and `inspect`/`plan` show it).
    pub fn text(&self) -> String {
        match self {
            ArgValue::Int(v) => v.to_string(),
            ArgValue::Float(v) => v.to_string(),
            ArgValue::Bool(v) => v.to_string(),
            ArgValue::Str(v) => format!("{v:?}"),
            ArgValue::None => "None".into(),
        }
    }
}

/// What one argument of the call (in the schema's order, `self` left out)
/// is fed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallArg {
    /// The batch's tensor at this index (the suite's `inputs` order).
    Tensor(usize),
    /// This value in every call.
    Value(ArgValue),
    /// The schema's default.
    Default,
    /// A `List[Tensor]` of the batch's tensors at these indices.
    List(Vec<usize>),
    /// A `Tuple[Tensor, ...]` of the batch's tensors at these indices.
    Tuple(Vec<usize>),
    /// A `Dict[str, Tensor]`: each key and the batch's tensor at its index.
    Dict(Vec<(String, usize)>),
}

/// The container kinds of tensors a schema argument can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    List,
    Tuple,
    Dict,
}

/// The container an argument of TorchScript type `type_name` is, when it
/// holds tensors only: `List[Tensor]`, `Tuple[Tensor, Tensor]`,
/// `Dict[str, Tensor]`.
pub fn structure_of(type_name: &str) -> Option<Structure> {
    if type_name == "List[Tensor]" {
        return Some(Structure::List);
    }
    if type_name == "Dict[str, Tensor]" {
        return Some(Structure::Dict);
    }
    let items = type_name.strip_prefix("Tuple[")?.strip_suffix(']')?;
    items
        .split(',')
        .all(|t| t.trim() == "Tensor")
        .then_some(Structure::Tuple)
}

/// The elements of a structured argument's text: `[S1,S2]` (a list or
/// tuple: keys None) or `{k1:S1,k2:S2}` (a dict), each S a tensor shape.
/// A one-line error naming the argument otherwise.
pub fn split_elements(
    arg: &Argument,
    structure: Structure,
    text: &str,
) -> Result<Vec<(Option<String>, String)>, UserError> {
    let example = match structure {
        Structure::Dict => format!("{}={{ids:2x32:int1000,mask:2x32:int2}}", arg.name),
        _ => format!("{}=[2x64,2x32]", arg.name),
    };
    let bad = |why: &str| {
        UserError::BadValue(format!(
            "--input-shape {}={text}: argument `{}` is {}; {why}, e.g. --input-shape {example}",
            arg.name, arg.name, arg.type_name
        ))
    };
    let (open, close) = if structure == Structure::Dict {
        ('{', '}')
    } else {
        ('[', ']')
    };
    let inner = text
        .strip_prefix(open)
        .and_then(|t| t.strip_suffix(close))
        .ok_or_else(|| bad(&format!("expected its tensors' shapes in {open}...{close}")))?;
    let mut elements: Vec<(Option<String>, String)> = Vec::new();
    for item in inner.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(bad("expected at least one shape, without empty items"));
        }
        if structure == Structure::Dict {
            let (key, shape) = item
                .split_once(':')
                .ok_or_else(|| bad("expected KEY:SHAPE items"))?;
            let key_ok = !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_');
            if !key_ok {
                return Err(bad(&format!("key '{key}' must be letters, digits or _")));
            }
            if elements.iter().any(|(k, _)| k.as_deref() == Some(key)) {
                return Err(bad(&format!("key '{key}' is given twice")));
            }
            elements.push((Some(key.to_string()), shape.to_string()));
        } else {
            elements.push((None, item.to_string()));
        }
    }
    if let (Structure::Tuple, Some(want)) = (
        structure,
        arg.type_name
            .strip_prefix("Tuple[")
            .map(|t| t.split(',').count()),
    ) {
        if elements.len() != want {
            return Err(bad(&format!(
                "expected {want} shape(s), got {}",
                elements.len()
            )));
        }
    }
    Ok(elements)
}

/// The suite input name of a structured argument's element: `feats.0`,
/// `batch.ids`.
pub fn element_name(arg: &str, index: usize, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("{arg}.{key}"),
        None => format!("{arg}.{index}"),
    }
}

/// The plan the trial child hands the native runtime (one line per
/// argument; see `itn_set_call_arguments` in csrc/shim.h).
pub fn native_plan(call: &[CallArg]) -> String {
    call.iter()
        .map(|arg| match arg {
            CallArg::Tensor(_) => "tensor".to_string(),
            CallArg::Default => "default".to_string(),
            CallArg::Value(ArgValue::Int(v)) => format!("int {v}"),
            CallArg::Value(ArgValue::Float(v)) => format!("float {v:e}"),
            CallArg::Value(ArgValue::Bool(v)) => format!("bool {}", u8::from(*v)),
            CallArg::Value(ArgValue::Str(v)) => format!("str {}", v.replace('\n', " ")),
            CallArg::Value(ArgValue::None) => "none".to_string(),
            CallArg::List(items) => format!("list {}", items.len()),
            CallArg::Tuple(items) => format!("tuple {}", items.len()),
            CallArg::Dict(items) => {
                let keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
                format!("dict {}", keys.join(" "))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a call is the plain one (the batch's tensors are the arguments,
/// in order), which needs no plan.
pub fn is_plain(call: &[CallArg]) -> bool {
    call.iter()
        .enumerate()
        .all(|(i, arg)| *arg == CallArg::Tensor(i))
}

/// Whether an argument of this type takes a tensor (or, Optional, None).
pub fn takes_tensor(type_name: &str) -> bool {
    matches!(type_name, "Tensor" | "Optional[Tensor]")
}

/// A `--input-shape` item: `NAME=TEXT` or a bare TEXT.
pub fn split_named(text: &str) -> (Option<&str>, &str) {
    match text.split_once('=') {
        Some((name, value))
            if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') =>
        {
            (Some(name), value)
        }
        _ => (None, text),
    }
}

/// The value `text` gives an argument of TorchScript type `type_name`; a
/// one-line error naming the argument, its type and the value otherwise.
pub fn parse_value(arg: &Argument, text: &str) -> Result<ArgValue, UserError> {
    let bad = |expected: &str| {
        UserError::BadValue(format!(
            "--input-shape {}={text}: argument `{}` is {}; expected {expected}",
            arg.name, arg.name, arg.type_name
        ))
    };
    let (inner, optional) = match arg
        .type_name
        .strip_prefix("Optional[")
        .and_then(|t| t.strip_suffix(']'))
    {
        Some(inner) => (inner, true),
        None => (arg.type_name.as_str(), false),
    };
    if text.eq_ignore_ascii_case("none") {
        return if optional {
            Ok(ArgValue::None)
        } else {
            Err(bad("a value (only an Optional argument takes none)"))
        };
    }
    match inner {
        "int" => text
            .parse()
            .map(ArgValue::Int)
            .map_err(|_| bad("an integer, e.g. 16000")),
        "float" => text
            .parse()
            .map(ArgValue::Float)
            .map_err(|_| bad("a number, e.g. 0.5")),
        "bool" => match text.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(ArgValue::Bool(true)),
            "false" | "0" => Ok(ArgValue::Bool(false)),
            _ => Err(bad("true or false")),
        },
        "str" => Ok(ArgValue::Str(text.to_string())),
        "Tensor" => Err(bad("a shape given without NAME=, e.g. 8x3x224x224")),
        _ if structure_of(inner).is_some() => Err(bad(
            "its tensors' shapes: [2x64,2x32] for a list or tuple, {key:2x64,...} for a dict",
        )),
        _ => Err(bad(
            "a tensor, int, float, bool, str or Optional of one (other types need an inputs file: --inputs)",
        )),
    }
}

/// What `run` feeds an argument when the command line says nothing of it,
/// and how to set it, for `inspect`: a tensor argument takes a suite input
/// (with what the model fixes of its sizes: `hint`), an argument with a
/// default takes it, another value needs `--input-shape NAME=VALUE`, and a
/// type the command line cannot express needs an inputs file.
pub fn fed_text(arg: &Argument, hint: Option<&InputHint>) -> String {
    let default = arg.default.as_deref().unwrap_or("its default");
    if takes_tensor(&arg.type_name) {
        if arg.has_default {
            return format!("{default} (a tensor with --input-shape {}=SHAPE)", arg.name);
        }
        let mut known = Vec::new();
        if let Some(h) = hint {
            if let Some(sizes) = &h.sizes {
                let dims: Vec<String> = sizes.iter().map(|d| d.to_string()).collect();
                known.push(format!("traced at {}", dims.join("x")));
            }
            if let (Some(consumer), Some(dim), Some(size)) = (&h.consumer, h.dim, h.size) {
                known.push(format!("dim {dim} = {size} ({consumer} reads {size})"));
            }
            if let (Some(consumer), Some(bound)) = (&h.consumer, h.bound) {
                known.push(format!("ids below {bound} ({consumer} has {bound} rows)"));
            }
        }
        let known = if known.is_empty() {
            String::new()
        } else {
            format!("; {}", known.join("; "))
        };
        return format!("a suite input (or --input-shape SHAPE){known}");
    }
    if let Some(structure) = structure_of(&arg.type_name) {
        let syntax = match structure {
            Structure::Dict => format!("{}={{key:SHAPE,...}}", arg.name),
            _ => format!("{}=[SHAPE,...]", arg.name),
        };
        return if arg.has_default {
            format!("{default} (suite inputs with --input-shape {syntax})")
        } else {
            format!("suite inputs, one per element: give --input-shape {syntax}")
        };
    }
    let settable = parse_value(arg, "0").is_ok() || parse_value(arg, "x").is_ok();
    match (arg.has_default, settable) {
        (true, true) => format!("{default} (--input-shape {}=VALUE sets it)", arg.name),
        (false, true) => format!("nothing: give --input-shape {}=VALUE", arg.name),
        (true, false) => format!("{default} (other values need an inputs file: --inputs)"),
        (false, false) => "nothing: needs an inputs file (--inputs)".to_string(),
    }
}

/// Binds the entry method's arguments: those named in `fed` take the
/// suite's tensor inputs (input i feeds `fed[i]`), those in `named`
/// (argument name -> text) their value, the rest their default. `method`
/// names the method in errors.
pub fn bind(
    method: &str,
    args: &[Argument],
    fed: &[String],
    named: &[(String, String)],
) -> Result<Vec<CallArg>, UserError> {
    for (name, _) in named {
        if !args.iter().any(|a| &a.name == name) {
            return Err(UserError::BadValue(format!(
                "--input-shape {name}=...: `{method}` has no argument `{name}`; its arguments: {}",
                signature(args)
            )));
        }
    }
    let mut call = Vec::new();
    for arg in args {
        if let Some((_, text)) = named.iter().find(|(n, _)| *n == arg.name) {
            call.push(CallArg::Value(parse_value(arg, text)?));
        } else if let Some(i) = fed.iter().position(|n| *n == arg.name) {
            call.push(CallArg::Tensor(i));
        } else if let Some(structure) = structure_of(&arg.type_name).filter(|_| {
            fed.iter().any(|n| {
                n.strip_prefix(&arg.name)
                    .is_some_and(|r| r.starts_with('.'))
            })
        }) {
            // Its elements, fed as `NAME.0`, `NAME.1` or `NAME.KEY`.
            let elements: Vec<(String, usize)> = fed
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    let rest = n.strip_prefix(&arg.name)?.strip_prefix('.')?;
                    Some((rest.to_string(), i))
                })
                .collect();
            let indices = elements.iter().map(|(_, i)| *i).collect();
            call.push(match structure {
                Structure::List => CallArg::List(indices),
                Structure::Tuple => CallArg::Tuple(indices),
                Structure::Dict => CallArg::Dict(elements),
            });
        } else if arg.has_default {
            call.push(CallArg::Default);
        } else if takes_tensor(&arg.type_name) {
            return Err(UserError::BadValue(format!(
                "--input-shape: {}; got {} shape(s)",
                takes(method, args),
                fed.len()
            )));
        } else {
            let value = match structure_of(&arg.type_name) {
                Some(Structure::Dict) => "{key:SHAPE,...}",
                Some(_) => "[SHAPE,...]",
                None => "VALUE",
            };
            return Err(UserError::BadValue(format!(
                "--input-shape: argument `{}` ({}) of `{method}` has no value; give it as --input-shape {}={value}",
                arg.name, arg.type_name, arg.name
            )));
        }
    }
    Ok(call)
}

/// The arguments a suite's `n` inputs feed, in order: the first `n` tensor
/// arguments not given by name.
pub fn positional_tensors(
    method: &str,
    args: &[Argument],
    n: usize,
    named: &[(String, String)],
) -> Result<Vec<String>, UserError> {
    let fed: Vec<String> = args
        .iter()
        .filter(|a| takes_tensor(&a.type_name) && !named.iter().any(|(n, _)| *n == a.name))
        .take(n)
        .map(|a| a.name.clone())
        .collect();
    if fed.len() < n {
        return Err(UserError::BadValue(format!(
            "the suite has {n} input(s); `{method}` takes {} tensor argument(s) ({})",
            fed.len(),
            signature(args)
        )));
    }
    Ok(fed)
}

/// "`forward` takes 2 argument(s) (x, sr)": the arguments without a
/// default, for errors.
pub fn takes(method: &str, args: &[Argument]) -> String {
    let required: Vec<&str> = args
        .iter()
        .filter(|a| !a.has_default)
        .map(|a| a.name.as_str())
        .collect();
    format!(
        "`{method}` takes {} argument(s) ({})",
        required.len(),
        required.join(", ")
    )
}

/// `x: Tensor, sr: int = ...`, for errors.
pub fn signature(args: &[Argument]) -> String {
    args.iter()
        .map(|a| {
            format!(
                "{}: {}{}",
                a.name,
                a.type_name,
                if a.has_default { " = default" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(name: &str, type_name: &str, has_default: bool) -> Argument {
        Argument {
            name: name.into(),
            type_name: type_name.into(),
            has_default,
            default: None,
        }
    }

    #[test]
    fn binds_tensors_values_and_defaults() {
        let args = [
            arg("x", "Tensor", false),
            arg("sr", "int", false),
            arg("mask", "Optional[Tensor]", true),
            arg("scale", "float", true),
        ];
        let sr = [("sr".to_string(), "16000".to_string())];
        let call = bind("forward", &args, &["x".into()], &sr).unwrap();
        assert_eq!(
            call,
            [
                CallArg::Tensor(0),
                CallArg::Value(ArgValue::Int(16000)),
                CallArg::Default,
                CallArg::Default
            ]
        );
        assert!(!is_plain(&call));
        let fed = positional_tensors("forward", &args, 2, &sr).unwrap();
        assert_eq!(fed, ["x", "mask"]);
        assert_eq!(
            bind("forward", &args, &fed, &sr).unwrap()[2],
            CallArg::Tensor(1)
        );
        assert!(positional_tensors("forward", &args, 3, &sr).is_err());
        let x = [arg("x", "Tensor", false)];
        assert!(is_plain(&bind("f", &x, &["x".into()], &[]).unwrap()));
    }

    #[test]
    fn every_missing_or_wrong_value_is_a_one_line_error_naming_the_argument() {
        let args = [arg("x", "Tensor", false), arg("sr", "int", false)];
        let x = ["x".to_string()];
        let e = bind("forward", &args, &x, &[]).unwrap_err().to_string();
        assert!(e.contains("`sr` (int)") && e.contains("sr=VALUE"), "{e}");
        let e = bind("forward", &args, &x, &[("sr".into(), "fast".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`sr` is int") && e.contains("integer"), "{e}");
        let e = bind("forward", &args, &x, &[("rate".into(), "1".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no argument `rate`"), "{e}");
        let e = bind("forward", &args, &[], &[("sr".into(), "1".into())])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`forward` takes 2 argument(s) (x, sr); got 0 shape(s)"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn values_parse_by_type() {
        let opt = arg("n", "Optional[int]", true);
        assert_eq!(parse_value(&opt, "none").unwrap(), ArgValue::None);
        assert_eq!(parse_value(&opt, "3").unwrap(), ArgValue::Int(3));
        assert!(parse_value(&arg("n", "int", false), "none").is_err());
        assert_eq!(
            parse_value(&arg("b", "bool", false), "True").unwrap(),
            ArgValue::Bool(true)
        );
        assert_eq!(
            parse_value(&arg("s", "str", false), "en").unwrap(),
            ArgValue::Str("en".into())
        );
        assert!(parse_value(&arg("l", "List[Tensor]", false), "1").is_err());
        assert_eq!(split_named("sr=16000"), (Some("sr"), "16000"));
        assert_eq!(split_named("8x128:int1000"), (None, "8x128:int1000"));
    }

    #[test]
    fn the_native_plan_has_one_line_per_argument() {
        let plan = native_plan(&[
            CallArg::Tensor(0),
            CallArg::Value(ArgValue::Int(16000)),
            CallArg::Value(ArgValue::Float(0.5)),
            CallArg::Value(ArgValue::Bool(true)),
            CallArg::Value(ArgValue::None),
            CallArg::Default,
        ]);
        assert_eq!(plan, "tensor\nint 16000\nfloat 5e-1\nbool 1\nnone\ndefault");
    }

    #[test]
    fn inspect_says_what_each_argument_is_fed() {
        let lstm = InputHint {
            index: 0,
            sizes: None,
            consumer: Some("aten::lstm".into()),
            dim: Some(-1),
            size: Some(80),
            bound: None,
        };
        assert_eq!(
            fed_text(&arg("x", "Tensor", false), Some(&lstm)),
            "a suite input (or --input-shape SHAPE); dim -1 = 80 (aten::lstm reads 80)"
        );
        assert_eq!(
            fed_text(&arg("sr", "int", false), None),
            "nothing: give --input-shape sr=VALUE"
        );
        let mut gain = arg("gain", "float", true);
        gain.default = Some("1.".into());
        assert_eq!(
            fed_text(&gain, None),
            "1. (--input-shape gain=VALUE sets it)"
        );
        let mut mask = arg("mask", "Optional[Tensor]", true);
        mask.default = Some("None".into());
        assert_eq!(
            fed_text(&mask, None),
            "None (a tensor with --input-shape mask=SHAPE)"
        );
        assert_eq!(
            fed_text(&arg("xs", "List[Tensor]", false), None),
            "suite inputs, one per element: give --input-shape xs=[SHAPE,...]"
        );
        assert_eq!(
            fed_text(&arg("xs", "List[int]", false), None),
            "nothing: needs an inputs file (--inputs)"
        );
    }

    #[test]
    fn structured_arguments_take_one_suite_input_per_element() {
        assert_eq!(structure_of("List[Tensor]"), Some(Structure::List));
        assert_eq!(
            structure_of("Tuple[Tensor, Tensor]"),
            Some(Structure::Tuple)
        );
        assert_eq!(structure_of("Dict[str, Tensor]"), Some(Structure::Dict));
        assert_eq!(structure_of("Tuple[Tensor, int]"), None);
        assert_eq!(structure_of("List[int]"), None);
        let feats = arg("feats", "List[Tensor]", false);
        assert_eq!(
            split_elements(&feats, Structure::List, "[2x64, 2x32]").unwrap(),
            [(None, "2x64".to_string()), (None, "2x32".to_string())]
        );
        let extra = arg("extra", "Dict[str, Tensor]", false);
        assert_eq!(
            split_elements(&extra, Structure::Dict, "{ids:2x32:int1000,mask:2x32:int2}").unwrap(),
            [
                (Some("ids".to_string()), "2x32:int1000".to_string()),
                (Some("mask".to_string()), "2x32:int2".to_string())
            ]
        );
        let pair = arg("pair", "Tuple[Tensor, Tensor]", false);
        let e = split_elements(&pair, Structure::Tuple, "[2x16]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected 2 shape(s), got 1"), "{e}");
        let e = split_elements(&extra, Structure::Dict, "[2x16]")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("argument `extra` is Dict[str, Tensor]") && e.contains("{...}"),
            "{e}"
        );
        let e = split_elements(&extra, Structure::Dict, "{a:2x1,a:2x1}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("given twice"), "{e}");

        let args = [
            arg("x", "Tensor", false),
            feats.clone(),
            extra.clone(),
            pair.clone(),
        ];
        let fed: Vec<String> = [
            "x",
            "feats.0",
            "feats.1",
            "extra.ids",
            "extra.mask",
            "pair.0",
            "pair.1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let call = bind("forward", &args, &fed, &[]).unwrap();
        assert_eq!(
            call,
            [
                CallArg::Tensor(0),
                CallArg::List(vec![1, 2]),
                CallArg::Dict(vec![("ids".into(), 3), ("mask".into(), 4)]),
                CallArg::Tuple(vec![5, 6]),
            ]
        );
        assert!(!is_plain(&call));
        assert_eq!(native_plan(&call), "tensor\nlist 2\ndict ids mask\ntuple 2");
        let e = bind("forward", &args, &fed[..3], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--input-shape extra={key:SHAPE,...}"), "{e}");
    }
}
