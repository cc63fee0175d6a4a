//! The files routes against the real S3-compatible server (moto, with
//! versioning): streamed uploads larger than a part, versions, deletes,
//! ranges, presigned URLs, key rules, tenancy, limits, metadata, and the
//! storage going away.

use contaxy_common::storage::ObjectStore;
use contaxy_tests::api::{Answer, TestApi, assert_problem};
use contaxy_tests::storage::remove_buckets;
use contaxy_tests::{DEADLINE, TestDb, closed_port_addr, common_config, eventually};
use md5::{Digest as _, Md5};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

const MIB: usize = 1024 * 1024;

/// An API with small upload parts (S3's smallest, 5 MiB) and a project.
async fn start(adjust: impl FnOnce(&mut contaxy_api::ApiSettings)) -> TestApi {
    let api = TestApi::start_with(|s| {
        s.api_upload_part_bytes = 5 * MIB;
        // Many calls with one token: rate limiting is not under test.
        s.api_rate_limit_per_second = 0;
        adjust(s);
    })
    .await;
    api.create_project("alpha").await;
    api
}

/// Removes every bucket the test's prefix made.
async fn clean(api: &TestApi) {
    let store = ObjectStore::new(&api.common);
    remove_buckets(&store, &api.common.s3_bucket_prefix).await;
}

/// Bytes that differ at every position (so a misplaced part shows).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u64)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(u64::from(seed)) as u8
                ^ (i >> 16) as u8
        })
        .collect()
}

/// GETs `path` as `token` and returns status, headers and raw bytes.
async fn fetch(
    api: &TestApi,
    path: &str,
    token: &str,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new()
        .get(api.app.url(path))
        .bearer_auth(token);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a body").to_vec();
    (status, headers, bytes)
}

/// Sends `GET path` as written, over a plain connection, as the admin.
async fn raw_get(api: &TestApi, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(api.app.addr)
        .await
        .expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        api.admin
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn list(api: &TestApi, query: &str) -> Vec<Value> {
    let answer = api
        .get(&format!("/projects/alpha/files?{query}"), &api.admin)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body.as_array().expect("a list").clone()
}

#[tokio::test]
async fn a_file_larger_than_a_part_round_trips_with_its_checksum() {
    let api = start(|_| {}).await;
    // Three parts of 5 MiB, the last one short; starts like a PDF.
    let mut data = b"%PDF-1.7\n".to_vec();
    data.extend(pattern(12 * MIB, 7));
    let md5 = format!("{:x}", Md5::digest(&data));

    let answer = api
        .upload(
            "alpha",
            "big/report.pdf",
            &api.admin,
            data.clone(),
            None,
            &[],
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let file = &answer.body;
    assert_eq!(file["key"], "big/report.pdf");
    assert_eq!(file["file_size"], data.len() as u64);
    assert_eq!(file["md5_hash"], md5);
    assert_eq!(file["content_type"], "application/pdf", "sniffed");
    assert_eq!(file["file_extension"], "pdf");
    assert_eq!(file["latest_version"], true);
    assert!(
        file["etag"].as_str().is_some_and(|e| e.ends_with("-3")),
        "a multipart upload of three parts: {file}"
    );

    let (status, headers, bytes) = fetch(
        &api,
        "/projects/alpha/files/big/report.pdf:download",
        &api.admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-length"), data.len().to_string());
    assert_eq!(header(&headers, "content-type"), "application/pdf");
    assert!(
        header(&headers, "content-disposition").starts_with("attachment; filename=\"report.pdf\""),
        "{headers:?}"
    );
    assert_eq!(Sha256::digest(&bytes), Sha256::digest(&data));
    clean(&api).await;
}

#[tokio::test]
async fn versions_are_listed_each_downloadable_and_keep_latest_leaves_one() {
    let api = start(|_| {}).await;
    let mut versions = Vec::new();
    for round in 0..3 {
        let body = format!("round {round}").into_bytes();
        let answer = api
            .upload(
                "alpha",
                "notes/today.txt",
                &api.admin,
                body,
                Some("text/plain"),
                &[],
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        versions.push(
            answer.body["version"]
                .as_str()
                .expect("a version")
                .to_owned(),
        );
    }
    let answer = api
        .upload(
            "alpha",
            "notes/deep/other.txt",
            &api.admin,
            b"x".to_vec(),
            None,
            &[],
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);

    let all = list(&api, "include_versions=true").await;
    let today: Vec<&Value> = all
        .iter()
        .filter(|f| f["key"] == "notes/today.txt")
        .collect();
    assert_eq!(today.len(), 3, "{all:?}");
    assert_eq!(
        today.iter().filter(|f| f["latest_version"] == true).count(),
        1
    );
    let latest = list(&api, "").await;
    assert_eq!(latest.len(), 2, "{latest:?}");
    let current = latest
        .iter()
        .find(|f| f["key"] == "notes/today.txt")
        .expect("listed");
    assert_eq!(current["version"], versions[2].as_str());
    assert_eq!(
        current["available_versions"].as_array().map(Vec::len),
        Some(3)
    );
    // Not recursive: only what is directly under the prefix.
    let shallow = list(&api, "prefix=notes/&recursive=false").await;
    let keys: Vec<&Value> = shallow.iter().map(|f| &f["key"]).collect();
    assert_eq!(keys, vec!["notes/today.txt"]);

    for (round, version) in versions.iter().enumerate() {
        let (status, _, bytes) = fetch(
            &api,
            &format!("/projects/alpha/files/notes/today.txt:download?version={version}"),
            &api.admin,
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(bytes, format!("round {round}").into_bytes());
    }

    let answer = api
        .call(
            Method::DELETE,
            "/projects/alpha/files/notes/today.txt?keep_latest_version=true",
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    let left: Vec<Value> = list(&api, "include_versions=true")
        .await
        .into_iter()
        .filter(|f| f["key"] == "notes/today.txt")
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["version"], versions[2].as_str());

    // One version, then the whole of another file.
    let path = format!(
        "/projects/alpha/files/notes/today.txt?version={}",
        versions[2]
    );
    let answer = api
        .call(Method::DELETE, &path, Some(&api.admin), None)
        .await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    let gone = api
        .get("/projects/alpha/files/notes/today.txt:metadata", &api.admin)
        .await;
    assert_problem(&gone, 404);
    let answer = api
        .call(
            Method::DELETE,
            "/projects/alpha/files/notes/deep/other.txt",
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    assert!(list(&api, "include_versions=true").await.is_empty());
    let again = api
        .call(
            Method::DELETE,
            "/projects/alpha/files/notes/deep/other.txt",
            Some(&api.admin),
            None,
        )
        .await;
    assert_problem(&again, 404);
    clean(&api).await;
}

#[tokio::test]
async fn a_range_request_returns_the_right_bytes() {
    let api = start(|_| {}).await;
    let data = pattern(1000, 3);
    let answer = api
        .upload("alpha", "r.bin", &api.admin, data.clone(), None, &[])
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let path = "/projects/alpha/files/r.bin:download";

    let (status, headers, bytes) = fetch(&api, path, &api.admin, Some("bytes=100-199")).await;
    assert_eq!(status, 206);
    assert_eq!(bytes, &data[100..200]);
    assert_eq!(header(&headers, "content-range"), "bytes 100-199/1000");
    assert_eq!(header(&headers, "content-length"), "100");

    let (status, _, bytes) = fetch(&api, path, &api.admin, Some("bytes=-10")).await;
    assert_eq!(status, 206);
    assert_eq!(bytes, &data[990..]);

    let (status, _, bytes) = fetch(&api, path, &api.admin, Some("bytes=990-")).await;
    assert_eq!(status, 206);
    assert_eq!(bytes, &data[990..]);

    let (status, headers, bytes) = fetch(&api, path, &api.admin, Some("bytes=2000-")).await;
    assert_eq!(status, 416);
    assert_eq!(header(&headers, "content-range"), "bytes */1000");
    let body: Value = serde_json::from_slice(&bytes).expect("a problem body");
    assert_eq!(body["code"], 416);
    clean(&api).await;
}

#[tokio::test]
async fn presigned_urls_work_with_a_plain_client_and_expire() {
    let api = start(|_| {}).await;
    let plain = reqwest::Client::new();
    let data = pattern(4096, 9);

    let answer = api
        .get(
            "/projects/alpha/files/direct/data.bin:upload-url?expires_in=300",
            &api.admin,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["method"], "PUT");
    let put = plain
        .put(answer.body["url"].as_str().expect("a url"))
        .body(data.clone())
        .send()
        .await
        .expect("S3 answers");
    assert!(put.status().is_success(), "{:?}", put.text().await);
    let meta = api
        .get("/projects/alpha/files/direct/data.bin:metadata", &api.admin)
        .await;
    assert_eq!(meta.status, 200, "{:?}", meta.body);
    assert_eq!(meta.body["file_size"], 4096);

    let answer = api
        .get(
            "/projects/alpha/files/direct/data.bin:download-url?expires_in=300",
            &api.admin,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let got = plain
        .get(answer.body["url"].as_str().expect("a url"))
        .send()
        .await
        .expect("S3 answers");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("bytes").to_vec(), data);

    // The URL is signed to expire. (moto, the test server, checks neither
    // signatures nor expiry, so the expiry is read from the signed URL
    // rather than waited for; AWS S3, MinIO and Ceph refuse it with 403.)
    let short = api
        .get(
            "/projects/alpha/files/direct/data.bin:download-url?expires_in=2",
            &api.admin,
        )
        .await;
    assert_eq!(short.status, 200, "{:?}", short.body);
    let url = reqwest::Url::parse(short.body["url"].as_str().expect("a url")).expect("a URL");
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("X-Amz-Expires").map(String::as_str),
        Some("2"),
        "{url}"
    );
    assert!(query.contains_key("X-Amz-Signature"), "{url}");
    let signed_at = chrono::NaiveDateTime::parse_from_str(&query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        .expect("a signing time")
        .and_utc();
    let expires_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(short.body["expires_at"].clone()).expect("expires_at");
    let slack = (expires_at - signed_at - chrono::Duration::seconds(2))
        .num_seconds()
        .abs();
    assert!(
        slack <= 2,
        "signed at {signed_at}, said to expire at {expires_at}"
    );

    let refused = api
        .get(
            "/projects/alpha/files/direct/data.bin:download-url?expires_in=0",
            &api.admin,
        )
        .await;
    assert_problem(&refused, 400);
    let missing = api
        .get("/projects/alpha/files/nothing.bin:download-url", &api.admin)
        .await;
    assert_problem(&missing, 404);
    clean(&api).await;
}

#[tokio::test]
async fn bad_keys_and_path_traversal_are_refused_naming_the_rule() {
    let api = start(|_| {}).await;
    // Clients collapse a `..` segment (even `%2E%2E`) before sending: these
    // reach the server as `../` after decoding.
    let cases = [
        ("a/%2E%2E%2Fb", "'..'"),
        ("%2E%2E%2Falpha%2Fx", "'..'"),
        ("a%0Ab", "line break"),
        ("a%00b", "control"),
    ];
    for (key, rule) in cases {
        let answer = api
            .get(&format!("/projects/alpha/files/{key}:metadata"), &api.admin)
            .await;
        assert_problem(&answer, 400);
        let message = answer.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(rule), "{key}: {message}");
        let upload = api
            .upload("alpha", key, &api.admin, b"x".to_vec(), None, &[])
            .await;
        assert_problem(&upload, 400);
    }
    // A `..` segment sent as it is, as a client that does not collapse it.
    let raw = raw_get(&api, "/projects/alpha/files/a/../../beta/b.txt:metadata").await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(raw.contains("'..'"), "{raw}");
    let long = "k".repeat(1025);
    let answer = api
        .get(
            &format!("/projects/alpha/files/{long}:metadata"),
            &api.admin,
        )
        .await;
    assert_problem(&answer, 400);
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1024")
    );
    // A GET without a verb, and a verb with another method.
    let answer = api.get("/projects/alpha/files/a.txt", &api.admin).await;
    assert_problem(&answer, 405);
    let answer = api
        .call(
            Method::DELETE,
            "/projects/alpha/files/a.txt:download",
            Some(&api.admin),
            None,
        )
        .await;
    assert_problem(&answer, 405);
    // A key may hold ':' itself.
    let answer = api
        .upload(
            "alpha",
            "at:12:00.txt",
            &api.admin,
            b"noon".to_vec(),
            None,
            &[],
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let (status, _, bytes) = fetch(
        &api,
        "/projects/alpha/files/at:12:00.txt:download",
        &api.admin,
        None,
    )
    .await;
    assert_eq!((status, bytes), (200, b"noon".to_vec()));
    clean(&api).await;
}

#[tokio::test]
async fn another_projects_files_are_unreachable() {
    let api = start(|_| {}).await;
    api.create_project("beta").await;
    let beta = api.project_token("beta", "admin").await;
    let alpha_read = api.project_token("alpha", "read").await;
    let answer = api
        .upload(
            "alpha",
            "secret.txt",
            &api.admin,
            b"alpha only".to_vec(),
            None,
            &[],
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);

    for path in [
        "/projects/alpha/files/secret.txt:download",
        "/projects/alpha/files/secret.txt:metadata",
        "/projects/alpha/files/secret.txt:download-url",
        "/projects/alpha/files",
    ] {
        assert_problem(&api.get(path, &beta).await, 404);
    }
    let upload = api
        .upload(
            "alpha",
            "secret.txt",
            &beta,
            b"overwrite".to_vec(),
            None,
            &[],
        )
        .await;
    assert_problem(&upload, 404);
    // Beta's own storage holds no such file, whatever the key says.
    for key in [
        "secret.txt",
        "..%2Falpha%2Fsecret.txt",
        "projects/alpha/secret.txt",
    ] {
        let answer = api
            .get(&format!("/projects/beta/files/{key}:download"), &beta)
            .await;
        assert!(
            answer.status == 404 || answer.status == 400,
            "{key}: {:?}",
            answer.body
        );
    }
    assert!(api.get("/projects/beta/files", &beta).await.body == json!([]));
    // A read token reads, but does not write.
    let read = api
        .get("/projects/alpha/files/secret.txt:metadata", &alpha_read)
        .await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let write = api
        .upload(
            "alpha",
            "secret.txt",
            &alpha_read,
            b"no".to_vec(),
            None,
            &[],
        )
        .await;
    assert_problem(&write, 403);
    clean(&api).await;
}

#[tokio::test]
async fn storage_away_is_a_503_with_retry_after() {
    let db = TestDb::new().await;
    let mut common = common_config(db.url());
    common.s3_endpoint = format!("http://{}", closed_port_addr());
    let api = TestApi::spawn_on(db, common, |_| {}).await;
    api.wait_ready().await;
    api.create_project("alpha").await;

    let answers: Vec<Answer> = vec![
        api.upload("alpha", "a.txt", &api.admin, b"x".to_vec(), None, &[])
            .await,
        api.get("/projects/alpha/files", &api.admin).await,
        api.get("/projects/alpha/files/a.txt:metadata", &api.admin)
            .await,
        api.get("/projects/alpha/files/a.txt:download", &api.admin)
            .await,
    ];
    for answer in answers {
        assert_problem(&answer, 503);
        assert!(
            answer.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("object storage")),
            "{:?}",
            answer.body
        );
        assert_eq!(
            answer
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("5")
        );
    }
}

#[tokio::test]
async fn uploads_over_the_limit_are_413_and_leave_nothing() {
    let api = start(|s| s.api_max_upload_bytes = 6 * MIB as u64).await;
    // Declared too large: refused before a byte is read.
    let answer = api
        .upload(
            "alpha",
            "big.bin",
            &api.admin,
            pattern(7 * MIB, 1),
            None,
            &[],
        )
        .await;
    assert_problem(&answer, 413);

    // Of unknown length (chunked): refused once the limit is passed, and
    // the multipart upload begun for it is aborted.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..7).map(|i| Ok(pattern(MIB, i))).collect();
    let part =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .file_name("big.bin");
    let form = reqwest::multipart::Form::new().part("file", part);
    let response = reqwest::Client::new()
        .post(api.app.url("/projects/alpha/files/big.bin"))
        .bearer_auth(&api.admin)
        .multipart(form)
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(response.status(), 413);
    }
    let meta = api
        .get("/projects/alpha/files/big.bin:metadata", &api.admin)
        .await;
    assert_problem(&meta, 404);
    let store = ObjectStore::new(&api.common);
    let location = store.location("alpha");
    eventually(DEADLINE, "no multipart upload to be left", || async {
        let uploads = store
            .client()
            .list_multipart_uploads()
            .bucket(&location.bucket)
            .send()
            .await
            .ok()?;
        uploads.uploads().is_empty().then_some(())
    })
    .await;
    // Within the limit is fine.
    let answer = api
        .upload(
            "alpha",
            "fits.bin",
            &api.admin,
            pattern(6 * MIB, 2),
            None,
            &[],
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    clean(&api).await;
}

#[tokio::test]
async fn metadata_headers_round_trip_and_patch_merges() {
    let api = start(|_| {}).await;
    let answer = api
        .upload(
            "alpha",
            "tables/numbers.csv",
            &api.admin,
            b"a,b\n1,2\n".to_vec(),
            Some("text/csv"),
            &[("x-amz-meta-origin", "lab 3"), ("x-amz-meta-run", "7")],
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let first_version = answer.body["version"]
        .as_str()
        .expect("a version")
        .to_owned();
    let md5 = answer.body["md5_hash"].clone();
    assert_eq!(
        answer.body["metadata"],
        json!({"origin": "lab 3", "run": "7"})
    );
    assert_eq!(answer.body["content_type"], "text/csv");
    assert_eq!(answer.body["created_by"], "users/admin");

    let patch = json!({
        "display_name": "Numbers",
        "description": "Zahlen – für alle",
        "metadata": {"run": null, "owner": "ann"}
    });
    let path = "/projects/alpha/files/tables/numbers.csv";
    let answer = api
        .call(Method::PATCH, path, Some(&api.admin), Some(&patch))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let patched = &answer.body;
    assert_eq!(
        patched["metadata"],
        json!({"origin": "lab 3", "owner": "ann"})
    );
    assert_eq!(patched["display_name"], "Numbers");
    assert_eq!(patched["description"], "Zahlen – für alle");
    assert_eq!(patched["content_type"], "text/csv");
    assert_eq!(patched["md5_hash"], md5, "the digest goes with the copy");
    assert_ne!(patched["version"], first_version.as_str());

    let read = api.get(&format!("{path}:metadata"), &api.admin).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.body["metadata"], patched["metadata"]);
    assert_eq!(read.body["display_name"], "Numbers");
    let (_, _, bytes) = fetch(&api, &format!("{path}:download"), &api.admin, None).await;
    assert_eq!(bytes, b"a,b\n1,2\n");

    // An older version's metadata stays as written.
    let old = api
        .call(
            Method::PATCH,
            &format!("{path}?version={first_version}"),
            Some(&api.admin),
            Some(&json!({"description": "x"})),
        )
        .await;
    assert_problem(&old, 409);
    let reserved = api
        .call(
            Method::PATCH,
            path,
            Some(&api.admin),
            Some(&json!({"metadata": {"contaxy-md5": "0"}})),
        )
        .await;
    assert_problem(&reserved, 400);
    let header = api
        .upload(
            "alpha",
            "x.txt",
            &api.admin,
            b"x".to_vec(),
            None,
            &[("x-amz-meta-contaxy-created-by", "users/mallory")],
        )
        .await;
    assert_problem(&header, 400);
    clean(&api).await;
}

#[tokio::test]
async fn in_a_shared_bucket_each_project_sees_only_its_own_files() {
    let db = TestDb::new().await;
    let mut common = common_config(db.url());
    // Named with the test's prefix, so the cleanup finds it.
    common.s3_shared_bucket = format!("{}shared", common.s3_bucket_prefix);
    let api = TestApi::spawn_on(db, common, |s| s.api_rate_limit_per_second = 0).await;
    api.wait_ready().await;
    api.create_project("alpha").await;
    api.create_project("beta").await;
    let beta = api.project_token("beta", "admin").await;
    for (project, body) in [("alpha", "alpha's"), ("beta", "beta's")] {
        let answer = api
            .upload(
                project,
                "x.txt",
                &api.admin,
                body.as_bytes().to_vec(),
                None,
                &[],
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(
            answer.body["external_id"],
            format!("projects/{project}/x.txt"),
            "{:?}",
            answer.body
        );
    }
    let listed = api.get("/projects/beta/files", &beta).await;
    let keys: Vec<&Value> = listed
        .body
        .as_array()
        .expect("a list")
        .iter()
        .map(|f| &f["key"])
        .collect();
    assert_eq!(keys, vec!["x.txt"]);
    let (status, _, bytes) = fetch(&api, "/projects/beta/files/x.txt:download", &beta, None).await;
    assert_eq!((status, bytes), (200, b"beta's".to_vec()));
    // Nothing beta can spell reaches alpha's object in the same bucket.
    let spelled = api
        .get("/projects/beta/files/projects/alpha/x.txt:download", &beta)
        .await;
    assert_problem(&spelled, 404);
    let climbing = api
        .get(
            "/projects/beta/files/%2E%2E%2Falpha%2Fx.txt:download",
            &beta,
        )
        .await;
    assert_problem(&climbing, 400);
    let answer = api
        .call(
            Method::DELETE,
            "/projects/beta/files/x.txt",
            Some(&beta),
            None,
        )
        .await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    let (status, _, bytes) = fetch(
        &api,
        "/projects/alpha/files/x.txt:download",
        &api.admin,
        None,
    )
    .await;
    assert_eq!((status, bytes), (200, b"alpha's".to_vec()));
    clean(&api).await;
}
