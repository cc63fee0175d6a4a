//! The container images (deploy/Dockerfile), built here by
//! `scripts/build-images.sh` with the local Docker Engine from this build's
//! binaries (no registry is reachable: the runtime base is made from the
//! machine's own files). Each image runs as the non-root user 65532, and each
//! binary in its image starts against the real PostgreSQL and RabbitMQ (the
//! worker with the Docker socket and the socket's group, as
//! docker-compose.yml gives it) and answers `/healthz` and `/readyz`, also
//! through the busybox `wget` the compose health checks run inside it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use contaxy_tests::docker::{DOCKER_SOCKET, fresh_namespace, remove_docker_namespace};
use contaxy_tests::{DEADLINE, TestDb, binary, broker, closed_port_addr};

/// The user the images run as (distroless's `nonroot`).
const NONROOT: &str = "65532";
const BINARIES: [&str; 3] = ["api", "worker", "scheduler"];

fn docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker command runs");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "docker {}: {stdout}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The images and containers of one run, removed on drop (also when the
/// test fails), with what the worker made in its runtime namespace.
#[derive(Debug)]
struct Built {
    repo: String,
    tag: String,
    containers: Vec<String>,
    namespace: String,
}

impl Built {
    fn image(&self, name: &str) -> String {
        format!("{}/{name}:{}", self.repo, self.tag)
    }
}

impl Drop for Built {
    fn drop(&mut self) {
        for container in &self.containers {
            docker(&["rm", "-f", "-v", container]).ok();
        }
        for name in ["api", "worker", "scheduler", "runtime-base", "dist"] {
            docker(&["rmi", "-f", &self.image(name)]).ok();
        }
        remove_docker_namespace(&self.namespace);
    }
}

async fn answers(url: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .ok()?;
    if response.status().is_success() {
        response.text().await.ok()
    } else {
        None
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_images_build_here_run_as_non_root_and_each_binary_answers_its_probes() {
    let bin_dir: PathBuf = binary("contaxy-api")
        .parent()
        .expect("the binaries' folder")
        .to_path_buf();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let mut built = Built {
        repo: "contaxy-test".to_owned(),
        tag: format!("t{}", &suffix[..8]),
        containers: Vec::new(),
        namespace: fresh_namespace("t"),
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-images.sh");
    let output = Command::new(&script)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .args(["--tag", &built.tag, "--repo", &built.repo])
        .output()
        .expect("scripts/build-images.sh runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "build-images.sh failed:\n{printed}"
    );
    // The sizes, for the record (docs/deployment.md gives the release ones).
    eprintln!("{printed}");

    for name in BINARIES {
        let image = built.image(name);
        let user =
            docker(&["image", "inspect", "-f", "{{.Config.User}}", &image]).expect("inspect");
        assert_eq!(
            user,
            format!("{NONROOT}:{NONROOT}"),
            "{image} runs as {user}"
        );
        let entrypoint = docker(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Entrypoint}}",
            &image,
        ])
        .expect("inspect");
        assert_eq!(entrypoint, format!("[\"/usr/local/bin/contaxy-{name}\"]"));
    }

    // Each binary in its image, on the host's network, against a fresh
    // database and a topology prefix of its own in the tests' RabbitMQ host.
    let db = TestDb::new().await;
    let prefix = format!("img{}.", &suffix[..8]);
    let socket_group = std::fs::metadata(DOCKER_SOCKET)
        .expect("the Docker socket")
        .gid()
        .to_string();
    let mut addrs = Vec::new();
    for name in BINARIES {
        let addr = closed_port_addr();
        let container = format!("ctxy-image-test-{}-{name}", &suffix[..8]);
        let listen = format!("CONTAXY_{}_LISTEN_ADDR={addr}", name.to_uppercase());
        let database = format!("CONTAXY_DATABASE_URL={}", db.url());
        let amqp = format!("CONTAXY_AMQP_URL={}", broker::amqp_url());
        let topology = format!("CONTAXY_TOPOLOGY_PREFIX={prefix}");
        let namespace = format!("CONTAXY_NAMESPACE={}", built.namespace);
        let socket = format!("{DOCKER_SOCKET}:{DOCKER_SOCKET}");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            &container,
            "--network",
            "host",
            "-e",
            &listen,
            "-e",
            &database,
            "-e",
            &amqp,
            "-e",
            &topology,
            "-e",
            &namespace,
        ];
        if name == "worker" {
            args.extend(["-v", &socket, "--group-add", &socket_group]);
        }
        let image = built.image(name);
        args.push(&image);
        docker(&args).unwrap_or_else(|e| panic!("{e}"));
        built.containers.push(container.clone());
        addrs.push((name, container, addr));
    }

    for (name, container, addr) in &addrs {
        let readyz = format!("http://{addr}/readyz");
        let start = Instant::now();
        let ready = loop {
            if let Some(body) = answers(&readyz).await {
                break body;
            }
            if start.elapsed() > DEADLINE {
                let logs = docker(&["logs", "--tail", "30", container]).unwrap_or_else(|e| e);
                let state = docker(&[
                    "inspect",
                    "-f",
                    "{{.State.Status}} {{.State.ExitCode}}",
                    container,
                ])
                .unwrap_or_else(|e| e);
                panic!("{name} in its image is not ready at {readyz} ({state}):\n{logs}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(ready.contains("\"ready\""), "{name}: {ready}");
        let alive = answers(&format!("http://{addr}/healthz")).await;
        assert!(
            alive.is_some_and(|body| body.contains("alive")),
            "{name} /healthz"
        );
        // The process runs as the non-root user, and the health check of
        // docker-compose.yml works inside the image.
        let uid = docker(&["exec", container, "id", "-u"]).expect("id");
        assert_eq!(uid, NONROOT, "{name} runs as uid {uid}");
        let check = docker(&[
            "exec",
            container,
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://{addr}/readyz"),
        ])
        .unwrap_or_else(|e| panic!("{name}'s compose health check fails: {e}"));
        assert!(check.contains("\"ready\""), "{name}: {check}");
    }
    let topology = contaxy_common::topology::Topology::new(&prefix);
    // Stop the binaries before their exchanges and queues go.
    for container in std::mem::take(&mut built.containers) {
        docker(&["rm", "-f", "-v", &container]).ok();
    }
    broker::TestBroker::connect(topology)
        .await
        .delete_topology()
        .await
        .ok();
    drop(built);
}
