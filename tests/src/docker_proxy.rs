//! A TCP proxy to the Docker Engine's socket that a test can switch off and
//! on, to make the engine unreachable for a worker on demand, that counts
//! the Engine API requests going through it, and that can do something
//! just before a given request reaches the engine (to make a race happen).
//!
//! Off means what an engine that went away looks like: the port is closed
//! (new connections are refused) and live connections are cut.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    traffic: Arc<Traffic>,
}

/// What the connections share.
#[derive(Default)]
struct Traffic {
    /// The requests seen so far, each as `METHOD /path` (no query, no API
    /// version prefix), in the order they were sent.
    log: std::sync::Mutex<Vec<String>>,
    /// Run once before the next request of this `METHOD /path` goes on.
    before: std::sync::Mutex<Option<(String, BeforeRequest)>>,
}

impl std::fmt::Debug for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traffic").finish_non_exhaustive()
    }
}

/// Work done while a request is held back.
type BeforeRequest = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
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
            traffic: Arc::default(),
        };
        *proxy.running.lock().await = Some(proxy.serve(listener));
        proxy
    }

    /// The `docker_host` that reaches the engine through the proxy.
    pub fn docker_host(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// The requests sent through the proxy since it started or since the
    /// last call, as `METHOD /path`, oldest first; the log is emptied.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.traffic.log))
    }

    /// How many requests have been sent since the last
    /// [`DockerProxy::take_requests`].
    pub fn request_count(&self) -> usize {
        lock(&self.traffic.log).len()
    }

    /// Holds the next request `METHOD /path` (e.g. `POST /containers/create`)
    /// until `work` is done, then lets it through; once.
    pub fn before_next<F, Fut>(&self, request: &str, work: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let work: BeforeRequest = Box::new(move || Box::pin(work()));
        *lock(&self.traffic.before) = Some((request.to_owned(), work));
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
        let traffic = Arc::clone(&self.traffic);
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
                    let traffic = Arc::clone(&traffic);
                    connections.spawn(async move {
                        tokio::select! {
                            () = stop.cancelled() => {}
                            () = pipe(client, socket, traffic) => {}
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

async fn pipe(client: TcpStream, socket: PathBuf, traffic: Arc<Traffic>) {
    let Ok(engine) = UnixStream::connect(&socket).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut engine_read, mut engine_write) = engine.into_split();
    let upstream = async {
        let mut scanner = RequestScanner::default();
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let mut seen = Vec::new();
            scanner.feed(&buffer[..read], &mut |request| seen.push(request));
            for request in seen {
                let before = {
                    let mut before = lock(&traffic.before);
                    match before.take() {
                        Some((wanted, work)) if wanted == request => Some(work),
                        other => {
                            *before = other;
                            None
                        }
                    }
                };
                lock(&traffic.log).push(request);
                if let Some(work) = before {
                    work().await;
                }
            }
            if engine_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
        let _ = engine_write.shutdown().await;
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut engine_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// Finds the HTTP/1.1 requests in a client's byte stream: reads each head,
/// skips its `Content-Length` body. A chunked body or a protocol upgrade
/// (hijacked attach) ends the counting on that connection; bollard sends
/// neither for the calls a deploy makes.
#[derive(Debug, Default)]
struct RequestScanner {
    head: Vec<u8>,
    body_left: usize,
    stopped: bool,
}

impl RequestScanner {
    fn feed(&mut self, mut data: &[u8], seen: &mut impl FnMut(String)) {
        while !data.is_empty() && !self.stopped {
            if self.body_left > 0 {
                let skip = self.body_left.min(data.len());
                self.body_left -= skip;
                data = &data[skip..];
                continue;
            }
            self.head.extend_from_slice(data);
            let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") else {
                return;
            };
            let rest = self.head.split_off(end + 4);
            let head = std::mem::take(&mut self.head);
            self.read_head(&String::from_utf8_lossy(&head), seen);
            // The rest is this request's body and whatever follows it.
            self.feed(&rest, seen);
            return;
        }
    }

    fn read_head(&mut self, head: &str, seen: &mut impl FnMut(String)) {
        let mut lines = head.split("\r\n");
        let mut parts = lines.next().unwrap_or_default().split(' ');
        let method = parts.next().unwrap_or_default();
        let target = parts.next().unwrap_or_default();
        let path = target.split('?').next().unwrap_or_default();
        // `/v1.41/containers/json` and `/containers/json` are one call.
        let path = match path.strip_prefix("/v1.") {
            Some(rest) => rest.find('/').map_or(path, |slash| &rest[slash..]),
            None => path,
        };
        seen(format!("{method} {path}"));
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "content-length" => self.body_left = value.parse().unwrap_or(0),
                "transfer-encoding" if value.contains("chunked") => self.stopped = true,
                "upgrade" => self.stopped = true,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Vec<String> {
        let mut scanner = RequestScanner::default();
        let mut seen = Vec::new();
        for chunk in chunks {
            scanner.feed(chunk, &mut |r| seen.push(r));
        }
        seen
    }

    #[test]
    fn requests_are_found_across_reads_and_after_bodies() {
        let body = "{\"Image\":\"x\"}";
        let stream = format!(
            "GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\n\r\n\
             POST /containers/create?name=a HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}\
             GET /networks/n1 HTTP/1.1\r\n\r\n",
            body.len()
        );
        let bytes = stream.as_bytes();
        let expected = ["GET /_ping", "POST /containers/create", "GET /networks/n1"];
        assert_eq!(scan(&[bytes]), expected);
        for split in [5, 40, 60, 90, bytes.len() - 3] {
            let (a, b) = bytes.split_at(split);
            assert_eq!(scan(&[a, b]), expected, "split at {split}");
        }
    }
}
