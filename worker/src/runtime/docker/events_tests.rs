use bollard::models::EventActor;
use chrono::TimeZone;

use super::*;

fn event(action: &str, namespace: &str, extra: &[(&str, &str)]) -> EventMessage {
    let mut attributes = HashMap::from([
        (labels::NAMESPACE.to_owned(), namespace.to_owned()),
        (labels::PROJECT.to_owned(), "proj".to_owned()),
        (labels::DEPLOYMENT_ID.to_owned(), "dep".to_owned()),
        (labels::DEPLOYMENT_TYPE.to_owned(), "job".to_owned()),
        ("name".to_owned(), "dep".to_owned()),
    ]);
    for (key, value) in extra {
        attributes.insert((*key).to_owned(), (*value).to_owned());
    }
    EventMessage {
        typ: Some(EventMessageTypeEnum::CONTAINER),
        action: Some(action.to_owned()),
        actor: Some(EventActor {
            id: Some("c1".to_owned()),
            attributes: Some(attributes),
        }),
        time: Some(1_714_557_600),
        time_nano: Some(1_714_557_600_123_456_789),
        ..EventMessage::default()
    }
}

#[test]
fn lifecycle_events_map_to_statuses() {
    use DeploymentStatus::*;
    let cases = [
        (event("create", "ns", &[]), Pending, None),
        (event("start", "ns", &[]), Running, None),
        (event("die", "ns", &[("exitCode", "0")]), Succeeded, Some(0)),
        (event("die", "ns", &[("exitCode", "3")]), Failed, Some(3)),
        (event("die", "ns", &[]), Failed, None),
        (event("destroy", "ns", &[]), Stopped, None),
    ];
    for (event, status, exit_code) in cases {
        let change = status_change("ns", &event).unwrap();
        assert_eq!(
            (change.status, change.exit_code),
            (status, exit_code),
            "{:?}",
            event.action
        );
        assert_eq!(change.project_id, "proj");
        assert_eq!(change.deployment_id, "dep");
        assert_eq!(change.kind, DeploymentType::Job);
    }
}

#[test]
fn the_time_keeps_nanoseconds_so_a_stream_can_resume_exactly() {
    let change = status_change("ns", &event("start", "ns", &[])).unwrap();
    assert_eq!(change.at.timestamp_subsec_nanos(), 123_456_789);
    let mut seconds_only = event("start", "ns", &[]);
    seconds_only.time_nano = None;
    assert_eq!(
        status_change("ns", &seconds_only).unwrap().at.timestamp(),
        1_714_557_600
    );
    let at = Utc.timestamp_opt(1_714_557_600, 5).unwrap();
    assert_eq!(engine_time(at), "1714557600.000000005");
}

#[test]
fn other_events_namespaces_and_objects_are_ignored() {
    for action in [
        "kill",
        "stop",
        "attach",
        "oom",
        "exec_start",
        "health_status: healthy",
    ] {
        assert!(
            status_change("ns", &event(action, "ns", &[])).is_none(),
            "{action}"
        );
    }
    assert!(status_change("ns", &event("start", "other", &[])).is_none());
    let mut network = event("start", "ns", &[]);
    network.typ = Some(EventMessageTypeEnum::NETWORK);
    assert!(status_change("ns", &network).is_none());
    let mut unlabelled = event("start", "ns", &[]);
    unlabelled
        .actor
        .as_mut()
        .unwrap()
        .attributes
        .as_mut()
        .unwrap()
        .remove(labels::DEPLOYMENT_ID);
    assert!(status_change("ns", &unlabelled).is_none());
    assert!(status_change("ns", &EventMessage::default()).is_none());
}
