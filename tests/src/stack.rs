//! The whole pipeline for one test: an API, N workers and optionally the
//! scheduler, sharing one fresh database, one topology prefix and one
//! runtime namespace, so tests run in parallel without seeing each other.
//!
//! Dropping a [`Stack`] stops its binaries, removes every container, volume
//! and network labelled with its namespace (also after a failed test), and
//! deletes its exchanges and queues.

use std::process::Command;

use contaxy_common::config::CommonConfig;
use contaxy_common::domain::action::ActionFamily;
use contaxy_common::store::quotas::Quotas;
use contaxy_common::topology::Topology;
use contaxy_scheduler::SchedulerSettings;
use contaxy_worker::WorkerSettings;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{Answer, TestApi};
use crate::broker::{TestBroker, delete_topology_blocking};
use crate::docker::{fresh_namespace, remove_docker_namespace};
use crate::{
    DEADLINE, IMAGE, Spawned, TestDb, common_config, eventually, spawn_scheduler, spawn_worker,
};

/// The project every stack creates.
pub const PROJECT: &str = "alpha";

/// What to start.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Workers to start (each waits until `/readyz` is 200).
    pub workers: usize,
    /// Their settings (the listen address is chosen by the harness).
    pub worker: WorkerSettings,
    /// The scheduler's settings, if one is started.
    pub scheduler: Option<SchedulerSettings>,
    /// Another RabbitMQ URL for the API only (one nothing listens on, say).
    pub api_amqp_url: Option<String>,
    /// Per-tenant limits for the API and the workers (the defaults if
    /// `None`).
    pub quotas: Option<Quotas>,
    /// The API's `CONTAXY_API_WAIT_BY_DEFAULT`.
    pub api_wait_by_default: bool,
    /// `CONTAXY_API_CONTAXY_STATUSES` for the API.
    pub api_contaxy_statuses: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            worker: WorkerSettings::default(),
            scheduler: None,
            api_amqp_url: None,
            quotas: None,
            api_wait_by_default: false,
            api_contaxy_statuses: false,
        }
    }
}

/// A running pipeline. Fields drop in order: binaries first, then the
/// namespace's runtime objects and the broker topology, then the database.
#[derive(Debug)]
pub struct Stack {
    /// The workers started so far.
    pub workers: Vec<Spawned>,
    /// The scheduler, if started.
    pub scheduler: Option<Spawned>,
    /// The settings every binary shares (database, prefix, namespace).
    pub common: CommonConfig,
    /// The test's view of RabbitMQ.
    pub broker: TestBroker,
    /// The subnet pool of this stack's workers when their settings keep
    /// the default one (see [`crate::subnets::stack_pool`]).
    network_pool: String,
    guard: NamespaceGuard,
    /// The API (owns the database).
    pub api: TestApi,
}

impl Stack {
    /// An API and one worker.
    pub async fn start() -> Self {
        Self::start_with(StackOptions::default()).await
    }

    /// Starts what `options` says, creates [`PROJECT`], and waits until
    /// everything is ready.
    pub async fn start_with(options: StackOptions) -> Self {
        let db = TestDb::new().await;
        let mut common = common_config(db.url());
        common.namespace = fresh_namespace("t");
        if let Some(quotas) = options.quotas {
            common.max_deployments_per_project = quotas.max_deployments_per_project;
            common.max_running_per_project = quotas.max_running_per_project;
            common.max_projects_per_user = quotas.max_projects_per_user;
        }
        let mut api_common = common.clone();
        if let Some(url) = &options.api_amqp_url {
            api_common.amqp_url = url.clone().into();
        }
        let guard = NamespaceGuard {
            namespace: common.namespace.clone(),
            topology: Topology::new(&common.topology_prefix),
        };
        let wait_by_default = options.api_wait_by_default;
        let contaxy_statuses = options.api_contaxy_statuses;
        let api = TestApi::spawn_on(db, api_common, move |settings| {
            settings.api_wait_by_default = wait_by_default;
            settings.api_contaxy_statuses = contaxy_statuses;
            // A worker answers logs requests here; give it time.
            settings.api_logs_timeout_ms = 10_000;
            settings.api_rate_limit_per_second = 0;
            // Schedule tests fire every second.
            settings.schedule_min_interval_secs = 1;
        })
        .await;
        if options.api_amqp_url.is_some() {
            api.wait_database_ready().await;
        } else {
            api.wait_ready().await;
        }
        api.create_project(PROJECT).await;
        let mut stack = Self {
            workers: Vec::new(),
            scheduler: None,
            broker: TestBroker::connect(guard.topology.clone()).await,
            network_pool: crate::subnets::stack_pool(),
            common,
            guard,
            api,
        };
        for _ in 0..options.workers {
            stack.add_worker(options.worker.clone()).await;
        }
        if let Some(settings) = options.scheduler {
            stack.add_scheduler(settings).await;
        }
        stack
    }

    /// The runtime namespace of this stack.
    pub fn namespace(&self) -> &str {
        &self.guard.namespace
    }

    /// The topology of this stack.
    pub fn topology(&self) -> &Topology {
        &self.guard.topology
    }

    /// Starts one more worker and waits until it is ready.
    pub async fn add_worker(&mut self, mut settings: WorkerSettings) -> &Spawned {
        // Stacks run side by side, each allocating from the start of its
        // pool: on the default one they would all meet on its first subnets.
        if settings.network_pool == WorkerSettings::default().network_pool {
            settings.network_pool.clone_from(&self.network_pool);
        }
        let worker = spawn_worker(self.common.clone(), settings)
            .await
            .expect("a worker starts");
        worker.wait_ready("a worker").await;
        self.workers.push(worker);
        self.workers.last().expect("just pushed")
    }

    /// Starts the scheduler and waits until it is ready.
    pub async fn add_scheduler(&mut self, settings: SchedulerSettings) {
        let scheduler = spawn_scheduler(self.common.clone(), settings)
            .await
            .expect("the scheduler starts");
        scheduler.wait_ready("the scheduler").await;
        self.scheduler = Some(scheduler);
    }

    /// `method path` as the admin.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        self.api
            .call(method, path, Some(&self.api.admin), body)
            .await
    }

    /// Submits a deployment (`kind`: `jobs` or `services`); asserts 202 and
    /// returns the deployment as answered.
    pub async fn submit(&self, kind: &str, body: &Value) -> Value {
        let answer = self
            .call(
                Method::POST,
                &format!("/projects/{PROJECT}/{kind}"),
                Some(body),
            )
            .await;
        assert_eq!(answer.status, 202, "submit a {kind}: {:?}", answer.body);
        answer.body
    }

    /// An action as the API shows it.
    pub async fn action(&self, action_id: &str) -> Value {
        self.try_action(action_id)
            .await
            .unwrap_or_else(|| panic!("action {action_id} is not recorded"))
    }

    /// Deletes a deployment as the admin (`query` after `?`, may be empty):
    /// asserts 202 and waits until the delete action has succeeded.
    pub async fn delete(&self, kind: &str, id: &str, query: &str) {
        let answer = self
            .call(
                Method::DELETE,
                &format!("/projects/{PROJECT}/{kind}/{id}?{query}"),
                None,
            )
            .await;
        assert_eq!(answer.status, 202, "delete {id}: {:?}", answer.body);
        let action_id = answer.body["action_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no action_id in {:?}", answer.body));
        self.wait_action(action_id, "succeeded").await;
    }

    /// An action as the API shows it; `None` while it has no row (an action
    /// published straight to the broker is recorded by the worker).
    pub async fn try_action(&self, action_id: &str) -> Option<Value> {
        let answer = self
            .call(
                Method::GET,
                &format!("/projects/{PROJECT}/actions/{action_id}"),
                None,
            )
            .await;
        if answer.status == 404 {
            return None;
        }
        assert_eq!(answer.status, 200, "get action: {:?}", answer.body);
        Some(answer.body)
    }

    /// Waits until the action's status is `status`; returns it. Panics at
    /// once if it ends otherwise.
    pub async fn wait_action(&self, action_id: &str, status: &str) -> Value {
        eventually(
            DEADLINE,
            &format!("action {action_id} to be {status}"),
            || async {
                let action = self.try_action(action_id).await?;
                let final_other = ["succeeded", "failed", "cancelled"]
                    .contains(&action["status"].as_str().unwrap_or_default())
                    && action["status"] != status;
                assert!(!final_other, "the action ended otherwise: {action}");
                (action["status"] == status).then_some(action)
            },
        )
        .await
    }

    /// A deployment (`kind`: `jobs` or `services`) as the API answers.
    pub async fn deployment(&self, kind: &str, id: &str) -> Answer {
        self.call(
            Method::GET,
            &format!("/projects/{PROJECT}/{kind}/{id}"),
            None,
        )
        .await
    }

    /// Waits until `check` holds for the deployment; returns it.
    pub async fn wait_deployment(
        &self,
        kind: &str,
        id: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(DEADLINE, &format!("{id} {what}"), || async {
            let answer = self.deployment(kind, id).await;
            (answer.status == 200 && check(&answer.body)).then_some(answer.body)
        })
        .await
    }

    /// Waits until the deployment's status is `status`.
    pub async fn wait_status(&self, kind: &str, id: &str, status: &str) -> Value {
        self.wait_deployment(kind, id, &format!("to be {status}"), |d| {
            d["status"] == status
        })
        .await
    }

    /// A deployment's logs (`kind`: `jobs` or `services`; `query` without
    /// the `?`): the status and the text.
    pub async fn logs(&self, kind: &str, id: &str, query: &str) -> (u16, String) {
        let path = format!("/projects/{PROJECT}/{kind}/{id}/logs?{query}");
        let response = reqwest::Client::new()
            .get(self.api.app.url(&path))
            .bearer_auth(&self.api.admin)
            // The output as it is (without, it is a JSON string).
            .header("accept", "text/plain")
            .send()
            .await
            .expect("the API answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a text body"))
    }

    /// The token a deployment printed as a line `token=…` (its
    /// `CONTAXY_API_TOKEN`), once its logs hold it.
    pub async fn printed_token(&self, kind: &str, id: &str) -> String {
        eventually(DEADLINE, "the deployment to print its token", || async {
            let (status, text) = self.logs(kind, id, "").await;
            if status != 200 {
                return None;
            }
            text.lines()
                .find_map(|line| line.trim().strip_prefix("token="))
                .map(str::to_owned)
        })
        .await
    }

    /// The ids of the containers of this namespace (all, or one
    /// deployment's).
    pub async fn containers(&self, deployment_id: Option<&str>) -> Vec<String> {
        let mut filters = vec![format!("label=ctxy.namespace={}", self.namespace())];
        if let Some(id) = deployment_id {
            filters.push(format!("label=ctxy.deploymentId={id}"));
        }
        docker_ids(&["ps", "-aq", "--no-trunc"], filters).await
    }

    /// The names of one deployment's volumes.
    pub async fn volumes(&self, deployment_id: &str) -> Vec<String> {
        let filters = vec![
            format!("label=ctxy.namespace={}", self.namespace()),
            format!("label=ctxy.deploymentId={deployment_id}"),
        ];
        docker_ids(&["volume", "ls", "-q"], filters).await
    }

    /// Ready messages in the deployment work queue.
    pub async fn work_queue_len(&self) -> u32 {
        let queue = self.topology().work_queue(ActionFamily::Deployment);
        self.broker
            .queue_len(&queue)
            .await
            .expect("the work queue exists")
    }
}

/// A job body running `script` with `sh -c` in the test image, with small
/// compute so many fit on the machine.
pub fn job(name: &str, script: &str) -> Value {
    json!({
        "container_image": IMAGE,
        "display_name": name,
        "command": ["/bin/sh", "-c"],
        "args": [script],
        "compute": {"min_cpus": 0.1, "min_memory": 16, "max_memory": 64},
    })
}

/// Runs `docker <args> --filter …` and returns the ids it prints.
async fn docker_ids(args: &[&str], filters: Vec<String>) -> Vec<String> {
    let mut command = Command::new("docker");
    command.args(args);
    for filter in filters {
        command.args(["--filter", &filter]);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the docker command ran")
        .expect("the docker CLI is installed");
    assert!(
        output.status.success(),
        "docker failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|line| !line.is_empty())
        .collect()
}

/// Removes a namespace's runtime objects and a topology's exchanges and
/// queues when dropped.
#[derive(Debug)]
struct NamespaceGuard {
    namespace: String,
    topology: Topology,
}

impl Drop for NamespaceGuard {
    fn drop(&mut self) {
        remove_docker_namespace(&self.namespace);
        delete_topology_blocking(self.topology.clone());
    }
}
