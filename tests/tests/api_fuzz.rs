//! The API fuzzed from its own OpenAPI document with schemathesis (PyPI,
//! installed by `scripts/provision.sh fuzz`), against a real PostgreSQL and
//! RabbitMQ: whatever a client sends, the answer is never a 5xx.
//!
//! A fixed seed keeps runs comparable; `CONTAXY_FUZZ_EXAMPLES` (default 30)
//! sets the examples per operation and phase, for a longer run by hand.
//! Requests go with the admin token, so they pass authentication and reach
//! validation and the handlers (random project ids mostly end in 404; the
//! ones that exist were made by the fuzzer's own `POST /projects`). The
//! `coverage` phase is left out: schemathesis 4.32.5 fails inside it on this
//! document (a `KeyError` of its own), which says nothing about the API.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use contaxy_tests::api::TestApi;

/// How long the whole run may take.
const BUDGET: Duration = Duration::from_secs(150);

fn schemathesis() -> PathBuf {
    if let Ok(path) = std::env::var("CONTAXY_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let home = std::env::var("CONTAXY_DEV_HOME").unwrap_or_else(|_| "/var/tmp/contaxy-dev".into());
    PathBuf::from(home).join("schemathesis-venv/bin/schemathesis")
}

/// The number before `label` in schemathesis' summary line
/// (`2159 generated, 2159 passed, 2 errored`).
fn count(summary: &str, label: &str) -> Option<u64> {
    summary.lines().find_map(|line| {
        line.split(',').find_map(|part| {
            let part = part.trim();
            part.strip_suffix(label).and_then(|n| n.trim().parse().ok())
        })
    })
}

#[tokio::test]
async fn no_input_makes_the_api_answer_5xx() {
    let tool = schemathesis();
    assert!(
        tool.exists(),
        "{} is missing: run scripts/provision.sh fuzz",
        tool.display()
    );
    let api = TestApi::start_with(|settings| {
        settings.api_rate_limit_per_second = 0;
        settings.api_unknown_tokens_per_minute = 0;
        // No worker runs here: a `wait=true` create must not hold the
        // fuzzer's request past its read timeout.
        settings.api_wait_timeout_secs = 1;
    })
    .await;
    let examples = std::env::var("CONTAXY_FUZZ_EXAMPLES").unwrap_or_else(|_| "30".to_owned());
    let workdir = std::env::temp_dir().join(format!("contaxy-fuzz-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&workdir).expect("a work dir");
    let run = tokio::process::Command::new(&tool)
        .current_dir(&workdir)
        .args(["run", &api.app.url("/openapi.json")])
        .args(["-H", &format!("Authorization: Bearer {}", api.admin)])
        .args(["--checks", "not_a_server_error"])
        // Suggesting a configuration asks a worker to read the image; with
        // no worker here it is a 503 by design (tests/contaxy_client drives
        // it with one).
        .args(["--exclude-path-regex", "suggest-config"])
        .args(["--phases", "examples,fuzzing"])
        .args(["--max-examples", &examples])
        .args(["--seed", "1"])
        .args(["--workers", "2"])
        .args(["--generation-database", "none"])
        .args(["--request-timeout", "20"])
        .arg("--no-color")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(BUDGET, run)
        .await
        .expect("schemathesis finishes within its budget")
        .expect("schemathesis runs");
    let _ = std::fs::remove_dir_all(&workdir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let generated = count(&stdout, "generated").unwrap_or(0);
    println!("schemathesis: {generated} test cases");
    assert!(
        output.status.success(),
        "schemathesis found answers it refuses (exit {:?}):\n{stdout}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        generated >= 600,
        "only {generated} test cases ran; is the document served?\n{stdout}"
    );
}

#[test]
fn the_summary_line_is_read() {
    let summary = "Test cases:\n  2159 generated, 2157 passed, 2 errored\n";
    assert_eq!(count(summary, "generated"), Some(2159));
    assert_eq!(count(summary, "errored"), Some(2));
    assert_eq!(count(summary, "failed"), None);
}
