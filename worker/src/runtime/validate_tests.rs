use super::*;
use crate::runtime::spec::{DeploymentSpec, DeploymentType};

const HOST: HostCapacity = HostCapacity {
    cpus: 4.0,
    memory_bytes: 8 * 1024 * MIB,
};

fn spec() -> DeploymentSpec {
    DeploymentSpec::new("proj", "ns-p-proj-s-web", DeploymentType::Service, "img:1")
}

fn field_of(result: Result<(), RuntimeError>) -> &'static str {
    match result {
        Err(RuntimeError::InvalidSpec { field, .. }) => field,
        Err(RuntimeError::InsufficientCapacity { field, .. }) => field,
        other => panic!("expected a spec error, got {other:?}"),
    }
}

fn with(change: impl FnOnce(&mut DeploymentSpec)) -> DeploymentSpec {
    let mut spec = spec();
    change(&mut spec);
    spec
}

#[test]
fn a_plain_spec_is_valid() {
    validate_spec(&spec(), &HOST).unwrap();
}

#[test]
fn a_full_spec_within_capacity_is_valid() {
    let spec = with(|s| {
        s.command = vec!["/bin/sh".into(), "-c".into()];
        s.args = vec!["echo hi".into()];
        s.env.insert("A".into(), "b=c".into());
        s.compute.min_cpus = Some(0.5);
        s.compute.max_cpus = Some(4.0);
        s.compute.min_memory_mb = Some(4);
        s.compute.max_memory_mb = Some(8 * 1024);
        s.compute.pids_limit = Some(64);
        s.compute.gpus = Some(1);
        s.volume_path = Some("/data".into());
        s.max_volume_size_mb = Some(10);
    });
    validate_spec(&spec, &HOST).unwrap();
}

#[test]
fn more_cores_or_memory_than_the_host_has_is_insufficient_capacity() {
    let cases = [
        (with(|s| s.compute.min_cpus = Some(4.5)), "min_cpus"),
        (with(|s| s.compute.max_cpus = Some(8.0)), "max_cpus"),
        (
            with(|s| s.compute.min_memory_mb = Some(8 * 1024 + 1)),
            "min_memory",
        ),
    ];
    for (spec, field) in cases {
        let error = validate_spec(&spec, &HOST).unwrap_err();
        assert!(!error.is_retryable());
        assert!(error.to_string().contains(field), "{error}");
        assert_eq!(field_of(Err(error)), field);
    }
}

#[test]
fn capacity_errors_name_the_field_and_both_amounts() {
    let error = validate_spec(&with(|s| s.compute.min_cpus = Some(6.0)), &HOST).unwrap_err();
    assert_eq!(
        error.to_string(),
        "insufficient capacity for min_cpus: requested 6 cores, the host has 4 cores"
    );
}

#[test]
fn bad_compute_values_are_invalid() {
    let cases = [
        (with(|s| s.compute.min_cpus = Some(-1.0)), "min_cpus"),
        (with(|s| s.compute.min_cpus = Some(f64::NAN)), "min_cpus"),
        (with(|s| s.compute.max_cpus = Some(0.0)), "max_cpus"),
        (
            with(|s| s.compute.max_cpus = Some(f64::INFINITY)),
            "max_cpus",
        ),
        (
            with(|s| {
                s.compute.min_cpus = Some(2.0);
                s.compute.max_cpus = Some(1.0);
            }),
            "max_cpus",
        ),
        (with(|s| s.compute.min_memory_mb = Some(3)), "min_memory"),
        (with(|s| s.compute.max_memory_mb = Some(5)), "max_memory"),
        (
            with(|s| {
                s.compute.min_memory_mb = Some(100);
                s.compute.max_memory_mb = Some(50);
            }),
            "max_memory",
        ),
        (with(|s| s.compute.pids_limit = Some(0)), "pids_limit"),
        (with(|s| s.compute.pids_limit = Some(-1)), "pids_limit"),
        (with(|s| s.max_volume_size_mb = Some(0)), "max_volume_size"),
    ];
    for (spec, field) in cases {
        assert_eq!(
            field_of(validate_spec(&spec, &HOST)),
            field,
            "{:?}",
            spec.compute
        );
    }
}

#[test]
fn ids_that_would_be_unsafe_names_or_url_segments_are_invalid() {
    for bad in [
        "",
        "-x",
        "x-",
        "a--b",
        "a_b",
        "a/b",
        "a.b",
        "ä",
        &"x".repeat(64),
    ] {
        assert_eq!(
            field_of(validate_spec(&with(|s| s.project_id = bad.into()), &HOST)),
            "project_id",
            "{bad}"
        );
    }
    for bad in [
        "",
        "-x",
        ".x",
        "a/b",
        "../x",
        "a?b",
        "a b",
        &"x".repeat(201),
    ] {
        assert_eq!(
            field_of(validate_spec(
                &with(|s| s.deployment_id = bad.into()),
                &HOST
            )),
            "deployment_id",
            "{bad}"
        );
    }
    for good in ["a", "x1_y.z-w", &"x".repeat(200)] {
        validate_spec(&with(|s| s.deployment_id = good.into()), &HOST).unwrap();
    }
}

#[test]
fn images_must_be_a_reference() {
    for bad in [
        "",
        "has space",
        "tab\tx",
        &"x".repeat(2001),
        "Foo/Bar",
        "a::b",
        "localhost:5000/app",
        "169.254.169.254/app",
    ] {
        assert_eq!(
            field_of(validate_spec(&with(|s| s.image = bad.into()), &HOST)),
            "container_image"
        );
    }
}

#[test]
fn env_names_and_values_must_be_representable() {
    let bad_names = ["", "A=B", "A\0"];
    for name in bad_names {
        let spec = with(|s| {
            s.env.insert(name.into(), "v".into());
        });
        assert_eq!(field_of(validate_spec(&spec, &HOST)), "env", "{name:?}");
    }
    let spec = with(|s| {
        s.env.insert("A".into(), "nul\0".into());
    });
    assert_eq!(field_of(validate_spec(&spec, &HOST)), "env");
    let spec = with(|s| s.args = vec!["a\0".into()]);
    assert_eq!(field_of(validate_spec(&spec, &HOST)), "command");
}

#[test]
fn volume_paths_must_be_absolute_and_contained() {
    for bad in ["data", "/", "/a/../b", "/a:/b", ""] {
        assert_eq!(
            field_of(validate_spec(
                &with(|s| s.volume_path = Some(bad.into())),
                &HOST
            )),
            "volume_path",
            "{bad}"
        );
    }
    for good in ["/data", "/home/user/.cache", "/a/..b"] {
        validate_spec(&with(|s| s.volume_path = Some(good.into())), &HOST).unwrap();
    }
}
