//! What one deployment can get: the largest node's allocatable CPU and
//! memory (a pod runs on one node), read when the runtime is built.

use contaxy_common::domain::capacity::HostCapacity;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;

use super::KubeRuntime;
use super::errors::classify;
use crate::runtime::error::RuntimeError;

/// A Kubernetes quantity (`3500m`, `4`, `16Gi`, `16310284Ki`, `1G`) as a
/// number of units; `None` when it is not one we read.
pub fn parse_quantity(value: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 11] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = value.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    value.parse::<f64>().ok()
}

/// The largest allocatable CPU and memory among `nodes` that accept pods.
pub fn largest_node(nodes: &[Node]) -> HostCapacity {
    let mut capacity = HostCapacity {
        cpus: 0.0,
        memory_bytes: 0,
    };
    for node in nodes {
        if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
            continue;
        }
        let Some(allocatable) = node.status.as_ref().and_then(|s| s.allocatable.as_ref()) else {
            continue;
        };
        let read = |key: &str| allocatable.get(key).and_then(|q| parse_quantity(&q.0));
        if let Some(cpus) = read("cpu") {
            capacity.cpus = capacity.cpus.max(cpus);
        }
        if let Some(memory) = read("memory") {
            // Node memory is far below 2^53 bytes, so the float is exact.
            capacity.memory_bytes = capacity.memory_bytes.max(memory as u64);
        }
    }
    capacity
}

impl KubeRuntime {
    /// Reads the nodes' allocatable resources.
    pub async fn read_capacity(client: &kube::Client) -> Result<HostCapacity, RuntimeError> {
        let nodes = Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await
            .map_err(|error| classify("capacity", "nodes", error))?;
        Ok(largest_node(&nodes.items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_read_in_their_units() {
        assert_eq!(parse_quantity("4"), Some(4.0));
        assert_eq!(parse_quantity("3500m"), Some(3.5));
        assert_eq!(
            parse_quantity("16Gi"),
            Some(16.0 * 1024.0 * 1024.0 * 1024.0)
        );
        assert_eq!(parse_quantity("1024Ki"), Some(1024.0 * 1024.0));
        assert_eq!(parse_quantity("1G"), Some(1e9));
        assert_eq!(parse_quantity("x"), None);
    }

    #[test]
    fn the_largest_schedulable_node_is_the_capacity() {
        let node = |cpu: &str, memory: &str, unschedulable: bool| -> Node {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "n"},
                "spec": {"unschedulable": unschedulable},
                "status": {"allocatable": {"cpu": cpu, "memory": memory}}
            }))
            .unwrap()
        };
        let nodes = [
            node("2", "4Gi", false),
            node("3500m", "2Gi", false),
            node("64", "512Gi", true),
        ];
        let capacity = largest_node(&nodes);
        assert_eq!(capacity.cpus, 3.5);
        assert_eq!(capacity.memory_bytes, 4 * 1024 * 1024 * 1024);
    }
}
