//! `GET /projects/{id}/events` against the real stack: a follower sees a
//! job's status changes to its end, in order, across the reconnects the
//! server forces (the test API closes a stream after 2 s); it resumes with
//! `Last-Event-ID` and misses nothing; a pruned resume point is a `gap`;
//! another project's follower sees nothing of it; streams are bounded; an
//! open stream is woken by PostgreSQL's announcement of a change, not by a
//! timer.

use std::time::Duration;

use contaxy_tests::api::{TestApi, assert_problem};
use contaxy_tests::stack::{PROJECT, Stack, job};
use contaxy_tests::{str_of, within};
use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;

/// One parsed Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<String>,
    data: Value,
}

/// Reads one stream to its end (the server ends it after 2 s in tests):
/// its status, and the events it carried.
async fn read_stream(url: &str, token: &str, last_event_id: Option<&str>) -> (u16, Vec<Sse>) {
    let mut request = reqwest::Client::new().get(url).bearer_auth(token);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = tokio::time::timeout(Duration::from_secs(30), request.send())
        .await
        .expect("the head in time")
        .expect("the API answers");
    let status = response.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "an event stream"
    );
    let mut text = String::new();
    let mut body = response.bytes_stream();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("a chunk")));
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the server ends the stream");
    (status, parse(&text))
}

fn statuses_in(events: &[Sse]) -> usize {
    events.iter().filter(|e| e.event == "status").count()
}

fn parse(text: &str) -> Vec<Sse> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    event = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("id:") {
                    id = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim());
                }
            }
            Some(Sse {
                event: event?,
                id,
                data: serde_json::from_str(&data).expect("JSON data"),
            })
        })
        .collect()
}

#[tokio::test]
async fn a_follower_sees_a_job_to_its_end_resumes_without_loss_and_only_in_its_project() {
    let stack = Stack::start().await;
    let url = stack.api.app.url(&format!("/projects/{PROJECT}/events"));
    let reader = stack.api.project_token(PROJECT, "read").await;

    // Following from now: the first stream starts before the job exists.
    let follower = {
        let url = url.clone();
        let reader = reader.clone();
        tokio::spawn(async move {
            let mut seen: Vec<Sse> = Vec::new();
            let mut last: Option<String> = None;
            for _ in 0..60 {
                let (status, events) = read_stream(&url, &reader, last.as_deref()).await;
                assert_eq!(status, 200);
                if let Some(id) = events.iter().rev().find_map(|e| e.id.clone()) {
                    last = Some(id);
                }
                seen.extend(events);
                if seen
                    .iter()
                    .any(|e| e.event == "status" && e.data["status"] == "succeeded")
                {
                    return seen;
                }
            }
            panic!("no succeeded event in 60 streams: {seen:?}");
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let accepted = stack
        .submit("jobs", &job("followed job", "echo followed"))
        .await;
    let job_id = str_of(&accepted, "id").to_owned();
    let seen = tokio::time::timeout(Duration::from_secs(120), follower)
        .await
        .expect("the follower ends")
        .expect("the follower holds");

    // Every stream began with where it was; then the changes, in order,
    // each once, across the reconnects; the job's life in them.
    assert_eq!(seen[0].event, "ready", "{seen:?}");
    let seen: Vec<Sse> = seen.into_iter().filter(|e| e.event == "status").collect();
    let ids: Vec<i64> = seen
        .iter()
        .map(|e| e.id.as_deref().expect("an id").parse().expect("a number"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let statuses: Vec<&str> = seen
        .iter()
        .filter(|e| e.data["deployment_id"] == job_id.as_str())
        .map(|e| e.data["status"].as_str().expect("a status"))
        .collect();
    assert_eq!(statuses.last(), Some(&"succeeded"), "{statuses:?}");
    assert!(statuses.contains(&"running"), "{statuses:?}");
    let end = seen.last().expect("an event");
    assert_eq!(end.data["exit_code"], 0, "{:?}", end.data);
    assert_eq!(end.id.as_deref(), Some(end.data["id"].to_string().as_str()));

    // Resuming from the start gives the same changes again, in order.
    let (_, replayed) = read_stream(&url, &reader, Some("0")).await;
    assert_eq!(replayed[0].event, "ready", "{replayed:?}");
    assert_eq!(replayed[0].data["after"], 0, "{replayed:?}");
    let replayed_ids: Vec<i64> = replayed
        .iter()
        .filter(|e| e.event == "status")
        .filter_map(|e| e.id.as_deref()?.parse().ok())
        .collect();
    assert_eq!(replayed_ids, ids, "a resume from 0 replays what is kept");
    // `?after=` does the same as the header.
    let after_first = format!("{url}?after={}", ids[0]);
    let (_, rest) = read_stream(&after_first, &reader, None).await;
    assert_eq!(statuses_in(&rest), ids.len() - 1, "{rest:?}");

    // Another project's follower sees none of it; its token here finds no
    // such project.
    stack.api.create_project("elsewhere").await;
    let other_token = stack.api.project_token("elsewhere", "admin").await;
    let other_url = stack.api.app.url("/projects/elsewhere/events");
    let (status, other) = read_stream(&other_url, &other_token, Some("0")).await;
    assert_eq!(status, 200);
    assert_eq!(statuses_in(&other), 0, "{other:?}");
    let refused = stack
        .api
        .call(
            Method::GET,
            &format!("/projects/{PROJECT}/events"),
            Some(&other_token),
            None,
        )
        .await;
    assert_eq!(refused.status, 404, "{:?}", refused.body);

    // Changes pruned past the resume point: a gap, then what is kept; its
    // id is where a reconnect resumes.
    sqlx::query("DELETE FROM deployment_events WHERE id <= $1")
        .bind(ids[0])
        .execute(&stack.api.db.migrated_pool(1).await)
        .await
        .expect("pruned");
    let (_, resumed) = read_stream(&url, &reader, Some("0")).await;
    let gap = resumed
        .get(1)
        .unwrap_or_else(|| panic!("a second event: {resumed:?} after {ids:?}"));
    assert_eq!(gap.event, "gap", "{resumed:?}");
    assert_eq!(gap.data["after"], 0, "{:?}", gap.data);
    assert_eq!(gap.data["first"], ids[1], "{:?}", gap.data);
    assert_eq!(gap.id.as_deref(), Some((ids[1] - 1).to_string().as_str()));
    assert_eq!(statuses_in(&resumed), ids.len() - 1, "{resumed:?}");

    // A resume point that is not an id is the client's mistake.
    let bad = stack
        .api
        .send(
            |client, url| {
                client
                    .get(url)
                    .bearer_auth(&reader)
                    .header("Last-Event-ID", "x")
            },
            &format!("/projects/{PROJECT}/events"),
        )
        .await;
    assert_problem(&bad, 400);
}

#[tokio::test]
async fn streams_past_the_bound_are_refused_until_one_ends() {
    let api = TestApi::start_with(|settings| {
        settings.api_max_event_streams = 1;
        settings.api_event_stream_max_secs = 3;
    })
    .await;
    api.create_project("bounded").await;
    let url = api.app.url("/projects/bounded/events");
    let client = reqwest::Client::new();
    let open = client
        .get(&url)
        .bearer_auth(&api.admin)
        .send()
        .await
        .expect("the first stream");
    assert_eq!(open.status(), 200);
    let refused = api
        .call(
            Method::GET,
            "/projects/bounded/events",
            Some(&api.admin),
            None,
        )
        .await;
    assert_problem(&refused, 503);
    // Once the first one is closed, there is room again.
    drop(open);
    let mut status = 0;
    for _ in 0..50 {
        let again = client
            .get(&url)
            .bearer_auth(&api.admin)
            .send()
            .await
            .expect("a stream");
        status = again.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "a closed stream gives its place back");
}

/// Records a status change of `deployment` in `project`, as a worker does.
async fn record_change(db: &mut sqlx::PgConnection, project: &str, deployment: &str) {
    sqlx::query(
        "INSERT INTO deployment_events (project_id, deployment_id, status, at)
         VALUES ($1, $2, 'running', now())",
    )
    .bind(project)
    .bind(deployment)
    .execute(db)
    .await
    .expect("record a change");
}

/// The next event of an open stream, read as it comes (keep-alive comments
/// skipped).
async fn next_event(
    body: &mut (impl futures::Stream<Item = reqwest::Result<impl AsRef<[u8]>>> + Unpin),
    text: &mut String,
) -> Sse {
    loop {
        if let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if let Some(event) = parse(&block).into_iter().next() {
                return event;
            }
            continue;
        }
        let chunk = body
            .next()
            .await
            .expect("the stream goes on")
            .expect("a chunk");
        text.push_str(&String::from_utf8_lossy(chunk.as_ref()));
    }
}

#[tokio::test]
async fn an_open_stream_is_woken_by_the_database_not_by_a_timer() {
    // The stream stays open longer than the test, and the test API re-reads
    // only every 120 s when nothing is announced: a change that reaches the
    // stream in time reached it because PostgreSQL announced it.
    let api = TestApi::start_with(|settings| settings.api_event_stream_max_secs = 600).await;
    api.create_project("woken").await;
    api.create_project("other").await;
    let response = reqwest::Client::new()
        .get(api.app.url("/projects/woken/events"))
        .bearer_auth(&api.admin)
        .send()
        .await
        .expect("a stream");
    assert_eq!(response.status(), 200);
    let mut body = Box::pin(response.bytes_stream());
    let mut text = String::new();
    let ready = within("the ready event", next_event(&mut body, &mut text)).await;
    assert_eq!(ready.event, "ready");

    let mut db = api.db.connect().await;
    record_change(&mut db, "other", "elsewhere").await;
    record_change(&mut db, "woken", "first").await;
    let first = within("the first change", next_event(&mut body, &mut text)).await;
    assert_eq!(first.data["deployment_id"], "first", "{first:?}");
    // The stream's first settle window (the one read owed for what came
    // just before it opened) is behind it now: nothing but the
    // announcement of the next change makes it read again in time.
    record_change(&mut db, "woken", "second").await;
    let second = within("the second change", next_event(&mut body, &mut text)).await;
    assert_eq!(second.data["deployment_id"], "second", "{second:?}");
}
