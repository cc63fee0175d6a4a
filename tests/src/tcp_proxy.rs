//! A TCP proxy from a loopback port to any TCP service (the S3 server, …)
//! that a test can switch off and on, to make the service unreachable for
//! the code under test on demand.
//!
//! Off means what a service that went away looks like: the port is closed
//! (new connections are refused) and live connections are cut.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::eventually;

/// A switchable proxy from a loopback port to `target`.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    target: SocketAddr,
    running: Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    stop: CancellationToken,
    accept: JoinHandle<()>,
    connections: TaskTracker,
}

impl TcpProxy {
    /// Starts the proxy to `target`, switched on, on a free loopback port.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind a free port");
        let addr = listener.local_addr().expect("local addr");
        let proxy = Self {
            addr,
            target,
            running: Mutex::new(None),
        };
        *proxy.running.lock().await = Some(proxy.serve(listener));
        proxy
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` and the proxy's address.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the port and cuts every live connection; returns once both
    /// are done.
    pub async fn switch_off(&self) {
        let Some(running) = self.running.lock().await.take() else {
            return;
        };
        running.stop.cancel();
        let _ = running.accept.await;
        running.connections.close();
        running.connections.wait().await;
    }

    /// Listens on the same port again.
    pub async fn switch_on(&self) {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return;
        }
        let listener = eventually(
            Duration::from_secs(10),
            "the proxy's port to be free again",
            || async { bind(self.addr).ok() },
        )
        .await;
        *running = Some(self.serve(listener));
    }

    fn serve(&self, listener: tokio::net::TcpListener) -> Running {
        let stop = CancellationToken::new();
        let connections = TaskTracker::new();
        let target = self.target;
        let accept = tokio::spawn({
            let stop = stop.clone();
            let connections = connections.clone();
            async move {
                loop {
                    let accepted = tokio::select! {
                        () = stop.cancelled() => break,
                        accepted = listener.accept() => accepted,
                    };
                    let Ok((client, _)) = accepted else { continue };
                    let stop = stop.clone();
                    connections.spawn(async move {
                        tokio::select! {
                            () = stop.cancelled() => {}
                            () = pipe(client, target) => {}
                        }
                    });
                }
                // The listener is dropped here: the port is closed.
            }
        });
        Running {
            stop,
            accept,
            connections,
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.try_lock()
            && let Some(running) = running.take()
        {
            running.stop.cancel();
        }
    }
}

/// Binds with `SO_REUSEADDR`, so the port can be listened on again right
/// after the proxy cut its connections.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(64)
}

async fn pipe(mut client: TcpStream, target: SocketAddr) {
    let Ok(mut service) = TcpStream::connect(target).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut service).await;
}
