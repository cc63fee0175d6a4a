//! The deployment files, checked without a cluster and without a registry
//! (docs/deployment.md):
//!
//! - `docker-compose.yml` passes `docker-compose config` (Debian's Compose
//!   1.29, provisioned), and a broken copy does not;
//! - `deploy/kubernetes` (the base and the example overlay) renders with
//!   `kubectl kustomize`, and every object passes `kubernetes-validate
//!   --strict` against the schemas of 1.32 and 1.36, as the worker's own
//!   objects do (`worker/src/runtime/kubernetes/schema_tests.rs`);
//! - in both, every `CONTAXY_*` variable a binary is given is a field of that
//!   binary's configuration (so it is read, not ignored), is documented in
//!   docs/configuration.md for that binary, and its value loads into the
//!   field's type as `config::load` would load it; the health checks and probes
//!   reach the port the binary's listen setting names, on `/healthz` and
//!   `/readyz`; a stopping worker gets longer than its drain timeout;
//! - the example overlay's placeholder API secrets make the real API refuse
//!   to start, as docs/deployment.md says.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_aux::serde_introspection::serde_introspect;
use serde_json::{Value, json};

const BINARIES: [&str; 3] = ["api", "worker", "scheduler"];
/// The Kubernetes versions the manifests are validated against: the
/// backend's supported range (docs/kubernetes.md).
const KUBERNETES_VERSIONS: [&str; 2] = ["1.32.0", "1.36.0"];
/// The drain timeout a worker has when none is set (docs/configuration.md).
const DEFAULT_DRAIN_SECS: u64 = 20;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ctxy-deploy-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("a scratch dir");
    dir
}

fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} does not run ({e}); run scripts/provision.sh"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{stdout}{stderr}"))
    }
}

// --- what a binary reads, what the docs say ---------------------------------

/// The variables a binary reads: its configuration's fields, as
/// `CONTAXY_<FIELD>` (the names `config::load` accepts).
fn read_by(binary: &str) -> BTreeSet<String> {
    let own: &[&str] = match binary {
        "api" => serde_introspect::<contaxy_api::ApiSettings>(),
        "worker" => serde_introspect::<contaxy_worker::WorkerSettings>(),
        "scheduler" => serde_introspect::<contaxy_scheduler::SchedulerSettings>(),
        other => panic!("no binary {other}"),
    };
    serde_introspect::<contaxy_common::config::CommonConfig>()
        .iter()
        .chain(own)
        .map(|field| format!("CONTAXY_{}", field.to_uppercase()))
        .collect()
}

/// The variables docs/configuration.md documents for a binary: its shared
/// table and the binary's own.
fn documented_for(binary: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo().join("docs/configuration.md")).expect("the docs");
    let mut section = String::new();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title.trim().to_owned();
        } else if let Some(rest) = line.strip_prefix("| `CONTAXY_")
            && (section == "Shared by all binaries" || section == binary)
            && let Some((name, _)) = rest.split_once('`')
        {
            names.insert(format!("CONTAXY_{name}"));
        }
    }
    assert!(
        names.len() > 10,
        "docs/configuration.md has no settings table for {binary}"
    );
    names
}

/// Why a binary given these variables would not read one of them, or read
/// one the docs do not describe.
fn setting_problems<'a>(binary: &str, names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let read = read_by(binary);
    let documented = documented_for(binary);
    let mut problems = Vec::new();
    for name in names {
        if !name.starts_with("CONTAXY_") {
            continue;
        }
        if !read.contains(name) {
            problems.push(format!(
                "{binary}: {name} is not a setting of contaxy-{binary}"
            ));
        }
        if !documented.contains(name) {
            problems.push(format!(
                "{binary}: {name} is not documented for {binary} in docs/configuration.md"
            ));
        }
    }
    problems
}

/// Why a binary could not load its configuration from these variables:
/// each value parsed as `config::load` parses the environment (figment's
/// `Env`), then both parts extracted into the binary's real types.
fn load_problems(binary: &str, vars: &BTreeMap<String, String>) -> Vec<String> {
    use figment::Figment;
    use figment::providers::Serialized;
    use figment::value::{Dict, Value as Setting};

    let read = read_by(binary);
    let dict: Dict = vars
        .iter()
        .filter(|(name, _)| read.contains(*name))
        .map(|(name, value)| {
            let key = name.trim_start_matches("CONTAXY_").to_lowercase();
            (
                key,
                value.parse::<Setting>().expect("parsing is infallible"),
            )
        })
        .collect();
    let figment = Figment::from(Serialized::defaults(dict));
    let own = match binary {
        "api" => figment.extract::<contaxy_api::ApiSettings>().err(),
        "worker" => figment.extract::<contaxy_worker::WorkerSettings>().err(),
        "scheduler" => figment
            .extract::<contaxy_scheduler::SchedulerSettings>()
            .err(),
        other => panic!("no binary {other}"),
    };
    let common = figment
        .extract::<contaxy_common::config::CommonConfig>()
        .err();
    [common, own]
        .into_iter()
        .flatten()
        .map(|e| format!("{binary}: a value does not load: {e}"))
        .collect()
}

fn listen_setting(binary: &str) -> String {
    format!("CONTAXY_{}_LISTEN_ADDR", binary.to_uppercase())
}

fn port_of(addr: &str) -> u16 {
    addr.parse::<SocketAddr>()
        .unwrap_or_else(|e| panic!("{addr} is not a listen address: {e}"))
        .port()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other}"),
    }
}

#[test]
fn the_settings_check_refuses_what_a_binary_does_not_read_or_the_docs_do_not_list() {
    let names = [
        "CONTAXY_WORKER_CONCURRENCY".to_owned(),
        "CONTAXY_NO_SUCH_SETTING".to_owned(),
    ];
    let problems = setting_problems("api", &names);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(setting_problems("worker", &names[..1]).is_empty());
    assert!(
        setting_problems(
            "scheduler",
            &["CONTAXY_STATUS_EVENTS_RETENTION_SECS".to_owned()]
        )
        .is_empty()
    );
}

#[test]
fn the_load_check_refuses_a_value_of_the_wrong_type() {
    let good = BTreeMap::from([
        ("CONTAXY_WORKER_CONCURRENCY".to_owned(), "8".to_owned()),
        ("CONTAXY_S3_FORCE_PATH_STYLE".to_owned(), "true".to_owned()),
        ("CONTAXY_RUNTIME".to_owned(), "kubernetes".to_owned()),
    ]);
    let problems = load_problems("worker", &good);
    assert!(problems.is_empty(), "{problems:?}");
    for (name, value) in [
        ("CONTAXY_WORKER_CONCURRENCY", "eight"),
        ("CONTAXY_S3_FORCE_PATH_STYLE", "maybe"),
        ("CONTAXY_RUNTIME", "podman"),
    ] {
        let mut bad = good.clone();
        bad.insert(name.to_owned(), value.to_owned());
        assert_eq!(
            load_problems("worker", &bad).len(),
            1,
            "{name}={value} loaded"
        );
    }
}

// --- docker-compose.yml -----------------------------------------------------

/// `docker-compose config` of a file: its resolved form, or why not.
fn compose_config(file: &Path) -> Result<Value, String> {
    let out = run(Command::new("docker-compose")
        .arg("-f")
        .arg(file)
        .arg("config")
        .env("DOCKER_GID", "999")
        .env("CONTAXY_ADMIN_TOKEN", "a".repeat(40))
        .env_remove("CONTAXY_CONTAINER_BASE_URL")
        .env_remove("CONTAXY_CONTAINER_API_ENDPOINT"))?;
    Ok(serde_saphyr::from_str(&out).expect("docker-compose prints YAML"))
}

/// What is wrong with the resolved compose file, beyond its schema.
fn compose_problems(config: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let services = config["services"].as_object().expect("services");
    for name in ["postgres", "rabbitmq", "s3", "api", "worker", "scheduler"] {
        match services.get(name) {
            None => problems.push(format!("no service {name}")),
            Some(service) if service["healthcheck"]["test"].as_array().is_none() => {
                problems.push(format!("{name} has no health check"));
            }
            Some(_) => {}
        }
    }
    for binary in BINARIES {
        let Some(service) = services.get(binary) else {
            continue;
        };
        let env: BTreeMap<String, String> = service["environment"]
            .as_object()
            .map(|env| env.iter().map(|(k, v)| (k.clone(), text(v))).collect())
            .unwrap_or_default();
        problems.extend(setting_problems(binary, env.keys()));
        problems.extend(load_problems(binary, &env));
        let Some(addr) = env.get(&listen_setting(binary)) else {
            problems.push(format!("{binary} does not set {}", listen_setting(binary)));
            continue;
        };
        let port = port_of(addr);
        let check = &service["healthcheck"]["test"];
        let url = check.as_array().and_then(|c| c.last()).map(text);
        let wanted = format!("http://127.0.0.1:{port}/readyz");
        if url.as_deref() != Some(wanted.as_str()) {
            problems.push(format!(
                "{binary}'s health check is {check}, not one on {wanted}"
            ));
        }
        for dependency in ["postgres", "rabbitmq"] {
            if service["depends_on"][dependency]["condition"] != json!("service_healthy") {
                problems.push(format!(
                    "{binary} does not wait for {dependency} to be healthy"
                ));
            }
        }
        if binary == "worker" {
            let volumes = service["volumes"].to_string();
            if !volumes.contains("/var/run/docker.sock") {
                problems.push("the worker does not get the Docker socket".to_owned());
            }
            if service["group_add"].as_array().is_none_or(Vec::is_empty) {
                problems.push("the worker's user is not in the socket's group".to_owned());
            }
            let drain = env
                .get("CONTAXY_WORKER_DRAIN_TIMEOUT_SECS")
                .map_or(DEFAULT_DRAIN_SECS, |v| v.parse().expect("a number"));
            let grace = service["stop_grace_period"]
                .as_str()
                .and_then(|g| g.strip_suffix('s'))
                .and_then(|g| g.parse::<u64>().ok())
                .unwrap_or(10);
            if grace <= drain {
                problems.push(format!(
                    "the worker is killed {grace} s after SIGTERM, within its {drain} s drain"
                ));
            }
        }
    }
    problems
}

#[test]
fn the_compose_file_is_valid_and_gives_each_binary_its_own_settings_and_health_check() {
    let config = compose_config(&repo().join("docker-compose.yml"))
        .unwrap_or_else(|e| panic!("docker-compose refuses docker-compose.yml:\n{e}"));
    let problems = compose_problems(&config);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_compose_checks_refuse_a_broken_file() {
    let original = std::fs::read_to_string(repo().join("docker-compose.yml")).expect("the file");
    let dir = scratch("compose");
    // Not Compose at all: a condition that does not exist.
    let file = dir.join("docker-compose.yml");
    std::fs::write(&file, original.replace("service_healthy", "service_happy")).expect("written");
    assert!(
        compose_config(&file).is_err(),
        "an unknown condition passed"
    );
    // Valid Compose, wrong for contaxy: a worker setting on the API, a
    // health check on another port, the worker stopped before it drains.
    let broken = original
        .replace(
            "CONTAXY_API_LISTEN_ADDR: 0.0.0.0:8080",
            "CONTAXY_API_LISTEN_ADDR: 0.0.0.0:8081\n      CONTAXY_WORKER_CONCURRENCY: \"4\"",
        )
        .replace("stop_grace_period: 30s", "stop_grace_period: 5s");
    std::fs::write(&file, broken).expect("written");
    let config = compose_config(&file).expect("still valid Compose");
    let problems = compose_problems(&config);
    std::fs::remove_dir_all(&dir).ok();
    let all = problems.join("\n");
    assert!(
        all.contains("CONTAXY_WORKER_CONCURRENCY is not a setting of contaxy-api"),
        "{all}"
    );
    assert!(all.contains("api's health check"), "{all}");
    assert!(all.contains("within its 20 s drain"), "{all}");
}

// --- deploy/kubernetes ------------------------------------------------------

fn kustomize(dir: &str) -> String {
    run(Command::new("kubectl")
        .arg("kustomize")
        .arg(repo().join(dir)))
    .unwrap_or_else(|e| {
        panic!("kubectl kustomize {dir} failed (kubectl 1.27 or later is needed):\n{e}")
    })
}

fn kubernetes_validate(file: &Path, version: &str) -> (bool, String) {
    let home =
        std::env::var("CONTAXY_DEV_HOME").unwrap_or_else(|_| "/var/tmp/contaxy-dev".to_owned());
    let validator = Path::new(&home).join("kubernetes-validate-venv/bin/kubernetes-validate");
    assert!(
        validator.exists(),
        "{} is missing: run scripts/provision.sh",
        validator.display()
    );
    match run(Command::new(validator)
        .args(["--strict", "--no-warn", "-k", version])
        .arg(file))
    {
        Ok(out) => (true, out),
        Err(out) => (false, out),
    }
}

fn objects(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("kustomize prints YAML")
        .into_iter()
        .filter(|doc| !doc.is_null())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == json!(kind) && o["metadata"]["name"] == json!(name))
}

/// The keys of the ConfigMap or Secret an `envFrom` entry names, with the
/// ConfigMap's values (a Secret's stay out: base64, and all strings).
type Keys = Vec<(String, Option<String>)>;
fn env_from_keys(objects: &[Value], source: &Value) -> Result<Keys, String> {
    let (kind, name) = if let Some(name) = source["configMapRef"]["name"].as_str() {
        ("ConfigMap", name)
    } else if let Some(name) = source["secretRef"]["name"].as_str() {
        ("Secret", name)
    } else {
        return Err(format!("an envFrom entry of another kind: {source}"));
    };
    let object = find(objects, kind, name).ok_or(format!("no {kind} {name}"))?;
    let data = object["data"]
        .as_object()
        .or(object["stringData"].as_object());
    Ok(data
        .into_iter()
        .flatten()
        .map(|(key, value)| (key.clone(), (kind == "ConfigMap").then(|| text(value))))
        .collect())
}

/// What is wrong with one binary's Deployment in a rendered installation.
/// `complete`: the ConfigMaps and Secrets it reads are rendered too.
fn deployment_problems(objects: &[Value], binary: &str, complete: bool) -> Vec<String> {
    let name = format!("contaxy-{binary}");
    let Some(deployment) = find(objects, "Deployment", &name) else {
        return vec![format!("no Deployment {name}")];
    };
    let mut problems = Vec::new();
    let pod = &deployment["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().cloned().unwrap_or_default();
    let [container] = containers.as_slice() else {
        return vec![format!("{name} does not have exactly one container")];
    };
    let mut env = BTreeMap::new();
    for var in container["env"].as_array().into_iter().flatten() {
        env.insert(text(&var["name"]), var["value"].as_str().map(str::to_owned));
    }
    let mut names: Vec<String> = env.keys().cloned().collect();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    if complete {
        for source in container["envFrom"].as_array().into_iter().flatten() {
            match env_from_keys(objects, source) {
                Ok(keys) => {
                    for (key, value) in keys {
                        names.push(key.clone());
                        values.extend(value.map(|v| (key, v)));
                    }
                }
                Err(e) => problems.push(format!("{name}: {e}")),
            }
        }
    }
    // `env` wins over `envFrom`, as in Kubernetes.
    values.extend(
        env.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?))),
    );
    problems.extend(setting_problems(binary, &names));
    problems.extend(load_problems(binary, &values));
    // The probes and ports against the listen setting.
    let Some(Some(addr)) = env.get(&listen_setting(binary)) else {
        problems.push(format!("{name} does not set {}", listen_setting(binary)));
        return problems;
    };
    let port = port_of(addr);
    let ports = container["ports"].as_array().cloned().unwrap_or_default();
    let named: Option<String> = ports
        .iter()
        .find(|p| p["containerPort"] == json!(port))
        .and_then(|p| p["name"].as_str().map(str::to_owned));
    if ports.iter().all(|p| p["containerPort"] != json!(port)) {
        problems.push(format!("{name} does not declare its port {port}"));
    }
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        let reaches =
            get["port"] == json!(port) || named.as_ref().is_some_and(|n| get["port"] == json!(n));
        if get["path"] != json!(path) || !reaches {
            problems.push(format!(
                "{name}'s {probe} is {get}, not {path} on port {port}"
            ));
        }
    }
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            if container["resources"][kind][resource].is_null() {
                problems.push(format!("{name} has no {resource} {kind}"));
            }
        }
    }
    let budget = find(objects, "PodDisruptionBudget", &name);
    if budget.is_none_or(|b| b["spec"]["selector"] != deployment["spec"]["selector"]) {
        problems.push(format!("{name} has no PodDisruptionBudget over its pods"));
    }
    let user = &pod["securityContext"];
    if user["runAsNonRoot"] != json!(true) || user["runAsUser"].as_u64().is_none_or(|u| u == 0) {
        problems.push(format!("{name} may run as root: {user}"));
    }
    if container["securityContext"]["allowPrivilegeEscalation"] != json!(false) {
        problems.push(format!("{name} allows privilege escalation"));
    }
    if binary == "worker" {
        if env.get("CONTAXY_RUNTIME") != Some(&Some("kubernetes".to_owned())) {
            problems.push("the worker does not use the Kubernetes runtime".to_owned());
        }
        let account = pod["serviceAccountName"].as_str().unwrap_or_default();
        let bound =
            objects.iter().any(|o| {
                o["kind"] == json!("ClusterRoleBinding")
                    && o["subjects"].as_array().into_iter().flatten().any(|s| {
                        s["kind"] == json!("ServiceAccount") && s["name"] == json!(account)
                    })
            });
        if account.is_empty() || !bound {
            problems.push(format!(
                "the worker's service account `{account}` is not bound to its ClusterRole"
            ));
        }
        let drain = env
            .get("CONTAXY_WORKER_DRAIN_TIMEOUT_SECS")
            .and_then(Clone::clone)
            .map_or(DEFAULT_DRAIN_SECS, |v| v.parse().expect("a number"));
        let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
        if grace <= drain {
            problems.push(format!(
                "the worker is killed {grace} s after SIGTERM, within its {drain} s drain"
            ));
        }
    }
    if binary == "api" {
        let service = find(objects, "Service", &name);
        let target = service
            .and_then(|s| s["spec"]["ports"].get(0))
            .map(|p| &p["targetPort"]);
        let reaches = target
            .is_some_and(|t| *t == json!(port) || named.as_ref().is_some_and(|n| *t == json!(n)));
        if !reaches {
            problems.push(format!("the Service {name} does not reach port {port}"));
        }
    }
    problems
}

#[test]
fn the_kubernetes_manifests_render_and_every_object_is_valid() {
    let dir = scratch("kustomize");
    for (source, complete) in [
        ("deploy/kubernetes/base", false),
        ("deploy/kubernetes/overlays/example", true),
    ] {
        let yaml = kustomize(source);
        let objects = objects(&yaml);
        let file = dir.join("rendered.yaml");
        std::fs::write(&file, &yaml).expect("written");
        for version in KUBERNETES_VERSIONS {
            let (ok, out) = kubernetes_validate(&file, version);
            assert!(ok, "{source} on Kubernetes {version}:\n{out}");
            assert_eq!(
                out.matches(" passed for resource ").count(),
                objects.len(),
                "{source}: every object validated:\n{out}"
            );
        }
        let problems: Vec<String> = BINARIES
            .iter()
            .flat_map(|binary| deployment_problems(&objects, binary, complete))
            .collect();
        assert!(problems.is_empty(), "{source}: {problems:#?}");
        if complete {
            // The admin token and the token secret reach the API only.
            for binary in ["worker", "scheduler"] {
                let deployment = find(&objects, "Deployment", &format!("contaxy-{binary}"));
                let from = deployment.map(|d| d["spec"]["template"].to_string());
                assert!(
                    !from.unwrap_or_default().contains("contaxy-api-secrets"),
                    "{binary} reads the API's secrets"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_kubernetes_checks_refuse_a_broken_installation() {
    let mut objects = objects(&kustomize("deploy/kubernetes/overlays/example"));
    for object in &mut objects {
        if object["kind"] == json!("Deployment") {
            let name = text(&object["metadata"]["name"]);
            let container = &mut object["spec"]["template"]["spec"]["containers"][0];
            if name == "contaxy-api" {
                container["readinessProbe"]["httpGet"]["port"] = json!(9101);
                container["env"]
                    .as_array_mut()
                    .expect("env")
                    .push(json!({"name": "CONTAXY_RUNTIME", "value": "docker"}));
            } else if name == "contaxy-worker" {
                object["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(10);
            } else {
                object["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = json!(0);
            }
        }
    }
    let problems: Vec<String> = BINARIES
        .iter()
        .flat_map(|binary| deployment_problems(&objects, binary, true))
        .collect();
    let all = problems.join("\n");
    assert!(all.contains("contaxy-api's readinessProbe"), "{all}");
    assert!(
        all.contains("CONTAXY_RUNTIME is not a setting of contaxy-api"),
        "{all}"
    );
    assert!(all.contains("within its 20 s drain"), "{all}");
    assert!(all.contains("contaxy-scheduler may run as root"), "{all}");
    // And the schema validation refuses what Kubernetes would.
    let dir = scratch("invalid");
    let file = dir.join("invalid.json");
    let mut deployment = find(&objects, "Deployment", "contaxy-worker")
        .expect("the worker")
        .clone();
    deployment["spec"]["replicas"] = json!("two");
    std::fs::write(&file, deployment.to_string()).expect("written");
    let (ok, out) = kubernetes_validate(&file, KUBERNETES_VERSIONS[1]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!ok, "a Deployment with replicas \"two\" passed:\n{out}");
}

#[test]
fn the_example_overlays_api_secrets_are_refused_until_replaced() {
    let file = repo().join("deploy/kubernetes/overlays/example/api-secrets.env");
    let text = std::fs::read_to_string(&file).expect("the example's secrets");
    let mut api = Command::new(contaxy_tests::binary("contaxy-api"));
    api.env_clear()
        .env("CONTAXY_API_LISTEN_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (name, value) = line.split_once('=').expect("NAME=value");
        api.env(name, value);
    }
    let mut child = api.spawn().expect("the API starts");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("its status") {
            break status;
        }
        if start.elapsed() > contaxy_tests::DEADLINE {
            child.kill().ok();
            panic!("the API started with the example's placeholder secrets");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("its message");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("CONTAXY_ADMIN_TOKEN must be at least 32 characters long"),
        "{stderr}"
    );
}
