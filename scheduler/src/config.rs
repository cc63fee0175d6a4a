//! Settings of the `contaxy-scheduler` binary (besides the shared ones in
//! [`contaxy_common::config::CommonConfig`]).

use std::net::SocketAddr;
use std::time::Duration;

use contaxy_common::config::Config;
use serde::Deserialize;

use crate::cleanup::CleanupSettings;

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
    /// Seconds after its publish a `queued` action that no worker claimed is
    /// published again (`CONTAXY_RELAY_QUEUED_LOST_SECS`): its message is
    /// presumed lost (a queue purged or deleted). Keep it above the longest
    /// wait in a backlog; a slow message only makes a harmless duplicate.
    pub relay_queued_lost_secs: u64,
    /// Seconds past its retry's due time a `retrying` action that no worker
    /// claimed is published again (`CONTAXY_RELAY_RETRY_LOST_SECS`): its
    /// delayed copy is presumed lost.
    pub relay_retry_lost_secs: u64,
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
    /// Schedules fired in one batched transaction
    /// (`CONTAXY_SCHEDULE_BATCH`).
    pub schedule_batch: u32,
    /// Batched transactions written at once, each on its own database
    /// connection (`CONTAXY_SCHEDULE_BATCHES_AT_ONCE`).
    pub schedule_batches_at_once: u16,
    /// Schedules the leader reads shortly before a slot, so that at the
    /// slot only the writes remain (`CONTAXY_SCHEDULE_READ_AHEAD`); 0 reads
    /// none ahead.
    pub schedule_read_ahead: u32,
    /// Seconds between two rounds of the cleanup passes
    /// (`CONTAXY_CLEANUP_INTERVAL_SECS`); 0 turns cleanup off.
    pub cleanup_interval_secs: u64,
    /// Seconds a finished job's container is kept when the job sets no
    /// `ttl_seconds_after_finished` (`CONTAXY_JOB_TTL_SECS`); then its logs
    /// are archived and its container and volume removed.
    pub job_ttl_secs: u64,
    /// Seconds a job's record and archived logs are kept after its
    /// container was removed (`CONTAXY_JOB_RECORD_RETENTION_SECS`); 0 keeps
    /// them for ever.
    pub job_record_retention_secs: u64,
    /// Seconds after its expiry a token's row is deleted
    /// (`CONTAXY_TOKEN_EXPIRED_GRACE_SECS`).
    pub token_expired_grace_secs: u64,
    /// Seconds a recorded status change is kept for followers of
    /// `GET /projects/{id}/events` (`CONTAXY_STATUS_EVENTS_RETENTION_SECS`).
    pub status_events_retention_secs: u64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            scheduler_listen_addr: SocketAddr::from(([127, 0, 0, 1], 9102)),
            relay_interval_ms: 1_000,
            relay_min_age_ms: 5_000,
            relay_queued_lost_secs: 900,
            relay_retry_lost_secs: 120,
            scheduler_tick_ms: 500,
            scheduler_lease_ms: 10_000,
            schedule_on_time_secs: 30,
            schedule_batch: 1000,
            schedule_batches_at_once: 2,
            schedule_read_ahead: 10_000,
            cleanup_interval_secs: 30,
            job_ttl_secs: 24 * 3600,
            job_record_retention_secs: 30 * 24 * 3600,
            token_expired_grace_secs: 24 * 3600,
            status_events_retention_secs: 24 * 3600,
        }
    }
}

impl SchedulerSettings {
    /// The cleanup passes' settings; `None` when cleanup is off.
    pub fn cleanup(&self) -> Option<CleanupSettings> {
        if self.cleanup_interval_secs == 0 {
            return None;
        }
        Some(CleanupSettings {
            interval: Duration::from_secs(self.cleanup_interval_secs),
            job_ttl: Duration::from_secs(self.job_ttl_secs),
            job_record_retention: (self.job_record_retention_secs > 0)
                .then(|| Duration::from_secs(self.job_record_retention_secs)),
            token_grace: Duration::from_secs(self.token_expired_grace_secs),
            events_retention: Duration::from_secs(self.status_events_retention_secs),
            ..CleanupSettings::default()
        })
    }
}
