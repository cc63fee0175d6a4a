//! The contaxy scheduler: cron schedules that launch jobs, and cleanup
//! (finished-job TTL, idle services, orphans, stuck actions, the outbox
//! relay). It decides *when*, never *how*: it enqueues actions that workers
//! execute. Run two or more; one leader acts at a time.
//!
//! - [`cleanup`]: the cleanup passes (job deadlines, finished-job TTL and
//!   record retention, idle services, expired tokens) and their loop.
//! - [`config`]: `SchedulerConfig`, the settings of this binary.
//! - [`leader`]: the leader lease, the injectable [`leader::Clock`] and
//!   the cron loop each replica runs.
//! - [`cron`]: a cron pass: which due slots fire, are missed or skipped;
//!   the common case batched, the rest one schedule at a time.
//! - [`relay`]: the outbox relay, publishing actions the API could not.
//! - [`startup`]: [`Application::build`] and
//!   [`Application::run_until_stopped`], used by `main` and the tests alike.

pub mod cleanup;
pub mod config;
pub mod cron;
pub mod leader;
pub mod relay;
pub mod startup;

pub use config::{SchedulerConfig, SchedulerSettings};
pub use startup::Application;
