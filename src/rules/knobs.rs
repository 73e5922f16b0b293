//! Knob values as rules write them (`forbid: {streams: ">1"}`), and a
//! config's knobs as `config.*` facts. The knobs themselves, their names
//! and values, are the config table's ([`crate::config::knob`]).
use std::fmt;

use super::condition::CmpOp;
use super::facts::{Facts, Value};
use crate::config::{Config, Knob, KnobValue, ALL_KNOBS};

impl From<KnobValue> for Value {
    fn from(v: KnobValue) -> Value {
        match v {
            KnobValue::Name(n) => Value::from(n),
            KnobValue::Bool(b) => Value::Bool(b),
            KnobValue::Count(n) => Value::from(n),
            KnobValue::Default => Value::from("default"),
        }
    }
}

/// A set of knob values an action names: one value, or for numeric knobs a
/// comparison such as `>1`.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueSpec {
    Is(KnobValue),
    Cmp(CmpOp, f64),
}

impl ValueSpec {
    pub fn matches(&self, value: KnobValue) -> bool {
        match self {
            ValueSpec::Is(v) => *v == value,
            ValueSpec::Cmp(op, n) => value.as_count().is_some_and(|x| op.holds_num(x as f64, *n)),
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
    if knob.is_count() {
        for op in [CmpOp::Ge, CmpOp::Le, CmpOp::Gt, CmpOp::Lt] {
            if let Some(rest) = text.strip_prefix(op.symbol()) {
                return rest
                    .trim()
                    .parse::<f64>()
                    .map(|n| ValueSpec::Cmp(op, n))
                    .map_err(|_| {
                        format!("'{text}' is not a count or comparison for {knob}; expected e.g. 1 or >1")
                    });
            }
        }
        return knob.parse_value(text).map(ValueSpec::Is).map_err(|_| {
            format!("'{text}' is not a count or comparison for {knob}; expected a whole number >= 1 or e.g. >1")
        });
    }
    let choices = knob.choices().unwrap_or_default();
    match choices.iter().find(|c| c.to_string() == text) {
        Some(v) => Ok(ValueSpec::Is(*v)),
        None => {
            let names: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
            Err(format!(
                "'{text}' is not a value of {knob}; expected one of {}",
                names.join(", ")
            ))
        }
    }
}

/// A config's knob values as `config.*` facts, plus the derived ones.
/// `config.threads` is the threads each worker really runs with on
/// `usable` cores ([`Config::threads_per_worker`]).
pub fn config_facts(config: &Config, batch_sizes: &[usize], usable: usize) -> Facts {
    let mut facts = Facts::new();
    for &knob in ALL_KNOBS {
        let value = match knob {
            Knob::Threads => KnobValue::Count(config.threads_per_worker(usable)),
            _ => knob.value_of(config),
        };
        facts.set(&format!("config.{}", knob.name()), Value::from(value));
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
            Ok(ValueSpec::Is(KnobValue::Name("texpr")))
        );
        assert_eq!(
            parse_value_spec(Knob::WeightsPrepack, "true"),
            Ok(ValueSpec::Is(KnobValue::Bool(true)))
        );
        assert_eq!(
            parse_value_spec(Knob::Streams, ">1"),
            Ok(ValueSpec::Cmp(CmpOp::Gt, 1.0))
        );
        assert!(parse_value_spec(Knob::Fuser, "nnc")
            .unwrap_err()
            .contains("none, texpr, onednn"));
        assert!(
            parse_value_spec(Knob::Dtype, "int8-dyn").is_err(),
            "rules use names"
        );
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
        assert!(spec.matches(Knob::Streams.value_of(&config)));
        let facts = config_facts(&config, &[8, 3], 2);
        assert_eq!(
            facts.get("config.batch_divisible_by_streams"),
            Some(&Value::Bool(false))
        );
        assert_eq!(facts.get("config.dtype"), Some(&Value::from("fp32")));
        assert_eq!(facts.get("config.threads"), Some(&Value::from(1usize)));
    }
}
