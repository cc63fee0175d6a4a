//! A supervised RabbitMQ connection.
//!
//! [`Broker::start`] connects in the background and reconnects (jittered,
//! growing delays) whenever the connection drops, so a binary starts and stays
//! up while RabbitMQ is away, reporting it on `/readyz`. Users take the
//! current connection with [`Broker::connection`] and open their own channels.

use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::ops::Probe;
use crate::topology::Topology;

/// How often a live connection is checked for having dropped.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// The longest one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest AMQP frame asked for when the URL names none (its
/// `?frame_max=`). lapin keeps 32 frames in each of a connection's two
/// buffers: at RabbitMQ's default of 128 KiB that is 8 MiB of every
/// process's memory. An action message fits in one 16 KiB frame; a larger
/// one goes in several.
pub const DEFAULT_FRAME_MAX: u32 = 16 * 1024;

/// `url` parsed, with `frame_max` [`DEFAULT_FRAME_MAX`] unless it names one.
pub fn amqp_uri(url: &str) -> Result<AMQPUri, String> {
    let mut uri: AMQPUri = url.parse()?;
    uri.query.frame_max.get_or_insert(DEFAULT_FRAME_MAX);
    Ok(uri)
}

/// The state of the supervised connection.
#[derive(Debug, Clone)]
enum Link {
    Connecting { last_error: Option<String> },
    Up(Arc<Connection>),
}

/// A handle on the supervised connection; cheap to clone.
#[derive(Debug, Clone)]
pub struct Broker {
    link: watch::Receiver<Link>,
}

impl Broker {
    /// Starts the supervisor. `name` shows in RabbitMQ's connection list.
    /// After every (re)connect, `topology` is declared before the connection
    /// is handed out, so users never see a missing exchange or queue.
    pub fn start(
        url: &SecretString,
        name: &str,
        topology: Topology,
        shutdown: CancellationToken,
    ) -> Self {
        let (tx, link) = watch::channel(Link::Connecting { last_error: None });
        let target = Target {
            url: url.expose_secret().to_owned(),
            name: name.to_owned(),
            topology,
        };
        tokio::spawn(async move { supervise(target, tx, shutdown).await });
        Self { link }
    }

    /// The connection, if it is up now.
    pub fn connection(&self) -> Option<Arc<Connection>> {
        match &*self.link.borrow() {
            Link::Up(conn) if conn.status().connected() => Some(conn.clone()),
            _ => None,
        }
    }

    /// Waits until a connection is up and returns it.
    pub async fn connected(&self) -> Arc<Connection> {
        let mut link = self.link.clone();
        loop {
            if let Some(conn) = self.connection() {
                return conn;
            }
            if link.changed().await.is_err() {
                // The supervisor ended (shutdown): nothing will connect again.
                std::future::pending::<()>().await;
            }
        }
    }

    /// The `/readyz` probe: connected to RabbitMQ.
    pub fn probe(&self) -> Probe {
        let broker = self.clone();
        Probe::new("rabbitmq", move || {
            let result = match &*broker.link.borrow() {
                Link::Up(conn) if conn.status().connected() => Ok(()),
                Link::Up(_) => Err("connection lost; reconnecting".to_owned()),
                Link::Connecting {
                    last_error: Some(error),
                } => Err(format!("not connected: {error}")),
                Link::Connecting { last_error: None } => Err("connecting".to_owned()),
            };
            async move { result }
        })
    }
}

/// What the supervisor connects to and sets up.
struct Target {
    url: String,
    name: String,
    topology: Topology,
}

impl Target {
    async fn connect(&self) -> Result<Connection, String> {
        let properties =
            ConnectionProperties::default().with_connection_name(self.name.clone().into());
        let uri = amqp_uri(&self.url).map_err(|e| format!("the URL is not an AMQP URL: {e}"))?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect_uri(uri, properties))
            .await
            .map_err(|_| format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))?
            .map_err(|e| e.to_string())?;
        self.topology
            .declare(&conn)
            .await
            .map_err(|e| format!("could not declare the topology: {e}"))?;
        Ok(conn)
    }
}

async fn supervise(target: Target, tx: watch::Sender<Link>, shutdown: CancellationToken) {
    let backoff = || crate::connections::reconnect_backoff().build();
    let mut delays = backoff();
    // When the connection was lost, while it is being made again.
    let mut lost_at: Option<std::time::Instant> = None;
    while !shutdown.is_cancelled() {
        let error = tokio::select! {
            () = shutdown.cancelled() => break,
            result = target.connect() => match result {
                Ok(conn) => {
                    let conn = Arc::new(conn);
                    match lost_at.take() {
                        // A routine broker restart: worth a look, not an
                        // operator's action.
                        Some(lost) => tracing::warn!(
                            away_ms = u64::try_from(lost.elapsed().as_millis()).unwrap_or(u64::MAX),
                            "Reconnected to RabbitMQ."
                        ),
                        None => tracing::info!("Connected to RabbitMQ."),
                    }
                    tx.send_replace(Link::Up(conn.clone()));
                    delays = backoff();
                    watch_until_dropped(&conn, &shutdown).await;
                    if shutdown.is_cancelled() {
                        // Channels were closed by their owners; close politely.
                        let _ = conn.close(200, "shutting down".into()).await;
                        break;
                    }
                    tracing::warn!("Lost the RabbitMQ connection; reconnecting.");
                    lost_at = Some(std::time::Instant::now());
                    "connection lost".to_owned()
                }
                Err(error) => error,
            },
        };
        tx.send_replace(Link::Connecting {
            last_error: Some(error.clone()),
        });
        let delay = delays.next().unwrap_or(Duration::from_secs(5));
        tracing::debug!(%error, ?delay, "RabbitMQ is not reachable yet.");
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

async fn watch_until_dropped(conn: &Connection, shutdown: &CancellationToken) {
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if !conn.status().connected() {
                    return;
                }
            }
        }
    }
}
