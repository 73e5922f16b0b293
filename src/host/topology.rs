//! Packages, NUMA nodes, cores and caches, from hwloc (hwloc2 crate over
//! Debian's libhwloc).
use hwloc2::{ObjectType, Topology as Hwloc, TopologyObject};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct NumaNode {
    pub id: u32,
    /// Logical CPUs (OS indexes) local to this node.
    pub cpus: Vec<u32>,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Caches {
    /// Per-core L1 data cache, bytes.
    pub l1d: u64,
    pub l2: u64,
    /// Largest L3 (per package or per CCX), bytes.
    pub l3: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Topology {
    pub packages: u32,
    pub numa_nodes: Vec<NumaNode>,
    pub cores_physical: u32,
    pub cores_logical: u32,
    pub caches: Caches,
    /// Physical cores as lists of their logical CPUs (SMT siblings together).
    pub cores: Vec<Vec<u32>>,
}

fn cpus_of(obj: &TopologyObject) -> Vec<u32> {
    obj.cpuset()
        .map(|s| s.into_iter().collect())
        .unwrap_or_default()
}

fn objects(topo: &Hwloc, kind: ObjectType) -> Vec<&TopologyObject> {
    topo.depth_for_type(&kind)
        .map(|depth| topo.objects_at_depth(depth))
        .unwrap_or_default()
}

/// NUMA nodes from nodesets. hwloc 2 keeps NUMA nodes at a virtual depth
/// (memory children), which the hwloc2 2.2 crate cannot address (it panics
/// on the negative depth and hides `memory_first_child`); every object's
/// nodeset still names the nodes it is local to, so a node's CPUs are the
/// PUs whose nodeset holds it. Memory per node comes from sysfs.
fn numa_nodes(topo: &Hwloc) -> Vec<NumaNode> {
    let ids: Vec<u32> = topo
        .object_at_root()
        .nodeset()
        .map(|s| s.into_iter().collect())
        .unwrap_or_default();
    let total = topo.object_at_root().total_memory();
    let count = ids.len().max(1) as u64;
    let pus = objects(topo, ObjectType::PU);
    ids.iter()
        .map(|&id| NumaNode {
            id,
            cpus: pus
                .iter()
                .filter(|pu| pu.nodeset().is_some_and(|n| n.is_set(id)))
                .map(|pu| pu.os_index())
                .collect(),
            memory_bytes: sysfs_node_memory(id).unwrap_or(total / count),
        })
        .collect()
}

/// MemTotal of a NUMA node from /sys/devices/system/node/nodeN/meminfo.
fn sysfs_node_memory(id: u32) -> Option<u64> {
    let text =
        std::fs::read_to_string(format!("/sys/devices/system/node/node{id}/meminfo")).ok()?;
    parse_node_meminfo(&text)
}

/// "Node 0 MemTotal:       24683452 kB" -> bytes.
pub fn parse_node_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.contains("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().rev().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn cache_size(topo: &Hwloc, kind: ObjectType) -> u64 {
    objects(topo, kind)
        .iter()
        .filter_map(|o| o.cache_attributes().map(|c| c.size()))
        .max()
        .unwrap_or(0)
}

/// Reads the topology; None when hwloc cannot load it.
pub fn detect() -> Option<Topology> {
    let topo = Hwloc::new()?;
    let cores: Vec<Vec<u32>> = objects(&topo, ObjectType::Core)
        .iter()
        .map(|c| cpus_of(c))
        .collect();
    let pus = objects(&topo, ObjectType::PU).len() as u32;
    let numa_nodes = numa_nodes(&topo);
    Some(Topology {
        packages: objects(&topo, ObjectType::Package).len().max(1) as u32,
        cores_physical: if cores.is_empty() {
            pus
        } else {
            cores.len() as u32
        },
        cores_logical: pus,
        caches: Caches {
            l1d: cache_size(&topo, ObjectType::L1Cache),
            l2: cache_size(&topo, ObjectType::L2Cache),
            l3: cache_size(&topo, ObjectType::L3Cache),
        },
        numa_nodes,
        cores,
    })
}

/// "0-3", "0,2,4": a CPU list as numactl and taskset read it.
pub fn cpu_list(cpus: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if j > i {
            format!("{}-{}", cpus[i], cpus[j])
        } else {
            cpus[i].to_string()
        });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_meminfo() {
        let text = "Node 0 MemTotal:       24683452 kB\nNode 0 MemFree:        100 kB\n";
        assert_eq!(parse_node_meminfo(text), Some(24683452 * 1024));
        assert_eq!(parse_node_meminfo("nothing"), None);
    }
}
