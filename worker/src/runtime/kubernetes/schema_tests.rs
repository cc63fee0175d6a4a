//! Every object the backend sends, and the RBAC manifest, validated against
//! the published schemas of the oldest and newest Kubernetes versions
//! supported, with `kubernetes-validate` (strict: unknown fields fail).
//! Provisioning installs it (`scripts/provision.sh`) into a venv under
//! `$CONTAXY_DEV_HOME`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::objects::tests::{job_spec, service_spec};
use super::*;

/// The oldest and newest Kubernetes versions the backend supports.
pub const SUPPORTED_VERSIONS: [&str; 2] = ["1.32.0", "1.36.0"];

fn validator() -> PathBuf {
    let home =
        std::env::var("CONTAXY_DEV_HOME").unwrap_or_else(|_| "/var/tmp/contaxy-dev".to_owned());
    let path = Path::new(&home).join("kubernetes-validate-venv/bin/kubernetes-validate");
    assert!(
        path.exists(),
        "{} is missing: run scripts/provision.sh (it installs kubernetes-validate)",
        path.display()
    );
    path
}

fn validate(files: &[PathBuf], version: &str) -> (bool, String) {
    let output = Command::new(validator())
        .args(["--strict", "--no-warn", "-k", version])
        .args(files)
        .output()
        .expect("kubernetes-validate runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn write(dir: &Path, name: &str, value: &impl serde::Serialize) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("written");
    path
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ctxy-k8s-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch dir");
    dir
}

/// The Deployment as `network.disconnect`'s merge patch leaves it.
fn disconnected(deployment: &k8s_openapi::api::apps::v1::Deployment) -> serde_json::Value {
    let mut value = serde_json::to_value(deployment).expect("json");
    let label = serde_json::json!("true");
    value["metadata"]["labels"][names::DISCONNECTED] = label.clone();
    value["spec"]["template"]["metadata"]["labels"][names::DISCONNECTED] = label;
    value
}

#[test]
fn every_object_sent_and_the_rbac_manifest_are_valid_kubernetes() {
    let dir = scratch("valid");
    let config = KubeRuntimeConfig {
        job_deadline_secs: Some(600),
        storage_class: Some("standard".to_owned()),
        ..KubeRuntimeConfig::with_namespace("ns")
    };
    let service = service_spec();
    let job = job_spec();
    let mut files = vec![
        write(&dir, "namespace", &objects::namespace(&config, "proj")),
        write(
            &dir,
            "networkpolicy",
            &objects::network_policy(&config, "proj"),
        ),
        write(
            &dir,
            "disconnected-policy",
            &objects::disconnected_policy(&config, "proj"),
        ),
        write(&dir, "deployment", &objects::deployment(&config, &service)),
        write(
            &dir,
            "deployment-disconnected",
            &disconnected(&objects::deployment(&config, &service)),
        ),
        write(&dir, "job", &objects::job(&config, &job)),
    ];
    files.push(write(
        &dir,
        "service",
        &objects::service(&config, &service).expect("a service"),
    ));
    files.push(write(
        &dir,
        "secret",
        &objects::token_secret(&config, &service).expect("a secret"),
    ));
    files.push(write(
        &dir,
        "pvc",
        &objects::volume_claim(&config, &service).expect("a claim"),
    ));
    let rbac = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes/base/rbac.yaml");
    files.push(rbac);
    for version in SUPPORTED_VERSIONS {
        let (ok, text) = validate(&files, version);
        assert!(ok, "Kubernetes {version}:\n{text}");
        // 9 objects and the 3 of the RBAC manifest, each named as passed.
        assert_eq!(text.matches(" passed for resource ").count(), 12, "{text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_validator_refuses_what_is_not_valid() {
    let dir = scratch("invalid");
    let mut deployment = serde_json::to_value(objects::deployment(
        &KubeRuntimeConfig::default(),
        &service_spec(),
    ))
    .expect("json");
    deployment["spec"]["replicas"] = serde_json::json!("one");
    let mut job = serde_json::to_value(objects::job(&KubeRuntimeConfig::default(), &job_spec()))
        .expect("json");
    job["spec"]["template"]["spec"]["containers"][0]["securityContext"]["noSuchField"] =
        serde_json::json!(true);
    for (name, value) in [("deployment", deployment), ("job", job)] {
        let file = write(&dir, name, &value);
        let (ok, text) = validate(&[file], SUPPORTED_VERSIONS[1]);
        assert!(!ok, "{name} was accepted:\n{text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
