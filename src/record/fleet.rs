//! The fleet's part of a results file: the shard a run measured, and how a
//! merged file was put together (fleet::shard reads shards, fleet::merge
//! merges them).
use serde::{Deserialize, Serialize};

/// One shard: `index` of `count`, 1-based as on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
    /// Where the index came from: "--shard", "SLURM_ARRAY_TASK_ID=4" or
    /// "JOB_COMPLETION_INDEX=2".
    pub source: String,
}

impl Shard {
    /// Whether the candidate at `position` (0-based) of the list is this
    /// shard's: round robin, so the shards get similar mixes of the list.
    pub fn takes(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }

    /// "2/3".
    pub fn label(&self) -> String {
        format!("{}/{}", self.index, self.count)
    }
}

/// How a results file was merged (the `merged` block of a results file).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MergeRecord {
    /// The files of this host type, in shard order.
    pub files: Vec<MergedFile>,
    /// Shards the files said there were (1 for unsharded runs).
    pub shard_count: usize,
    /// Shard indices (1-based) no file of this host type had.
    pub missing_shards: Vec<usize>,
    /// Files left out because another file had the same shard.
    pub duplicates: Vec<String>,
    /// Every host type of the merge with its winner (this one included).
    pub host_types: Vec<HostTypeWinner>,
}

/// One input file of a merge.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MergedFile {
    pub path: String,
    /// Its shard, "2/3" ("1/1" for an unsharded run).
    pub shard: String,
    pub trials: usize,
    pub complete: bool,
}

/// One host type of a merge and the winner on it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostTypeWinner {
    /// "AMD EPYC, AVX512_BF16, 2 cores".
    pub host: String,
    pub files: usize,
    /// The merged results file of this host type.
    pub output: String,
    pub winner: Option<String>,
    pub samples_per_s: Option<f64>,
    pub speedup: Option<f64>,
}
