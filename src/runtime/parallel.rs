//! Multi-stream execution and core splitting, following IPEX's
//! MultiStreamModule: cores split evenly across streams (the first
//! `cores % streams` get one more), each batch split the same way along
//! dimension 0 (with batch < streams only `batch` streams run), every stream
//! an OS thread pinned to its cores with its own intra-op thread count, and
//! the outputs concatenated.
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use hwloc2::{CpuBindFlags, CpuSet, Topology};
use tch::Tensor;

use super::apply::Prepared;
use super::threads;

/// Splits `n` items into at most `parts` nearly equal parts: the first
/// `n % parts` parts get one more; with n < parts only n parts of 1.
pub fn split_sizes(n: usize, parts: usize) -> Vec<usize> {
    let parts = parts.max(1).min(n.max(1));
    let base = n / parts;
    let extra = n % parts;
    (0..parts).map(|i| base + usize::from(i < extra)).collect()
}

/// Splits `cpus` into `parts` groups as [`split_sizes`] does.
pub fn split_cores(cpus: &[u32], parts: usize) -> Vec<Vec<u32>> {
    let mut rest = cpus;
    split_sizes(cpus.len(), parts)
        .into_iter()
        .map(|n| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head.to_vec()
        })
        .collect()
}

/// Pins the calling thread to `cpus` with hwloc.
pub fn pin_current_thread(cpus: &[u32]) -> anyhow::Result<()> {
    if cpus.is_empty() {
        return Ok(());
    }
    let mut topo = Topology::new().context("hwloc could not load the topology")?;
    let set: CpuSet = cpus.iter().copied().collect();
    topo.set_cpubind(set, CpuBindFlags::CPUBIND_THREAD)
        .map_err(|e| anyhow::anyhow!("hwloc cpubind to {cpus:?} failed: {e:?}"))
}

/// Binds this thread's memory to the NUMA node of `cores` when they all sit
/// in one node (`nodes[i]` is the node of `cpus[i]`); no-op when the nodes
/// are unknown or mixed.
pub fn bind_memory(cores: &[u32], cpus: &[u32], nodes: &[u32]) -> anyhow::Result<()> {
    if nodes.len() != cpus.len() || cores.is_empty() {
        return Ok(());
    }
    let node_of = |c: &u32| cpus.iter().position(|x| x == c).map(|i| nodes[i]);
    let mut of_cores = cores.iter().map(node_of);
    let first = of_cores.next().flatten();
    if let Some(node) = first.filter(|n| of_cores.all(|m| m == Some(*n))) {
        crate::native::os::bind_memory_to_node(node)?;
    }
    Ok(())
}

type Job = (Vec<Tensor>, Sender<anyhow::Result<Vec<Tensor>>>);

struct Worker {
    jobs: Sender<Job>,
    handle: Option<JoinHandle<()>>,
}

/// Persistent stream threads sharing one prepared module.
pub struct Streams {
    workers: Vec<Worker>,
}

impl Streams {
    /// Starts one pinned thread per core group, each with `threads`
    /// intra-op threads.
    pub fn start(
        prepared: Arc<Prepared>,
        cores: Vec<Vec<u32>>,
        threads_per_stream: usize,
    ) -> anyhow::Result<Streams> {
        let mut workers = Vec::new();
        let (ready_tx, ready_rx) = channel::<anyhow::Result<()>>();
        for group in cores {
            let (tx, rx): (Sender<Job>, Receiver<Job>) = channel();
            let prepared = Arc::clone(&prepared);
            let ready = ready_tx.clone();
            let handle = std::thread::Builder::new()
                .name("ipex-tune-stream".into())
                .spawn(move || {
                    let setup =
                        pin_current_thread(&group).and_then(|_| threads::set(threads_per_stream));
                    let ok = setup.is_ok();
                    let _ = ready.send(setup);
                    if !ok {
                        return;
                    }
                    for (inputs, reply) in rx {
                        let _ = reply.send(prepared.run(&inputs));
                    }
                })?;
            workers.push(Worker {
                jobs: tx,
                handle: Some(handle),
            });
        }
        drop(ready_tx);
        for result in ready_rx.iter().take(workers.len()) {
            result?;
        }
        Ok(Streams { workers })
    }

    /// Runs one batch split across the streams; outputs concatenated along
    /// dimension 0.
    pub fn run(&self, inputs: &[Tensor]) -> anyhow::Result<Vec<Tensor>> {
        let batch = inputs.first().map(|t| t.size()[0] as usize).unwrap_or(0);
        let sizes = split_sizes(batch, self.workers.len());
        let mut replies = Vec::new();
        let mut start = 0i64;
        for (worker, size) in self.workers.iter().zip(&sizes) {
            let part: Vec<Tensor> = inputs
                .iter()
                .map(|t| t.narrow(0, start, *size as i64))
                .collect();
            start += *size as i64;
            let (tx, rx) = channel();
            worker
                .jobs
                .send((part, tx))
                .map_err(|_| anyhow::anyhow!("a stream thread stopped"))?;
            replies.push(rx);
        }
        let mut parts: Vec<Vec<Tensor>> = Vec::new();
        for rx in replies {
            parts.push(
                rx.recv()
                    .map_err(|_| anyhow::anyhow!("a stream thread stopped"))??,
            );
        }
        let outputs = parts[0].len();
        Ok((0..outputs)
            .map(|i| {
                let pieces: Vec<&Tensor> = parts.iter().map(|p| &p[i]).collect();
                Tensor::cat(&pieces, 0)
            })
            .collect())
    }
}

impl Drop for Streams {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            // Closing the channel ends the thread's loop.
            let (dead, _) = channel();
            worker.jobs = dead;
            if let Some(h) = worker.handle.take() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_ipex() {
        assert_eq!(split_sizes(8, 2), vec![4, 4]);
        assert_eq!(split_sizes(7, 3), vec![3, 2, 2]);
        assert_eq!(
            split_sizes(2, 4),
            vec![1, 1],
            "batch < streams: only batch streams"
        );
        assert_eq!(split_sizes(5, 1), vec![5]);
    }

    #[test]
    fn cores_split_with_the_first_groups_larger() {
        assert_eq!(
            split_cores(&[0, 1, 2, 3, 4], 2),
            vec![vec![0, 1, 2], vec![3, 4]]
        );
        assert_eq!(split_cores(&[0, 1], 2), vec![vec![0], vec![1]]);
    }
}
