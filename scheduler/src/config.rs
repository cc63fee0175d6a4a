//! Settings of the `contaxy-scheduler` binary (besides the shared ones in
//! [`contaxy_common::config::CommonConfig`]).

use std::net::SocketAddr;

use contaxy_common::config::Config;
use serde::Deserialize;

/// The whole configuration of the scheduler binary.
pub type SchedulerConfig = Config<SchedulerSettings>;

/// Settings only the scheduler has.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SchedulerSettings {
    /// Address of the scheduler's small HTTP server for `/healthz`, `/readyz`
    /// and `/metrics` (`CONTAXY_SCHEDULER_LISTEN_ADDR`). Port 0 picks a free
    /// port.
    pub scheduler_listen_addr: SocketAddr,
    /// Time between two passes of the outbox relay, in milliseconds
    /// (`CONTAXY_RELAY_INTERVAL_MS`).
    pub relay_interval_ms: u64,
    /// How old an unconfirmed action must be before the relay publishes it,
    /// in milliseconds (`CONTAXY_RELAY_MIN_AGE_MS`); the API publishes on its
    /// own just after recording, so this avoids racing it.
    pub relay_min_age_ms: u64,
    /// Time between two cron ticks, in milliseconds
    /// (`CONTAXY_SCHEDULER_TICK_MS`): each tick renews or takes the leader
    /// lease and fires what is due, so this bounds how late a fire is.
    pub scheduler_tick_ms: u64,
    /// How long the leader lease lasts after each renewal, in milliseconds
    /// (`CONTAXY_SCHEDULER_LEASE_MS`): a standby takes over within this
    /// plus one tick when the leader dies.
    pub scheduler_lease_ms: u64,
    /// How late a slot may be and still fire under `catch_up = skip`, in
    /// seconds (`CONTAXY_SCHEDULE_ON_TIME_SECS`); above a lease so that a
    /// handover does not skip a slot.
    pub schedule_on_time_secs: u64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            scheduler_listen_addr: SocketAddr::from(([127, 0, 0, 1], 9102)),
            relay_interval_ms: 1_000,
            relay_min_age_ms: 5_000,
            scheduler_tick_ms: 500,
            scheduler_lease_ms: 10_000,
            schedule_on_time_secs: 30,
        }
    }
}
