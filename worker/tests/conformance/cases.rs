//! The cases, each an async function of a [`Subject`]: what every backend
//! of `Runtime` must do the same way. Waits are on conditions with the
//! subject's deadline, never on time.

use chrono::{DateTime, Utc};
use contaxy_tests::eventually;
use contaxy_worker::runtime::{
    DeleteOptions, DeploymentRef, DeploymentStatus, DeploymentType, Endpoint, LogOptions,
    RuntimeError,
};
use futures::StreamExt;

use super::{IDLE, Subject};

/// The backend names itself and reports a capacity deployments are checked
/// against.
pub async fn the_runtime_reports_its_backend_and_capacity(s: &Subject) {
    assert!(
        ["docker", "kubernetes"].contains(&s.runtime.backend()),
        "{}",
        s.runtime.backend()
    );
    let capacity = s.runtime.capacity();
    assert!(capacity.cpus > 0.0, "{capacity:?}");
    assert!(capacity.memory_bytes > 0, "{capacity:?}");
}

/// A job runs to its end, failed with its exit code; its logs can be read
/// whole, by their last lines and from a time; a redelivered deploy adopts
/// it and does not run it again.
pub async fn a_job_ends_with_its_exit_code_and_its_logs_can_be_cut(s: &Subject) {
    let spec = s.spec(
        "alpha",
        DeploymentType::Job,
        "count",
        "echo early; echo line-1; echo line-2; sleep 3; echo late; exit 3",
    );
    let target = spec.target();
    let deployed = s.deploy(&spec).await.expect("deployed");
    assert!(!deployed.adopted);
    assert_eq!(deployed.state.deployment_id, spec.deployment_id);
    assert_eq!(deployed.state.kind, DeploymentType::Job);

    let ended = s
        .wait_for(&target, "the job to end", |state| state.status.is_final())
        .await;
    assert_eq!(
        (ended.status, ended.exit_code),
        (DeploymentStatus::Failed, Some(3)),
        "{ended:?}"
    );
    assert_eq!(ended.display_name, "count");

    let all = s.logs(&target, LogOptions::default()).await;
    assert_eq!(all, "early\nline-1\nline-2\nlate\n");
    let last_two = LogOptions {
        lines: Some(2),
        ..LogOptions::default()
    };
    assert_eq!(s.logs(&target, last_two).await, "line-2\nlate\n");

    // `since`: two seconds after `early` was written, one before `late`
    // (both backends count `since` in whole seconds).
    let stamped = LogOptions {
        timestamps: true,
        ..LogOptions::default()
    };
    let stamped = s.logs(&target, stamped).await;
    let early_at = stamped
        .lines()
        .find_map(|line| {
            let (at, text) = line.split_once(' ')?;
            (text == "early").then(|| at.parse::<DateTime<Utc>>().expect("an RFC 3339 time"))
        })
        .unwrap_or_else(|| panic!("no stamped `early` in {stamped:?}"));
    let since = LogOptions {
        since: Some(early_at + chrono::Duration::seconds(2)),
        ..LogOptions::default()
    };
    assert_eq!(s.logs(&target, since).await, "late\n");

    let redelivered = s.deploy(&spec).await.expect("redelivered");
    assert!(redelivered.adopted, "a job that ran is adopted");
    let after = s.runtime.status(&target).await.expect("status");
    assert_eq!(
        after.map(|state| state.status),
        Some(DeploymentStatus::Failed)
    );
    assert_eq!(
        s.logs(&target, LogOptions::default()).await,
        all,
        "not run again"
    );
}

/// A followed log yields lines written after it was opened, and ends when
/// the deployment stops.
pub async fn a_followed_log_yields_new_output_and_ends_when_stopped(s: &Subject) {
    let spec = s.spec(
        "alpha",
        DeploymentType::Service,
        "ticker",
        "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1 & wait; done",
    );
    let target = spec.target();
    s.deploy(&spec).await.expect("deployed");
    s.wait_for_output(&target, "tick-1\n").await;

    let follow = LogOptions {
        follow: true,
        lines: Some(1),
        ..LogOptions::default()
    };
    let mut stream = s.runtime.logs(&target, follow).await.expect("following");
    let mut text = String::new();
    let ticks = |text: &str| -> Vec<u32> {
        text.lines()
            .filter_map(|line| line.strip_prefix("tick-")?.parse().ok())
            .collect()
    };
    tokio::time::timeout(s.deadline, async {
        // The newest line, then two written after the stream was opened.
        while ticks(&text).len() < 3 {
            let chunk = stream.next().await.expect("the stream stays open");
            text.push_str(&chunk.expect("a chunk").text());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no new ticks while following: {text:?}"));
    let seen = ticks(&text);
    assert!(
        seen.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "consecutive, without the history before the last line: {seen:?}"
    );

    s.runtime.stop(&target).await.expect("stopped");
    tokio::time::timeout(s.deadline, async {
        while let Some(chunk) = stream.next().await {
            chunk.expect("a chunk");
        }
    })
    .await
    .expect("the followed stream ends once the deployment stopped");
}

/// A service runs with its endpoint and its API token (a Secret reference
/// on Kubernetes), a redelivered deploy adopts it without a second one,
/// and stop and start (each twice) move it between stopped and running.
pub async fn a_service_is_adopted_on_redelivery_and_stopped_and_started(s: &Subject) {
    let mut spec = s.spec(
        "alpha",
        DeploymentType::Service,
        "web",
        &format!("echo token=$CONTAXY_API_TOKEN; httpd -p 8080; {IDLE}"),
    );
    spec.endpoints = vec![Endpoint::parse("8080").expect("an endpoint")];
    spec.env.insert(
        "CONTAXY_API_TOKEN".to_owned(),
        "conformance-token".to_owned(),
    );
    let target = spec.target();
    let deployed = s.deploy(&spec).await.expect("deployed");
    assert!(!deployed.adopted);
    assert_eq!(deployed.state.kind, DeploymentType::Service);
    let running = s
        .wait_for(&target, "running", |state| {
            state.status == DeploymentStatus::Running
        })
        .await;
    assert_eq!(running.display_name, "web");
    s.wait_for_output(&target, "token=conformance-token\n")
        .await;

    let redelivered = s.deploy(&spec).await.expect("redelivered");
    assert!(redelivered.adopted);
    let listed: Vec<String> = s
        .runtime
        .list(Some("alpha"))
        .await
        .expect("listed")
        .into_iter()
        .map(|state| state.deployment_id)
        .collect();
    assert_eq!(listed, [spec.deployment_id.clone()], "no second deployment");
    s.wait_for(&target, "running after the redelivery", |state| {
        state.status == DeploymentStatus::Running
    })
    .await;

    s.runtime.stop(&target).await.expect("stopped");
    s.wait_for(&target, "stopped", |state| state.status.is_final())
        .await;
    s.runtime
        .stop(&target)
        .await
        .expect("stopping a stopped one");
    let still = s.runtime.status(&target).await.expect("status");
    assert!(
        still.is_some_and(|state| state.status != DeploymentStatus::Running),
        "still stopped"
    );

    s.runtime.start(&target).await.expect("started");
    s.wait_for(&target, "running again", |state| {
        state.status == DeploymentStatus::Running
    })
    .await;
    s.runtime
        .start(&target)
        .await
        .expect("starting a running one");
    let again = s.runtime.status(&target).await.expect("status");
    assert_eq!(
        again.map(|state| state.status),
        Some(DeploymentStatus::Running)
    );

    // Tenancy: the same id asked for in another project is missing.
    let elsewhere = DeploymentRef::new("beta", &spec.deployment_id);
    assert_eq!(s.runtime.status(&elsewhere).await.expect("status"), None);
}

/// Deleting removes a job and a service; deleting again, or what never
/// existed, succeeds; stopping what is gone is `NotFound`.
pub async fn deleting_is_idempotent(s: &Subject) {
    let job = s.spec("alpha", DeploymentType::Job, "brief", "echo done");
    let service = s.spec(
        "alpha",
        DeploymentType::Service,
        "gone",
        &format!("echo up; {IDLE}"),
    );
    s.deploy(&job).await.expect("job deployed");
    s.deploy(&service).await.expect("service deployed");
    s.wait_for(&job.target(), "the job to end", |state| {
        state.status == DeploymentStatus::Succeeded
    })
    .await;

    let everything = DeleteOptions {
        delete_volumes: true,
    };
    for spec in [&job, &service] {
        let target = spec.target();
        s.runtime
            .delete(&target, everything)
            .await
            .expect("deleted");
        assert_eq!(s.runtime.status(&target).await.expect("status"), None);
        s.runtime
            .delete(&target, everything)
            .await
            .expect("deleting what is gone succeeds");
        let error = s.runtime.stop(&target).await.expect_err("gone");
        assert!(matches!(error, RuntimeError::NotFound { .. }), "{error:?}");
    }
    let never = DeploymentRef::new("alpha", s.id("alpha", DeploymentType::Job, "never"));
    s.runtime
        .delete(&never, DeleteOptions::default())
        .await
        .expect("deleting what never existed succeeds");
    eventually(s.deadline, "nothing listed", || async {
        s.runtime
            .list(Some("alpha"))
            .await
            .expect("listed")
            .is_empty()
            .then_some(())
    })
    .await;
}

/// A deploy before its project's network is `NetworkMissing` and leaves
/// nothing behind.
pub async fn a_deploy_without_its_network_is_network_missing(s: &Subject) {
    let spec = s.spec("delta", DeploymentType::Job, "early", "echo never");
    let error = s.runtime.deploy(&spec).await.expect_err("no network");
    assert!(
        matches!(error, RuntimeError::NetworkMissing { .. }),
        "{error:?}"
    );
    assert_eq!(
        s.runtime.status(&spec.target()).await.expect("status"),
        None
    );
    assert!(
        s.runtime
            .list(Some("delta"))
            .await
            .expect("list")
            .is_empty()
    );
}

/// Whether the project's network lists the deployment as attached.
async fn attached(s: &Subject, network: &str, deployment_id: &str) -> bool {
    s.runtime
        .list_networks()
        .await
        .expect("networks listed")
        .into_iter()
        .find(|info| info.name == network)
        .is_some_and(|info| info.containers.iter().any(|c| c == deployment_id))
}

/// A project network is ensured idempotently and listed; a deployment in
/// it is disconnected and connected again (each twice); the network is
/// in use while the deployment exists and is removed (twice) after.
pub async fn networks_are_ensured_connected_disconnected_and_removed(s: &Subject) {
    let project = "gamma";
    let first = s
        .runtime
        .ensure_network(project, None)
        .await
        .expect("ensured");
    let second = s
        .runtime
        .ensure_network(project, None)
        .await
        .expect("again");
    assert_eq!((&first.name, &first.id), (&second.name, &second.id));
    assert_eq!(first.project_id, project);
    let listed = s.runtime.list_networks().await.expect("listed");
    assert!(
        listed
            .iter()
            .any(|info| info.name == first.name && info.project_id == project),
        "{listed:?}"
    );

    let spec = s.spec(
        project,
        DeploymentType::Service,
        "peer",
        &format!("echo up; {IDLE}"),
    );
    let target = spec.target();
    s.runtime.deploy(&spec).await.expect("deployed");
    s.wait_for(&target, "running", |state| {
        state.status == DeploymentStatus::Running
    })
    .await;
    assert!(attached(s, &first.name, &spec.deployment_id).await);

    s.runtime
        .disconnect_network(&target)
        .await
        .expect("disconnected");
    s.runtime
        .disconnect_network(&target)
        .await
        .expect("disconnecting a disconnected one");
    eventually(s.deadline, "the deployment detached", || async {
        (!attached(s, &first.name, &spec.deployment_id).await).then_some(())
    })
    .await;

    s.runtime.connect_network(&target).await.expect("connected");
    s.runtime
        .connect_network(&target)
        .await
        .expect("connecting a connected one");
    eventually(s.deadline, "the deployment attached again", || async {
        attached(s, &first.name, &spec.deployment_id)
            .await
            .then_some(())
    })
    .await;
    s.wait_for(&target, "running while connected", |state| {
        state.status == DeploymentStatus::Running
    })
    .await;

    let missing = DeploymentRef::new(project, s.id(project, DeploymentType::Job, "absent"));
    s.runtime
        .disconnect_network(&missing)
        .await
        .expect("disconnecting a missing one");
    let error = s
        .runtime
        .connect_network(&missing)
        .await
        .expect_err("missing");
    assert!(matches!(error, RuntimeError::NotFound { .. }), "{error:?}");

    let error = s.runtime.delete_network(project).await.expect_err("in use");
    assert!(
        matches!(error, RuntimeError::NetworkInUse { .. }),
        "{error:?}"
    );
    s.runtime
        .delete(&target, DeleteOptions::default())
        .await
        .expect("deleted");
    eventually(s.deadline, "the network removed", || async {
        match s.runtime.delete_network(project).await {
            Ok(()) => Some(()),
            Err(RuntimeError::NetworkInUse { .. }) => None,
            Err(error) => panic!("{error:?}"),
        }
    })
    .await;
    s.runtime
        .delete_network(project)
        .await
        .expect("removing a removed network");
    eventually(s.deadline, "the network unlisted", || async {
        let networks = s.runtime.list_networks().await.expect("listed");
        (!networks.iter().any(|info| info.name == first.name)).then_some(())
    })
    .await;
}

/// A deployment's volume is listed; it is not removed while in use, is
/// kept when its deployment is deleted without it, and is removed (twice)
/// once unused.
pub async fn volumes_are_listed_and_removed_once_unused(s: &Subject) {
    let project = "epsilon";
    let mut spec = s.spec(
        project,
        DeploymentType::Service,
        "store",
        &format!("echo kept > /data/file; {IDLE}"),
    );
    spec.volume_path = Some("/data".to_owned());
    spec.max_volume_size_mb = Some(16);
    let target = spec.target();
    s.deploy(&spec).await.expect("deployed");
    s.wait_for(&target, "running", |state| {
        state.status == DeploymentStatus::Running
    })
    .await;

    let volumes = s.runtime.list_volumes(Some(project)).await.expect("listed");
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    let volume = volumes[0].clone();
    assert_eq!(volume.project_id, project);
    let everywhere = s.runtime.list_volumes(None).await.expect("listed");
    assert!(
        everywhere
            .iter()
            .any(|v| v.name == volume.name && v.project_id == project),
        "{everywhere:?}"
    );
    assert!(
        s.runtime
            .list_volumes(Some("zeta"))
            .await
            .expect("listed")
            .is_empty()
    );
    assert!(
        !s.runtime.remove_volume(&volume.name).await.expect("asked"),
        "a volume in use stays"
    );

    s.runtime
        .delete(&target, DeleteOptions::default())
        .await
        .expect("deleted without its volume");
    // By name: Docker's local driver reports a volume's creation time from
    // its directory's modification time, which moves.
    let kept: Vec<String> = s
        .runtime
        .list_volumes(Some(project))
        .await
        .expect("listed")
        .into_iter()
        .map(|volume| volume.name)
        .collect();
    assert_eq!(kept, std::slice::from_ref(&volume.name), "kept on purpose");
    eventually(s.deadline, "the unused volume removed", || async {
        s.runtime
            .remove_volume(&volume.name)
            .await
            .expect("asked")
            .then_some(())
    })
    .await;
    eventually(s.deadline, "the volume unlisted", || async {
        s.runtime
            .list_volumes(Some(project))
            .await
            .expect("listed")
            .is_empty()
            .then_some(())
    })
    .await;
    assert!(
        s.runtime.remove_volume(&volume.name).await.expect("asked"),
        "a removed volume counts as removed"
    );
}

/// A script that fetches `http://{host}:8080/` until it answers (then
/// prints the page and exits 0), or exits 1 after about a minute.
fn fetch_until_reached(host: &str) -> String {
    format!(
        "for i in $(seq 1 40); do timeout 3 wget -q -O- http://{host}:8080/ && exit 0; sleep 1; done; exit 1"
    )
}

/// A script that fetches `http://{host}:8080/` until it fails three times
/// in a row (then prints `unreachable` and exits 0), or exits 1 after
/// about a minute: a change of policy may take a moment to apply.
fn fetch_until_unreachable(host: &str) -> String {
    format!(
        "n=0; for i in $(seq 1 40); do \
           if timeout 3 wget -q -O- http://{host}:8080/ >/dev/null 2>&1; then n=0; \
           else n=$((n+1)); if [ $n -ge 3 ]; then echo unreachable; exit 0; fi; fi; \
           sleep 1; done; exit 1"
    )
}

/// Runs `script` as a job of `project` and asserts it succeeded; its logs.
async fn probe(s: &Subject, project: &str, slug: &str, script: &str) -> String {
    let spec = s.spec(project, DeploymentType::Job, slug, script);
    s.deploy(&spec).await.expect("probe deployed");
    let state = s
        .wait_for(&spec.target(), "the probe to end", |state| {
            state.status.is_final()
        })
        .await;
    let logs = s.logs(&spec.target(), LogOptions::default()).await;
    assert_eq!(
        state.status,
        DeploymentStatus::Succeeded,
        "{slug}: exit {:?}: {logs}",
        state.exit_code
    );
    logs
}

/// A service is reached by name from its own project and not from
/// another; disconnected, not even from its own; connected again, it is.
pub async fn isolation_follows_the_project_and_disconnection(s: &Subject) {
    let project = "iota";
    let mut web = s.spec(
        project,
        DeploymentType::Service,
        "web",
        &format!(
            "mkdir -p /tmp/www && echo hi-from-web > /tmp/www/index.html && httpd -p 8080 -h /tmp/www; {IDLE}"
        ),
    );
    web.endpoints = vec![Endpoint::parse("8080").expect("an endpoint")];
    let target = web.target();
    s.deploy(&web).await.expect("deployed");
    s.wait_for(&target, "running", |state| {
        state.status == DeploymentStatus::Running
    })
    .await;
    let host = &web.deployment_id;

    let logs = probe(s, project, "near", &fetch_until_reached(host)).await;
    assert!(logs.contains("hi-from-web"), "{logs}");

    let elsewhere = (s.host_from_elsewhere)(&s.namespace, project, host);
    let logs = probe(s, "kappa", "far", &fetch_until_unreachable(&elsewhere)).await;
    assert!(!logs.contains("hi-from-web"), "{logs}");

    s.runtime
        .disconnect_network(&target)
        .await
        .expect("disconnected");
    let logs = probe(s, project, "cut", &fetch_until_unreachable(host)).await;
    assert!(logs.lines().any(|line| line == "unreachable"), "{logs}");

    s.runtime.connect_network(&target).await.expect("connected");
    let logs = probe(s, project, "back", &fetch_until_reached(host)).await;
    assert!(logs.contains("hi-from-web"), "{logs}");
}
