//! A `Config`: one value for every knob of DESIGN.md.
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// libtorch alone.
    Stock,
    /// IPEX's library loaded before the model (its JIT passes rewrite frozen graphs).
    Ipex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Level {
    /// The module as loaded.
    O0,
    /// Frozen, then the folding/prepack passes the other knobs allow.
    O1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fuser {
    /// libtorch's defaults (the TensorExpr fuser cannot fuse on CPU by default).
    None,
    /// TensorExpr (NNC) with CPU fusion enabled.
    Texpr,
    /// oneDNN Graph (LLGA).
    Onednn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dtype {
    Fp32,
    Bf16,
    Int8Dynamic,
    Int8Static,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Allocator {
    /// glibc malloc with its defaults (what a user gets).
    Glibc,
    /// glibc malloc tuned with mallopt at process start.
    GlibcTuned,
    /// jemalloc through LD_PRELOAD.
    Jemalloc,
    /// tcmalloc (minimal) through LD_PRELOAD.
    Tcmalloc,
}

impl std::str::FromStr for Allocator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "glibc" => Ok(Allocator::Glibc),
            "glibc-tuned" => Ok(Allocator::GlibcTuned),
            "jemalloc" => Ok(Allocator::Jemalloc),
            "tcmalloc" => Ok(Allocator::Tcmalloc),
            other => Err(format!(
                "unknown allocator '{other}'; expected one of glibc, glibc-tuned, jemalloc, tcmalloc"
            )),
        }
    }
}

impl fmt::Display for Allocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Allocator::Glibc => "glibc",
            Allocator::GlibcTuned => "glibc-tuned",
            Allocator::Jemalloc => "jemalloc",
            Allocator::Tcmalloc => "tcmalloc",
        })
    }
}

/// One candidate configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    pub backend: Backend,
    pub level: Level,
    pub conv_bn_folding: bool,
    pub weights_prepack: bool,
    pub fuser: Fuser,
    pub dtype: Dtype,
    /// Intra-op threads; None keeps libtorch's default.
    pub threads: Option<usize>,
    pub streams: usize,
    pub instances: usize,
    pub allocator: Allocator,
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
        }
    }

    /// A short, stable label, e.g. `ipex/O1+fold/onednn/bf16/glibc-tuned`.
    pub fn label(&self) -> String {
        let mut parts = vec![match self.backend {
            Backend::Stock => "stock".to_string(),
            Backend::Ipex => "ipex".to_string(),
        }];
        let mut level = format!("{:?}", self.level);
        if self.conv_bn_folding {
            level += "+fold";
        }
        if self.weights_prepack {
            level += "+prepack";
        }
        parts.push(level);
        match self.fuser {
            Fuser::None => {}
            Fuser::Texpr => parts.push("texpr".into()),
            Fuser::Onednn => parts.push("onednn".into()),
        }
        parts.push(
            match self.dtype {
                Dtype::Fp32 => "fp32",
                Dtype::Bf16 => "bf16",
                Dtype::Int8Dynamic => "int8-dyn",
                Dtype::Int8Static => "int8-static",
            }
            .into(),
        );
        if let Some(t) = self.threads {
            parts.push(format!("t{t}"));
        }
        if self.streams > 1 {
            parts.push(format!("s{}", self.streams));
        }
        if self.instances > 1 {
            parts.push(format!("i{}", self.instances));
        }
        parts.push(self.allocator.to_string());
        parts.join("/")
    }
}

impl std::str::FromStr for Config {
    type Err = String;

    /// Parses a label as [`Config::label`] writes it, e.g.
    /// `ipex/O1+fold+prepack/onednn/bf16/t2/s2/jemalloc`.
    fn from_str(label: &str) -> Result<Config, String> {
        let bad = |what: &str| {
            format!(
                "'{label}': {what}; expected BACKEND/LEVEL[+fold][+prepack][/FUSER]/DTYPE[/tN][/sN][/iN]/ALLOCATOR, \
                 e.g. stock/O1+fold+prepack/fp32/t2/glibc-tuned"
            )
        };
        let mut parts = label.trim().split('/').peekable();
        let mut config = Config::stock();
        config.backend = match parts.next() {
            Some("stock") => Backend::Stock,
            Some("ipex") => Backend::Ipex,
            _ => return Err(bad("the backend is stock or ipex")),
        };
        let level = parts.next().ok_or_else(|| bad("missing the level"))?;
        let mut pieces = level.split('+');
        config.level = match pieces.next() {
            Some("O0") => Level::O0,
            Some("O1") => Level::O1,
            _ => return Err(bad("the level is O0 or O1")),
        };
        for piece in pieces {
            match piece {
                "fold" => config.conv_bn_folding = true,
                "prepack" => config.weights_prepack = true,
                other => return Err(bad(&format!("unknown level option '{other}'"))),
            }
        }
        if let Some(&fuser) = parts.peek() {
            if fuser == "texpr" || fuser == "onednn" {
                config.fuser = if fuser == "texpr" {
                    Fuser::Texpr
                } else {
                    Fuser::Onednn
                };
                parts.next();
            }
        }
        config.dtype = match parts.next() {
            Some("fp32") => Dtype::Fp32,
            Some("bf16") => Dtype::Bf16,
            Some("int8-dyn") | Some("int8-dynamic") => Dtype::Int8Dynamic,
            Some("int8-static") => Dtype::Int8Static,
            _ => return Err(bad("the dtype is fp32, bf16, int8-dyn or int8-static")),
        };
        let rest: Vec<&str> = parts.collect();
        let (allocator, counts) = rest
            .split_last()
            .ok_or_else(|| bad("missing the allocator"))?;
        for count in counts {
            let (kind, n) = count.split_at(1.min(count.len()));
            let n: usize = n
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad(&format!("bad count '{count}'")))?;
            match kind {
                "t" => config.threads = Some(n),
                "s" => config.streams = n,
                "i" => config.instances = n,
                _ => return Err(bad(&format!("unknown part '{count}'"))),
            }
        }
        config.allocator = allocator.parse()?;
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
        ] {
            assert_eq!(label.parse::<Config>().unwrap().label(), label);
        }
        assert!("stock/O2/fp32/glibc"
            .parse::<Config>()
            .unwrap_err()
            .contains("O0 or O1"));
        assert!("stock/O1/fp64/glibc".parse::<Config>().is_err());
        assert!("stock/O1/fp32/x2/glibc".parse::<Config>().is_err());
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
        };
        assert_eq!(c.label(), "ipex/O1+fold+prepack/onednn/bf16/t2/s2/jemalloc");
    }

    #[test]
    fn allocator_round_trips_through_its_name() {
        for a in [
            Allocator::Glibc,
            Allocator::GlibcTuned,
            Allocator::Jemalloc,
            Allocator::Tcmalloc,
        ] {
            assert_eq!(a.to_string().parse::<Allocator>(), Ok(a));
        }
        assert!("mimalloc".parse::<Allocator>().is_err());
    }
}
