//! The host's roofs, measured rather than looked up: the compute peak
//! libtorch reaches per dtype on the usable cores, the better of a large
//! square matmul (MKL for fp32: on some CPUs it takes a narrower path than
//! oneDNN) and a large 3x3 convolution (oneDNN); int8 through `_int_mm`;
//! and the memory bandwidth of a STREAM triad (a[i] = b[i] + s * c[i]) on
//! as many threads. A profile's achieved GFLOP/s are read against these.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// The roofs of this host, as measured.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Roofs {
    pub threads: usize,
    /// dtype -> peak GFLOP/s (int8: GOP/s) measured; a dtype libtorch
    /// cannot multiply here is absent.
    pub peak_gflops: BTreeMap<String, f64>,
    /// dtype -> the kernel that reached the peak ("matmul 2048^3", ...).
    #[serde(default)]
    pub peak_from: BTreeMap<String, String>,
    /// STREAM triad bandwidth, GB/s.
    pub triad_gb_s: f64,
}

/// GEMM side (elements) and how long each measurement runs.
const GEMM_N: i64 = 2048;
const WINDOW: Duration = Duration::from_millis(400);

/// Measures the roofs with `threads` threads (the caller holds the cores).
pub fn measure(threads: usize) -> Roofs {
    tch::set_num_threads(threads as i32);
    let mut peak_gflops = BTreeMap::new();
    let mut peak_from = BTreeMap::new();
    for (name, kind) in [
        ("fp32", Kind::Float),
        ("bf16", Kind::BFloat16),
        ("int8", Kind::Int8),
    ] {
        let candidates = [
            (format!("matmul {GEMM_N}^3"), gemm(kind)),
            (CONV.to_string(), conv(kind)),
        ];
        let best = candidates
            .into_iter()
            .filter_map(|(from, g)| Some((from, g?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((from, g)) = best {
            peak_gflops.insert(name.to_string(), g);
            peak_from.insert(name.to_string(), from);
        }
    }
    Roofs {
        threads,
        peak_gflops,
        peak_from,
        triad_gb_s: triad(threads),
    }
}

/// The convolution of the compute roof: 3x3, 512 -> 512 channels on a
/// batch of 8 at 14x14 (the deep layers of a ResNet, oneDNN's best case).
const CONV: &str = "conv 3x3 512->512 8x14x14";

/// Best GFLOP/s of the [`CONV`] convolution (floating dtypes only).
fn conv(kind: Kind) -> Option<f64> {
    if kind == Kind::Int8 {
        return None;
    }
    let (batch, channels, side) = (8i64, 512i64, 14i64);
    let x = Tensor::f_randn([batch, channels, side, side], (kind, Device::Cpu)).ok()?;
    let w = Tensor::f_randn([channels, channels, 3, 3], (kind, Device::Cpu)).ok()?;
    let flops = 2.0 * (batch * channels * side * side) as f64 * (channels * 9) as f64;
    best_rate(flops, || {
        x.f_conv2d::<Tensor>(&w, None, [1, 1], [1, 1], [1, 1], 1)
            .ok()
    })
}

/// Best rate (GFLOP/s) of `call`, each call `flops`, in a short window
/// after a warm-up; None when the call fails.
fn best_rate(flops: f64, call: impl Fn() -> Option<Tensor>) -> Option<f64> {
    let _ = call()?;
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < WINDOW || calls < 2 {
        let _ = call()?;
        calls += 1;
    }
    Some(flops * calls as f64 / start.elapsed().as_secs_f64() / 1e9)
}

/// GFLOP/s of repeated n x n x n products in a short window.
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
    best_rate(2.0 * (n as f64).powi(3), || product(&a, &b).ok())
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
