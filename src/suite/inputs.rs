//! Seeded, reproducible input batches of a suite: one batch per batch size
//! and combination of dynamic dimension sizes.
use std::collections::BTreeMap;

use tch::{Device, Kind, Tensor};

use super::{Dim, InputKind, Suite};

/// One set of inputs for the model's entry method.
pub struct Batch {
    /// The sizes of the named dims used, e.g. `batch=8 seq=32`.
    pub shape_key: String,
    pub tensors: Vec<Tensor>,
}

/// Every combination of the named dims' sizes.
fn dim_combinations(dims: &BTreeMap<String, Vec<i64>>) -> Vec<BTreeMap<String, i64>> {
    let mut combos = vec![BTreeMap::new()];
    for (name, sizes) in dims {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                sizes.iter().map(move |s| {
                    let mut c = c.clone();
                    c.insert(name.clone(), *s);
                    c
                })
            })
            .collect();
    }
    combos
}

/// Deterministic bag sizes for `batch` samples in [min, max].
fn bag_sizes(batch: i64, min: i64, max: i64, seed: i64) -> Vec<i64> {
    let span = (max - min + 1).max(1);
    (0..batch)
        .map(|i| min + ((i * 7 + seed.rem_euclid(97)) % span))
        .collect()
}

/// The bytes of the largest generated batch (all inputs of one batch
/// size and dimension combination), None when the sizes overflow.
pub fn largest_batch_bytes(suite: &Suite) -> Option<u64> {
    let mut largest = 0u64;
    for &batch in &suite.batch_sizes {
        for combo in dim_combinations(&suite.dims) {
            let mut total = 0u64;
            for input in &suite.inputs {
                let element: u64 = match input.kind {
                    InputKind::Normal => 4,
                    _ => 8,
                };
                let mut bytes = element;
                for d in &input.shape {
                    let n = match d {
                        Dim::Fixed(n) => *n,
                        Dim::Named(n) if n == "batch" => batch,
                        Dim::Named(n) => combo.get(n).copied().unwrap_or(1),
                    };
                    bytes = bytes.checked_mul(u64::try_from(n).ok()?)?;
                }
                total = total.checked_add(bytes)?;
            }
            largest = largest.max(total);
        }
    }
    Some(largest)
}

/// All batches of `suite`, generated with its seed.
pub fn batches(suite: &Suite) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut index = 0i64;
    for &batch in &suite.batch_sizes {
        for combo in dim_combinations(&suite.dims) {
            let seed = suite.seed + index;
            index += 1;
            tch::manual_seed(seed);
            let size = |d: &Dim| match d {
                Dim::Fixed(n) => *n,
                Dim::Named(n) if n == "batch" => batch,
                Dim::Named(n) => combo[n],
            };
            let bags = suite
                .bags
                .as_ref()
                .map(|b| bag_sizes(batch, b.min, b.max, seed))
                .unwrap_or_default();
            let tensors = suite
                .inputs
                .iter()
                .map(|input| {
                    let shape: Vec<i64> = input.shape.iter().map(size).collect();
                    make(input.kind, &shape, input.high.unwrap_or(1), &bags)
                })
                .collect();
            let mut key = vec![format!("batch={batch}")];
            key.extend(combo.iter().map(|(k, v)| format!("{k}={v}")));
            out.push(Batch {
                shape_key: key.join(" "),
                tensors,
            });
        }
    }
    out
}

fn make(kind: InputKind, shape: &[i64], high: i64, bags: &[i64]) -> Tensor {
    let int64 = (Kind::Int64, Device::Cpu);
    match kind {
        InputKind::Normal => Tensor::randn(shape, (Kind::Float, Device::Cpu)),
        InputKind::Tokens => Tensor::randint(high, shape, int64),
        InputKind::Mask => {
            // Row r keeps the first len - r*len/8 positions (at least one):
            // padded rows as a tokenizer makes them.
            let mask = Tensor::ones(shape, int64);
            if shape.len() == 2 {
                let (rows, len) = (shape[0], shape[1]);
                for r in 1..rows {
                    let keep = (len - (r % 4) * len / 8).max(1);
                    if keep < len {
                        let _ = mask.get(r).narrow(0, keep, len - keep).fill_(0);
                    }
                }
            }
            mask
        }
        InputKind::BagIndices => Tensor::randint(high, [bags.iter().sum::<i64>()], int64),
        InputKind::BagOffsets => {
            let mut offsets = Vec::with_capacity(bags.len());
            let mut acc = 0;
            for b in bags {
                offsets.push(acc);
                acc += b;
            }
            Tensor::from_slice(&offsets)
        }
        InputKind::Lengths => {
            let (batch, len) = (
                shape.first().copied().unwrap_or(1),
                shape.get(1).copied().unwrap_or(1),
            );
            let lengths: Vec<i64> = (0..batch)
                .map(|r| (len - (r % 4) * len / 8).max(1))
                .collect();
            Tensor::from_slice(&lengths)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_cover_every_size() {
        let dims: BTreeMap<String, Vec<i64>> = [
            ("seq".to_string(), vec![8, 16]),
            ("h".to_string(), vec![1, 2, 3]),
        ]
        .into();
        assert_eq!(dim_combinations(&dims).len(), 6);
        assert_eq!(dim_combinations(&BTreeMap::new()).len(), 1);
    }

    #[test]
    fn bag_sizes_stay_in_range() {
        let sizes = bag_sizes(16, 1, 5, 42);
        assert_eq!(sizes.len(), 16);
        assert!(sizes.iter().all(|s| (1..=5).contains(s)));
        assert!(sizes.iter().any(|s| *s > 1));
    }
}
