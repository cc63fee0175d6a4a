use super::*;
use crate::runtime::spec::Endpoint;

fn config() -> DockerRuntimeConfig {
    DockerRuntimeConfig::with_namespace("ns")
}

fn spec(kind: DeploymentType) -> DeploymentSpec {
    let mut spec = DeploymentSpec::new("proj", "ns-p-proj-s-web", kind, "img:1");
    spec.command = vec!["/bin/sh".into(), "-c".into()];
    spec.args = vec!["echo hi".into()];
    spec.env.insert("B".into(), "2".into());
    spec.env.insert("A".into(), "1=x".into());
    spec.endpoints = vec![
        Endpoint::parse("8080").unwrap(),
        Endpoint::parse("9001/ui").unwrap(),
    ];
    spec
}

fn host(body: &ContainerCreateBody) -> &HostConfig {
    body.host_config.as_ref().unwrap()
}

#[test]
fn security_defaults_are_always_applied() {
    for kind in [DeploymentType::Service, DeploymentType::Job] {
        let body = container_body(&config(), &spec(kind), "net-id");
        let host = host(&body);
        assert_eq!(host.privileged, Some(false));
        assert_eq!(host.cap_drop.as_deref(), Some(&["ALL".to_owned()][..]));
        let added = host.cap_add.clone().unwrap();
        assert_eq!(added, CAPABILITIES_ADDED);
        assert!(
            !added
                .iter()
                .any(|c| c == "NET_RAW" || c == "SYS_ADMIN" || c == "NET_ADMIN")
        );
        assert_eq!(
            host.security_opt.as_deref(),
            Some(&["no-new-privileges".to_owned()][..])
        );
        assert_eq!(host.pids_limit, Some(512));
        assert_eq!(host.memory, Some(1024 * 1024 * 1024));
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.binds, None);
        assert_eq!(host.publish_all_ports, Some(false));
        assert_eq!(host.port_bindings, None);
        assert_eq!(host.pid_mode, None);
        assert_eq!(host.ipc_mode, None);
        assert_eq!(host.devices, None);
        assert!(
            host.log_config
                .as_ref()
                .unwrap()
                .config
                .as_ref()
                .unwrap()
                .contains_key("max-size")
        );
    }
}

#[test]
fn command_args_env_labels_and_ports_come_from_the_spec() {
    let body = container_body(&config(), &spec(DeploymentType::Service), "net-id");
    assert_eq!(body.image.as_deref(), Some("img:1"));
    assert_eq!(body.entrypoint.clone().unwrap(), ["/bin/sh", "-c"]);
    assert_eq!(body.cmd.clone().unwrap(), ["echo hi"]);
    assert_eq!(body.env.clone().unwrap(), ["A=1=x", "B=2"]);
    assert_eq!(
        body.exposed_ports.clone().unwrap(),
        ["8080/tcp", "9001/tcp"]
    );
    let labels = body.labels.as_ref().unwrap();
    assert_eq!(labels[labels::NAMESPACE], "ns");
    assert_eq!(labels[labels::ENDPOINTS], "8080,9001/ui");
    assert_eq!(body.tty, Some(false));
}

#[test]
fn empty_command_and_args_keep_the_images_own() {
    let mut spec = spec(DeploymentType::Job);
    spec.command.clear();
    spec.args.clear();
    spec.endpoints.clear();
    let body = container_body(&config(), &spec, "net-id");
    assert_eq!(
        (body.entrypoint, body.cmd, body.exposed_ports),
        (None, None, None)
    );
}

#[test]
fn the_container_joins_its_project_network_only() {
    let body = container_body(&config(), &spec(DeploymentType::Service), "net-id");
    assert_eq!(host(&body).network_mode.as_deref(), Some("net-id"));
    let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
    assert_eq!(endpoints.keys().collect::<Vec<_>>(), ["net-id"]);
    assert_eq!(
        endpoints["net-id"].aliases.clone().unwrap(),
        ["ns-p-proj-s-web"]
    );
}

#[test]
fn services_restart_unless_stopped_and_jobs_never() {
    let policy = |kind| {
        container_body(&config(), &spec(kind), "n")
            .host_config
            .unwrap()
            .restart_policy
            .unwrap()
            .name
            .unwrap()
    };
    assert_eq!(
        policy(DeploymentType::Service),
        RestartPolicyNameEnum::UNLESS_STOPPED
    );
    assert_eq!(policy(DeploymentType::Job), RestartPolicyNameEnum::NO);
}

#[test]
fn compute_limits_convert_to_engine_units() {
    let mut spec = spec(DeploymentType::Job);
    spec.compute.max_cpus = Some(1.5);
    spec.compute.max_memory_mb = Some(256);
    spec.compute.pids_limit = Some(64);
    let body = container_body(&config(), &spec, "n");
    let host = host(&body);
    assert_eq!(host.nano_cpus, Some(1_500_000_000));
    assert_eq!(host.memory, Some(256 * 1024 * 1024));
    assert_eq!(host.memory_swap, Some(256 * 1024 * 1024));
    assert_eq!(host.pids_limit, Some(64));
    assert_eq!(nano_cpus(0.01), 10_000_000);
}

#[test]
fn always_a_cpu_limit_and_a_memory_limit() {
    let mut spec = spec(DeploymentType::Job);
    assert_eq!(
        host(&container_body(&config(), &spec, "n")).nano_cpus,
        Some(1_000_000_000),
        "the default: one core"
    );
    spec.compute.min_memory_mb = Some(2048);
    assert_eq!(memory_limit_bytes(&config(), &spec), 2048 * 1024 * 1024);
    spec.compute.min_memory_mb = Some(100);
    assert_eq!(memory_limit_bytes(&config(), &spec), 1024 * 1024 * 1024);
    spec.compute.max_memory_mb = Some(100);
    assert_eq!(memory_limit_bytes(&config(), &spec), 100 * 1024 * 1024);
}

#[test]
fn gpus_become_an_nvidia_device_request() {
    assert_eq!(gpu_request(None), None);
    assert_eq!(gpu_request(Some(0)), None);
    let request = gpu_request(Some(2)).unwrap();
    assert_eq!(request.len(), 1);
    assert_eq!(request[0].driver.as_deref(), Some("nvidia"));
    assert_eq!(request[0].count, Some(2));
    assert_eq!(request[0].capabilities.clone().unwrap(), [["gpu"]]);
    let mut spec = spec(DeploymentType::Job);
    spec.compute.gpus = Some(1);
    assert!(
        host(&container_body(&config(), &spec, "n"))
            .device_requests
            .is_some()
    );
}

#[test]
fn a_volume_is_mounted_by_name_never_a_host_path() {
    let mut spec = spec(DeploymentType::Service);
    assert_eq!(host(&container_body(&config(), &spec, "n")).mounts, None);
    spec.volume_path = Some("/data".into());
    let mounts = host(&container_body(&config(), &spec, "n"))
        .mounts
        .clone()
        .unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
    assert_eq!(mounts[0].source.as_deref(), Some("ns-p-proj-s-web-vol"));
    assert_eq!(mounts[0].target.as_deref(), Some("/data"));
}

#[test]
fn the_cpu_limit_is_the_specs_else_the_default_but_at_least_the_minimum() {
    let config = DockerRuntimeConfig {
        default_cpu_millicores: 500,
        ..config()
    };
    let mut spec = spec(DeploymentType::Job);
    spec.compute.max_cpus = None;
    spec.compute.min_cpus = None;
    assert_eq!(cpu_limit(&config, &spec), 0.5);
    spec.compute.min_cpus = Some(1.5);
    assert_eq!(cpu_limit(&config, &spec), 1.5);
    spec.compute.max_cpus = Some(2.0);
    assert_eq!(cpu_limit(&config, &spec), 2.0);
    let body = container_body(&config, &spec, "net-id");
    assert_eq!(body.host_config.unwrap().nano_cpus, Some(2_000_000_000));
}
