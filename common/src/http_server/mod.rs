//! The HTTP server every binary runs (the API's routes, or only the ops
//! routes), on hyper's HTTP/1 connection with a timer, so that a connection
//! cannot be held for free: one that does not send a complete request head
//! within `head_timeout` (a client sending its headers slowly, or a
//! keep-alive connection left idle) is closed. `axum::serve` sets no timer
//! and so no such timeout.
//!
//! A request whose body the handler left unread is answered with
//! `Connection: close` ([`unread`]): hyper closes such a connection after
//! the answer without saying so, and a client that pools connections would
//! otherwise send its next request into the close.
//!
//! Writes may not stall for longer than `write_stall_timeout` either
//! ([`stall`]): a peer that stops reading an answer (a download, a log
//! follow) is cut off rather than held with its buffers.
//!
//! What happens once the head is in (a body, a handler) is each router's to
//! bound; see the API's `routes` module.

mod stall;
mod unread;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::HeaderValue;
use axum::http::header::CONNECTION;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The head timeout of a server that was not given one.
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// The write stall timeout of a server that was not given one.
pub const DEFAULT_WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// An HTTP listener bound to its address, with the router it will serve.
#[derive(Debug)]
pub struct HttpServer {
    listener: tokio::net::TcpListener,
    router: Router,
    head_timeout: Duration,
    write_stall_timeout: Duration,
}

impl HttpServer {
    /// Binds `addr`. `setting` names the variable the address came from, for
    /// the error message.
    pub async fn bind(addr: SocketAddr, setting: &str, router: Router) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("could not listen on {setting}={addr}"))?;
        Ok(Self {
            listener,
            router,
            head_timeout: DEFAULT_HEAD_TIMEOUT,
            write_stall_timeout: DEFAULT_WRITE_STALL_TIMEOUT,
        })
    }

    /// Closes a connection that has not sent a complete request head within
    /// `timeout` of waiting for one (at least 1 s).
    #[must_use]
    pub fn with_head_timeout(mut self, timeout: Duration) -> Self {
        self.head_timeout = timeout.max(Duration::from_secs(1));
        self
    }

    /// Fails a connection one of whose writes has waited `timeout` (at
    /// least 1 s) for the peer to read.
    #[must_use]
    pub fn with_write_stall_timeout(mut self, timeout: Duration) -> Self {
        self.write_stall_timeout = timeout.max(Duration::from_secs(1));
        self
    }

    /// The bound address (the real port when the setting asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Serves until `shutdown` is cancelled, then lets requests in flight
    /// finish. Handlers can read the peer's address
    /// (`axum::extract::ConnectInfo<SocketAddr>`).
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let connections = TaskTracker::new();
        loop {
            let (stream, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors, a connection reset before
                        // it was taken: pause, do not spin.
                        tracing::warn!(%error, "Could not accept a connection.");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let router = self.router.clone();
            let head_timeout = self.head_timeout;
            let stream = stall::StallLimited::new(stream, self.write_stall_timeout);
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    answer(router.clone(), request, peer)
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(head_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => return,
                    () = shutdown.cancelled() => connection.as_mut().graceful_shutdown(),
                }
                let _ = connection.await;
            });
        }
        connections.close();
        connections.wait().await;
        Ok(())
    }
}

/// Routes one request. The peer's address goes into its extensions; an
/// answer that left the request's body unread says `Connection: close`.
async fn answer(
    router: Router,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> Result<axum::response::Response, Infallible> {
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let (body, read) = unread::Watched::new(body);
    let request = hyper::Request::from_parts(parts, axum::body::Body::new(body));
    let mut response = router.oneshot(request).await?;
    if !read.get() {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response)
}
