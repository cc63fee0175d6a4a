//! The real `contaxy-api` executable with `CONTAXY_ADMIN_TOKEN` set: the
//! token works in every form, and it appears nowhere in the process's output,
//! even with debug logging on.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::Duration;

use contaxy_tests::api::random_secret;
use contaxy_tests::{TestDb, binary, closed_port_addr, eventually, get_json};

#[tokio::test]
async fn the_admin_token_from_the_environment_works_and_is_never_logged() {
    let db = TestDb::new().await;
    let admin = random_secret();
    let port = closed_port_addr().port();
    let output_path =
        std::env::temp_dir().join(format!("contaxy-api-{}.log", uuid::Uuid::new_v4()));
    let output = File::create(&output_path).expect("an output file");
    let mut child = Command::new(binary("contaxy-api"))
        .env("CONTAXY_API_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("CONTAXY_DATABASE_URL", db.url())
        .env("CONTAXY_AMQP_URL", contaxy_tests::broker::amqp_url())
        .env(
            "CONTAXY_TOPOLOGY_PREFIX",
            format!("test-{}.", uuid::Uuid::new_v4().simple()),
        )
        .env("CONTAXY_ADMIN_TOKEN", &admin)
        .env("CONTAXY_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(output.try_clone().expect("clone")))
        .stderr(Stdio::from(output))
        .spawn()
        .expect("the API starts");
    let base = format!("http://127.0.0.1:{port}");
    let ready = format!("{base}/readyz");
    eventually(Duration::from_secs(30), "the API to be ready", || async {
        matches!(get_json(&ready).await, Some((200, _))).then_some(())
    })
    .await;

    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base}/projects"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"id": "alpha", "display_name": "Alpha"}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(created.status(), 201);
    let by_query = client
        .get(format!("{base}/projects/alpha?ct_token={admin}"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(by_query.status(), 200);
    let wrong = client
        .get(format!("{base}/projects"))
        .bearer_auth(format!("{admin}x"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(wrong.status(), 401);

    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(&output_path).expect("the output");
    let _ = std::fs::remove_file(&output_path);
    assert!(
        logged.contains("/projects/alpha"),
        "requests are logged: {logged}"
    );
    assert!(!logged.contains(&admin), "the admin token was logged");
}
