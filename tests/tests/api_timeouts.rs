//! The API does not let a slow or silent client hold a connection: a head
//! that never completes and a keep-alive connection left idle are closed
//! after `CONTAXY_API_IDLE_TIMEOUT_SECS`; a body that never completes gets
//! 408 with a problem body after `CONTAXY_API_REQUEST_TIMEOUT_SECS`; on the
//! files routes, an upload that stalls and a download nobody reads are ended
//! after `CONTAXY_API_BODY_IDLE_TIMEOUT_SECS`, while a slow upload that
//! makes progress is not. An answer that left its request's body unread
//! says `Connection: close`. Raw TCP, since an HTTP client would not misbehave
//! this way.

use std::time::{Duration, Instant};

use contaxy_tests::api::TestApi;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An API whose connections may idle 2 s, whose requests take 5 s and
/// whose bodies may stall 2 s.
async fn impatient_api() -> TestApi {
    TestApi::start_with(|settings| {
        settings.api_idle_timeout_secs = 2;
        settings.api_wait_timeout_secs = 0;
        settings.api_request_timeout_secs = 5;
        settings.api_body_idle_timeout_secs = 2;
        // Many calls with one token: rate limiting is not under test.
        settings.api_rate_limit_per_second = 0;
    })
    .await
}

/// Reads until the server closes the connection (or resets it); what it
/// sent, and when its first byte came. Panics after 15 s.
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Duration) {
    let (received, took, closed) = read_for(stream, Duration::from_secs(15)).await;
    assert!(
        closed,
        "the server did not close the connection within 15 s; it sent {:?}",
        String::from_utf8_lossy(&received)
    );
    (received, took)
}

/// Reads for at most `limit` or until the server closes the connection;
/// what it sent, when it sent its first byte (or stopped), and whether it
/// closed.
async fn read_for(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration, bool) {
    let started = Instant::now();
    let mut first_byte = None;
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        let Ok(read) = tokio::time::timeout(left, stream.read(&mut buffer)).await else {
            let took = first_byte.unwrap_or(limit);
            return (received, took, false);
        };
        match read {
            Ok(0) | Err(_) => {
                let took = first_byte.unwrap_or_else(|| started.elapsed());
                return (received, took, true);
            }
            Ok(n) => {
                first_byte.get_or_insert_with(|| started.elapsed());
                received.extend_from_slice(&buffer[..n]);
            }
        }
    }
}

#[tokio::test]
async fn a_head_that_never_completes_is_closed() {
    let api = impatient_api().await;
    let mut stream = TcpStream::connect(api.app.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: contaxy\r\nX-Slow: ")
        .await
        .expect("write");
    let (received, took) = read_until_closed(&mut stream).await;
    assert!(
        !String::from_utf8_lossy(&received).contains("alive"),
        "an incomplete request was answered"
    );
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let api = impatient_api().await;
    let mut stream = TcpStream::connect(api.app.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: contaxy\r\n\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let (received, _) = read_until_closed(&mut stream).await;
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("alive"), "{text}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
        "the idle connection was closed after {took:?}"
    );
}

/// An answer given before the request's body was read (a 404 to a POST
/// whose body comes after its head, as Python's `urllib3` sends them) says
/// `Connection: close`, and the connection closes: hyper cannot keep it, and
/// a pooling client told nothing would send its next request into the
/// close. One whose body was read keeps its connection for the next request.
#[tokio::test]
async fn an_answer_that_left_the_body_unread_says_it_closes_the_connection() {
    let api = impatient_api().await;
    let mut stream = TcpStream::connect(api.app.addr).await.expect("connect");
    stream
        .write_all(
            b"POST /auth/oauth/revoke HTTP/1.1\r\nHost: contaxy\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\n",
        )
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The server may have closed already; what it answered is the point.
    let _ = stream.write_all(b"token=x").await;
    let (received, _) = read_until_closed(&mut stream).await;
    let text = String::from_utf8_lossy(&received).to_lowercase();
    assert!(text.starts_with("http/1.1 404"), "{text}");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");

    let mut stream = TcpStream::connect(api.app.addr).await.expect("connect");
    let head = format!(
        "POST /projects HTTP/1.1\r\nHost: contaxy\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\n\r\n",
        api.admin
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(b"{}").await.expect("write");
    let (received, _, closed) = read_for(&mut stream, Duration::from_secs(1)).await;
    let text = String::from_utf8_lossy(&received).to_lowercase();
    assert!(!closed, "the connection closed after {text}");
    assert!(text.starts_with("http/1.1 4"), "{text}");
    assert!(!text.contains("connection: close"), "{text}");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: contaxy\r\n\r\n")
        .await
        .expect("write");
    let (received, _) = read_until_closed(&mut stream).await;
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("alive"),
        "{text}"
    );
}

#[tokio::test]
async fn a_body_that_never_completes_gets_408_with_a_problem_body() {
    let api = impatient_api().await;
    let mut stream = TcpStream::connect(api.app.addr).await.expect("connect");
    let head = format!(
        "POST /projects HTTP/1.1\r\nHost: contaxy\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"id\": ",
        api.admin
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let (received, _) = read_until_closed(&mut stream).await;
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let (_, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let problem: serde_json::Value = serde_json::from_str(body.trim()).expect("a JSON body");
    assert_eq!(problem["code"], 408, "{problem}");
    assert!(
        problem["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("in time")),
        "{problem}"
    );
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(12),
        "answered after {took:?}, the limit is 5 s"
    );
}

/// An API as [`impatient_api`], with a project `alpha` for files.
async fn impatient_files_api() -> TestApi {
    let api = impatient_api().await;
    api.create_project("alpha").await;
    api
}

/// Removes every bucket the test's prefix made.
async fn clean(api: &TestApi) {
    let store = contaxy_common::storage::ObjectStore::new(&api.common);
    contaxy_tests::storage::remove_buckets(&store, &api.common.s3_bucket_prefix).await;
}

#[tokio::test]
async fn an_upload_that_stalls_is_ended_and_one_that_progresses_is_not() {
    let api = impatient_files_api().await;
    // Progressing: 12 pieces, one every 500 ms, 6 s in all, past both the
    // body's stall limit (2 s) and the request timeout of other routes (5 s).
    let pieces = futures::stream::unfold(0_u8, |sent| async move {
        if sent == 12 {
            return None;
        }
        if sent > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Some((Ok::<_, std::io::Error>(vec![sent; 1024]), sent + 1))
    });
    let part =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(pieces)).file_name("slow.bin");
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(api.app.url("/projects/alpha/files/slow.bin"))
        .bearer_auth(&api.admin)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    assert!(started.elapsed() >= Duration::from_secs(5));

    // Stalled: a piece, then nothing.
    let mut stream = TcpStream::connect(api.app.addr).await.expect("connect");
    let head = format!(
        "POST /projects/alpha/files/stalled.bin HTTP/1.1\r\nHost: contaxy\r\n\
         Authorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
         Content-Length: 1000000\r\n\r\n--XyZ\r\nContent-Disposition: form-data; \
         name=\"file\"; filename=\"stalled.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n",
        api.admin
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(&[7_u8; 4096]).await.expect("write");
    let (received, took, _) = read_for(&mut stream, Duration::from_secs(12)).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
        "ended after {took:?}, the stall limit is 2 s"
    );
    clean(&api).await;
}

#[tokio::test]
async fn a_download_the_client_stops_reading_is_cut_off() {
    let api = impatient_files_api().await;
    const SIZE: usize = 24 * 1024 * 1024;
    let answer = api
        .upload("alpha", "big.bin", &api.admin, vec![5_u8; SIZE], None, &[])
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);

    // A small receive buffer, so that the server's writes wait soon.
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(64 * 1024).expect("SO_RCVBUF");
    let mut stream = socket.connect(api.app.addr).await.expect("connect");
    let request = format!(
        "GET /projects/alpha/files/big.bin:download HTTP/1.1\r\nHost: contaxy\r\n\
         Authorization: Bearer {}\r\n\r\n",
        api.admin
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    // The client under test reads nothing for a while: the server's writes
    // wait on full socket buffers, past the 2 s stall limit.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (received, _) = read_until_closed(&mut stream).await;
    let text = String::from_utf8_lossy(&received[..received.len().min(64)]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        received.len() < SIZE,
        "the whole file came ({} bytes): the stalled download was not cut",
        received.len()
    );
    clean(&api).await;
}
