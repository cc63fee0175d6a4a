//! Per-project networks through the whole pipeline, against the real
//! PostgreSQL, RabbitMQ and Docker: actions published on the broker,
//! executed by workers, checked in the database and in the engine.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};
use contaxy_common::domain::action::{ActionKind, ActionStatus, ErrorClass};
use contaxy_common::store::networks::{self, NetworkLock};
use contaxy_tests::docker_proxy::DockerProxy;
use contaxy_tests::pipeline::Pipeline;
use contaxy_tests::subnets::random_pool;
use contaxy_tests::{DEADLINE, IDLE, TestDb, eventually};
use ipnet::Ipv4Net;
use lapin::options::BasicGetOptions;
use serde_json::json;

/// A busybox web server answering `hi-from-{project}` on port 8080.
fn web_server(project: &str) -> String {
    format!(
        "mkdir -p /tmp/www && echo hi-from-{project} > /tmp/www/index.html && httpd -p 8080 -h /tmp/www; {IDLE}"
    )
}

/// Shell that exits 0 once `host` serves `expected` (httpd may still be
/// starting; the loop runs in the container), else `code`.
fn must_reach(host: &str, expected: &str, code: u8) -> String {
    format!(
        "ok=0; for i in $(seq 1 20); do if timeout 3 wget -q -O- http://{host}:8080/ | grep -q {expected}; then ok=1; break; fi; sleep 0.5; done; [ $ok = 1 ] || exit {code}; "
    )
}

/// Shell that exits `code` if `host` answers at all (by HTTP or TCP).
fn must_not_reach(host: &str, code: u8) -> String {
    format!(
        "timeout 3 wget -q -O- http://{host}:8080/ && exit {code}; nc -w 3 {host} 8080 </dev/null && exit {code}; "
    )
}

/// The container's address on its project network.
async fn address_of(container: &str) -> String {
    let inspected = Pipeline::docker()
        .inspect_container(container, None::<InspectContainerOptions>)
        .await
        .unwrap();
    let networks = inspected.network_settings.unwrap().networks.unwrap();
    assert_eq!(networks.len(), 1, "attached to its project network only");
    networks.into_values().next().unwrap().ip_address.unwrap()
}

/// Deploys a job running `script` in `project` and waits for it to end.
async fn run_job(
    pipeline: &Pipeline,
    project: &str,
    slug: &str,
    script: &str,
) -> serde_json::Value {
    let id = pipeline.deployment_id(project, 'j', slug);
    let action = pipeline.deploy(project, &id, "job", script).await;
    pipeline.succeeded(project, action).await;
    pipeline
        .deployment_status(&id, &["succeeded", "failed"])
        .await
}

/// Projects `alpha` and `beta` with a web server each; their deployment ids.
async fn two_projects_with_a_web_server(pipeline: &Pipeline) -> BTreeMap<&'static str, String> {
    let mut webs = BTreeMap::new();
    for project in ["alpha", "beta"] {
        pipeline.create_project(project).await;
        let web = pipeline.deployment_id(project, 's', "web");
        let action = pipeline
            .deploy(project, &web, "service", &web_server(project))
            .await;
        pipeline.succeeded(project, action).await;
        pipeline.deployment_status(&web, &["running"]).await;
        webs.insert(project, web);
    }
    webs
}

#[tokio::test]
async fn a_job_reaches_its_projects_service_by_name_and_nothing_of_another_project() {
    let db = TestDb::new().await;
    let pipeline = Pipeline::new(db.url()).await;
    let pool = random_pool(130, 20);
    let _worker = pipeline
        .spawn_worker(Pipeline::worker_settings(&pool, 24))
        .await;
    let webs = two_projects_with_a_web_server(&pipeline).await;
    let beta_ip = address_of(&webs["beta"]).await;
    let beta_subnet: Ipv4Net = networks::find(&pipeline.pool, "beta")
        .await
        .unwrap()
        .unwrap()
        .subnet
        .parse()
        .unwrap();
    assert!(beta_subnet.contains(&beta_ip.parse::<std::net::Ipv4Addr>().unwrap()));

    let script = format!(
        "{}{}{}exit 0",
        must_reach(&webs["alpha"], "hi-from-alpha", 10),
        must_not_reach(&beta_ip, 11),
        must_not_reach(&webs["beta"], 12),
    );
    let ended = run_job(&pipeline, "alpha", "probe", &script).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");

    // Each project's subnet comes from the pool; the networks hold only
    // the project's own containers (the platform attaches to none).
    let range: Ipv4Net = pool.parse().unwrap();
    let probe = pipeline.deployment_id("alpha", 'j', "probe");
    for (project, members) in [
        ("alpha", vec![webs["alpha"].clone(), probe.clone()]),
        ("beta", vec![webs["beta"].clone()]),
    ] {
        let row = networks::find(&pipeline.pool, project)
            .await
            .unwrap()
            .unwrap();
        assert!(range.contains(&row.subnet.parse::<Ipv4Net>().unwrap()));
        let mut members = members;
        members.sort();
        assert_eq!(
            networks::attached(&pipeline.pool, project).await.unwrap(),
            members
        );
        let inspected = Pipeline::docker()
            .inspect_network(&row.name, None)
            .await
            .unwrap();
        assert_eq!(inspected.driver.as_deref(), Some("bridge"));
        // Every container on it, of any installation, stopped ones too
        // (the network's own inspection lists running ones only).
        let on_network = Pipeline::docker()
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([(
                    "network".to_owned(),
                    vec![inspected.id.unwrap()],
                )])),
                ..ListContainersOptions::default()
            }))
            .await
            .unwrap();
        let mut attached: Vec<String> = on_network
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .map(|n| n.trim_start_matches('/').to_owned())
            .collect();
        attached.sort();
        assert_eq!(attached, members, "{project}");
    }

    // NET_RAW (raw sockets: spoofing, ARP tricks) is not in the set.
    let host_config = Pipeline::docker()
        .inspect_container(&webs["alpha"], None::<InspectContainerOptions>)
        .await
        .unwrap()
        .host_config
        .unwrap();
    assert_eq!(host_config.cap_drop, Some(vec!["ALL".to_owned()]));
    assert!(
        !host_config
            .cap_add
            .unwrap_or_default()
            .iter()
            .any(|c| c.contains("NET_RAW")),
    );
}

#[tokio::test]
async fn fifty_concurrent_network_creations_by_three_workers_get_distinct_subnets() {
    let db = TestDb::new().await;
    let pipeline = Pipeline::new(db.url()).await;
    let pool = random_pool(131, 18);
    let settings = Pipeline::worker_settings(&pool, 24);
    let mut workers = Vec::new();
    for _ in 0..3 {
        workers.push(pipeline.spawn_worker(settings.clone()).await);
    }
    let projects: Vec<String> = (0..50).map(|i| format!("proj-{i:02}")).collect();
    for project in &projects {
        pipeline.create_project(project).await;
    }

    let publish_all = |kind| {
        futures::future::join_all(
            projects
                .iter()
                .map(|project| pipeline.publish(kind, project, None, json!({}))),
        )
    };
    let ensures = publish_all(ActionKind::NetworkEnsure).await;
    for (project, action) in projects.iter().zip(&ensures) {
        let row = pipeline.succeeded(project, *action).await;
        assert_eq!(
            row.last_error, None,
            "{project}: no error, not even retried"
        );
    }

    let rows = networks::list_all(&pipeline.pool).await.unwrap();
    assert_eq!(rows.len(), 50);
    let recorded: BTreeMap<String, String> = rows
        .iter()
        .map(|r| (r.project_id.clone(), r.subnet.clone()))
        .collect();
    let subnets: BTreeSet<Ipv4Net> = recorded.values().map(|s| s.parse().unwrap()).collect();
    assert_eq!(subnets.len(), 50, "distinct: {recorded:?}");
    let range: Ipv4Net = pool.parse().unwrap();
    for (i, a) in subnets.iter().enumerate() {
        assert!(range.contains(a), "{a} outside {range}");
        assert!(
            subnets
                .iter()
                .skip(i + 1)
                .all(|b| !a.contains(b) && !b.contains(a))
        );
    }
    // Docker has the same 50 networks with the recorded subnets: more than
    // its default pools (about 30 networks) could have given.
    let in_docker: BTreeMap<String, String> = pipeline
        .docker_networks()
        .await
        .into_iter()
        .map(|n| {
            let project = n.labels.unwrap()["ctxy.projectName"].clone();
            let subnet = n.ipam.unwrap().config.unwrap()[0].subnet.clone().unwrap();
            (project, subnet)
        })
        .collect();
    assert_eq!(in_docker, recorded);

    let deletes = publish_all(ActionKind::NetworkDelete).await;
    for (project, action) in projects.iter().zip(&deletes) {
        pipeline.succeeded(project, *action).await;
    }
    assert!(networks::list_all(&pipeline.pool).await.unwrap().is_empty());
    assert!(pipeline.docker_networks().await.is_empty());
    // Every subnet is back: the next allocation is the pool's first.
    let mut conn = pipeline.pool.acquire().await.unwrap();
    let subnets = Pipeline::worker_settings(&pool, 24).subnet_pool().unwrap();
    let again = networks::allocate(&mut conn, "proj-00", "x", &subnets)
        .await
        .unwrap();
    assert_eq!(again.subnet, format!("{}/24", range.network()));
}

#[tokio::test]
async fn an_exhausted_pool_fails_the_action_once_and_for_all() {
    let db = TestDb::new().await;
    let pipeline = Pipeline::new(db.url()).await;
    // Two subnets in all.
    let pool = random_pool(132, 23);
    let _worker = pipeline
        .spawn_worker(Pipeline::worker_settings(&pool, 24))
        .await;
    for project in ["first", "second", "third"] {
        pipeline.create_project(project).await;
    }
    for project in ["first", "second"] {
        let action = pipeline
            .publish(ActionKind::NetworkEnsure, project, None, json!({}))
            .await;
        pipeline.succeeded(project, action).await;
    }

    let action = pipeline
        .publish(ActionKind::NetworkEnsure, "third", None, json!({}))
        .await;
    let row = pipeline.finished("third", action).await;
    assert_eq!(row.status, ActionStatus::Failed);
    assert_eq!(row.error_class, Some(ErrorClass::Permanent));
    assert_eq!(row.attempts, 1, "a permanent error is not retried");
    let reason = row.last_error.unwrap();
    assert!(
        reason.contains("exhausted") && reason.contains(&pool),
        "{reason}"
    );
    assert_eq!(
        dead_letter_reason(&pipeline).await,
        reason,
        "dead-lettered with the same reason"
    );

    // A deploy there ensures the network first, and fails the same way.
    let job = pipeline.deployment_id("third", 'j', "nothing");
    let deploy = pipeline.deploy("third", &job, "job", "true").await;
    let row = pipeline.finished("third", deploy).await;
    assert_eq!(
        (row.status, row.attempts),
        (ActionStatus::Failed, 1),
        "{:?}",
        row.last_error
    );
    let failed = pipeline.deployment_status(&job, &["failed"]).await;
    assert!(
        failed["detail"].as_str().unwrap().contains("exhausted"),
        "{failed}"
    );

    // Deleting a network returns its subnet; then there is room again.
    let delete = pipeline
        .publish(ActionKind::NetworkDelete, "first", None, json!({}))
        .await;
    pipeline.succeeded("first", delete).await;
    let retry = pipeline
        .publish(ActionKind::NetworkEnsure, "third", None, json!({}))
        .await;
    pipeline.succeeded("third", retry).await;
}

/// The reason header of the first message in the dead-letter queue.
async fn dead_letter_reason(pipeline: &Pipeline) -> String {
    let conn =
        lapin::Connection::connect(pipeline.amqp_url(), lapin::ConnectionProperties::default())
            .await
            .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let queue = format!("{}dead", pipeline.common.topology_prefix);
    let message = eventually(DEADLINE, "a dead letter", || async {
        channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
    })
    .await;
    let headers = message.delivery.properties.headers().clone().unwrap();
    let reason = headers
        .inner()
        .get("x-contaxy-reason")
        .and_then(|v| v.as_long_string())
        .map(|s| s.to_string())
        .unwrap();
    let _ = conn.close(200, "done".into()).await;
    reason
}

#[tokio::test]
async fn a_detached_deployment_is_unreachable_until_attached_again() {
    let db = TestDb::new().await;
    let pipeline = Pipeline::new(db.url()).await;
    let _worker = pipeline
        .spawn_worker(Pipeline::worker_settings(&random_pool(133, 22), 24))
        .await;
    pipeline.create_project("alpha").await;
    let web = pipeline.deployment_id("alpha", 's', "web");
    let action = pipeline
        .deploy("alpha", &web, "service", &web_server("alpha"))
        .await;
    pipeline.succeeded("alpha", action).await;
    pipeline.deployment_status(&web, &["running"]).await;

    let ended = run_job(
        &pipeline,
        "alpha",
        "before",
        &format!("{}exit 0", must_reach(&web, "hi-from-alpha", 10)),
    )
    .await;
    assert_eq!(ended["status"], "succeeded", "reachable before: {ended}");

    let payload = json!({ "deployment_id": web });
    let detach = pipeline
        .publish(
            ActionKind::NetworkDisconnect,
            "alpha",
            None,
            payload.clone(),
        )
        .await;
    pipeline.succeeded("alpha", detach).await;
    assert_eq!(
        networks::attached(&pipeline.pool, "alpha").await.unwrap(),
        [pipeline.deployment_id("alpha", 'j', "before")],
        "the service is no longer recorded as attached; the ended job still is"
    );
    let ended = run_job(
        &pipeline,
        "alpha",
        "cut-off",
        &format!("{}exit 0", must_not_reach(&web, 11)),
    )
    .await;
    assert_eq!(ended["status"], "succeeded", "{ended}");

    // Twice is the same as once.
    let attach = pipeline
        .publish(ActionKind::NetworkConnect, "alpha", None, payload.clone())
        .await;
    pipeline.succeeded("alpha", attach).await;
    let again = pipeline
        .publish(ActionKind::NetworkConnect, "alpha", None, payload)
        .await;
    pipeline.succeeded("alpha", again).await;
    let ended = run_job(
        &pipeline,
        "alpha",
        "back",
        &format!("{}exit 0", must_reach(&web, "hi-from-alpha", 10)),
    )
    .await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let attached = networks::attached(&pipeline.pool, "alpha").await.unwrap();
    assert!(attached.contains(&web), "{attached:?}");
}

#[tokio::test]
async fn a_project_network_removed_outside_contaxy_is_made_again_by_a_deploy() {
    let db = TestDb::new().await;
    let pipeline = Pipeline::new(db.url()).await;
    // The worker reaches Docker through a proxy that can remove the network
    // at the worst moment: after the deploy ensured it, before the
    // container is created.
    let proxy = DockerProxy::start().await;
    let mut settings = Pipeline::worker_settings(&random_pool(138, 22), 24);
    settings.docker_host = proxy.docker_host();
    let _worker = pipeline.spawn_worker(settings).await;
    pipeline.create_project("alpha").await;
    let network = format!("{}-p-alpha-network", pipeline.namespace());
    let remove_network = {
        let network = network.clone();
        move || async move { Pipeline::docker().remove_network(&network).await.unwrap() }
    };

    proxy.before_next("POST /containers/create", remove_network.clone());
    proxy.take_requests();
    let id = pipeline.deployment_id("alpha", 'j', "during");
    let action = pipeline.deploy("alpha", &id, "job", "echo ran").await;
    let row = pipeline.succeeded("alpha", action).await;
    assert_eq!(row.attempts, 1, "made again within the attempt");
    let creates = proxy
        .take_requests()
        .into_iter()
        .filter(|request| request == "POST /containers/create")
        .count();
    assert_eq!(creates, 2, "the first container found no network");
    let ended = pipeline
        .deployment_status(&id, &["succeeded", "failed"])
        .await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let recorded = networks::find(&pipeline.pool, "alpha")
        .await
        .unwrap()
        .unwrap();
    let subnets = |networks: Vec<bollard::models::Network>| -> Vec<String> {
        networks
            .into_iter()
            .flat_map(|n| n.ipam.and_then(|i| i.config).unwrap_or_default())
            .filter_map(|c| c.subnet)
            .collect()
    };
    assert_eq!(
        subnets(pipeline.docker_networks().await),
        [recorded.subnet.as_str()],
        "one network, with the recorded subnet"
    );

    // Removed between two deploys (the engine lets a network go under a
    // stopped container, once it has released the exited job's endpoint,
    // a moment after its exit was reported): the next deploy makes it
    // again.
    eventually(DEADLINE, "the network to be removable", || async {
        Pipeline::docker().remove_network(&network).await.ok()
    })
    .await;
    assert!(pipeline.docker_networks().await.is_empty());
    let ended = run_job(&pipeline, "alpha", "after", "echo ran").await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(subnets(pipeline.docker_networks().await), [recorded.subnet]);
}

#[tokio::test]
async fn a_network_for_a_project_that_does_not_exist_is_refused() {
    let db = TestDb::new().await;
    let pipeline = Pipeline::new(db.url()).await;
    let _worker = pipeline
        .spawn_worker(Pipeline::worker_settings(&random_pool(134, 24), 24))
        .await;
    let action = pipeline
        .publish(ActionKind::NetworkEnsure, "nobody", None, json!({}))
        .await;
    let row = pipeline.finished("nobody", action).await;
    assert_eq!((row.status, row.attempts), (ActionStatus::Failed, 1));
    assert!(
        row.last_error.unwrap().contains("does not exist"),
        "a permanent error naming the cause"
    );
    assert!(
        networks::find(&pipeline.pool, "nobody")
            .await
            .unwrap()
            .is_none()
    );
    assert!(pipeline.docker_networks().await.is_empty());
}

/// Runs `iptables` with `args`; whether it succeeded.
fn iptables(args: &[&str]) -> bool {
    std::process::Command::new("iptables")
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run iptables ({e}); run scripts/provision.sh as root"))
        .success()
}

/// The host rule of `scripts/docker-isolation.sh`.
const HOST_RULE: [&str; 11] = [
    "FORWARD",
    "-i",
    "cx-+",
    "-o",
    "cx-+",
    "-m",
    "physdev",
    "!",
    "--physdev-is-bridged",
    "-j",
    "DROP",
];

/// Takes out, for the guard's life, what it puts in: filter rules that open
/// the way between two bridges, both ways (Docker's isolation momentarily
/// gone), and optionally the host rule.
struct Window {
    opened: Vec<Vec<String>>,
    host_rule_removed: bool,
}

impl Window {
    /// Accepts everything routed between bridges `a` and `b` in the
    /// `DOCKER-USER` chain, which the filter table's FORWARD consults ahead of
    /// Docker's isolation. (At the top of FORWARD itself they would not stay
    /// ahead: Docker puts its own jumps back on top at every network change,
    /// and other tests change networks all the time.)
    fn open(a: &str, b: &str) -> Self {
        let mut window = Self {
            opened: Vec::new(),
            host_rule_removed: false,
        };
        for (from, to) in [(a, b), (b, a)] {
            let rule: Vec<String> = ["DOCKER-USER", "-i", from, "-o", to, "-j", "ACCEPT"]
                .map(str::to_owned)
                .to_vec();
            let mut args = vec!["-I"];
            args.extend(rule.iter().map(String::as_str));
            assert!(iptables(&args), "cannot insert {rule:?}");
            window.opened.push(rule);
        }
        window
    }

    fn remove_host_rule(&mut self) {
        let mut args = vec!["-t", "mangle", "-D"];
        args.extend(HOST_RULE);
        assert!(iptables(&args), "cannot remove the host rule");
        self.host_rule_removed = true;
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        for rule in &self.opened {
            let mut args = vec!["-D"];
            args.extend(rule.iter().map(String::as_str));
            iptables(&args);
        }
        if self.host_rule_removed {
            let mut args = vec!["-t", "mangle", "-I"];
            args.extend(HOST_RULE);
            iptables(&args);
        }
    }
}

/// The bridge interface of a project's network.
async fn bridge_of(pipeline: &Pipeline, project: &str) -> String {
    let row = networks::find(&pipeline.pool, project)
        .await
        .unwrap()
        .unwrap();
    let inspected = Pipeline::docker()
        .inspect_network(&row.name, None)
        .await
        .unwrap();
    inspected.options.unwrap_or_default()["com.docker.network.bridge.name"].clone()
}

/// Docker 20.10 rewrites its isolation rules on every network change; a
/// connection opened in that moment would get through. The host rule of
/// `scripts/docker-isolation.sh` (mangle table, which Docker never touches)
/// keeps projects apart all the same. The moment is simulated for this
/// test's two bridges only: an ACCEPT between them ahead of Docker's rules
/// (in `DOCKER-USER`).
#[tokio::test]
async fn projects_stay_apart_while_dockers_own_isolation_rules_are_away() {
    let db = TestDb::new().await;
    let pipeline = Pipeline::new(db.url()).await;
    let _worker = pipeline
        .spawn_worker(Pipeline::worker_settings(&random_pool(137, 22), 24))
        .await;
    let webs = two_projects_with_a_web_server(&pipeline).await;
    let (alpha, beta) = (
        bridge_of(&pipeline, "alpha").await,
        bridge_of(&pipeline, "beta").await,
    );
    assert!(
        alpha.starts_with("cx-") && beta.starts_with("cx-"),
        "{alpha} {beta}"
    );
    let mut check = vec!["-t", "mangle", "-C"];
    check.extend(HOST_RULE);
    assert!(
        iptables(&check),
        "the host rule is missing: run scripts/docker-isolation.sh"
    );
    let beta_ip = address_of(&webs["beta"]).await;
    let mut window = Window::open(&alpha, &beta);

    // Within the project all is well; across, nothing gets through.
    let script = format!(
        "{}{}exit 0",
        must_reach(&webs["alpha"], "hi-from-alpha", 10),
        must_not_reach(&beta_ip, 11),
    );
    let ended = run_job(&pipeline, "alpha", "probe-ruled", &script).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");

    // Without the host rule the simulated moment does let it through: the
    // simulation is real, and the rule is what held.
    window.remove_host_rule();
    let ended = run_job(
        &pipeline,
        "alpha",
        "probe-bare",
        &format!("{}exit 0", must_reach(&beta_ip, "hi-from-beta", 13)),
    )
    .await;
    drop(window);
    assert_eq!(ended["status"], "succeeded", "{ended}");
}

#[tokio::test]
async fn deploys_in_a_project_whose_network_is_ready_do_not_wait_for_its_lock() {
    let db = TestDb::new().await;
    let pipeline = Pipeline::new(db.url()).await;
    let _worker = pipeline
        .spawn_worker(Pipeline::worker_settings(&random_pool(140, 22), 24))
        .await;
    pipeline.create_project("alpha").await;
    let first = run_job(&pipeline, "alpha", "first", "echo ran").await;
    assert_eq!(first["status"], "succeeded", "{first}");

    // Someone holds the project's network lock (a delete or the sweep at
    // work on it): a deploy that finds the network recorded ready reads
    // the row and goes on; it used to wait for the lock.
    let held = NetworkLock::acquire(&pipeline.pool, "alpha")
        .await
        .expect("the project's network lock");
    let id = pipeline.deployment_id("alpha", 'j', "second");
    let action = pipeline.deploy("alpha", &id, "job", "echo ran").await;
    let row = tokio::time::timeout(DEADLINE / 2, pipeline.succeeded("alpha", action))
        .await
        .expect("the deploy did not wait for the lock");
    assert_eq!(row.attempts, 1);
    held.unlock().await.expect("unlock");
}
