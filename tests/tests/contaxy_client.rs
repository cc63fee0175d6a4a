//! contaxy's own Python client (PyPI `contaxy`, the version in
//! [`CLIENT_VERSION`]), unmodified, against the real stack: an API and a
//! worker on Docker. `tests/contaxy_client/drive.py` makes every call and
//! asserts its result; this test runs it and holds every call to work,
//! except those docs/compatibility.md lists as differing or missing
//! ([`KNOWN_TO_FAIL`]). A listed call that starts to work fails the test
//! too, so the table stays true.
//!
//! The client lives in the virtualenv `scripts/provision.sh client` makes
//! (`$CONTAXY_DEV_HOME/contaxy-client-venv`); `CONTAXY_CLIENT_PYTHON`
//! names another interpreter.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use contaxy_tests::IMAGE;
use contaxy_tests::stack::{PROJECT, Stack};

/// The client version the claim is proven against (and provisioning
/// installs).
const CLIENT_VERSION: &str = "0.0.23";

/// Calls that do not work through the unmodified client, each with its
/// row in docs/compatibility.md.
const KNOWN_TO_FAIL: &[&str] = &[
    "SystemClient.is_healthy",
    "SystemClient.get_system_info",
    "SystemClient.get_system_statistics",
    "SystemClient.add_allowed_image",
    "SystemClient.list_allowed_images",
    "SystemClient.delete_allowed_image",
    "AuthClient.list_users",
    "AuthClient.get_user",
    "AuthClient.list_permissions",
    "AuthClient.list_resources_with_permission",
    "AuthClient.introspect_token",
    "DeploymentClient.update_service_access",
    "DeploymentClient.list_deploy_service_actions",
    "DeploymentClient.suggest_service_config",
    "DeploymentClient.list_job_actions",
    "DeploymentClient.list_deploy_job_actions",
    "DeploymentClient.suggest_job_config",
];

fn python() -> PathBuf {
    if let Ok(python) = std::env::var("CONTAXY_CLIENT_PYTHON") {
        return python.into();
    }
    let home = std::env::var("CONTAXY_DEV_HOME").unwrap_or_else(|_| "/var/tmp/contaxy-dev".into());
    PathBuf::from(home).join("contaxy-client-venv/bin/python")
}

#[tokio::test]
async fn contaxy_clients_calls_work_unchanged() {
    let stack = Stack::start().await;
    let python = python();
    let version = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('contaxy'))",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} runs ({e}); run scripts/provision.sh client",
                python.display()
            )
        });
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        CLIENT_VERSION,
        "the provisioned client: {}",
        String::from_utf8_lossy(&version.stderr)
    );

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contaxy_client/drive.py");
    let mut command = Command::new(&python);
    command
        .arg(&script)
        .env("CONTAXY_API_URL", stack.api.app.url(""))
        .env("CONTAXY_TOKEN", &stack.api.admin)
        .env("CONTAXY_PROJECT", PROJECT)
        .env("CONTAXY_IMAGE", IMAGE);
    // The API runs in this process: wait for the script off the runtime.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joined")
        .expect("the script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the script ended early:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("\nsummary "),
        "the script ran to its end:\n{stdout}\n{stderr}"
    );

    let mut failed = BTreeSet::new();
    let mut worked = BTreeSet::new();
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("works ") {
            worked.insert(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("fails ") {
            let name = rest.split_once(':').map_or(rest, |(name, _)| name);
            failed.insert(name.to_owned());
        }
    }
    let known: BTreeSet<String> = KNOWN_TO_FAIL.iter().map(|s| (*s).to_owned()).collect();
    let unexpected: Vec<_> = failed.difference(&known).collect();
    assert!(
        unexpected.is_empty(),
        "calls that must work fail: {unexpected:?}\n{stdout}"
    );
    let now_working: Vec<_> = known.intersection(&worked).collect();
    assert!(
        now_working.is_empty(),
        "listed as failing but work (update KNOWN_TO_FAIL and docs/compatibility.md): {now_working:?}"
    );
    let missing: Vec<_> = known.difference(&failed).collect();
    assert!(
        missing.is_empty(),
        "listed calls the script no longer makes: {missing:?}"
    );
}
