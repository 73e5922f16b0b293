//! The knobs as a vocabulary: each knob's name, its values, a config's value
//! of it, and setting it. Rules, the search, provenance and `plan` speak
//! of knobs through this table only.
use std::fmt;

use super::values::{Allocator, Backend, Dtype, Fuser, Level, ValueError};
use super::Config;

/// Defines [`Knob`] from one table: variant and name.
macro_rules! knobs {
    ($($variant:ident = $name:literal),+ $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Knob { $($variant),+ }

        /// Every knob, in the order configs are enumerated and shown.
        pub const ALL_KNOBS: &[Knob] = &[$(Knob::$variant),+];

        impl Knob {
            pub fn name(self) -> &'static str {
                match self { $(Knob::$variant => $name),+ }
            }
        }
    };
}

knobs! {
    Backend = "backend",
    Level = "level",
    ConvBnFolding = "conv_bn_folding",
    WeightsPrepack = "weights_prepack",
    Fuser = "fuser",
    Dtype = "dtype",
    Threads = "threads",
    Streams = "streams",
    Instances = "instances",
    Allocator = "allocator",
}

/// One knob's value in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KnobValue {
    /// A categorical value, by name.
    Name(&'static str),
    Bool(bool),
    /// A count (threads, streams, instances).
    Count(usize),
    /// Threads left to libtorch (see [`Config::threads`]).
    Default,
}

impl KnobValue {
    pub fn as_count(self) -> Option<usize> {
        match self {
            KnobValue::Count(n) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for KnobValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KnobValue::Name(n) => f.write_str(n),
            KnobValue::Bool(b) => write!(f, "{b}"),
            KnobValue::Count(n) => write!(f, "{n}"),
            KnobValue::Default => f.write_str("default"),
        }
    }
}

/// A value that does not fit a knob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnobError {
    #[error("unknown knob '{0}'; expected one of {1}")]
    UnknownKnob(String, String),
    #[error(transparent)]
    Value(#[from] ValueError),
    #[error("{knob} takes {expected}, not '{value}'")]
    Kind {
        knob: &'static str,
        value: String,
        expected: &'static str,
    },
}

fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> Vec<KnobValue> {
    all.iter().map(|v| KnobValue::Name(name(*v))).collect()
}

impl Knob {
    pub fn parse(name: &str) -> Result<Knob, KnobError> {
        ALL_KNOBS
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                let all: Vec<&str> = ALL_KNOBS.iter().map(|k| k.name()).collect();
                KnobError::UnknownKnob(name.to_string(), all.join(", "))
            })
    }

    /// Whether the knob is a count (threads, streams, instances).
    pub fn is_count(self) -> bool {
        matches!(self, Knob::Threads | Knob::Streams | Knob::Instances)
    }

    /// The values of a categorical knob; None for the counts.
    pub fn choices(self) -> Option<Vec<KnobValue>> {
        Some(match self {
            Knob::Backend => names(Backend::ALL, Backend::name),
            Knob::Level => names(Level::ALL, Level::name),
            Knob::ConvBnFolding | Knob::WeightsPrepack => {
                vec![KnobValue::Bool(true), KnobValue::Bool(false)]
            }
            Knob::Fuser => names(Fuser::ALL, Fuser::name),
            Knob::Dtype => names(Dtype::ALL, Dtype::name),
            Knob::Allocator => names(Allocator::ALL, Allocator::name),
            Knob::Threads | Knob::Streams | Knob::Instances => return None,
        })
    }

    /// Parses a value of this knob as a rule, suite or CLI writes it.
    pub fn parse_value(self, text: &str) -> Result<KnobValue, KnobError> {
        let kind = |expected| KnobError::Kind {
            knob: self.name(),
            value: text.to_string(),
            expected,
        };
        Ok(match self {
            Knob::Backend => KnobValue::Name(text.parse::<Backend>()?.name()),
            Knob::Level => KnobValue::Name(text.parse::<Level>()?.name()),
            Knob::Fuser => KnobValue::Name(text.parse::<Fuser>()?.name()),
            Knob::Dtype => KnobValue::Name(text.parse::<Dtype>()?.name()),
            Knob::Allocator => KnobValue::Name(text.parse::<Allocator>()?.name()),
            Knob::ConvBnFolding | Knob::WeightsPrepack => {
                KnobValue::Bool(text.parse().map_err(|_| kind("true or false"))?)
            }
            Knob::Threads | Knob::Streams | Knob::Instances => match text.parse::<usize>() {
                Ok(n) if n >= 1 => KnobValue::Count(n),
                _ => return Err(kind("a whole number >= 1")),
            },
        })
    }

    /// The knob's value in `config`.
    pub fn value_of(self, config: &Config) -> KnobValue {
        match self {
            Knob::Backend => KnobValue::Name(config.backend.name()),
            Knob::Level => KnobValue::Name(config.level.name()),
            Knob::ConvBnFolding => KnobValue::Bool(config.conv_bn_folding),
            Knob::WeightsPrepack => KnobValue::Bool(config.weights_prepack),
            Knob::Fuser => KnobValue::Name(config.fuser.name()),
            Knob::Dtype => KnobValue::Name(config.dtype.name()),
            Knob::Threads => config.threads.map_or(KnobValue::Default, KnobValue::Count),
            Knob::Streams => KnobValue::Count(config.streams),
            Knob::Instances => KnobValue::Count(config.instances),
            Knob::Allocator => KnobValue::Name(config.allocator.name()),
        }
    }

    /// Sets the knob in `config`; a value of the wrong kind is an error,
    /// never a silent default.
    pub fn set(self, config: &mut Config, value: KnobValue) -> Result<(), KnobError> {
        let text = value.to_string();
        let count = || {
            value.as_count().ok_or(KnobError::Kind {
                knob: self.name(),
                value: text.clone(),
                expected: "a count",
            })
        };
        match self {
            Knob::Backend => config.backend = text.parse()?,
            Knob::Level => config.level = text.parse()?,
            Knob::Fuser => config.fuser = text.parse()?,
            Knob::Dtype => config.dtype = text.parse()?,
            Knob::Allocator => config.allocator = text.parse()?,
            Knob::ConvBnFolding | Knob::WeightsPrepack => {
                let KnobValue::Bool(b) = value else {
                    return Err(KnobError::Kind {
                        knob: self.name(),
                        value: text,
                        expected: "true or false",
                    });
                };
                if self == Knob::ConvBnFolding {
                    config.conv_bn_folding = b;
                } else {
                    config.weights_prepack = b;
                }
            }
            Knob::Threads => {
                config.threads = match value {
                    KnobValue::Default => None,
                    _ => Some(count()?),
                }
            }
            Knob::Streams => config.streams = count()?,
            Knob::Instances => config.instances = count()?,
        }
        Ok(())
    }
}

impl fmt::Display for Knob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_knob_round_trips_through_value_of_and_set() {
        let config: Config = "ipex/O1+fold+prepack/onednn/int8-dyn/t1/i2/jemalloc"
            .parse()
            .unwrap();
        let mut rebuilt = Config::stock();
        for &knob in ALL_KNOBS {
            knob.set(&mut rebuilt, knob.value_of(&config)).unwrap();
        }
        assert_eq!(rebuilt, config);
    }

    #[test]
    fn wrong_kinds_are_errors() {
        let mut c = Config::stock();
        assert!(Knob::Streams.set(&mut c, KnobValue::Name("fp32")).is_err());
        assert!(Knob::Dtype.set(&mut c, KnobValue::Count(2)).is_err());
        assert!(Knob::Threads.parse_value("0").is_err());
        assert_eq!(
            Knob::Dtype.parse_value("int8-dyn"),
            Ok(KnobValue::Name("int8-dynamic"))
        );
        assert!(Knob::parse("dtypes").is_err());
    }
}
