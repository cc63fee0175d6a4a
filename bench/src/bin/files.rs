//! `files`: a large file up and down through the API, against the same
//! transfers made straight to the S3 server with the same SDK, in the same
//! run (issue 10: a ratio of at least 0.8 each way, the API's RSS growing
//! by less than 64 MiB during a transfer).
//!
//! The API is the real binary (`contaxy-api`, beside this one), started as
//! a process so its RSS can be read from `/proc` (sampled every 50 ms
//! during each transfer): a fresh database, its own broker prefix and S3
//! bucket prefix, uploads up to 16 GiB, no rate limit. The data is made
//! deterministically into a file in `/var/tmp` (deleted at the end), never
//! held in memory.
//!
//! - **direct upload**: a multipart upload with aws-sdk-s3 in parts of the
//!   API's part size, one part on its way while the next is read (as the
//!   API sends them);
//! - **API upload**: reqwest streams the file as the multipart field
//!   `file` (as contaxy's client does); the API's answer must carry the
//!   file's size and MD5;
//! - **downloads**: `GetObject`, and `…:download` through the API, each
//!   streamed into an MD5 hasher that must agree with the file's.
//!
//! Besides MB/s, ratios and RSS it prints the CPU time of the API and of
//! itself, and for uploads the time after the last byte left the client
//! (the last part, S3 assembling the object, the API's tag and head), so
//! the streaming can be told from S3's `CompleteMultipartUpload`.
//!
//! Usage: `cargo build --release -p contaxy-api -p contaxy-bench &&
//! target/release/files [MiB] [api binary]` (default 1024 MiB).
//! Figures: `docs/benchmarks.md`.

#[path = "../proc_stats.rs"]
mod proc_stats;
#[path = "../test_file.rs"]
mod test_file;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use aws_sdk_s3::Client as S3Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, VersioningConfiguration,
};
use contaxy_common::storage::ObjectStore;
use contaxy_common::topology::Topology;
use contaxy_tests::api::random_secret;
use contaxy_tests::broker::delete_topology_blocking;
use contaxy_tests::storage::remove_buckets;
use contaxy_tests::{TestDb, common_config};
use futures::StreamExt;
use proc_stats::{RssSampler, cpu_seconds, rss_kib};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use test_file::{PART_BYTES, Received, make_data, read_part};
use tokio::task::JoinHandle;

/// How often the API's RSS is sampled during a transfer.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// The RSS growth issue 10 allows during a transfer.
const RSS_BUDGET_MIB: f64 = 64.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(1024);
    let binary = match args.next() {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?
            .parent()
            .context("the bench's directory")?
            .join("contaxy-api"),
    };
    if !binary.is_file() {
        bail!(
            "{} is not built: cargo build --release -p contaxy-api",
            binary.display()
        );
    }
    let size = mib * 1024 * 1024;
    let data = PathBuf::from(format!("/var/tmp/contaxy-bench-{}.bin", unique_suffix()));
    print!("making {mib} MiB of data in {} … ", data.display());
    std::io::stdout().flush()?;
    let md5 = make_data(&data, size)?;
    println!("md5 {md5}");

    let db = TestDb::new().await;
    let common = common_config(db.url());
    let store = ObjectStore::new(&common);
    let admin = random_secret();
    let port = free_port()?;
    let mut api = Command::new(&binary)
        .env("CONTAXY_DATABASE_URL", common.database_url.expose_secret())
        .env("CONTAXY_AMQP_URL", common.amqp_url.expose_secret())
        .env("CONTAXY_TOPOLOGY_PREFIX", &common.topology_prefix)
        .env("CONTAXY_NAMESPACE", "bench")
        .env("CONTAXY_S3_ENDPOINT", &common.s3_endpoint)
        .env("CONTAXY_S3_BUCKET_PREFIX", &common.s3_bucket_prefix)
        .env("CONTAXY_ADMIN_TOKEN", &admin)
        .env("CONTAXY_API_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("CONTAXY_API_MAX_UPLOAD_BYTES", (16u64 << 30).to_string())
        .env("CONTAXY_API_UPLOAD_PART_BYTES", PART_BYTES.to_string())
        .env("CONTAXY_API_RATE_LIMIT_PER_SECOND", "0")
        .env("CONTAXY_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("start the API")?;
    let bench = Bench {
        http: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{port}"),
        admin,
        s3: store.client().clone(),
        direct_bucket: format!("{}direct", common.s3_bucket_prefix),
        data: data.clone(),
        size,
        md5,
    };
    let result = bench.run(&mut api).await;
    let _ = api.kill();
    let _ = api.wait();
    let _ = std::fs::remove_file(&data);
    remove_buckets(&store, &common.s3_bucket_prefix).await;
    delete_topology_blocking(Topology::new(&common.topology_prefix));
    drop(db);
    result
}

/// One run's settings and clients.
struct Bench {
    http: reqwest::Client,
    base: String,
    admin: String,
    s3: S3Client,
    direct_bucket: String,
    data: PathBuf,
    size: u64,
    md5: String,
}

/// One transfer's speed and the API's memory during it.
struct Transfer {
    seconds: f64,
    /// CPU time (user + system) the API and this bench used meanwhile.
    api_cpu: f64,
    own_cpu: f64,
    /// Uploads: seconds from the last byte sent to the end (the last
    /// part, completing the upload, and the API's own calls after it).
    tail: f64,
    rss_before_kib: u64,
    rss_peak_kib: u64,
}

impl Transfer {
    fn mb_per_second(&self, size: u64) -> f64 {
        size as f64 / 1e6 / self.seconds
    }
    fn growth_mib(&self) -> f64 {
        self.rss_peak_kib.saturating_sub(self.rss_before_kib) as f64 / 1024.0
    }
}

impl Bench {
    async fn run(&self, api: &mut Child) -> anyhow::Result<()> {
        self.wait_ready(api).await?;
        let pid = api.id();
        self.post_json(
            "/projects",
            json!({"id": "bench", "display_name": "Benchmark"}),
        )
        .await?;
        self.s3
            .create_bucket()
            .bucket(&self.direct_bucket)
            .send()
            .await
            .context("create the direct bucket")?;
        // Versioned, like the API's buckets.
        self.s3
            .put_bucket_versioning()
            .bucket(&self.direct_bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .context("turn versioning on")?;

        let direct_up = self.measure(pid, self.direct_upload()).await?;
        let api_up = self.measure(pid, self.api_upload()).await?;
        let direct_down = self.measure(pid, self.direct_download()).await?;
        let api_down = self.measure(pid, self.api_download()).await?;

        let mib = self.size / (1024 * 1024);
        println!("{mib} MiB, part size {} MiB", PART_BYTES / (1024 * 1024));
        for (way, direct, through) in [
            ("upload", &direct_up, &api_up),
            ("download", &direct_down, &api_down),
        ] {
            println!(
                "{way:>8}: direct {:.1} MB/s ({:.1} s), API {:.1} MB/s ({:.1} s), ratio {:.2}; API RSS {} → peak {} MiB (+{:.1} MiB)",
                direct.mb_per_second(self.size),
                direct.seconds,
                through.mb_per_second(self.size),
                through.seconds,
                through.mb_per_second(self.size) / direct.mb_per_second(self.size),
                through.rss_before_kib / 1024,
                through.rss_peak_kib / 1024,
                through.growth_mib(),
            );
            println!(
                "{:>8}  CPU s: direct (bench {:.1}), API (API {:.1}, bench {:.1}){}",
                "",
                direct.own_cpu,
                through.api_cpu,
                through.own_cpu,
                if way == "upload" {
                    let streaming = |t: &Transfer| self.size as f64 / 1e6 / (t.seconds - t.tail);
                    format!(
                        "\n{:>8}  until the last byte: direct {:.1} MB/s, API {:.1} MB/s, ratio {:.2}; after it (last part, complete, API's tag and head): direct {:.1} s, API {:.1} s",
                        "",
                        streaming(direct),
                        streaming(through),
                        streaming(through) / streaming(direct),
                        direct.tail,
                        through.tail
                    )
                } else {
                    String::new()
                }
            );
        }
        let worst = api_up.growth_mib().max(api_down.growth_mib());
        println!(
            "API RSS growth within {RSS_BUDGET_MIB} MiB: {}",
            if worst < RSS_BUDGET_MIB { "yes" } else { "NO" }
        );
        Ok(())
    }

    /// Runs `transfer`, timing it and sampling the API's RSS meanwhile.
    async fn measure(
        &self,
        pid: u32,
        transfer: impl Future<Output = anyhow::Result<f64>>,
    ) -> anyhow::Result<Transfer> {
        let rss_before_kib = rss_kib(pid)?;
        let cpu_before = (cpu_seconds(pid)?, cpu_seconds(std::process::id())?);
        let sampler = RssSampler::start(pid, SAMPLE_EVERY);
        let started = Instant::now();
        let done = transfer.await;
        let seconds = started.elapsed().as_secs_f64();
        let rss_peak_kib = sampler.stop();
        let tail = done?;
        Ok(Transfer {
            seconds,
            tail,
            api_cpu: cpu_seconds(pid)? - cpu_before.0,
            own_cpu: cpu_seconds(std::process::id())? - cpu_before.1,
            rss_before_kib,
            rss_peak_kib,
        })
    }

    /// A multipart upload straight to S3, one part on its way while the
    /// next is read. Answers its tail (see [`Transfer::tail`]).
    async fn direct_upload(&self) -> anyhow::Result<f64> {
        let key = "big.bin";
        let started = self
            .s3
            .create_multipart_upload()
            .bucket(&self.direct_bucket)
            .key(key)
            .content_type("application/octet-stream")
            .send()
            .await?;
        let upload_id = started.upload_id().context("an upload id")?.to_owned();
        let mut file = tokio::fs::File::open(&self.data).await?;
        let mut parts = Vec::new();
        let mut in_flight: Option<JoinHandle<anyhow::Result<CompletedPart>>> = None;
        for number in 1.. {
            let part = read_part(&mut file).await?;
            if part.is_empty() {
                break;
            }
            if let Some(sending) = in_flight.take() {
                parts.push(sending.await??);
            }
            let request = self
                .s3
                .upload_part()
                .bucket(&self.direct_bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(number)
                .content_length(i64::try_from(part.len())?)
                .body(ByteStream::from(part));
            in_flight = Some(tokio::spawn(async move {
                let sent = request.send().await?;
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(sent.e_tag().map(str::to_owned))
                    .build())
            }));
        }
        let last_byte = Instant::now();
        if let Some(sending) = in_flight.take() {
            parts.push(sending.await??);
        }
        self.s3
            .complete_multipart_upload()
            .bucket(&self.direct_bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await?;
        Ok(last_byte.elapsed().as_secs_f64())
    }

    /// The file streamed to the API as the multipart field `file`.
    /// Answers its tail (see [`Transfer::tail`]).
    async fn api_upload(&self) -> anyhow::Result<f64> {
        let file = tokio::fs::File::open(&self.data).await?;
        let last_byte = Arc::new(Mutex::new(None));
        let read_all = last_byte.clone();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).chain(
            futures::stream::poll_fn(move |_| {
                if let Ok(mut at) = read_all.lock() {
                    *at = Some(Instant::now());
                }
                Poll::Ready(None)
            }),
        );
        let body = reqwest::Body::wrap_stream(stream);
        let part = reqwest::multipart::Part::stream_with_length(body, self.size)
            .file_name("big.bin")
            .mime_str("application/octet-stream")?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let answer = self
            .http
            .post(format!("{}/projects/bench/files/big.bin", self.base))
            .bearer_auth(&self.admin)
            .multipart(form)
            .send()
            .await?;
        let status = answer.status();
        let file: Value = answer.json().await?;
        ensure!(status.is_success(), "the upload answered {status}: {file}");
        ensure!(
            file["file_size"] == self.size && file["md5_hash"] == self.md5.as_str(),
            "the API recorded another file: {file}"
        );
        let last_byte = last_byte
            .lock()
            .ok()
            .and_then(|at| *at)
            .context("the body was read to its end")?;
        Ok(last_byte.elapsed().as_secs_f64())
    }

    async fn direct_download(&self) -> anyhow::Result<f64> {
        let object = self
            .s3
            .get_object()
            .bucket(&self.direct_bucket)
            .key("big.bin")
            .send()
            .await?;
        let mut body = object.body;
        let mut hasher = Received::default();
        while let Some(chunk) = body.next().await {
            hasher.take(&chunk?);
        }
        hasher.check(self.size, &self.md5, "the direct download")?;
        Ok(0.0)
    }

    async fn api_download(&self) -> anyhow::Result<f64> {
        let answer = self
            .http
            .get(format!(
                "{}/projects/bench/files/big.bin:download",
                self.base
            ))
            .bearer_auth(&self.admin)
            .send()
            .await?
            .error_for_status()?;
        let mut body = answer.bytes_stream();
        let mut hasher = Received::default();
        while let Some(chunk) = body.next().await {
            hasher.take(&chunk?);
        }
        hasher.check(self.size, &self.md5, "the API download")?;
        Ok(0.0)
    }

    async fn wait_ready(&self, api: &mut Child) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = api.try_wait()? {
                bail!("the API exited: {status}");
            }
            let ready = self.http.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the API is not ready after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn post_json(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let answer = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await?;
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "POST {path} answered {status}: {body}");
        Ok(body)
    }
}

/// A loopback port nothing listens on (for the API to bind).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A name part unlikely to clash with another run's.
fn unique_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}
