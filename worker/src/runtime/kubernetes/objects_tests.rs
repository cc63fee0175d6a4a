use serde_json::{Value, json};

use super::*;
use crate::runtime::spec::{ComputeSpec, Endpoint};

fn config() -> KubeRuntimeConfig {
    KubeRuntimeConfig {
        job_deadline_secs: Some(600),
        ..KubeRuntimeConfig::with_namespace("ns")
    }
}

pub fn service_spec() -> DeploymentSpec {
    let mut spec = DeploymentSpec::new("proj", "ns-p-proj-s-web", DeploymentType::Service, "img:1");
    spec.display_name = "Web server".to_owned();
    spec.created_by = "alice@example.org".to_owned();
    spec.endpoints = vec![
        Endpoint::parse("8080").unwrap(),
        Endpoint::parse("9001/webapp/ui").unwrap(),
    ];
    spec.env.insert("A".to_owned(), "1".to_owned());
    spec.env
        .insert(names::TOKEN_VARIABLE.to_owned(), "secret-token".to_owned());
    spec.compute = ComputeSpec {
        min_cpus: Some(0.5),
        max_cpus: Some(1.5),
        min_memory_mb: Some(64),
        max_memory_mb: Some(256),
        gpus: Some(2),
        pids_limit: None,
    };
    spec.volume_path = Some("/data".to_owned());
    spec.max_volume_size_mb = Some(512);
    spec
}

pub fn job_spec() -> DeploymentSpec {
    let mut spec = DeploymentSpec::new("proj", "ns-p-proj-j-run", DeploymentType::Job, "img:1");
    spec.command = vec!["sh".to_owned(), "-c".to_owned()];
    spec.args = vec!["echo hi".to_owned()];
    spec
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

#[test]
fn a_project_gets_a_labelled_namespace_and_a_policy_allowing_only_itself_and_the_platform() {
    let ns = to_json(&namespace(&config(), "proj"));
    assert_eq!(ns["metadata"]["name"], "ns-p-proj");
    assert_eq!(ns["metadata"]["labels"]["ctxy.namespace"], "ns");
    assert_eq!(ns["metadata"]["labels"]["ctxy.projectName"], "proj");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "baseline"
    );
    let policy = to_json(&network_policy(&config(), "proj"));
    assert_eq!(policy["metadata"]["namespace"], "ns-p-proj");
    assert_eq!(policy["metadata"]["name"], "ctxy-project-ingress");
    let connected =
        json!({"matchExpressions": [{"key": "ctxy.disconnected", "operator": "DoesNotExist"}]});
    assert_eq!(policy["spec"]["podSelector"], connected);
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(
        policy["spec"]["ingress"],
        json!([{"from": [
            {"podSelector": connected},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "contaxy"}}}
        ]}])
    );
}

#[test]
fn disconnected_pods_are_selected_by_a_policy_that_allows_nothing() {
    let policy = to_json(&disconnected_policy(&config(), "proj"));
    assert_eq!(policy["metadata"]["namespace"], "ns-p-proj");
    assert_eq!(policy["metadata"]["name"], "ctxy-disconnected");
    assert_eq!(
        policy["spec"],
        json!({
            "podSelector": {"matchExpressions": [{"key": "ctxy.disconnected", "operator": "Exists"}]},
            "policyTypes": ["Ingress", "Egress"]
        }),
        "no rule in either direction"
    );
}

#[test]
fn a_service_is_a_deployment_with_requests_limits_gpus_and_its_volume() {
    let spec = service_spec();
    let d = to_json(&deployment(&config(), &spec));
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["metadata"]["name"], "ns-p-proj-s-web");
    assert_eq!(d["metadata"]["namespace"], "ns-p-proj");
    assert_eq!(
        d["metadata"]["annotations"]["ctxy.displayName"],
        "Web server"
    );
    assert_eq!(
        d["metadata"]["annotations"]["ctxy.endpoints"],
        "8080,9001/webapp/ui"
    );
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
    let selector = &d["spec"]["selector"]["matchLabels"];
    let template_labels = &d["spec"]["template"]["metadata"]["labels"];
    for (key, value) in selector.as_object().unwrap() {
        assert_eq!(&template_labels[key], value, "{key}");
    }
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    let container = &pod["containers"][0];
    assert_eq!(
        container["resources"],
        json!({
            "requests": {"cpu": "500m", "memory": "64Mi"},
            "limits": {"cpu": "1500m", "memory": "256Mi", "nvidia.com/gpu": "2"}
        })
    );
    assert_eq!(
        container["volumeMounts"],
        json!([{"name": "data", "mountPath": "/data"}])
    );
    assert_eq!(
        pod["volumes"],
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "ns-p-proj-s-web-vol", "readOnly": false}}])
    );
    let claim = to_json(&volume_claim(&config(), &spec).unwrap());
    assert_eq!(claim["metadata"]["name"], "ns-p-proj-s-web-vol");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "512Mi");
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteOnce"]));
}

#[test]
fn the_token_is_a_secret_reference_and_never_inline() {
    let spec = service_spec();
    let d = to_json(&deployment(&config(), &spec));
    let text = d.to_string();
    assert!(!text.contains("secret-token"), "{text}");
    let env = &d["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(
        env,
        &json!([
            {"name": "A", "value": "1"},
            {"name": "CONTAXY_API_TOKEN", "valueFrom": {"secretKeyRef": {
                "name": "ns-p-proj-s-web-token", "key": "CONTAXY_API_TOKEN", "optional": false
            }}}
        ])
    );
    let secret = to_json(&token_secret(&config(), &spec).unwrap());
    assert_eq!(secret["metadata"]["name"], "ns-p-proj-s-web-token");
    // base64 of "secret-token"
    assert_eq!(secret["data"]["CONTAXY_API_TOKEN"], "c2VjcmV0LXRva2Vu");
    assert!(token_secret(&config(), &job_spec()).is_none());
}

#[test]
fn every_pod_is_locked_down_as_on_docker() {
    for pod_spec in [
        to_json(&deployment(&config(), &service_spec()))["spec"]["template"]["spec"].clone(),
        to_json(&job(&config(), &job_spec()))["spec"]["template"]["spec"].clone(),
    ] {
        assert_eq!(pod_spec["automountServiceAccountToken"], false);
        assert_eq!(pod_spec["hostNetwork"], false);
        assert_eq!(pod_spec["hostPID"], false);
        assert_eq!(pod_spec["hostIPC"], false);
        assert_eq!(pod_spec["enableServiceLinks"], false);
        // The pause container as PID 1, Docker's `init: true`.
        assert_eq!(pod_spec["shareProcessNamespace"], true);
        let text = pod_spec.to_string();
        assert!(!text.contains("hostPath"), "{text}");
        let context = &pod_spec["containers"][0]["securityContext"];
        assert_eq!(context["allowPrivilegeEscalation"], false);
        assert_eq!(context["privileged"], false);
        assert_eq!(context["seccompProfile"], json!({"type": "RuntimeDefault"}));
        assert_eq!(context["capabilities"]["drop"], json!(["ALL"]));
        assert_eq!(
            context["capabilities"]["add"],
            json!(CAPABILITIES_ADDED.to_vec())
        );
    }
}

#[test]
fn a_job_is_never_retried_by_the_cluster_and_has_a_deadline_and_a_ttl() {
    let j = to_json(&job(&config(), &job_spec()));
    assert_eq!(j["apiVersion"], "batch/v1");
    assert_eq!(j["spec"]["backoffLimit"], 0);
    assert_eq!(j["spec"]["activeDeadlineSeconds"], 600);
    assert_eq!(j["spec"]["ttlSecondsAfterFinished"], 3600);
    let pod = &j["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["containers"][0]["command"], json!(["sh", "-c"]));
    assert_eq!(pod["containers"][0]["args"], json!(["echo hi"]));
    // No max_memory nor max_cpus: the default limits, no requests.
    assert_eq!(
        pod["containers"][0]["resources"],
        json!({"limits": {"cpu": "1000m", "memory": "1024Mi"}})
    );
    let without_deadline = to_json(&job(&KubeRuntimeConfig::default(), &job_spec()));
    assert!(
        without_deadline["spec"]
            .get("activeDeadlineSeconds")
            .is_none()
    );
    assert!(volume_claim(&config(), &job_spec()).is_none());
    assert!(service(&config(), &job_spec()).is_none());
}

#[test]
fn a_service_object_has_one_port_per_endpoint_port() {
    let s = to_json(&service(&config(), &service_spec()).unwrap());
    assert_eq!(s["spec"]["type"], "ClusterIP");
    assert_eq!(
        s["spec"]["ports"],
        json!([
            {"name": "p8080", "port": 8080, "targetPort": 8080, "protocol": "TCP"},
            {"name": "p9001", "port": 9001, "targetPort": 9001, "protocol": "TCP"}
        ])
    );
    assert_eq!(
        s["spec"]["selector"],
        json!({"ctxy.deploymentId": "ns-p-proj-s-web", "ctxy.namespace": "ns", "ctxy.projectName": "proj"})
    );
}

#[test]
fn the_default_cpu_limit_is_at_least_the_minimum() {
    let config = KubeRuntimeConfig {
        default_cpu_millicores: 250,
        ..config()
    };
    let mut spec = job_spec();
    assert_eq!(to_json(&resources(&config, &spec))["limits"]["cpu"], "250m");
    spec.compute.min_cpus = Some(0.5);
    let both = to_json(&resources(&config, &spec));
    assert_eq!(
        (&both["requests"]["cpu"], &both["limits"]["cpu"]),
        (&json!("500m"), &json!("500m"))
    );
    spec.compute.max_cpus = Some(2.0);
    assert_eq!(
        to_json(&resources(&config, &spec))["limits"]["cpu"],
        "2000m"
    );
}

#[test]
fn a_volume_claim_records_the_project_incarnation() {
    let mut spec = service_spec();
    assert!(
        to_json(&volume_claim(&config(), &spec).unwrap())["metadata"]["labels"]
            .get("ctxy.projectIncarnation")
            .is_none()
    );
    let incarnation = uuid::Uuid::new_v4();
    spec.project_incarnation = Some(incarnation);
    let claim = to_json(&volume_claim(&config(), &spec).unwrap());
    assert_eq!(
        claim["metadata"]["labels"]["ctxy.projectIncarnation"],
        incarnation.to_string()
    );
}
