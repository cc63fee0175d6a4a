//! The real `contaxy` binary against a real stack (API + worker on
//! PostgreSQL, RabbitMQ, Docker and the S3 server): each step runs the
//! executable as a user would, with a config file of its own, and checks
//! what it prints and the exit code it ends with (docs/cli.md).

use std::path::PathBuf;
use std::process::{Command, Output};

use contaxy_common::storage::ObjectStore;
use contaxy_tests::stack::{PROJECT, Stack};
use contaxy_tests::storage::remove_buckets;
use contaxy_tests::tcp_proxy::TcpProxy;
use contaxy_tests::{DEADLINE, IDLE, IMAGE, eventually};
use serde_json::Value;

/// The binary with a config file in a temp dir, and nothing from the
/// environment of whoever runs the tests.
struct Cli {
    dir: tempfile::TempDir,
}

/// What one run of the binary did.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// Asserts the exit code, showing everything the run printed if not.
    fn expect(self, code: i32, what: &str) -> Self {
        assert_eq!(
            self.code, code,
            "{what}: exit {}\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

impl Cli {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("contaxy").join("config.json")
    }

    /// Runs `contaxy ARGS` off the test's runtime (the API runs on it).
    async fn run(&self, args: &[&str]) -> Ran {
        let mut command = Command::new(env!("CARGO_BIN_EXE_contaxy"));
        command
            .args(args)
            .env("CONTAXY_CONFIG", self.config())
            .env_remove("CONTAXY_URL")
            .env_remove("CONTAXY_TOKEN")
            .env_remove("CONTAXY_PROJECT");
        let output: Output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("the run was not cancelled")
            .expect("the binary starts");
        Ran {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `contaxy ARGS` on a pseudo-terminal (util-linux `script`): its
    /// standard output and error both arrive in `stdout`.
    async fn run_on_terminal(&self, args: &[&str]) -> Ran {
        let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_contaxy"))
            .chain(args.iter().copied())
            .map(|word| format!("'{}'", word.replace('\'', "'\\''")))
            .collect();
        let mut command = Command::new("script");
        command
            .args(["-qec", &quoted.join(" "), "/dev/null"])
            .env("CONTAXY_CONFIG", self.config())
            .env("TERM", "xterm");
        let output: Output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("the run was not cancelled")
            .expect("script starts");
        Ran {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

#[tokio::test]
async fn a_user_goes_from_login_to_a_jobs_logs_files_and_dead_letters() {
    let stack = Stack::start().await;
    let cli = Cli::new();
    let url = stack.api.app.url("");

    // Nothing stored yet: a clear usage error.
    let ran = cli
        .run(&["ps", "--project", PROJECT])
        .await
        .expect(1, "ps before login");
    assert!(ran.stderr.contains("not logged in"), "{}", ran.stderr);

    // A bad token is refused, and nothing is stored.
    let ran = cli
        .run(&["login", "--url", &url, "--token", "ctxy_not-a-real-token"])
        .await
        .expect(2, "login with a bad token");
    assert!(
        ran.stderr.contains("does not accept this token"),
        "{}",
        ran.stderr
    );
    assert!(!cli.config().exists(), "a refused login stores nothing");

    // The admin token is accepted and stored, readable by its owner only.
    cli.run(&["login", "--url", &url, "--token", &stack.api.admin])
        .await
        .expect(0, "login");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cli.config())
            .expect("the config is written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "config mode");
    }

    // Projects.
    cli.run(&["projects", "create", "beta-cli", "--name", "Beta CLI"])
        .await
        .expect(0, "projects create");
    let ran = cli
        .run(&["projects", "list"])
        .await
        .expect(0, "projects list");
    assert!(
        ran.stdout.contains("beta-cli") && ran.stdout.contains("Beta CLI"),
        "{}",
        ran.stdout
    );
    let listed = cli
        .run(&["projects", "list", "--json"])
        .await
        .expect(0, "list json")
        .json();
    let ids: Vec<&str> = listed
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(
        ids.contains(&PROJECT) && ids.contains(&"beta-cli"),
        "{ids:?}"
    );
    // The server's refusal, its fields and exit code 2.
    let ran = cli
        .run(&["projects", "create", "X"])
        .await
        .expect(2, "a bad project id");
    assert!(ran.stderr.contains("refused (400)"), "{}", ran.stderr);

    // Run a job that prints a line and exits 3: its output, its code.
    let ran = cli
        .run(&[
            "run",
            "--project",
            PROJECT,
            "--image",
            IMAGE,
            "--name",
            "printer",
            "--",
            "sh",
            "-c",
            "echo hello from the job; exit 3",
        ])
        .await
        .expect(3, "run exits with the job's code");
    assert!(ran.stdout.contains("hello from the job"), "{}", ran.stdout);
    let job_id = ran
        .stderr
        .lines()
        .find_map(|line| line.strip_prefix("job "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no job id in {}", ran.stderr))
        .to_owned();

    // ps shows it, failed with exit code 3; logs repeat its output (the
    // bare id names its kind and project).
    let ps = cli
        .run(&["ps", "--project", PROJECT, "--json"])
        .await
        .expect(0, "ps")
        .json();
    let job = ps
        .as_array()
        .expect("an array")
        .iter()
        .find(|d| d["id"] == job_id.as_str())
        .unwrap_or_else(|| panic!("{job_id} not in {ps}"));
    assert_eq!(job["status"], "failed");
    assert_eq!(job["exit_code"], 3);
    let table = cli
        .run(&["ps", "--project", PROJECT])
        .await
        .expect(0, "ps table");
    assert!(table.stdout.starts_with("KIND"), "{}", table.stdout);
    assert!(table.stdout.contains(&job_id), "{}", table.stdout);
    let ran = cli.run(&["logs", &job_id]).await.expect(0, "logs");
    assert_eq!(ran.stdout, "hello from the job\n");

    // A detached run, then `wait` with plain progress lines (no terminal).
    let ran = cli
        .run(&[
            "run", "-d", "-p", PROJECT, "--image", IMAGE, "--name", "quick", "--", "true",
        ])
        .await
        .expect(0, "run -d");
    let quick = ran.stdout.trim().to_owned();
    let ran = cli
        .run(&["wait", &format!("job/{quick}"), "-p", PROJECT])
        .await
        .expect(0, "wait job");
    assert!(ran.stdout.contains("succeeded"), "{}", ran.stdout);

    // A service: deploy, wait until it runs, stop, remove.
    let ran = cli
        .run(&[
            "deploy",
            "-p",
            PROJECT,
            "--image",
            IMAGE,
            "--name",
            "idler",
            "--entrypoint",
            "/bin/sh",
            "--",
            "-c",
            IDLE,
        ])
        .await
        .expect(0, "deploy");
    let service_id = ran
        .stdout
        .strip_prefix("service ")
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no service id in {}", ran.stdout))
        .to_owned();
    let ran = cli
        .run(&["wait", &service_id])
        .await
        .expect(0, "wait for the service");
    assert!(ran.stdout.contains("running"), "{}", ran.stdout);
    let ran = cli.run(&["stop", &service_id]).await.expect(0, "stop");
    let stop_action = ran
        .stdout
        .rsplit(' ')
        .next()
        .expect("an action id")
        .trim()
        .to_owned();
    let ran = cli
        .run(&["wait", &stop_action, "-p", PROJECT])
        .await
        .expect(0, "wait for the stop");
    assert!(ran.stdout.contains("succeeded"), "{}", ran.stdout);
    let action = cli
        .run(&["actions", "get", &stop_action, "-p", PROJECT, "--json"])
        .await
        .expect(0, "actions get")
        .json();
    assert_eq!(action["kind"], "deployment.stop");
    // Started again, waiting for the action itself: then it runs.
    let ran = cli
        .run(&["start", "-w", &service_id])
        .await
        .expect(0, "start -w");
    assert!(
        ran.stdout.trim_end().ends_with("succeeded"),
        "{}",
        ran.stdout
    );
    let ran = cli
        .run(&["wait", &service_id])
        .await
        .expect(0, "running again");
    assert!(ran.stdout.contains("running"), "{}", ran.stdout);
    let ran = cli
        .run(&["restart", &format!("job/{service_id}")])
        .await
        .expect(1, "restart of a job");
    assert!(
        ran.stderr.contains("a job cannot restart"),
        "{}",
        ran.stderr
    );
    let ran = cli.run(&["rm", &service_id]).await.expect(0, "rm");
    let rm_action = ran
        .stdout
        .rsplit(' ')
        .next()
        .expect("an action id")
        .trim()
        .to_owned();
    cli.run(&["wait", &rm_action, "-p", PROJECT])
        .await
        .expect(0, "wait for the rm");
    let ran = cli
        .run(&["logs", &service_id])
        .await
        .expect(4, "logs of a removed service");
    assert!(
        ran.stderr.starts_with("contaxy: not found"),
        "{}",
        ran.stderr
    );

    // Files: put, ls, get the same bytes back, rm.
    let local = cli.dir.path().join("notes.txt");
    std::fs::write(&local, b"line one\nline two\n").expect("written");
    let local_text = local.to_str().expect("a UTF-8 path");
    cli.run(&[
        "files",
        "put",
        local_text,
        "docs/notes:v1.txt",
        "-p",
        PROJECT,
    ])
    .await
    .expect(0, "files put");
    let listed = cli
        .run(&["files", "ls", "-p", PROJECT, "--json"])
        .await
        .expect(0, "ls")
        .json();
    assert_eq!(listed[0]["key"], "docs/notes:v1.txt", "{listed}");
    let back = cli.dir.path().join("back.txt");
    cli.run(&[
        "files",
        "get",
        "docs/notes:v1.txt",
        back.to_str().expect("UTF-8"),
        "-p",
        PROJECT,
    ])
    .await
    .expect(0, "files get");
    assert_eq!(
        std::fs::read(&back).expect("downloaded"),
        b"line one\nline two\n"
    );
    cli.run(&["files", "rm", "docs/notes:v1.txt", "-p", PROJECT])
        .await
        .expect(0, "files rm");
    let listed = cli
        .run(&["files", "ls", "-p", PROJECT, "--json"])
        .await
        .expect(0, "ls")
        .json();
    assert_eq!(listed, Value::Array(Vec::new()));

    // Dead letters, as the admin: the listing works (empty here).
    let ran = cli
        .run(&["dead-letters", "ls"])
        .await
        .expect(0, "dead-letters ls");
    assert!(ran.stdout.starts_with("ACTION"), "{}", ran.stdout);

    // An unknown project: the server's message and exit code 4.
    let ran = cli
        .run(&["ps", "-p", "no-such-project"])
        .await
        .expect(4, "unknown project");
    assert_eq!(
        ran.stderr, "contaxy: not found: Project `no-such-project` was not found.\n",
        "the server's message, as docs/cli.md shows it"
    );

    // Nothing reachable: exit code 3.
    let closed = format!("http://{}", contaxy_tests::closed_port_addr());
    let ran = cli
        .run(&["ps", "-p", PROJECT, "--url", &closed])
        .await
        .expect(3, "an API that is not there");
    assert!(
        ran.stderr.contains("cannot reach the API"),
        "{}",
        ran.stderr
    );

    remove_buckets(
        &ObjectStore::new(&stack.common),
        &stack.common.s3_bucket_prefix,
    )
    .await;
}

#[tokio::test]
async fn usage_mistakes_exit_1_and_help_exits_0() {
    let cli = Cli::new();
    cli.run(&["--help"]).await.expect(0, "help");
    let ran = cli
        .run(&["no-such-command"])
        .await
        .expect(1, "an unknown command");
    assert!(ran.stderr.contains("no-such-command"), "{}", ran.stderr);
    let ran = cli
        .run(&[
            "run",
            "--image",
            "x",
            "--env",
            "NOEQUALS",
            "--url",
            "http://127.0.0.1:9",
            "--token",
            "t",
            "-p",
            "demo",
        ])
        .await
        .expect(1, "a bad --env");
    assert!(ran.stderr.contains("KEY=VALUE"), "{}", ran.stderr);
    cli.run(&[
        "logs",
        "web",
        "--url",
        "http://127.0.0.1:9",
        "--token",
        "t",
        "-p",
        "demo",
    ])
    .await
    .expect(1, "a target of no kind");
}

/// Removes the image tag the test made, also after a failed assertion.
struct TagGuard(String);

impl Drop for TagGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", &self.0]).output();
    }
}

#[tokio::test]
async fn a_job_from_a_yaml_file_fails_is_dead_lettered_and_replayed_and_schedules_work() {
    let stack = Stack::start().await;
    let cli = Cli::new();
    let url = stack.api.app.url("");
    cli.run(&[
        "login",
        "--url",
        &url,
        "--token",
        &stack.api.admin,
        "--project",
        PROJECT,
    ])
    .await
    .expect(0, "login with a default project");

    // A job whose image does not exist yet, from a YAML file: its deploy
    // action fails for good, and `run` says so with exit code 5.
    let image = format!("contaxy/cli-replayed-{}:1", uuid_like());
    let spec = cli.dir.path().join("job.yaml");
    std::fs::write(
        &spec,
        format!(
            "container_image: {image}\ndisplay_name: replayed job\ncommand: [sh, -c]\nargs: ['echo replayed']\n"
        ),
    )
    .expect("written");
    let ran = cli
        .run(&["run", "-f", spec.to_str().expect("UTF-8")])
        .await
        .expect(5, "a job whose image is missing");
    assert!(ran.stderr.contains("failed"), "{}", ran.stderr);
    assert!(ran.stderr.contains(&image), "{}", ran.stderr);

    // Its letter is listed; a project token may not see the queue.
    let letters = cli
        .run(&["dead-letters", "ls", "--json"])
        .await
        .expect(0, "ls")
        .json();
    let letter = letters
        .as_array()
        .expect("an array")
        .iter()
        .find(|l| l["reason"].as_str().is_some_and(|r| r.contains(&image)))
        .unwrap_or_else(|| panic!("no letter for {image} in {letters}"))
        .clone();
    let action_id = letter["action_id"]
        .as_str()
        .expect("an action id")
        .to_owned();
    let project_token = stack.api.project_token(PROJECT, "admin").await;
    let ran = cli
        .run(&["dead-letters", "ls", "--token", &project_token])
        .await
        .expect(2, "dead letters with a project token");
    assert!(ran.stderr.contains("refused (403)"), "{}", ran.stderr);

    // Mended (the image now exists) and replayed: the action succeeds.
    let tagged = Command::new("docker")
        .args(["tag", IMAGE, &image])
        .output()
        .expect("docker runs");
    assert!(tagged.status.success(), "docker tag: {tagged:?}");
    let _guard = TagGuard(image.clone());
    cli.run(&["dead-letters", "replay", &action_id])
        .await
        .expect(0, "replay");
    let ran = cli
        .run(&["wait", &action_id])
        .await
        .expect(0, "the replayed action");
    assert!(ran.stdout.contains("succeeded"), "{}", ran.stdout);
    let ran = cli
        .run(&["dead-letters", "replay", &action_id])
        .await
        .expect(2, "replay twice");
    assert!(ran.stderr.contains("refused (409)"), "{}", ran.stderr);

    // Schedules: create (job template from flags), list, pause, resume,
    // trigger, remove.
    let created = cli
        .run(&[
            "schedules",
            "create",
            "--cron",
            "0 0 1 1 *",
            "--time-zone",
            "Europe/Berlin",
            "--image",
            IMAGE,
            "--name",
            "yearly",
            "--json",
            "--",
            "true",
        ])
        .await
        .expect(0, "schedules create")
        .json();
    let id = created["id"].as_str().expect("an id").to_owned();
    assert_eq!(created["time_zone"], "Europe/Berlin");
    let ran = cli
        .run(&["schedules", "ls"])
        .await
        .expect(0, "schedules ls");
    assert!(
        ran.stdout.contains(&id) && ran.stdout.contains("0 0 1 1 *"),
        "{}",
        ran.stdout
    );
    let paused = cli
        .run(&["schedules", "pause", &id, "--json"])
        .await
        .expect(0, "pause")
        .json();
    assert_eq!(paused["suspended"], true);
    let resumed = cli
        .run(&["schedules", "resume", &id, "--json"])
        .await
        .expect(0, "resume")
        .json();
    assert_eq!(resumed["suspended"], false);
    let fired = cli
        .run(&["schedules", "trigger", &id, "--json"])
        .await
        .expect(0, "trigger")
        .json();
    let job_id = fired["job_id"].as_str().expect("a job id").to_owned();
    cli.run(&["wait", &job_id])
        .await
        .expect(0, "the triggered job");
    cli.run(&["schedules", "rm", &id])
        .await
        .expect(0, "schedules rm");
    let ran = cli
        .run(&["schedules", "rm", &id])
        .await
        .expect(4, "removed twice");
    assert!(
        ran.stderr.starts_with("contaxy: not found"),
        "{}",
        ran.stderr
    );

    // `wait` on a terminal draws a spinner; elsewhere it prints a plain
    // line per status, with no control characters.
    let first = sleeper(&cli, "sleeper-one").await;
    let ran = cli
        .run_on_terminal(&["wait", &first])
        .await
        .expect(0, "wait on a terminal");
    assert!(
        ran.stdout.contains('\u{1b}'),
        "no spinner drawn: {:?}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!("job {first}: succeeded")),
        "{:?}",
        ran.stdout
    );
    let second = sleeper(&cli, "sleeper-two").await;
    let ran = cli
        .run(&["wait", &second])
        .await
        .expect(0, "wait in a pipe");
    assert!(
        ran.stderr
            .lines()
            .any(|line| line.starts_with(&format!("job {second}: "))),
        "{:?}",
        ran.stderr
    );
    assert!(!ran.stderr.contains('\u{1b}'), "{:?}", ran.stderr);
    assert_eq!(ran.stdout, format!("job {second}: succeeded\n"));

    // The project's events from the first kept one, followed across the
    // API's stream ends (two seconds in tests): every change once.
    let mut events = std::process::Command::new(env!("CARGO_BIN_EXE_contaxy"))
        .args(["events", "--after", "0", "--json"])
        .env("CONTAXY_CONFIG", cli.config())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let seen = collect(events.stdout.take().expect("piped"));
    let ran = cli
        .run(&[
            "run", "--image", IMAGE, "--name", "late-one", "--", "sleep", "3",
        ])
        .await
        .expect(0, "a job while events are followed");
    let late = ran
        .stderr
        .lines()
        .find_map(|line| line.strip_prefix("job "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the job's id")
        .to_owned();
    let lines = eventually(DEADLINE, "the late job's end among the events", || async {
        let text = seen.lock().ok()?.clone();
        let events: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect();
        events
            .iter()
            .any(|e| e["deployment_id"] == late.as_str() && e["status"] == "succeeded")
            .then_some(events)
    })
    .await;
    let _ = events.kill();
    let _ = events.wait();
    let mut ids: Vec<i64> = lines.iter().filter_map(|e| e["id"].as_i64()).collect();
    let count = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), count, "an event shown twice: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|e| e["deployment_id"] == first.as_str() && e["status"] == "succeeded"),
        "an earlier change is missing: {lines:?}"
    );
}

/// A short random suffix for names (no uuid dependency for one call).
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", nanos, std::process::id())
}

/// A detached job that sleeps two seconds; its id.
async fn sleeper(cli: &Cli, name: &str) -> String {
    let ran = cli
        .run(&[
            "run", "-d", "--image", IMAGE, "--name", name, "--", "sleep", "2",
        ])
        .await
        .expect(0, "run -d");
    ran.stdout.trim().to_owned()
}

#[tokio::test]
async fn run_rides_out_an_api_outage_and_prints_every_line_once() {
    let stack = Stack::start().await;
    let proxy = TcpProxy::start(stack.api.app.addr).await;
    let cli = Cli::new();
    cli.run(&[
        "login",
        "--url",
        &proxy.http_url(),
        "--token",
        &stack.api.admin,
        "--project",
        PROJECT,
    ])
    .await
    .expect(0, "login through the proxy");

    // A job that prints a line, then waits for the test's word (a file it
    // is given with `docker exec`) to print another and exit 7.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_contaxy"))
        .args([
            "run",
            "--image",
            IMAGE,
            "--name",
            "outage",
            "--",
            "sh",
            "-c",
            "echo before; until [ -e /tmp/go ]; do sleep 0.1; done; echo during; exit 7",
        ])
        .env("CONTAXY_CONFIG", cli.config())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = collect(child.stdout.take().expect("piped"));
    let stderr = collect(child.stderr.take().expect("piped"));
    eventually(
        DEADLINE,
        "the CLI to print the job's first line",
        || async { stdout.lock().ok()?.contains("before\n").then_some(()) },
    )
    .await;

    // The API goes away while the CLI follows; the job goes on and ends.
    proxy.switch_off().await;
    let job_id = stderr
        .lock()
        .expect("not poisoned")
        .lines()
        .find_map(|line| line.strip_prefix("job "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the job's id on standard error")
        .to_owned();
    let exec = Command::new("docker")
        .args(["exec", &job_id, "touch", "/tmp/go"])
        .output()
        .expect("docker runs");
    assert!(exec.status.success(), "docker exec: {exec:?}");
    eventually(DEADLINE, "the job to end", || async {
        let answer = stack
            .call(
                reqwest::Method::GET,
                &format!("/projects/{PROJECT}/jobs/{job_id}"),
                None,
            )
            .await;
        (answer.body["exit_code"] == 7).then_some(())
    })
    .await;
    proxy.switch_on().await;

    // Back: the CLI prints what the job wrote meanwhile, once, and exits 7.
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("not cancelled")
        .expect("the CLI ends");
    let stderr = stderr.lock().expect("not poisoned").clone();
    assert_eq!(status.code(), Some(7), "{stderr}");
    assert_eq!(
        stdout.lock().expect("not poisoned").as_str(),
        "before\nduring\n",
        "{stderr}"
    );
    assert!(
        stderr.contains("following again") || stderr.contains("retrying"),
        "{stderr}"
    );

    // A submission while the API is away is sent again (with the same
    // Idempotency-Key) and makes one job.
    proxy.switch_off().await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_contaxy"))
        .args([
            "run", "-d", "--image", IMAGE, "--name", "retried", "--", "true",
        ])
        .env("CONTAXY_CONFIG", cli.config())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = collect(child.stdout.take().expect("piped"));
    let stderr = collect(child.stderr.take().expect("piped"));
    eventually(DEADLINE, "the CLI to send the job again", || async {
        stderr.lock().ok()?.contains("sending again").then_some(())
    })
    .await;
    proxy.switch_on().await;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("not cancelled")
        .expect("the CLI ends");
    let said = stderr.lock().expect("not poisoned").clone();
    assert_eq!(status.code(), Some(0), "{said}");
    let jobs = stack
        .call(
            reqwest::Method::GET,
            &format!("/projects/{PROJECT}/jobs"),
            None,
        )
        .await;
    let retried: Vec<&Value> = jobs
        .body
        .as_array()
        .expect("an array")
        .iter()
        .filter(|job| job["display_name"] == "retried")
        .collect();
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert_eq!(
        stdout.lock().expect("not poisoned").trim(),
        retried[0]["id"].as_str().expect("an id")
    );
}

/// Reads `from` to its end on a thread of its own; what it read so far.
fn collect(
    mut from: impl std::io::Read + Send + 'static,
) -> std::sync::Arc<std::sync::Mutex<String>> {
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        while let Ok(read @ 1..) = from.read(&mut buffer) {
            if let Ok(mut text) = sink.lock() {
                text.push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        }
    });
    text
}
