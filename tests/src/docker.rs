//! Docker as the tests see it: the engine's address, a client, fresh runtime
//! namespaces, and removing what a test (or the bench) made, which is
//! everything labelled with its namespace.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions,
};

/// The engine's socket on this machine.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// Where the engine listens, as a `docker_host` setting: [`DOCKER_SOCKET`].
pub const DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// A client of the engine at [`DOCKER_HOST`], for inspecting what a test made.
pub fn client() -> Docker {
    Docker::connect_with_host(DOCKER_HOST).expect("a Docker client")
}

/// A runtime namespace no other test or run uses: `prefix` and eight random
/// hex digits (`t` for tests, `b` for the bench).
pub fn fresh_namespace(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// The filter that selects what carries `ctxy.namespace=<namespace>`.
pub fn namespace_filter(namespace: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_owned(),
        vec![format!("ctxy.namespace={namespace}")],
    )])
}

/// Removes every container (with its anonymous volumes), named volume and
/// network labelled `ctxy.namespace=<namespace>`, in that order (a network
/// goes only once nothing is attached). Best effort: what cannot be removed
/// is reported on stderr, never a panic, because it runs from `Drop`, also
/// while a failed test unwinds.
///
/// Blocking: it runs on a thread with a runtime of its own, so it may be
/// called from `Drop`, with or without a runtime around it.
pub fn remove_docker_namespace(namespace: &str) {
    let owned = namespace.to_owned();
    let removed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(remove(&owned))
    })
    .join();
    match removed {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("cleaning up Docker namespace {namespace} failed: {error}"),
        Err(_) => eprintln!("cleaning up Docker namespace {namespace} panicked"),
    }
}

async fn remove(namespace: &str) -> Result<(), bollard::errors::Error> {
    let docker = Docker::connect_with_host(DOCKER_HOST)?;
    let filters = namespace_filter(namespace);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..ListContainersOptions::default()
        }))
        .await?;
    for id in containers.into_iter().filter_map(|c| c.id) {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        if let Err(error) = docker.remove_container(&id, Some(options)).await {
            eprintln!("could not remove container {id}: {error}");
        }
    }
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters.clone()),
        }))
        .await?
        .volumes
        .unwrap_or_default();
    for volume in volumes {
        if let Err(error) = docker
            .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
            .await
        {
            eprintln!("could not remove volume {}: {error}", volume.name);
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await?;
    for id in networks.into_iter().filter_map(|n| n.id) {
        if let Err(error) = docker.remove_network(&id).await {
            eprintln!("could not remove network {id}: {error}");
        }
    }
    Ok(())
}

/// Calls [`remove_docker_namespace`] when dropped.
#[derive(Debug)]
pub struct DockerNamespaceGuard(pub String);

impl Drop for DockerNamespaceGuard {
    fn drop(&mut self) {
        remove_docker_namespace(&self.0);
    }
}
