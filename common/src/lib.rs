//! Pieces shared by the contaxy binaries (`api`, `worker`, `scheduler`).
//!
//! - [`domain`]: validated ids, the access model, actions and deployments.
//! - [`config`]: the loader every binary uses (`CONTAXY_*` variables and an
//!   optional TOML file) and the settings they all share.
//! - [`logs`]: deployment logs over the broker (request/reply).
//! - [`image_config`]: an image's own configuration over the broker
//!   (request/reply), for the API's suggestions.
//! - [`message`]: the versioned action message carried by the broker.
//! - [`topology`]: every exchange and queue, declared in one place.
//! - [`telemetry`]: tracing subscriber and Prometheus recorder, set up once.
//! - [`metric_catalog`]: every exported metric with its help text.
//! - [`shutdown`]: one cancellation token fed by SIGTERM and ctrl-c.
//! - [`ops`]: the `/healthz`, `/readyz` and `/metrics` routes and the probes
//!   behind `/readyz`.
//! - [`publisher`]: confirmed publishing of actions, retries, dead letters, events.
//! - [`dead_queue`]: reading the dead queue without emptying it, taking one
//!   letter out (the replay of a failed action).
//! - [`storage`]: project files in S3-compatible object storage.
//! - [`submit`]: the one submit path: action and resource row in one
//!   transaction, then a confirmed publish (the relay catches up).
//! - [`scheduled`]: a schedule's fire: the job for one slot, through
//!   [`submit`]; or many schedules' slots in one batched transaction.
//! - [`store`]: the PostgreSQL pool and the migrations (applied at start).
//! - [`connections`]: PostgreSQL and RabbitMQ together, as every binary uses them.
//! - [`broker`]: a supervised RabbitMQ connection that reconnects on its own.

pub mod broker;
pub mod config;
pub mod connections;
pub mod dead_queue;
pub mod domain;
pub mod http_server;
pub mod image_config;
pub mod logs;
pub mod message;
pub mod metric_catalog;
pub mod ops;
pub mod publisher;
pub mod scheduled;
pub mod shutdown;
pub mod storage;
pub mod store;
pub mod submit;
pub mod telemetry;
pub mod topology;
