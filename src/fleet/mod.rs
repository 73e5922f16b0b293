//! Beyond one machine: a sweep split into shards that a scheduler runs as a
//! job array (Slurm, Kubernetes Indexed Jobs, a CI matrix), and the shards'
//! results merged back into one results file per host type.
pub mod merge;
pub mod shard;
