//! The security defaults are really applied: as the engine records them and
//! as the process inside the container experiences them.

#![allow(clippy::unwrap_used)]

use contaxy_tests::runtime::TestRuntime;
use contaxy_worker::runtime::{DeploymentStatus, LogOptions};

/// CapEff of a process holding exactly CHOWN (0), DAC_OVERRIDE (1),
/// FOWNER (3), KILL (5), SETGID (6), SETUID (7) and NET_BIND_SERVICE (10).
const EXPECTED_CAP_EFF: &str = "00000000000004eb";

#[tokio::test]
async fn the_engine_records_the_secure_defaults_and_limits() {
    let test = TestRuntime::new().await;
    let mut spec = test.job("alpha", "inspected", "true");
    spec.compute.max_memory_mb = Some(96);
    spec.compute.max_cpus = Some(0.5);
    spec.compute.pids_limit = Some(64);
    spec.volume_path = Some("/data".to_owned());
    test.deploy(&spec).await.unwrap();

    let container = test
        .docker()
        .inspect_container(&spec.deployment_id, None)
        .await
        .unwrap();
    let host = container.host_config.unwrap();
    assert_eq!(host.privileged, Some(false));
    assert_eq!(host.init, Some(true), "Docker's init is PID 1");
    assert_eq!(host.cap_drop.unwrap(), ["ALL"]);
    let mut added = host.cap_add.unwrap();
    added.sort();
    assert_eq!(
        added,
        [
            "CHOWN",
            "DAC_OVERRIDE",
            "FOWNER",
            "KILL",
            "NET_BIND_SERVICE",
            "SETGID",
            "SETUID"
        ]
    );
    assert_eq!(host.security_opt.unwrap(), ["no-new-privileges"]);
    assert_eq!(host.pids_limit, Some(64));
    assert_eq!(host.memory, Some(96 * 1024 * 1024));
    assert_eq!(host.memory_swap, Some(96 * 1024 * 1024));
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert!(host.binds.unwrap_or_default().is_empty(), "no host paths");
    assert!(
        host.port_bindings.unwrap_or_default().is_empty(),
        "nothing published"
    );
    let mounts = container.mounts.unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].typ, Some("volume".to_owned()));
    assert!(
        mounts
            .iter()
            .all(|m| m.source.as_deref() != Some("/var/run/docker.sock")),
        "never the Docker socket"
    );
    let networks = container.network_settings.unwrap().networks.unwrap();
    let names: Vec<_> = networks.keys().cloned().collect();
    assert_eq!(
        names,
        [format!("{}-p-alpha-network", test.namespace)],
        "only its project network"
    );
    let labels = container.config.unwrap().labels.unwrap();
    for key in [
        "ctxy.namespace",
        "ctxy.projectName",
        "ctxy.deploymentId",
        "ctxy.deploymentType",
        "ctxy.displayName",
        "ctxy.endpoints",
        "ctxy.createdBy",
    ] {
        assert!(labels.contains_key(key), "{key}");
    }
    assert_eq!(labels["ctxy.namespace"], test.namespace);
}

#[tokio::test]
async fn a_job_without_limits_still_gets_the_default_limits() {
    let test = TestRuntime::new().await;
    let mut spec = test.job("alpha", "defaults", "true");
    spec.compute.max_memory_mb = None;
    test.deploy(&spec).await.unwrap();
    let host = test
        .docker()
        .inspect_container(&spec.deployment_id, None)
        .await
        .unwrap()
        .host_config
        .unwrap();
    assert_eq!(host.pids_limit, Some(512));
    assert_eq!(host.memory, Some(1024 * 1024 * 1024));
    // One core (this host has at least one): never unlimited.
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
}

#[tokio::test]
async fn inside_the_container_the_capabilities_and_limits_hold() {
    let test = TestRuntime::new().await;
    // cgroup v1 and v2 keep the limits in different files.
    let script = "grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status; \
        echo pids=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max); \
        echo mem=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)";
    let mut spec = test.job("alpha", "introspect", script);
    spec.compute.max_memory_mb = Some(80);
    spec.compute.pids_limit = Some(40);
    test.deploy(&spec).await.unwrap();
    let state = test.wait_until_ended(&spec.target()).await;
    assert_eq!(state.status, DeploymentStatus::Succeeded);

    let logs = test.logs(&spec.target(), LogOptions::default()).await;
    let value = |key: &str| {
        logs.lines()
            .find_map(|line| line.strip_prefix(key))
            .map(str::trim)
            .unwrap_or_else(|| panic!("{key} missing from {logs:?}"))
            .to_owned()
    };
    assert_eq!(value("CapEff:"), EXPECTED_CAP_EFF);
    assert_eq!(
        value("CapBnd:"),
        EXPECTED_CAP_EFF,
        "nothing more can be gained"
    );
    assert_eq!(value("NoNewPrivs:"), "1");
    assert_eq!(value("pids="), "40");
    assert_eq!(value("mem="), (80 * 1024 * 1024).to_string());
}
