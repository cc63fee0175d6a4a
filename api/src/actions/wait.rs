//! The bounded wait of `wait=true` requests: until the action ended and,
//! after a deploy, start or restart that succeeded, the runtime reported
//! the deployment's new status.
//!
//! PostgreSQL is the source of truth: the wait reads the action row, then
//! the deployment row. Between two reads it sleeps until PostgreSQL
//! announces that the row changed ([`Changes`]: the triggers of migration
//! 0019 notify, the process's one listener wakes the row's waiters), and
//! at most the recheck interval (`CONTAXY_API_RECHECK_INTERVAL_MS`), in
//! case a notification was lost, and never past the deadline. Each watch
//! is taken before the row's first read, so a change between a read and
//! the sleep after it wakes the sleep at once.

use std::time::Duration;

use contaxy_common::domain::action::{ActionKind, ActionStatus};
use contaxy_common::domain::deployment::DeploymentStatus;
use contaxy_common::store::actions::{self, ActionRecord};
use contaxy_common::store::changes::{Change, Changes, Watch};
use contaxy_common::store::deployments::{self, DeploymentRecord};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::state::AppState;

/// How a waited request ended.
#[derive(Debug)]
pub struct Waited {
    /// The action's last known state.
    pub action: ActionRecord,
    /// Whether the change is done: the action ended and, after a deploy,
    /// start or restart that succeeded, the runtime has reported the
    /// deployment's new status (it left `pending`, or `stopped`). `false`
    /// when the API's wait timeout ran out first.
    pub done: bool,
}

/// Waits, at most the API's `wait` timeout, until the change `action` asks
/// for is done (see [`Waited::done`]); what every `wait=true` mutation
/// does before it answers. See [the module](self) for how it waits.
pub async fn wait_until_done(state: &AppState, action: ActionRecord) -> Waited {
    let deadline = Instant::now() + state.wait_timeout;
    wait_until_done_by(state, action, deadline).await
}

/// [`wait_until_done`] with a deadline of the caller's (one for several
/// actions: a bulk delete).
pub async fn wait_until_done_by(
    state: &AppState,
    action: ActionRecord,
    deadline: Instant,
) -> Waited {
    wait_for_outcome(
        &state.db,
        &state.changes,
        state.recheck_interval,
        action,
        deadline,
    )
    .await
}

/// The wait itself, on what it needs of the state: the rows in `db`, the
/// wakes of `changes`, a re-read at least every `recheck` however quiet
/// `changes` is, and `deadline`.
pub async fn wait_for_outcome(
    db: &PgPool,
    changes: &Changes,
    recheck: Duration,
    action: ActionRecord,
    deadline: Instant,
) -> Waited {
    let mut watch = changes.watch(Change::ActionEnded(action.id));
    let mut last = action;
    loop {
        match actions::get(db, &last.project_id, last.id).await {
            Ok(Some(record)) => last = record,
            Ok(None) | Err(_) => {
                return Waited {
                    action: last,
                    done: false,
                };
            }
        }
        if last.status.is_final() {
            break;
        }
        if Instant::now() >= deadline {
            return Waited {
                action: last,
                done: false,
            };
        }
        pause(&mut watch, recheck, deadline).await;
    }
    drop(watch);
    let starts = [
        ActionKind::DeploymentDeploy,
        ActionKind::DeploymentStart,
        ActionKind::DeploymentRestart,
    ];
    let Some(id) = last.resource_id.clone().filter(|_| {
        last.status == ActionStatus::Succeeded
            && starts.iter().any(|kind| kind.as_str() == last.kind)
    }) else {
        return Waited {
            action: last,
            done: true,
        };
    };
    let mut watch = changes.watch(Change::DeploymentStatus(id.clone()));
    loop {
        match deployments::find(db, &last.project_id, &id).await {
            Ok(Some(record)) if !has_settled(&record) => {}
            // Gone, or unreadable: nothing more to wait for.
            _ => {
                return Waited {
                    action: last,
                    done: true,
                };
            }
        }
        if Instant::now() >= deadline {
            return Waited {
                action: last,
                done: false,
            };
        }
        pause(&mut watch, recheck, deadline).await;
    }
}

/// Sleeps until `watch` wakes, `recheck` has passed, or `deadline`,
/// whichever comes first; then the caller reads its row again.
async fn pause(watch: &mut Watch, recheck: Duration, deadline: Instant) {
    let until = Instant::now()
        .checked_add(recheck)
        .map_or(deadline, |at| at.min(deadline));
    // Timed out or woken: either way, read again.
    let _ = tokio::time::timeout_at(until, watch.changed()).await;
}

/// Whether a deployment that was (re)started has its new status from the
/// runtime: no longer `pending`, and not `stopped` unless it is disabled
/// (a disabled deployment is recorded, not run).
fn has_settled(record: &DeploymentRecord) -> bool {
    match record.status {
        DeploymentStatus::Pending => false,
        DeploymentStatus::Stopped => record.input.disabled,
        _ => true,
    }
}
