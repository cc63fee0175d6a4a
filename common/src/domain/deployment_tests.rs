use super::*;

fn valid() -> DeploymentInput {
    DeploymentInput {
        container_image: "contaxy/busybox:test".to_owned(),
        display_name: Some("My Job".to_owned()),
        ..DeploymentInput::default()
    }
}

#[test]
fn a_minimal_input_is_valid_for_both_kinds() {
    valid()
        .validate(DeploymentType::Service)
        .expect("valid service");
    valid().validate(DeploymentType::Job).expect("valid job");
}

#[test]
fn each_bad_field_is_named() {
    type Mutation = Box<dyn Fn(&mut DeploymentInput)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "container_image",
            Box::new(|i| i.container_image = String::new()),
        ),
        (
            "container_image",
            Box::new(|i| i.container_image = "bad image".to_owned()),
        ),
        (
            "container_image",
            Box::new(|i| i.container_image = "x".repeat(2001)),
        ),
        ("display_name", Box::new(|i| i.display_name = None)),
        (
            "display_name",
            Box::new(|i| i.display_name = Some("ab".to_owned())),
        ),
        (
            "description",
            Box::new(|i| i.description = Some("d".repeat(241))),
        ),
        (
            "parameters.1BAD",
            Box::new(|i| {
                i.parameters.insert("1BAD".into(), "v".into());
            }),
        ),
        (
            "parameters.CONTAXY_API_TOKEN",
            Box::new(|i| {
                i.parameters.insert("CONTAXY_API_TOKEN".into(), "v".into());
            }),
        ),
        (
            "parameters",
            Box::new(|i| {
                // 100 × 32 KiB: each value is allowed, all together are not.
                for n in 0..100 {
                    i.parameters
                        .insert(format!("BIG_{n}"), "x".repeat(32 * 1024));
                }
            }),
        ),
        (
            "endpoints[0]",
            Box::new(|i| i.endpoints = vec!["http".into()]),
        ),
        (
            "endpoints[0]",
            Box::new(|i| i.endpoints = vec!["70000".into()]),
        ),
        ("compute.min_cpus", Box::new(|i| i.compute.min_cpus = -1.0)),
        (
            "compute.min_cpus",
            Box::new(|i| i.compute.min_cpus = f64::NAN),
        ),
        (
            "compute.max_cpus",
            Box::new(|i| i.compute.max_cpus = Some(1e9)),
        ),
        ("compute.min_memory", Box::new(|i| i.compute.min_memory = 2)),
        (
            "compute.max_memory",
            Box::new(|i| i.compute.max_memory = Some(1)),
        ),
        (
            "compute.max_memory",
            Box::new(|i| i.compute.max_memory = Some(u64::MAX)),
        ),
        (
            "compute.max_gpus",
            Box::new(|i| i.compute.max_gpus = Some(1000)),
        ),
        (
            "compute.volume_path",
            Box::new(|i| i.compute.volume_path = Some("data".into())),
        ),
        (
            "compute.volume_path",
            Box::new(|i| i.compute.volume_path = Some("/a/../etc".into())),
        ),
        (
            "compute.max_replicas",
            Box::new(|i| i.compute.max_replicas = 0),
        ),
        (
            "compute.max_volume_size",
            Box::new(|i| i.compute.max_volume_size = Some(0)),
        ),
    ];
    for (field, mutate) in cases {
        let mut input = valid();
        mutate(&mut input);
        let errors = input.validate(DeploymentType::Service).expect_err(field);
        assert!(errors.has(field), "{field} not named in {errors}");
    }
}

#[test]
fn service_only_fields_are_refused_for_jobs() {
    let mut input = valid();
    input.idle_timeout = Some(60);
    input
        .validate(DeploymentType::Service)
        .expect("fine for a service");
    let errors = input
        .validate(DeploymentType::Job)
        .expect_err("not for a job");
    assert!(errors.has("idle_timeout"));
}

#[test]
fn job_only_fields_are_refused_for_services_and_bounded() {
    let mut input = valid();
    input.deadline_seconds = Some(60);
    input.ttl_seconds_after_finished = Some(0);
    input.validate(DeploymentType::Job).expect("fine for a job");
    let errors = input
        .validate(DeploymentType::Service)
        .expect_err("not for a service");
    assert!(errors.has("deadline_seconds"));
    assert!(errors.has("ttl_seconds_after_finished"));
    input.deadline_seconds = Some(0);
    input.ttl_seconds_after_finished = Some(MAX_SECONDS + 1);
    let errors = input
        .validate(DeploymentType::Job)
        .expect_err("out of range");
    assert!(errors.has("deadline_seconds"));
    assert!(errors.has("ttl_seconds_after_finished"));
    let json = serde_json::to_value(valid()).expect("JSON");
    assert!(
        json.get("deadline_seconds").is_none(),
        "absent when unset: {json}"
    );
}

#[test]
fn unknown_fields_are_refused() {
    let error = serde_json::from_str::<DeploymentInput>(
        r#"{"container_image": "x", "display_name": "abcd", "privileged": true}"#,
    )
    .expect_err("unknown field");
    assert!(error.to_string().contains("privileged"));
    let error = serde_json::from_str::<DeploymentInput>(
        r#"{"container_image": "x", "compute": {"cpus": 1}}"#,
    )
    .expect_err("unknown compute field");
    assert!(error.to_string().contains("cpus"));
}

#[test]
fn endpoints_parse_to_ports() {
    assert_eq!(parse_endpoint_port("8080"), Some(8080));
    assert_eq!(parse_endpoint_port("9001/webapp/ui"), Some(9001));
    assert_eq!(parse_endpoint_port("0"), None);
    assert_eq!(parse_endpoint_port("080"), None);
    assert_eq!(parse_endpoint_port("80 80"), None);
}

#[test]
fn ids_of_two_projects_never_meet() {
    // With one hyphen both were `ctxy-p-demo-s-x-s-y`.
    let first = deployment_id("ctxy", "demo-s-x", DeploymentType::Service, "y", "");
    let second = deployment_id("ctxy", "demo", DeploymentType::Service, "x s y", "");
    assert_ne!(first, second);
    assert_eq!(first, "ctxy-p-demo-s-x--s-y");
    assert_eq!(second, "ctxy-p-demo--s-x-s-y");
}

#[test]
fn ids_are_deterministic_short_and_dns_safe() {
    let id = deployment_id("ctxy", "demo", DeploymentType::Service, "My Notebook!", "");
    assert_eq!(id, "ctxy-p-demo--s-my-notebook");
    let job = deployment_id("ctxy", "demo", DeploymentType::Job, "Train  model", "k3x9");
    assert_eq!(job, "ctxy-p-demo--j-train-model-k3x9");
    let long = deployment_id(
        "ctxy",
        "a-very-long-project-id",
        DeploymentType::Job,
        &"x".repeat(200),
        "abcdef",
    );
    assert!(long.len() <= 63, "{long}");
    assert!(long.ends_with("-abcdef"));
    let symbols = deployment_id("ctxy", "demo", DeploymentType::Service, "!!!!", "");
    assert_eq!(symbols, "ctxy-p-demo--s-x");
    for id in [id, job, long, symbols] {
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        assert_eq!(id.matches("--").count(), 1, "{id}");
    }
}

#[test]
fn requests_no_host_can_meet_are_refused() {
    let gib = 1024 * 1024 * 1024;
    let mut compute = Compute::default();
    let host = HostCapacity {
        cpus: 2.0,
        memory_bytes: 8 * gib,
    };
    check_capacity(&compute, &host).expect("1 core and 1000 MB fit");
    compute.min_cpus = 4.0;
    compute.min_memory = 16 * 1024;
    compute.max_cpus = Some(8.0);
    let errors = check_capacity(&compute, &host).expect_err("too big");
    for field in ["compute.min_cpus", "compute.max_cpus", "compute.min_memory"] {
        assert!(errors.has(field), "{field} not named in {errors}");
    }
}

#[test]
fn a_left_out_min_memory_is_not_above_max_memory() {
    let read = |compute: serde_json::Value| -> Compute {
        serde_json::from_value(compute).expect("a compute")
    };
    let contaxy = read(serde_json::json!({"max_memory": 100}));
    assert_eq!((contaxy.min_memory, contaxy.max_memory), (100, Some(100)));
    let mut input = valid();
    input.compute = contaxy;
    input
        .validate(DeploymentType::Service)
        .expect("contaxy's standard input");
    assert_eq!(read(serde_json::json!({})).min_memory, 1000);
    assert_eq!(
        read(serde_json::json!({"max_memory": 4000})).min_memory,
        1000
    );
    input.compute = read(serde_json::json!({"min_memory": 1000, "max_memory": 100}));
    let errors = input
        .validate(DeploymentType::Service)
        .expect_err("a min_memory given above max_memory");
    assert_eq!(errors.0[0].field, "compute.max_memory");
    assert!(serde_json::from_value::<Compute>(serde_json::json!({"turbo": 1})).is_err());
}
