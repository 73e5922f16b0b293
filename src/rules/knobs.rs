//! The knobs rules act on, their values, and a config's knob values as facts.
use std::fmt;

use super::condition::CmpOp;
use super::facts::{Facts, Value};
use crate::runtime::config::{Backend, Config, Dtype, Fuser, Level};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Knob {
    Backend,
    Level,
    ConvBnFolding,
    WeightsPrepack,
    Fuser,
    Dtype,
    Threads,
    Streams,
    Instances,
    Allocator,
}

pub const ALL_KNOBS: [Knob; 10] = [
    Knob::Backend,
    Knob::Level,
    Knob::ConvBnFolding,
    Knob::WeightsPrepack,
    Knob::Fuser,
    Knob::Dtype,
    Knob::Threads,
    Knob::Streams,
    Knob::Instances,
    Knob::Allocator,
];

impl Knob {
    pub fn name(self) -> &'static str {
        match self {
            Knob::Backend => "backend",
            Knob::Level => "level",
            Knob::ConvBnFolding => "conv_bn_folding",
            Knob::WeightsPrepack => "weights_prepack",
            Knob::Fuser => "fuser",
            Knob::Dtype => "dtype",
            Knob::Threads => "threads",
            Knob::Streams => "streams",
            Knob::Instances => "instances",
            Knob::Allocator => "allocator",
        }
    }

    pub fn parse(name: &str) -> Option<Knob> {
        ALL_KNOBS.iter().copied().find(|k| k.name() == name)
    }

    /// The values of a categorical knob; None for the numeric ones.
    pub fn choices(self) -> Option<&'static [&'static str]> {
        match self {
            Knob::Backend => Some(&["stock", "ipex"]),
            Knob::Level => Some(&["O0", "O1"]),
            Knob::ConvBnFolding | Knob::WeightsPrepack => Some(&["true", "false"]),
            Knob::Fuser => Some(&["none", "texpr", "onednn"]),
            Knob::Dtype => Some(&["fp32", "bf16", "int8-dynamic", "int8-static"]),
            Knob::Allocator => Some(&["glibc", "glibc-tuned", "jemalloc", "tcmalloc"]),
            Knob::Threads | Knob::Streams | Knob::Instances => None,
        }
    }

    /// The knob's value in `config`.
    pub fn value_of(self, config: &Config) -> Value {
        match self {
            Knob::Backend => match config.backend {
                Backend::Stock => "stock".into(),
                Backend::Ipex => "ipex".into(),
            },
            Knob::Level => match config.level {
                Level::O0 => "O0".into(),
                Level::O1 => "O1".into(),
            },
            Knob::ConvBnFolding => config.conv_bn_folding.into(),
            Knob::WeightsPrepack => config.weights_prepack.into(),
            Knob::Fuser => match config.fuser {
                Fuser::None => "none".into(),
                Fuser::Texpr => "texpr".into(),
                Fuser::Onednn => "onednn".into(),
            },
            Knob::Dtype => dtype_name(config.dtype).into(),
            Knob::Threads => config.threads.unwrap_or(0).into(),
            Knob::Streams => config.streams.into(),
            Knob::Instances => config.instances.into(),
            Knob::Allocator => config.allocator.to_string().into(),
        }
    }
}

impl fmt::Display for Knob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub fn dtype_name(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::Fp32 => "fp32",
        Dtype::Bf16 => "bf16",
        Dtype::Int8Dynamic => "int8-dynamic",
        Dtype::Int8Static => "int8-static",
    }
}

/// A set of knob values an action names: one value, or for numeric knobs a
/// comparison such as `>1`.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueSpec {
    Is(Value),
    Cmp(CmpOp, f64),
}

impl ValueSpec {
    pub fn matches(&self, value: &Value) -> bool {
        match self {
            ValueSpec::Is(v) => match (v.as_num(), value.as_num()) {
                (Some(a), Some(b)) => a == b,
                _ => v == value || v.to_string() == value.to_string(),
            },
            ValueSpec::Cmp(op, n) => value.as_num().is_some_and(|x| op.holds_num(x, *n)),
        }
    }
}

impl fmt::Display for ValueSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueSpec::Is(v) => write!(f, "{v}"),
            ValueSpec::Cmp(op, n) => write!(f, "{}{}", op.symbol(), Value::Num(*n)),
        }
    }
}

/// Parses a knob value as written in a rule; Err says what was expected.
pub fn parse_value_spec(knob: Knob, text: &str) -> Result<ValueSpec, String> {
    let text = text.trim();
    match knob.choices() {
        Some(choices) => {
            if choices.contains(&text) {
                Ok(ValueSpec::Is(match text {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    other => Value::Str(other.to_string()),
                }))
            } else {
                Err(format!(
                    "'{text}' is not a value of {knob}; expected one of {}",
                    choices.join(", ")
                ))
            }
        }
        None => {
            for op in [CmpOp::Ge, CmpOp::Le, CmpOp::Gt, CmpOp::Lt] {
                if let Some(rest) = text.strip_prefix(op.symbol()) {
                    return rest
                        .trim()
                        .parse::<f64>()
                        .map(|n| ValueSpec::Cmp(op, n))
                        .map_err(|_| format!("'{text}' is not a count or comparison for {knob}; expected e.g. 1 or >1"));
                }
            }
            match text.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(ValueSpec::Is(Value::Num(f64::from(n)))),
                _ => Err(format!(
                    "'{text}' is not a count or comparison for {knob}; expected a whole number >= 1 or e.g. >1"
                )),
            }
        }
    }
}

/// A config's knob values as `config.*` facts, plus the derived ones.
pub fn config_facts(config: &Config, batch_sizes: &[usize]) -> Facts {
    let mut facts = Facts::new();
    for knob in ALL_KNOBS {
        facts.set(&format!("config.{}", knob.name()), knob.value_of(config));
    }
    facts.set(
        "config.batch_divisible_by_streams",
        batch_sizes.iter().all(|b| b % config.streams.max(1) == 0),
    );
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_categorical_and_numeric_values() {
        assert_eq!(
            parse_value_spec(Knob::Fuser, "texpr"),
            Ok(ValueSpec::Is(Value::from("texpr")))
        );
        assert_eq!(
            parse_value_spec(Knob::WeightsPrepack, "true"),
            Ok(ValueSpec::Is(Value::Bool(true)))
        );
        assert_eq!(
            parse_value_spec(Knob::Streams, ">1"),
            Ok(ValueSpec::Cmp(CmpOp::Gt, 1.0))
        );
        assert!(parse_value_spec(Knob::Fuser, "nnc")
            .unwrap_err()
            .contains("none, texpr, onednn"));
        assert!(parse_value_spec(Knob::Streams, "0").is_err());
        assert!(parse_value_spec(Knob::Streams, "many").is_err());
    }

    #[test]
    fn specs_match_config_values() {
        let config = Config {
            streams: 2,
            ..Config::stock()
        };
        let spec = parse_value_spec(Knob::Streams, ">1").unwrap();
        assert!(spec.matches(&Knob::Streams.value_of(&config)));
        let facts = config_facts(&config, &[8, 3]);
        assert_eq!(
            facts.get("config.batch_divisible_by_streams"),
            Some(&Value::Bool(false))
        );
        assert_eq!(facts.get("config.dtype"), Some(&Value::from("fp32")));
    }
}
