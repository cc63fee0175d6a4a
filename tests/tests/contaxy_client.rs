//! contaxy's own Python client (PyPI `contaxy`, the version in
//! [`CLIENT_VERSION`]), unmodified, against the real stack: an API and a
//! worker on Docker. `tests/contaxy_client/drive.py` makes every call and
//! asserts its result; this test runs it and holds it to the table of
//! docs/compatibility.md: a call marked `works` works, every other call
//! fails, and the table names every call the script makes, so the page
//! stays true. The API runs with `CONTAXY_API_WAIT_BY_DEFAULT` on, as an
//! installation serving contaxy's clients would.
//!
//! The client lives in the virtualenv `scripts/provision.sh client` makes
//! (`$CONTAXY_DEV_HOME/contaxy-client-venv`); `CONTAXY_CLIENT_PYTHON`
//! names another interpreter.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use contaxy_tests::IMAGE;
use contaxy_tests::stack::{PROJECT, Stack, StackOptions};

/// The client version the claim is proven against (and provisioning
/// installs).
const CLIENT_VERSION: &str = "0.0.23";

/// The table of calls in docs/compatibility.md: each call (a first cell's
/// names in backquotes; a bare `method` has the class of the name before
/// it) and whether it is marked `works`.
fn documented_calls(page: &str) -> BTreeMap<String, bool> {
    let mut calls = BTreeMap::new();
    for line in page.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (names, result) = (cells[1], cells[2]);
        let mut class = String::new();
        for name in names.split('`').skip(1).step_by(2) {
            let full = match name.split_once('.') {
                Some((owner, _)) => {
                    class = owner.to_owned();
                    name.to_owned()
                }
                None => format!("{class}.{name}"),
            };
            calls.insert(full, result == "works");
        }
    }
    calls
}

fn python() -> PathBuf {
    if let Ok(python) = std::env::var("CONTAXY_CLIENT_PYTHON") {
        return python.into();
    }
    let home = std::env::var("CONTAXY_DEV_HOME").unwrap_or_else(|_| "/var/tmp/contaxy-dev".into());
    PathBuf::from(home).join("contaxy-client-venv/bin/python")
}

#[tokio::test]
async fn contaxy_clients_calls_work_unchanged() {
    // contaxy's server finished each change before it answered; its
    // clients expect that, which CONTAXY_API_WAIT_BY_DEFAULT gives them.
    let stack = Stack::start_with(StackOptions {
        api_wait_by_default: true,
        // Their models refuse a status contaxy's enum lacks (`cancelled`).
        api_contaxy_statuses: true,
        ..StackOptions::default()
    })
    .await;
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
    let page = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/compatibility.md"),
    )
    .expect("docs/compatibility.md");
    let documented = documented_calls(&page);
    let made: BTreeSet<&String> = worked.iter().chain(&failed).collect();
    let undocumented: Vec<_> = made
        .iter()
        .filter(|c| !documented.contains_key(**c))
        .collect();
    assert!(
        undocumented.is_empty(),
        "calls the table lacks: {undocumented:?}"
    );
    let unmade: Vec<_> = documented.keys().filter(|c| !made.contains(c)).collect();
    assert!(
        unmade.is_empty(),
        "calls in the table the script did not make: {unmade:?}\n{stdout}"
    );
    let broken: Vec<_> = failed.iter().filter(|c| documented[*c]).collect();
    assert!(
        broken.is_empty(),
        "calls marked works fail: {broken:?}\n{stdout}"
    );
    let now_working: Vec<_> = worked.iter().filter(|c| !documented[*c]).collect();
    assert!(
        now_working.is_empty(),
        "calls not marked works work (mark them in docs/compatibility.md): {now_working:?}"
    );
    // The files the script left behind (FileClient's calls).
    let store = contaxy_common::storage::ObjectStore::new(&stack.api.common);
    contaxy_tests::storage::remove_buckets(&store, &stack.api.common.s3_bucket_prefix).await;
    let count = format!("**{} of {}**", worked.len(), made.len());
    assert!(
        page.contains(&count),
        "docs/compatibility.md states {count}"
    );
}
