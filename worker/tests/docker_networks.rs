//! Project networks: idempotent creation, explicit subnets, name
//! resolution inside a project and isolation between projects.

#![allow(clippy::unwrap_used)]

use contaxy_tests::IDLE;
use contaxy_tests::runtime::TestRuntime;
use contaxy_tests::subnets::random_subnet;
use contaxy_worker::runtime::{
    DeleteOptions, DeploymentStatus, LogOptions, Runtime, RuntimeError, SubnetSpec,
};

#[tokio::test]
async fn ensuring_a_network_twice_is_idempotent() {
    let test = TestRuntime::new().await;
    let first = test.runtime.ensure_network("alpha", None).await.unwrap();
    let second = test.runtime.ensure_network("alpha", None).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(first.name, format!("{}-p-alpha-network", test.namespace));
    assert_eq!(first.project_id, "alpha");

    let networks = test.runtime.list_networks().await.unwrap();
    assert_eq!(networks.len(), 1, "{networks:?}");
    let inspected = test
        .docker()
        .inspect_network(&first.id, None)
        .await
        .unwrap();
    assert_eq!(inspected.driver.as_deref(), Some("bridge"));
    // Named for the host firewall rule (scripts/docker-isolation.sh).
    let bridge = inspected.options.unwrap_or_default()["com.docker.network.bridge.name"].clone();
    assert!(bridge.starts_with("cx-") && bridge.len() == 15, "{bridge}");
    let labels = inspected.labels.unwrap();
    assert_eq!(labels["ctxy.namespace"], test.namespace);
    assert_eq!(labels["ctxy.projectName"], "alpha");
}

#[tokio::test]
async fn an_explicit_subnet_is_really_applied() {
    let test = TestRuntime::new().await;
    let (cidr, gateway) = random_subnet();
    let subnet = SubnetSpec {
        cidr: cidr.clone(),
        gateway: Some(gateway.clone()),
    };
    let network = test
        .runtime
        .ensure_network("alpha", Some(&subnet))
        .await
        .unwrap();
    assert_eq!(
        (network.subnets.clone(), network.gateways.clone()),
        (vec![cidr.clone()], vec![gateway.clone()])
    );
    let again = test
        .runtime
        .ensure_network("alpha", Some(&subnet))
        .await
        .unwrap();
    assert_eq!(again.id, network.id);
    assert_eq!(
        test.runtime.ensure_network("alpha", None).await.unwrap().id,
        network.id
    );

    let ipam = test
        .docker()
        .inspect_network(&network.id, None)
        .await
        .unwrap()
        .ipam
        .unwrap()
        .config
        .unwrap();
    assert_eq!(ipam[0].subnet.as_deref(), Some(cidr.as_str()));
    assert_eq!(ipam[0].gateway.as_deref(), Some(gateway.as_str()));

    // A container in it gets an address from that subnet.
    let spec = test.job("alpha", "addr", "ip -4 addr show eth0");
    test.deploy(&spec).await.unwrap();
    test.wait_until_ended(&spec.target()).await;
    let logs = test.logs(&spec.target(), LogOptions::default()).await;
    let prefix = cidr.trim_end_matches("0/24");
    assert!(logs.contains(&format!("inet {prefix}")), "{logs}");

    let (other, _) = random_subnet();
    let error = test
        .runtime
        .ensure_network("alpha", Some(&SubnetSpec::new(other)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, RuntimeError::SubnetMismatch { .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn containers_reach_each_other_by_name_in_their_project_and_not_across_projects() {
    let test = TestRuntime::new().await;
    let web = test.service(
        "alpha",
        "web",
        &format!("mkdir -p /tmp/www && echo hi-from-web > /tmp/www/index.html && httpd -p 8080 -h /tmp/www; {IDLE}"),
    );
    test.deploy(&web).await.unwrap();
    test.wait_for(&web.target(), "web running", |s| {
        s.status == DeploymentStatus::Running
    })
    .await;
    let web_ip = test
        .docker()
        .inspect_container(&web.deployment_id, None)
        .await
        .unwrap()
        .network_settings
        .unwrap()
        .networks
        .unwrap()
        .into_values()
        .next()
        .unwrap()
        .ip_address
        .unwrap();

    // Same project: by name and by address. The loop covers httpd still
    // starting; it runs in the container, not in the test.
    let fetch = |host: &str| {
        format!(
            "for i in $(seq 1 20); do timeout 3 wget -q -O- http://{host}:8080/ && exit 0; sleep 0.5; done; exit 1"
        )
    };
    for (slug, host) in [
        ("by-name", web.deployment_id.as_str()),
        ("by-ip", web_ip.as_str()),
    ] {
        let client = test.job("alpha", slug, &fetch(host));
        test.deploy(&client).await.unwrap();
        let state = test.wait_until_ended(&client.target()).await;
        let logs = test.logs(&client.target(), LogOptions::default()).await;
        assert_eq!(state.status, DeploymentStatus::Succeeded, "{slug}: {logs}");
        assert_eq!(logs, "hi-from-web\n", "{slug}");
    }

    // Another project: neither the name resolves nor the address answers.
    let probe = format!(
        "timeout 3 wget -q -O- http://{web_ip}:8080/ && exit 10; \
         timeout 3 wget -q -O- http://{}:8080/ && exit 11; echo isolated",
        web.deployment_id
    );
    let outsider = test.job("beta", "outsider", &probe);
    test.deploy(&outsider).await.unwrap();
    let state = test.wait_until_ended(&outsider.target()).await;
    let logs = test.logs(&outsider.target(), LogOptions::default()).await;
    assert_eq!(
        state.status,
        DeploymentStatus::Succeeded,
        "exit {:?}: {logs}",
        state.exit_code
    );
    // stdout and stderr reach the log through separate pipes, so wget's
    // complaint may come after `isolated`: look for the line, not the end.
    assert!(logs.lines().any(|line| line == "isolated"), "{logs}");
    assert!(!logs.contains("hi-from-web"), "{logs}");
}

#[tokio::test]
async fn a_network_is_listed_with_its_containers_and_removed_once_empty() {
    let test = TestRuntime::new().await;
    let spec = test.service("alpha", "member", IDLE);
    test.deploy(&spec).await.unwrap();
    test.runtime.ensure_network("beta", None).await.unwrap();

    let networks = test.runtime.list_networks().await.unwrap();
    let summary: Vec<_> = networks
        .iter()
        .map(|n| (n.project_id.as_str(), n.containers.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("alpha", vec![spec.deployment_id.clone()]),
            ("beta", vec![])
        ]
    );

    let error = test.runtime.delete_network("alpha").await.unwrap_err();
    assert!(
        matches!(error, RuntimeError::NetworkInUse { .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());

    test.runtime
        .delete(&spec.target(), DeleteOptions::default())
        .await
        .unwrap();
    test.runtime.delete_network("alpha").await.unwrap();
    test.runtime.delete_network("alpha").await.unwrap();
    let left: Vec<_> = test
        .runtime
        .list_networks()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.project_id)
        .collect();
    assert_eq!(left, ["beta"]);
}

#[tokio::test]
async fn a_deployment_is_detached_and_attached_again_idempotently() {
    let test = TestRuntime::new().await;
    let spec = test.service("alpha", "web", IDLE);
    test.deploy(&spec).await.unwrap();
    let target = spec.target();
    let network = format!("{}-p-alpha-network", test.namespace);
    let attached = || async {
        test.docker()
            .inspect_container(&spec.deployment_id, None)
            .await
            .unwrap()
            .network_settings
            .unwrap()
            .networks
            .unwrap_or_default()
            .contains_key(&network)
    };
    assert!(attached().await);

    test.runtime.disconnect_network(&target).await.unwrap();
    test.runtime.disconnect_network(&target).await.unwrap();
    assert!(!attached().await);
    test.runtime.connect_network(&target).await.unwrap();
    test.runtime.connect_network(&target).await.unwrap();
    assert!(attached().await);

    // A deployment that does not exist: nothing to detach, nothing to
    // attach.
    let missing = contaxy_worker::runtime::DeploymentRef::new(
        "alpha",
        test.id(
            "alpha",
            contaxy_worker::runtime::DeploymentType::Service,
            "nope",
        ),
    );
    test.runtime.disconnect_network(&missing).await.unwrap();
    let error = test.runtime.connect_network(&missing).await.unwrap_err();
    assert!(matches!(error, RuntimeError::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn a_network_is_in_use_while_a_stopped_container_is_attached() {
    let test = TestRuntime::new().await;
    let spec = test.job("alpha", "done", "true");
    test.deploy(&spec).await.unwrap();
    test.wait_until_ended(&spec.target()).await;
    // The engine lists only running containers on a network, and would
    // remove it under this one, which could then never start again.
    let networks = test.runtime.list_networks().await.unwrap();
    assert_eq!(networks[0].containers, [spec.deployment_id.as_str()]);
    let error = test.runtime.delete_network("alpha").await.unwrap_err();
    assert!(
        matches!(error, RuntimeError::NetworkInUse { .. }),
        "{error:?}"
    );
    test.runtime
        .delete(&spec.target(), DeleteOptions::default())
        .await
        .unwrap();
    test.runtime.delete_network("alpha").await.unwrap();
}

#[tokio::test]
async fn deploying_or_attaching_without_the_project_network_is_network_missing() {
    let test = TestRuntime::new().await;
    // Deploy does not make the network: the caller ensures it first.
    let spec = test.job("alpha", "early", "true");
    let error = test.runtime.deploy(&spec).await.unwrap_err();
    assert!(
        matches!(error, RuntimeError::NetworkMissing { .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_eq!(
        test.runtime.status(&spec.target()).await.unwrap(),
        None,
        "nothing left behind"
    );

    // A detached deployment whose network has gone cannot be attached
    // until the network is ensured again.
    let web = test.service("alpha", "web", IDLE);
    test.deploy(&web).await.unwrap();
    test.runtime
        .disconnect_network(&web.target())
        .await
        .unwrap();
    test.runtime.delete_network("alpha").await.unwrap();
    let error = test
        .runtime
        .connect_network(&web.target())
        .await
        .unwrap_err();
    assert!(
        matches!(error, RuntimeError::NetworkMissing { .. }),
        "{error:?}"
    );
    test.runtime.ensure_network("alpha", None).await.unwrap();
    test.runtime.connect_network(&web.target()).await.unwrap();
}
