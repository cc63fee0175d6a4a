//! The one listener of a process: a `PgListener` on a connection of its
//! own that passes each notification on to the waiters of its change.
//!
//! Notifications sent while the connection is down are gone for good
//! (PostgreSQL keeps them for listening sessions only). So whenever the
//! listener begins listening, the first time or after a reconnect, it wakes
//! every waiter once: each reads its row again, and misses nothing that
//! changed meanwhile. A notification it cannot place (a payload it does not
//! parse) wakes every waiter too.
//!
//! It cannot fall behind and drop notifications: sqlx buffers them without
//! bound on the connection, and passing one on is a send that never waits.

use std::time::Duration;

use backon::BackoffBuilder;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio_util::sync::CancellationToken;

use super::{CHANNELS, Change, Changes};

/// How the listener's connection shows in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "contaxy-changes";

/// Longest one connection attempt waits.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The options of `pool`, for the listener's own connection.
pub(super) fn connect_options(pool: &PgPool) -> PgConnectOptions {
    (*pool.connect_options())
        .clone()
        .application_name(APPLICATION_NAME)
}

/// Listens until `shutdown` is cancelled, reconnecting with a growing
/// pause while PostgreSQL is away.
pub(super) async fn run(changes: Changes, options: PgConnectOptions, shutdown: CancellationToken) {
    // A pool of its own only to open (and reopen) the one connection: two,
    // so a broken connection still being closed never holds up its
    // successor.
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(CONNECT_TIMEOUT)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let backoff = || crate::connections::reconnect_backoff().build();
    let mut delays = backoff();
    let mut lost = false;
    while !shutdown.is_cancelled() {
        let connected = tokio::select! {
            () = shutdown.cancelled() => break,
            connected = listen(&pool) => connected,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(error) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                tracing::warn!(%error, ?delay, "Could not listen for database changes; retrying.");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => continue,
                }
            }
        };
        if lost {
            tracing::warn!("Listening for database changes again.");
        } else {
            tracing::info!("Listening for database changes.");
        }
        delays = backoff();
        // Whatever changed while nobody listened was never announced here.
        changes.wake_all();
        changes.began_session();
        let error = tokio::select! {
            () = shutdown.cancelled() => break,
            error = relay(&mut listener, &changes) => error,
        };
        tracing::warn!(%error, "Lost the connection that listens for database changes; reconnecting.");
        lost = true;
    }
}

/// A listener on every channel of [`CHANNELS`].
async fn listen(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Reconnecting is `run`'s business: it must wake every waiter once
    // listening again, which a reconnect inside `try_recv` would hide.
    listener.eager_reconnect(false);
    listener.listen_all(CHANNELS).await?;
    Ok(listener)
}

/// Passes notifications on until the connection fails; returns why.
async fn relay(listener: &mut PgListener, changes: &Changes) -> String {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                match Change::from_notification(notification.channel(), notification.payload()) {
                    Some(change) => changes.wake(&change),
                    None => {
                        tracing::debug!(
                            channel = notification.channel(),
                            "A change notification this process does not know; waking every waiter."
                        );
                        changes.wake_all();
                    }
                }
            }
            Ok(None) => return "the connection closed".to_owned(),
            Err(error) => return error.to_string(),
        }
    }
}
