//! The categorical knobs' values, each spelled once: the name the rules,
//! suites, CLI, results and reports use, and the short form a config label
//! uses where it differs (`int8-dynamic` is `int8-dyn` in labels). Parsing
//! accepts either; serde writes the name.
use std::fmt;

/// Defines a knob's value enum from one table: variant, name, label.
macro_rules! knob_values {
    (
        $(#[$meta:meta])*
        $name:ident ($knob:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $spelling:literal $(/ $label:literal)? ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in the order the search and `plan` list them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value's name (rules, suites, CLI, results, reports).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $spelling),+ }
            }

            /// The value as a config label writes it.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => knob_values!(@label $spelling $(, $label)?)),+ }
            }

            /// Every name, for error messages and rule validation.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.name()).collect()
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValueError;
            /// Accepts the name or the label form.
            fn from_str(text: &str) -> Result<Self, ValueError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name() == text || v.label() == text)
                    .ok_or_else(|| ValueError {
                        knob: $knob,
                        value: text.to_string(),
                        expected: Self::names().join(", "),
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        /// Written as the value's name (reading also takes the label form).
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let names: Vec<&str> = Self::ALL
                    .iter()
                    .flat_map(|v| [v.name(), v.label()])
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                schemars::json_schema!({ "type": "string", "enum": names })
            }
        }
    };
    (@label $spelling:literal) => { $spelling };
    (@label $spelling:literal, $label:literal) => { $label };
}

/// A value that is not one of a knob's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {knob} '{value}'; expected one of {expected}")]
pub struct ValueError {
    pub knob: &'static str,
    pub value: String,
    pub expected: String,
}

knob_values! {
    /// Which library runs the graph.
    Backend ("backend") {
        /// libtorch alone.
        Stock = "stock",
        /// IPEX's library loaded before the model (its JIT passes rewrite frozen graphs).
        Ipex = "ipex",
        /// Upstream PyTorch: torch.export, then AOTInductor compiles a
        /// package ahead of time, run by libtorch's AOTIModelPackageLoader.
        Inductor = "inductor",
    }
}

knob_values! {
    /// How much of the graph pipeline runs.
    Level ("level") {
        /// The module as loaded.
        O0 = "O0",
        /// Frozen, then the folding/prepack passes the other knobs allow.
        O1 = "O1",
        /// O1, with kernels chosen by benchmarking at compile time
        /// (Inductor's max-autotune: C++ GEMM templates; inductor only).
        O2 = "O2",
    }
}

knob_values! {
    /// The JIT fuser.
    Fuser ("fuser") {
        /// libtorch's defaults (the TensorExpr fuser cannot fuse on CPU by default).
        None = "none",
        /// TensorExpr (NNC) with CPU fusion enabled.
        Texpr = "texpr",
        /// oneDNN Graph (LLGA).
        Onednn = "onednn",
    }
}

knob_values! {
    /// The numeric format weights and activations run in.
    Dtype ("dtype") {
        Fp32 = "fp32",
        /// Floating weights, buffers and inputs cast to bf16 (integer ids,
        /// masks and index buffers never).
        Bf16 = "bf16",
        /// IPEX's recipe: conv/linear/embedding weights in bf16, the rest of
        /// the module fp32, every call under CPU autocast (conv, linear and
        /// matmul in bf16, the rest as autocast's policy says). Needs a
        /// frozen graph (O1).
        Bf16Autocast = "bf16-autocast",
        Int8Dynamic = "int8-dynamic" / "int8-dyn",
        Int8Static = "int8-static",
    }
}

impl Dtype {
    /// Whether graph-mode quantization makes this dtype (its layers can be
    /// kept in fp32 one by one).
    pub fn is_int8(self) -> bool {
        matches!(self, Dtype::Int8Dynamic | Dtype::Int8Static)
    }
}

knob_values! {
    /// The malloc the trial process runs with.
    Allocator ("allocator") {
        /// glibc malloc with its defaults (what a user gets).
        Glibc = "glibc",
        /// glibc malloc tuned with mallopt at process start.
        GlibcTuned = "glibc-tuned",
        /// jemalloc through LD_PRELOAD.
        Jemalloc = "jemalloc",
        /// tcmalloc (minimal) through LD_PRELOAD.
        Tcmalloc = "tcmalloc",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_round_trip() {
        for d in Dtype::ALL {
            assert_eq!(d.name().parse::<Dtype>(), Ok(*d));
            assert_eq!(d.label().parse::<Dtype>(), Ok(*d));
        }
        assert_eq!(Dtype::Int8Dynamic.label(), "int8-dyn");
        assert_eq!(Dtype::Int8Dynamic.name(), "int8-dynamic");
        for a in Allocator::ALL {
            assert_eq!(a.to_string().parse::<Allocator>(), Ok(*a));
        }
    }

    #[test]
    fn unknown_values_name_the_knob_and_the_choices() {
        let err = "mimalloc".parse::<Allocator>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown allocator 'mimalloc'; expected one of glibc, glibc-tuned, jemalloc, tcmalloc"
        );
    }

    #[test]
    fn serde_writes_the_name_and_reads_either() {
        assert_eq!(
            serde_json::to_string(&Dtype::Int8Dynamic).unwrap(),
            "\"int8-dynamic\""
        );
        assert_eq!(
            serde_json::from_str::<Dtype>("\"int8-dyn\"").unwrap(),
            Dtype::Int8Dynamic
        );
        assert!(serde_json::from_str::<Level>("\"O3\"").is_err());
    }
}
