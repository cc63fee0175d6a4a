//! Pieces shared by the contaxy binaries (`api`, `worker`, `scheduler`).
//!
//! - [`domain`]: validated ids and the access model (permissions, subjects,
//!   token secrets).
//! - [`config`]: the loader every binary uses (`CONTAXY_*` variables and an
//!   optional TOML file) and the settings they all share.
//! - [`telemetry`]: tracing subscriber and Prometheus recorder, set up once.
//! - [`shutdown`]: one cancellation token fed by SIGTERM and ctrl-c.
//! - [`ops`]: the `/healthz`, `/readyz` and `/metrics` routes and the probes
//!   behind `/readyz`.
//! - [`store`]: the PostgreSQL pool and the migrations (applied at start).
//! - [`backbone`]: PostgreSQL and RabbitMQ together, as every binary uses them.
//! - [`broker`]: a supervised RabbitMQ connection that reconnects on its own.

pub mod backbone;
pub mod broker;
pub mod config;
pub mod domain;
pub mod ops;
pub mod shutdown;
pub mod store;
pub mod telemetry;
