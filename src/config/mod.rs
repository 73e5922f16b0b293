//! A `Config`: one value for every knob (ARCHITECTURE.md, "The knobs").
//!
//! This is the vocabulary every stage shares: the CLI parses labels into
//! it, the rules judge it, the search enumerates it, the trial child applies
//! it, results and reports print it. Each knob value is spelled once, in
//! [`values`]; [`knob`] is the table of knobs the rules and search use.
pub mod knob;
pub mod values;

use serde::{Deserialize, Serialize};

pub use knob::{Knob, KnobValue, ALL_KNOBS};
pub use values::{Allocator, Backend, Dtype, Fuser, Level, ValueError};

/// One candidate configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Config {
    pub backend: Backend,
    pub level: Level,
    pub conv_bn_folding: bool,
    pub weights_prepack: bool,
    pub fuser: Fuser,
    pub dtype: Dtype,
    /// Intra-op threads of each worker (stream or instance). None leaves it
    /// to libtorch, whose default is every usable core; with several
    /// workers that default means an even split ([`Config::threads_per_worker`]).
    pub threads: Option<usize>,
    pub streams: usize,
    pub instances: usize,
    pub allocator: Allocator,
    /// int8 only: layers (qualified submodule names) kept in fp32, the
    /// accuracy-aware fallback's result. Empty: every layer quantized.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fp32_layers: Vec<String>,
    /// Static int8 only: activations quantized symmetric and signed (qint8,
    /// zero point 0) instead of IPEX's default unsigned affine (quint8).
    /// The activation scheme Neural Compressor's tuner searches; the int8
    /// kernels then skip the zero-point compensation (1.07-1.10x on HF
    /// BERT/DistilBERT under IPEX's Python recipe, AMX host), but values
    /// that are never negative (after ReLU, softmax) lose half the range.
    /// Label: `int8-static+s8`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signed_activations: bool,
    /// A backend that compiles ahead of time (inductor) only: one package
    /// for every input shape of the suite, the dimensions that differ
    /// between them marked dynamic (torch.export.Dim), instead of one
    /// static package per shape. Label: `O1+dynamic`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dynamic_shapes: bool,
}

/// A config label that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{label}': {problem}; expected BACKEND/LEVEL[+fold][+prepack][+dynamic][/FUSER]/DTYPE[+s8][+fp32:LAYER,...][/tN][/sN][/iN]/ALLOCATOR, e.g. stock/O1+fold+prepack/fp32/t2/glibc-tuned")]
pub struct LabelError {
    pub label: String,
    pub problem: String,
}

impl Config {
    /// What a user gets with no tuning: the module as loaded, default threads,
    /// glibc's default malloc.
    pub fn stock() -> Config {
        Config {
            backend: Backend::Stock,
            level: Level::O0,
            conv_bn_folding: false,
            weights_prepack: false,
            fuser: Fuser::None,
            dtype: Dtype::Fp32,
            threads: None,
            streams: 1,
            instances: 1,
            allocator: Allocator::Glibc,
            fp32_layers: Vec::new(),
            signed_activations: false,
            dynamic_shapes: false,
        }
    }

    /// The dtype part of the label: the dtype, signed activations, and for
    /// an int8 fallback the layers kept in fp32
    /// (`int8-static+s8+fp32:fc,features.3`).
    pub fn dtype_label(&self) -> String {
        let mut label = self.dtype.label().to_string();
        if self.signed_activations {
            label += "+s8";
        }
        if !self.fp32_layers.is_empty() {
            label += &format!("+fp32:{}", self.fp32_layers.join(","));
        }
        label
    }

    /// Streams x instances: the workers that share the cores.
    pub fn workers(&self) -> usize {
        self.streams.max(1) * self.instances.max(1)
    }

    /// Intra-op threads of each worker on a process with `usable` cores:
    /// the set count, or libtorch's default (all usable cores) split evenly
    /// among the workers. The one reading of `threads` every stage uses.
    pub fn threads_per_worker(&self, usable: usize) -> usize {
        self.threads
            .unwrap_or_else(|| (usable / self.workers()).max(1))
    }

    /// Cores the config keeps busy on a process with `usable` cores.
    pub fn cores_used(&self, usable: usize) -> usize {
        self.threads_per_worker(usable) * self.workers()
    }

    /// A short, stable label, e.g. `ipex/O1+fold/onednn/bf16/t2/glibc-tuned`.
    pub fn label(&self) -> String {
        let mut level = self.level.label().to_string();
        if self.conv_bn_folding {
            level += "+fold";
        }
        if self.weights_prepack {
            level += "+prepack";
        }
        if self.dynamic_shapes {
            level += "+dynamic";
        }
        let mut parts = vec![self.backend.label().to_string(), level];
        if self.fuser != Fuser::None {
            parts.push(self.fuser.label().into());
        }
        parts.push(self.dtype_label());
        if let Some(t) = self.threads {
            parts.push(format!("t{t}"));
        }
        if self.streams > 1 {
            parts.push(format!("s{}", self.streams));
        }
        if self.instances > 1 {
            parts.push(format!("i{}", self.instances));
        }
        parts.push(self.allocator.label().into());
        parts.join("/")
    }
}

impl std::str::FromStr for Config {
    type Err = LabelError;

    /// Parses a label as [`Config::label`] writes it, e.g.
    /// `ipex/O1+fold+prepack/onednn/bf16/t2/s2/jemalloc`.
    fn from_str(label: &str) -> Result<Config, LabelError> {
        let bad = |problem: String| LabelError {
            label: label.to_string(),
            problem,
        };
        let mut parts = label.trim().split('/').peekable();
        let mut config = Config::stock();
        config.backend = parts
            .next()
            .unwrap_or("")
            .parse()
            .map_err(|_| bad("the backend is stock, ipex or inductor".into()))?;
        let level = parts
            .next()
            .ok_or_else(|| bad("missing the level".into()))?;
        let mut pieces = level.split('+');
        config.level = pieces
            .next()
            .unwrap_or("")
            .parse()
            .map_err(|_| bad("the level is O0, O1 or O2".into()))?;
        for piece in pieces {
            match piece {
                "fold" => config.conv_bn_folding = true,
                "prepack" => config.weights_prepack = true,
                "dynamic" => config.dynamic_shapes = true,
                other => return Err(bad(format!("unknown level option '{other}'"))),
            }
        }
        // The fuser part is optional: present when it names a fuser.
        if let Some(fuser) = parts.peek().and_then(|p| p.parse::<Fuser>().ok()) {
            config.fuser = fuser;
            parts.next();
        }
        let dtype_part = parts.next().unwrap_or("");
        let mut options = dtype_part.split('+');
        let dtype = options.next().unwrap_or("");
        config.dtype = dtype.parse().map_err(|_| {
            let spellings: Vec<&str> = Dtype::ALL.iter().map(|d| d.label()).collect();
            bad(format!("the dtype is {}", spellings.join(", ")))
        })?;
        for option in options {
            if option == "s8" {
                if config.dtype != Dtype::Int8Static {
                    return Err(bad("signed activations ('+s8') need int8-static".into()));
                }
                config.signed_activations = true;
                continue;
            }
            let layers = option
                .strip_prefix("fp32:")
                .ok_or_else(|| bad(format!("unknown dtype option '{option}'")))?;
            if !config.dtype.is_int8() {
                return Err(bad(format!(
                    "layers kept in fp32 ('+fp32:{layers}') need an int8 dtype"
                )));
            }
            config.fp32_layers = layers.split(',').map(str::to_string).collect();
            if config.fp32_layers.iter().any(|l| l.is_empty()) {
                return Err(bad("an empty layer name in '+fp32:'".into()));
            }
        }
        let rest: Vec<&str> = parts.collect();
        let (allocator, counts) = rest
            .split_last()
            .ok_or_else(|| bad("missing the allocator".into()))?;
        for count in counts {
            // The first character, however many bytes it takes (found by
            // fuzzing: a non-ASCII first character split mid-character).
            let first = count.chars().next().map_or(0, char::len_utf8);
            let (kind, n) = count.split_at(first);
            let n: usize = n
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad(format!("bad count '{count}'")))?;
            match kind {
                "t" => config.threads = Some(n),
                "s" => config.streams = n,
                "i" => config.instances = n,
                _ => return Err(bad(format!("unknown part '{count}'"))),
            }
        }
        config.allocator = allocator
            .parse()
            .map_err(|e: ValueError| bad(e.to_string()))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_back() {
        for label in [
            "stock/O0/fp32/glibc",
            "ipex/O1+fold+prepack/onednn/bf16/t2/s2/jemalloc",
            "stock/O1+prepack/int8-static/t1/i2/tcmalloc",
            "stock/O1/texpr/int8-dyn/t2/glibc-tuned",
            "ipex/O1+prepack/int8-static+fp32:fc,features.3/t1/i2/glibc-tuned",
            "ipex/O1+prepack/int8-static+s8/t1/i2/jemalloc",
            "stock/O1/int8-static+s8+fp32:fc/glibc",
            "inductor/O2+dynamic/int8-static/t1/i2/glibc",
        ] {
            assert_eq!(label.parse::<Config>().unwrap().label(), label);
        }
        assert!("stock/O3/fp32/glibc"
            .parse::<Config>()
            .unwrap_err()
            .to_string()
            .contains("O0, O1 or O2"));
        assert!("stock/O1/fp64/glibc".parse::<Config>().is_err());
        assert!("stock/O1/fp32/x2/glibc".parse::<Config>().is_err());
        for bad in [
            "stock/O1/fp32+fp32:fc/glibc",
            "stock/O1/int8-static+fp32:/glibc",
            "stock/O1/int8-static+keep:fc/glibc",
            "stock/O1/int8-dyn+s8/glibc",
            "stock/O1/bf16+s8/glibc",
        ] {
            assert!(bad.parse::<Config>().is_err(), "{bad}");
        }
        let fallback: Config = "stock/O1/int8-dyn+fp32:a.b,c/glibc".parse().unwrap();
        assert_eq!(fallback.fp32_layers, ["a.b", "c"]);
    }

    #[test]
    fn stock_label() {
        assert_eq!(Config::stock().label(), "stock/O0/fp32/glibc");
    }

    #[test]
    fn full_label() {
        let c = Config {
            backend: Backend::Ipex,
            level: Level::O1,
            conv_bn_folding: true,
            weights_prepack: true,
            fuser: Fuser::Onednn,
            dtype: Dtype::Bf16,
            threads: Some(2),
            streams: 2,
            instances: 1,
            allocator: Allocator::Jemalloc,
            fp32_layers: Vec::new(),
            signed_activations: false,
            dynamic_shapes: false,
        };
        assert_eq!(c.label(), "ipex/O1+fold+prepack/onednn/bf16/t2/s2/jemalloc");
    }

    #[test]
    fn unset_threads_mean_an_even_split_of_the_usable_cores() {
        let stock = Config::stock();
        assert_eq!(stock.threads_per_worker(8), 8);
        let two_streams = Config {
            streams: 2,
            ..Config::stock()
        };
        assert_eq!(two_streams.threads_per_worker(8), 4);
        assert_eq!(two_streams.cores_used(8), 8);
        assert_eq!(two_streams.threads_per_worker(1), 1);
        let fixed = Config {
            threads: Some(3),
            ..Config::stock()
        };
        assert_eq!(fixed.threads_per_worker(8), 3);
    }
}
