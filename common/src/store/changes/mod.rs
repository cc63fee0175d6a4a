//! Change notifications: PostgreSQL tells a process, over LISTEN/NOTIFY,
//! that a row someone waits for may have changed, so the waiter reads it
//! again at once instead of on a timer.
//!
//! The triggers of migrations `0019_change_notifications.sql` and
//! `0020_deployment_event_notifications.sql` notify on the channels below;
//! [`Changes::start`] runs one listener per process on a connection of its
//! own ([`listener`]) and wakes the waiters of each [`Change`] it hears of. A waiter takes a [`Watch`] *before* it reads its
//! row, then waits on [`Watch::changed`] between reads: a notification
//! that comes between the read and the wait is kept, not missed.
//!
//! A notification only says "read again"; the rows stay the truth. One can
//! be lost (the listener's connection broke and notifications sent
//! meanwhile are gone), so every waiter also re-reads now and then on its
//! own, and after the listener reconnects it wakes every waiter once.

mod listener;

pub use listener::APPLICATION_NAME;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The channel an action's move to a final status is announced on
/// (payload: the action id).
pub const ACTION_ENDED: &str = "contaxy_action_ended";
/// The channel a deployment's status change or removal is announced on
/// (payload: the deployment id).
pub const DEPLOYMENT_STATUS: &str = "contaxy_deployment_status";
/// The channel a recorded deployment status change (a row of
/// `deployment_events`, migration 0020) is announced on (payload: the
/// project id).
pub const DEPLOYMENT_EVENT: &str = "contaxy_deployment_event";
/// Every channel the listener listens on.
pub const CHANNELS: [&str; 3] = [ACTION_ENDED, DEPLOYMENT_STATUS, DEPLOYMENT_EVENT];

/// A change a waiter can wait for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// The action reached a final status.
    ActionEnded(Uuid),
    /// The deployment's status changed, or its row went.
    DeploymentStatus(String),
    /// A status change of one of the project's deployments was recorded
    /// for its event stream.
    ProjectEvent(String),
}

impl Change {
    /// The change a notification announces; `None` for a channel or a
    /// payload this process does not know (then every waiter is woken, as
    /// anything might have changed).
    pub fn from_notification(channel: &str, payload: &str) -> Option<Self> {
        match channel {
            ACTION_ENDED => Uuid::parse_str(payload).ok().map(Self::ActionEnded),
            DEPLOYMENT_STATUS if !payload.is_empty() => {
                Some(Self::DeploymentStatus(payload.to_owned()))
            }
            DEPLOYMENT_EVENT if !payload.is_empty() => Some(Self::ProjectEvent(payload.to_owned())),
            _ => None,
        }
    }
}

/// The waiters of this process, by the change they wait for; cheap to
/// clone (all clones share them).
#[derive(Debug, Clone)]
pub struct Changes {
    watched: Arc<Mutex<HashMap<Change, Watchers>>>,
    /// How many times the listener began listening.
    sessions: Arc<watch::Sender<u64>>,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            watched: Arc::default(),
            sessions: Arc::new(watch::channel(0).0),
        }
    }
}

/// The waiters of one change: a counter bumped on each wake, and how many
/// hold a [`Watch`] on it (the entry goes with the last one).
#[derive(Debug)]
struct Watchers {
    wakes: watch::Sender<()>,
    count: usize,
}

impl Changes {
    /// A registry with no listener: waiters wake only when
    /// [`Changes::wake`] or [`Changes::wake_all`] is called (and on their
    /// own re-reads). [`Changes::start`] is what a process uses.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry fed by a listener on a connection of its own to the
    /// database of `pool` (the pool's own connections are left to
    /// queries), until `shutdown` is cancelled. It connects in the
    /// background, again whenever the connection breaks, and wakes every
    /// waiter each time it (re)connects.
    pub fn start(pool: &PgPool, shutdown: CancellationToken) -> Self {
        let changes = Self::new();
        tokio::spawn(listener::run(
            changes.clone(),
            listener::connect_options(pool),
            shutdown,
        ));
        changes
    }

    /// Starts waiting for `change`. Take the watch before reading the row
    /// it is about, so that no change after the read is missed.
    pub fn watch(&self, change: Change) -> Watch {
        let mut watched = self.lock();
        let wakes = match watched.entry(change.clone()) {
            Entry::Occupied(mut entry) => {
                let watchers = entry.get_mut();
                watchers.count += 1;
                watchers.wakes.subscribe()
            }
            Entry::Vacant(entry) => {
                let (sender, receiver) = watch::channel(());
                entry.insert(Watchers {
                    wakes: sender,
                    count: 1,
                });
                receiver
            }
        };
        Watch {
            changes: self.clone(),
            change,
            wakes,
        }
    }

    /// Wakes the waiters of `change`, if any.
    pub fn wake(&self, change: &Change) {
        if let Some(watchers) = self.lock().get(change) {
            watchers.wakes.send_replace(());
        }
    }

    /// Wakes every waiter: after notifications may have been lost.
    pub fn wake_all(&self) {
        for watchers in self.lock().values() {
            watchers.wakes.send_replace(());
        }
    }

    /// How many times the listener has begun listening, each time after
    /// waking every waiter (0 while it has not connected yet; more after
    /// reconnects).
    pub fn sessions(&self) -> watch::Receiver<u64> {
        self.sessions.subscribe()
    }

    /// Counts a listening session that began (see [`Changes::sessions`]).
    fn began_session(&self) {
        self.sessions.send_modify(|n| *n += 1);
    }

    /// How many changes have waiters now.
    pub fn watched(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Change, Watchers>> {
        // Nothing panics while holding the lock; if something did, the map
        // is still whole (every change to it is one call).
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One waiter's registration for one change; dropping it unregisters.
#[derive(Debug)]
pub struct Watch {
    changes: Changes,
    change: Change,
    wakes: watch::Receiver<()>,
}

impl Watch {
    /// The change watched.
    pub fn change(&self) -> &Change {
        &self.change
    }

    /// Returns once the change was announced (or every waiter was woken)
    /// since the watch was taken or this last returned; at once if that
    /// happened already. Then read the row again.
    pub async fn changed(&mut self) {
        if self.wakes.changed().await.is_err() {
            // Unreachable: the sender lives in the registry as long as a
            // watch on its change does. Should it ever go, never wake
            // rather than wake in a loop; the caller's re-reads go on.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watched = self.changes.lock();
        if let Some(watchers) = watched.get_mut(&self.change) {
            watchers.count -= 1;
            if watchers.count == 0 {
                watched.remove(&self.change);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    fn action(n: u128) -> Change {
        Change::ActionEnded(Uuid::from_u128(n))
    }

    /// Whether `watch` was woken since it last returned (wakes are
    /// immediate, so this looks without waiting).
    fn woken(watch: &mut Watch) -> bool {
        watch.changed().now_or_never().is_some()
    }

    #[test]
    fn a_wake_reaches_the_waiters_of_its_change_only() {
        let changes = Changes::new();
        let mut first = changes.watch(action(1));
        let mut second = changes.watch(action(1));
        let mut other = changes.watch(action(2));
        changes.wake(&action(1));
        assert!(woken(&mut first));
        assert!(woken(&mut second));
        assert!(!woken(&mut other), "another change's waiter woke");
        assert!(!woken(&mut first), "one wake, one return");
    }

    #[test]
    fn a_wake_between_the_watch_and_the_wait_is_kept() {
        let changes = Changes::new();
        let mut watch = changes.watch(action(1));
        // The row is read here; the change lands before the wait begins.
        changes.wake(&action(1));
        changes.wake(&action(1));
        assert!(woken(&mut watch));
        assert!(!woken(&mut watch), "two wakes before a wait are one");
    }

    #[test]
    fn a_wake_before_the_watch_is_not_seen() {
        let changes = Changes::new();
        let _keep = changes.watch(action(1));
        changes.wake(&action(1));
        let mut late = changes.watch(action(1));
        assert!(!woken(&mut late), "it reads the row after watching");
    }

    #[test]
    fn wake_all_reaches_every_waiter() {
        let changes = Changes::new();
        let mut first = changes.watch(action(1));
        let mut deployment = changes.watch(Change::DeploymentStatus("d".into()));
        changes.wake_all();
        assert!(woken(&mut first));
        assert!(woken(&mut deployment));
    }

    #[test]
    fn the_entry_goes_with_its_last_waiter() {
        let changes = Changes::new();
        let first = changes.watch(action(1));
        let second = changes.watch(action(1));
        assert_eq!(changes.watched(), 1);
        drop(first);
        assert_eq!(changes.watched(), 1);
        drop(second);
        assert_eq!(changes.watched(), 0);
        // A wake with nobody waiting is nothing.
        changes.wake(&action(1));
        assert_eq!(changes.watched(), 0);
    }

    #[test]
    fn notifications_name_their_change() {
        let id = Uuid::from_u128(7);
        assert_eq!(
            Change::from_notification(ACTION_ENDED, &id.to_string()),
            Some(Change::ActionEnded(id))
        );
        assert_eq!(
            Change::from_notification(DEPLOYMENT_STATUS, "ctxy-p-alpha-s-web"),
            Some(Change::DeploymentStatus("ctxy-p-alpha-s-web".into()))
        );
        assert_eq!(
            Change::from_notification(DEPLOYMENT_EVENT, "alpha"),
            Some(Change::ProjectEvent("alpha".into()))
        );
        assert_eq!(Change::from_notification(ACTION_ENDED, "nonsense"), None);
        assert_eq!(Change::from_notification(DEPLOYMENT_STATUS, ""), None);
        assert_eq!(Change::from_notification("elsewhere", "x"), None);
    }
}
