//! A TCP proxy to the Docker Engine's socket that a test can switch off and
//! on, to make the engine unreachable for a worker on demand.
//!
//! Off means what an engine that went away looks like: the port is closed
//! (new connections are refused) and live connections are cut.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream, UnixStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::docker::DOCKER_SOCKET;
use crate::eventually;

/// A switchable proxy from a loopback port to the Docker socket.
#[derive(Debug)]
pub struct DockerProxy {
    addr: SocketAddr,
    socket: PathBuf,
    running: Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    stop: CancellationToken,
    accept: JoinHandle<()>,
    connections: TaskTracker,
}

impl DockerProxy {
    /// Starts the proxy, switched on, on a free loopback port.
    pub async fn start() -> Self {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind a free port");
        let addr = listener.local_addr().expect("local addr");
        let proxy = Self {
            addr,
            socket: PathBuf::from(DOCKER_SOCKET),
            running: Mutex::new(None),
        };
        *proxy.running.lock().await = Some(proxy.serve(listener));
        proxy
    }

    /// The `docker_host` that reaches the engine through the proxy.
    pub fn docker_host(&self) -> String {
        format!("tcp://{}", self.addr)
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
        let socket = self.socket.clone();
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
                    let socket = socket.clone();
                    connections.spawn(async move {
                        tokio::select! {
                            () = stop.cancelled() => {}
                            () = pipe(client, socket) => {}
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

impl Drop for DockerProxy {
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

async fn pipe(mut client: TcpStream, socket: PathBuf) {
    let Ok(mut engine) = UnixStream::connect(&socket).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
}
