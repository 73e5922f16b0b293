//! The host's roofs, measured rather than looked up: the GEMM throughput
//! libtorch reaches per dtype on the usable cores (a large square matmul;
//! int8 through `_int_mm`), and the memory bandwidth of a STREAM triad
//! (a[i] = b[i] + s * c[i]) on as many threads. A profile's achieved
//! GFLOP/s are read against these.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// The roofs of this host, as measured.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Roofs {
    pub threads: usize,
    /// dtype -> GFLOP/s (int8: GOP/s) of a large GEMM; a dtype libtorch
    /// cannot multiply here is absent.
    pub gemm_gflops: BTreeMap<String, f64>,
    /// STREAM triad bandwidth, GB/s.
    pub triad_gb_s: f64,
}

/// GEMM side (elements) and how long each measurement runs.
const GEMM_N: i64 = 2048;
const WINDOW: Duration = Duration::from_millis(400);

/// Measures the roofs with `threads` threads (the caller holds the cores).
pub fn measure(threads: usize) -> Roofs {
    tch::set_num_threads(threads as i32);
    let mut gemm_gflops = BTreeMap::new();
    for (name, kind) in [
        ("fp32", Kind::Float),
        ("bf16", Kind::BFloat16),
        ("int8", Kind::Int8),
    ] {
        if let Some(g) = gemm(kind) {
            gemm_gflops.insert(name.to_string(), g);
        }
    }
    Roofs {
        threads,
        gemm_gflops,
        triad_gb_s: triad(threads),
    }
}

/// Best GFLOP/s of repeated n x n x n products in a short window.
fn gemm(kind: Kind) -> Option<f64> {
    let n = GEMM_N;
    let (a, b) = if kind == Kind::Int8 {
        let make = || Tensor::f_randint_low(-64, 64, [n, n], (Kind::Int8, Device::Cpu)).ok();
        (make()?, make()?)
    } else {
        let make = || Tensor::f_randn([n, n], (kind, Device::Cpu)).ok();
        (make()?, make()?)
    };
    let product = |a: &Tensor, b: &Tensor| {
        if kind == Kind::Int8 {
            a.f_internal_int_mm(b)
        } else {
            a.f_matmul(b)
        }
    };
    // Warm-up, and: can this host multiply this dtype at all.
    let _ = product(&a, &b).ok()?;
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < WINDOW || calls < 2 {
        let _ = product(&a, &b).ok()?;
        calls += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    Some(2.0 * (n as f64).powi(3) * calls as f64 / seconds / 1e9)
}

/// STREAM triad on `threads` threads over arrays far larger than the
/// caches: best of five passes, 24 bytes per element (two reads, one write).
fn triad(threads: usize) -> f64 {
    const N: usize = 1 << 25; // 256 MiB per f64 array
    let threads = threads.max(1);
    let b = vec![1.0f64; N];
    let c = vec![2.0f64; N];
    let mut a = vec![0.0f64; N];
    let chunk = N.div_ceil(threads);
    let mut best = f64::INFINITY;
    for pass in 0..5 {
        let s = 3.0 + pass as f64;
        let start = Instant::now();
        std::thread::scope(|scope| {
            for ((a, b), c) in a
                .chunks_mut(chunk)
                .zip(b.chunks(chunk))
                .zip(c.chunks(chunk))
            {
                scope.spawn(move || {
                    for i in 0..a.len() {
                        a[i] = b[i] + s * c[i];
                    }
                });
            }
        });
        best = best.min(start.elapsed().as_secs_f64());
    }
    std::hint::black_box(&a);
    24.0 * N as f64 / best / 1e9
}
