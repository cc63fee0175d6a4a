//! The real binaries as an operator runs them: configured by environment,
//! ready against the real services, stopped cleanly by SIGTERM, and refusing
//! to start on a bad setting with a message that names it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use contaxy_tests::{TestDb, binary, closed_port_addr, eventually, get_json};

struct Process {
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &str, listen_var: &str, port: u16, db: &TestDb) -> Process {
    let child = Command::new(binary(name))
        .env(listen_var, format!("127.0.0.1:{port}"))
        .env("CONTAXY_DATABASE_URL", db.url())
        .env("CONTAXY_AMQP_URL", contaxy_tests::broker::amqp_url())
        .env(
            "CONTAXY_TOPOLOGY_PREFIX",
            format!("test-{}.", uuid::Uuid::new_v4().simple()),
        )
        .env("CONTAXY_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    Process { child }
}

async fn sigterm_stops_cleanly(name: &str, listen_var: &str) {
    let db = TestDb::new().await;
    let port = closed_port_addr().port();
    let mut process = start(name, listen_var, port, &db);
    let url = format!("http://127.0.0.1:{port}/readyz");
    eventually(
        Duration::from_secs(30),
        &format!("{name} to be ready"),
        || async { matches!(get_json(&url).await, Some((200, _))).then_some(()) },
    )
    .await;

    let pid = process.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = eventually(Duration::from_secs(15), &format!("{name} to exit"), || {
        let exited = process.child.try_wait().expect("wait on child");
        async move { exited }
    })
    .await;
    assert!(exit.success(), "{name} exited with {exit} after SIGTERM");
}

#[tokio::test]
async fn api_stops_cleanly_on_sigterm() {
    sigterm_stops_cleanly("contaxy-api", "CONTAXY_API_LISTEN_ADDR").await;
}

#[tokio::test]
async fn worker_stops_cleanly_on_sigterm() {
    sigterm_stops_cleanly("contaxy-worker", "CONTAXY_WORKER_LISTEN_ADDR").await;
}

#[tokio::test]
async fn scheduler_stops_cleanly_on_sigterm() {
    sigterm_stops_cleanly("contaxy-scheduler", "CONTAXY_SCHEDULER_LISTEN_ADDR").await;
}

#[test]
fn a_bad_setting_fails_at_start_naming_the_variable() {
    for (name, var, value) in [
        ("contaxy-api", "CONTAXY_API_LISTEN_ADDR", "not-an-address"),
        ("contaxy-worker", "CONTAXY_WORKER_CONCURRENCY", "lots"),
        ("contaxy-scheduler", "CONTAXY_LOG_FORMAT", "xml"),
    ] {
        let output = Command::new(binary(name))
            .env(var, value)
            .output()
            .expect("the binary runs");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{name} must refuse {var}={value}"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(var),
            "{name}: stderr does not name {var}: {stderr}"
        );
        assert!(
            !stderr.contains("backtrace"),
            "{name}: a usage error, not a crash: {stderr}"
        );
    }
}
