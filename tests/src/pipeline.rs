//! The action pipeline for tests that need workers and Docker: one database
//! (the caller's), a broker prefix and a runtime namespace of its own,
//! actions published as another system would publish them, and their rows
//! awaited. Everything labelled with the namespace is removed from Docker
//! when the pipeline is dropped, also after a failed assertion.

use bollard::Docker;
use bollard::query_parameters::ListNetworksOptions;
use contaxy_common::broker::Broker;
use contaxy_common::config::CommonConfig;
use contaxy_common::domain::action::{Action, ActionKind};
use contaxy_common::message::ActionMessage;
use contaxy_common::publisher::Publisher;
use contaxy_common::store::actions::{self, ActionRecord};
use contaxy_common::topology::Topology;
use contaxy_worker::WorkerSettings;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::{insert_project, migrated_pool};
use crate::docker::{DockerNamespaceGuard, fresh_namespace, namespace_filter};
use crate::{DEADLINE, IMAGE, Spawned, common_config, eventually, spawn_worker};

/// Publishes actions for workers started on the same broker prefix,
/// database and namespace.
#[derive(Debug)]
pub struct Pipeline {
    /// The shared settings of every worker it starts.
    pub common: CommonConfig,
    /// A pool on the database, for assertions.
    pub pool: PgPool,
    publisher: Publisher,
    shutdown: CancellationToken,
    _docker: DockerNamespaceGuard,
}

impl Pipeline {
    /// A pipeline on the database at `database_url`, whose migrations it
    /// applies, with a fresh prefix and namespace.
    pub async fn new(database_url: &str) -> Self {
        Self::with_common(common_config(database_url)).await
    }

    /// A pipeline on `api`'s database and broker prefix (so what the API
    /// publishes reaches this pipeline's workers), with its own namespace.
    pub async fn sharing(api: &crate::api::TestApi) -> Self {
        Self::with_common(api.common.clone()).await
    }

    async fn with_common(mut common: CommonConfig) -> Self {
        common.namespace = fresh_namespace("t");
        // Each network action holds a connection for its project's lock.
        common.database_max_connections = 12;
        // The test's own pool: `PgPool::connect`'s default of ten.
        let pool = migrated_pool(common.database_url.expose_secret(), 10).await;
        let shutdown = CancellationToken::new();
        let topology = Topology::new(&common.topology_prefix);
        let broker = Broker::start(
            &common.amqp_url,
            "contaxy-test",
            topology.clone(),
            shutdown.clone(),
        );
        // Connected means the topology is declared: nothing published
        // from here on is dropped for want of a queue.
        tokio::time::timeout(DEADLINE, broker.connected())
            .await
            .expect("RabbitMQ is reachable (scripts/provision.sh rabbitmq)");
        Self {
            _docker: DockerNamespaceGuard(common.namespace.clone()),
            common,
            pool,
            publisher: Publisher::new(broker, topology),
            shutdown,
        }
    }

    /// The RabbitMQ URL, for tests that read queues themselves.
    pub fn amqp_url(&self) -> &str {
        self.common.amqp_url.expose_secret()
    }

    /// The runtime namespace of its workers.
    pub fn namespace(&self) -> &str {
        &self.common.namespace
    }

    /// Worker settings with the given subnet pool.
    pub fn worker_settings(network_pool: &str, prefix_len: u8) -> WorkerSettings {
        WorkerSettings {
            network_pool: network_pool.to_owned(),
            network_prefix_len: prefix_len,
            ..WorkerSettings::default()
        }
    }

    /// Starts a worker on this pipeline.
    pub async fn spawn_worker(&self, settings: WorkerSettings) -> Spawned {
        spawn_worker(self.common.clone(), settings)
            .await
            .expect("the worker starts")
    }

    /// Records a project directly (as the API would have).
    pub async fn create_project(&self, id: &str) {
        insert_project(&self.pool, id).await;
    }

    /// A deployment id as the API makes them.
    pub fn deployment_id(&self, project: &str, letter: char, slug: &str) -> String {
        crate::runtime::deployment_id(self.namespace(), project, letter, slug)
    }

    /// Publishes an action as another system would; returns its id.
    pub async fn publish(
        &self,
        kind: ActionKind,
        project: &str,
        resource_id: Option<&str>,
        payload: Value,
    ) -> Uuid {
        let message = ActionMessage {
            action_id: Uuid::now_v7(),
            project_id: project.to_owned(),
            action: Action::parse(kind, resource_id, &payload).expect("a valid action"),
            idempotency_key: None,
            requested_by: Some("tester".to_owned()),
        };
        self.publisher
            .publish_action(&message, 1)
            .await
            .expect("RabbitMQ takes the action");
        message.action_id
    }

    /// Publishes a `deployment.deploy` of a busybox container running
    /// `script`; returns the action id.
    pub async fn deploy(&self, project: &str, id: &str, kind: &str, script: &str) -> Uuid {
        let payload = json!({
            "deployment_type": kind,
            "input": {
                "container_image": IMAGE,
                "display_name": id.rsplit('-').next().map(|s| format!("test {s}")),
                "command": ["/bin/sh", "-c"],
                "args": [script],
                "compute": {"min_cpus": 0.1, "min_memory": 16, "max_memory": 64},
            }
        });
        self.publish(ActionKind::DeploymentDeploy, project, Some(id), payload)
            .await
    }

    /// Waits until the action has ended and returns its row.
    pub async fn finished(&self, project: &str, id: Uuid) -> ActionRecord {
        eventually(DEADLINE, &format!("action {id} to end"), || async {
            actions::get(&self.pool, project, id)
                .await
                .expect("read the action")
                .filter(|row| row.status.is_final())
        })
        .await
    }

    /// Waits until the action has succeeded, failing with its error if it
    /// failed instead.
    pub async fn succeeded(&self, project: &str, id: Uuid) -> ActionRecord {
        let row = self.finished(project, id).await;
        assert_eq!(
            row.status,
            contaxy_common::domain::action::ActionStatus::Succeeded,
            "{} of {project}: {:?}",
            row.kind,
            row.last_error
        );
        row
    }

    /// Waits until the deployment's recorded status is one of `statuses`;
    /// returns `{"status", "exit_code", "detail"}`.
    pub async fn deployment_status(&self, id: &str, statuses: &[&str]) -> Value {
        eventually(
            DEADLINE,
            &format!("{id} to be one of {statuses:?}"),
            || async {
                let row: Option<(String, Option<i32>, Option<String>)> = sqlx::query_as(
                    "SELECT status, exit_code, status_detail FROM deployments WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .expect("read the deployment");
                row.filter(|(s, _, _)| statuses.contains(&s.as_str())).map(
                    |(s, code, detail)| json!({"status": s, "exit_code": code, "detail": detail}),
                )
            },
        )
        .await
    }

    /// The Docker client the test inspects the engine with.
    pub fn docker() -> Docker {
        crate::docker::client()
    }

    /// Networks of this namespace in Docker, by project label.
    pub async fn docker_networks(&self) -> Vec<bollard::models::Network> {
        Self::docker()
            .list_networks(Some(ListNetworksOptions {
                filters: Some(namespace_filter(self.namespace())),
            }))
            .await
            .expect("list networks")
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
