use super::*;

#[test]
fn references_docker_accepts_parse_with_their_parts() {
    let busybox = ImageRef::parse("busybox").unwrap();
    assert_eq!(
        (busybox.registry(), busybox.repository(), busybox.tag()),
        ("docker.io", "library/busybox", Some("latest"))
    );
    assert_eq!(busybox.as_str(), "busybox");
    let ours = ImageRef::parse("contaxy/busybox:test").unwrap();
    assert_eq!(ours.repository(), "contaxy/busybox");
    assert_eq!(
        ours.pull_parts(),
        ("contaxy/busybox".into(), Some("test".into()))
    );
    let ported = ImageRef::parse("registry.example.com:5000/team/app:1.2").unwrap();
    assert_eq!(ported.registry(), "registry.example.com:5000");
    assert_eq!(
        ported.pull_parts(),
        (
            "registry.example.com:5000/team/app".into(),
            Some("1.2".into())
        )
    );
    let digest = format!("ghcr.io/a/b@sha256:{}", "a".repeat(64));
    let pinned = ImageRef::parse(&digest).unwrap();
    assert_eq!(
        pinned.digest(),
        Some(format!("sha256:{}", "a".repeat(64)).as_str())
    );
    assert_eq!(pinned.pull_parts(), (digest.clone(), None));
    assert_eq!(
        ImageRef::parse("nginx").unwrap().pull_parts(),
        ("nginx".into(), Some("latest".into()))
    );
    // A public registry on an address is fine.
    ImageRef::parse("10.1.2.3:5000/app:1").unwrap();
    ImageRef::parse("8.8.8.8/app").unwrap();
}

#[test]
fn malformed_references_are_refused_by_the_grammar() {
    for bad in [
        "Foo/Bar",
        "Foo/bar",
        "UPPER",
        "a::b",
        "has space",
        "repo:",
        ":tag",
        "/lead",
        "trail/",
        "a//b",
        "-x",
        "x@sha256:short",
        "x@md5:0123456789abcdef0123456789abcdef",
        "tab\tx",
        "[::1]:5000/x",
    ] {
        assert!(
            matches!(ImageRef::parse(bad), Err(ImageRefError::Grammar(_))),
            "{bad}: {:?}",
            ImageRef::parse(bad)
        );
    }
    assert_eq!(ImageRef::parse(""), Err(ImageRefError::Length));
    assert_eq!(
        ImageRef::parse(&"x".repeat(MAX_IMAGE_LEN + 1)),
        Err(ImageRefError::Length)
    );
}

#[test]
fn registries_on_the_host_itself_are_refused() {
    for bad in [
        "localhost/app",
        "localhost:5000/app:1",
        "LOCALHOST:5000/app",
        "registry.localhost/app",
        "127.0.0.1:5000/app",
        "127.8.9.10/app",
        "169.254.169.254/latest",
        "169.254.1.1:80/app",
        "0.0.0.0:5000/app",
        "127.1:5000/app",
        "2130706433:5000/app",
        "0x7f.1:5000/app",
    ] {
        let error = ImageRef::parse(bad).unwrap_err();
        assert!(
            matches!(error, ImageRefError::LocalRegistry { .. }),
            "{bad}: {error:?}"
        );
        assert!(
            error.to_string().contains("loopback, link-local"),
            "{error}"
        );
    }
}

#[test]
fn ipv6_loopback_and_link_local_are_local() {
    for ip in [
        "::1",
        "fe80::1",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:169.254.0.1",
    ] {
        assert!(is_local_ip(ip.parse().unwrap()), "{ip}");
    }
    for ip in ["2001:db8::1", "fd00::1", "::ffff:10.0.0.1"] {
        assert!(!is_local_ip(ip.parse().unwrap()), "{ip}");
    }
}
