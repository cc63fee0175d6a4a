//! Removing what a test (or the bench) made in Docker: everything labelled
//! with its runtime namespace.

use std::process::Command;

/// Removes every container (with its anonymous volumes), named volume and
/// network labelled `ctxy.namespace=<namespace>`, in that order (a network
/// goes only once nothing is attached). Uses the `docker` client, so it works
/// from `Drop` without a runtime; failures are ignored (best effort).
pub fn remove_docker_namespace(namespace: &str) {
    let label = format!("label=ctxy.namespace={namespace}");
    let list = |args: &[&str]| -> Vec<String> {
        Command::new("docker")
            .args(args)
            .args(["--filter", &label])
            .output()
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let remove = |args: &[&str], ids: Vec<String>| {
        if !ids.is_empty() {
            let _ = Command::new("docker").args(args).args(ids).output();
        }
    };
    remove(&["rm", "-f", "-v"], list(&["ps", "-aq"]));
    remove(&["volume", "rm", "-f"], list(&["volume", "ls", "-q"]));
    remove(&["network", "rm"], list(&["network", "ls", "-q"]));
}

/// Calls [`remove_docker_namespace`] when dropped.
#[derive(Debug)]
pub struct DockerNamespaceGuard(pub String);

impl Drop for DockerNamespaceGuard {
    fn drop(&mut self) {
        remove_docker_namespace(&self.0);
    }
}
