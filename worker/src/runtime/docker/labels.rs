//! Names and labels of what the Docker backend creates. They are
//! deterministic from the spec, so a redelivered action finds what an earlier
//! attempt made; every lookup filters by them and by the namespace.

use std::collections::HashMap;

use crate::runtime::spec::DeploymentSpec;

/// The installation (or test) that owns the object.
pub const NAMESPACE: &str = "ctxy.namespace";
/// The owning project (contaxy's name for the label, kept for compatibility).
pub const PROJECT: &str = "ctxy.projectName";
/// The deployment id (= container name).
pub const DEPLOYMENT_ID: &str = "ctxy.deploymentId";
/// `service` or `job`.
pub const DEPLOYMENT_TYPE: &str = "ctxy.deploymentType";
/// The display name.
pub const DISPLAY_NAME: &str = "ctxy.displayName";
/// The endpoints, comma-separated as contaxy wrote them (`8080,9001/ui`).
pub const ENDPOINTS: &str = "ctxy.endpoints";
/// Who created it.
pub const CREATED_BY: &str = "ctxy.createdBy";
/// The volume's size limit in MiB, when one was asked for.
pub const MAX_VOLUME_SIZE_MB: &str = "ctxy.maxVolumeSizeMb";
/// The incarnation of the project a volume was made for: the sweep removes
/// volumes whose project (by id and incarnation) is gone.
pub const PROJECT_INCARNATION: &str = "ctxy.projectIncarnation";

/// `{namespace}-p-{project}-network`, as contaxy names project networks.
pub use contaxy_common::domain::network::network_name;

/// What every project bridge's interface name starts with, so one host
/// firewall rule can tell project bridges apart from all others
/// (`scripts/docker-isolation.sh`, docs/networks.md).
pub const BRIDGE_PREFIX: &str = "cx-";

/// The Linux bridge interface of a project network: [`BRIDGE_PREFIX`] and
/// 12 hex digits of the SHA-256 of the network's name (15 characters, the
/// kernel's limit), instead of Docker's `br-{id}`.
pub fn bridge_name(network_name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(network_name.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{BRIDGE_PREFIX}{hex}")
}

/// `{deployment}-{incarnation}-vol`: the deployment id names the project
/// and is unique per installation, and the project's incarnation (32 hex
/// digits) sets apart projects that reused an id, so a service made in a
/// new project never mounts the volume a namesake left behind in an old one.
/// Within one project, a service deleted with `delete_volumes=false` and made
/// again under the same name finds its volume: that is what keeping it is for.
pub fn volume_name(spec: &DeploymentSpec) -> String {
    match spec.project_incarnation {
        Some(incarnation) => format!("{}-{}-vol", spec.deployment_id, incarnation.simple()),
        None => format!("{}-vol", spec.deployment_id),
    }
}

/// The labels of a deployment's container.
pub fn container_labels(namespace: &str, spec: &DeploymentSpec) -> HashMap<String, String> {
    let endpoints = spec
        .endpoints
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut labels = deployment_labels(namespace, spec);
    labels.insert(DISPLAY_NAME.to_owned(), spec.display_name.clone());
    labels.insert(ENDPOINTS.to_owned(), endpoints);
    labels.insert(CREATED_BY.to_owned(), spec.created_by.clone());
    labels
}

/// The labels of a deployment's volume.
pub fn volume_labels(namespace: &str, spec: &DeploymentSpec) -> HashMap<String, String> {
    let mut labels = deployment_labels(namespace, spec);
    labels.insert(CREATED_BY.to_owned(), spec.created_by.clone());
    if let Some(size) = spec.max_volume_size_mb {
        labels.insert(MAX_VOLUME_SIZE_MB.to_owned(), size.to_string());
    }
    if let Some(incarnation) = spec.project_incarnation {
        labels.insert(PROJECT_INCARNATION.to_owned(), incarnation.to_string());
    }
    labels
}

fn deployment_labels(namespace: &str, spec: &DeploymentSpec) -> HashMap<String, String> {
    HashMap::from([
        (NAMESPACE.to_owned(), namespace.to_owned()),
        (PROJECT.to_owned(), spec.project_id.clone()),
        (DEPLOYMENT_ID.to_owned(), spec.deployment_id.clone()),
        (DEPLOYMENT_TYPE.to_owned(), spec.kind.as_str().to_owned()),
    ])
}

/// The labels of a project network.
pub fn network_labels(namespace: &str, project_id: &str) -> HashMap<String, String> {
    HashMap::from([
        (NAMESPACE.to_owned(), namespace.to_owned()),
        (PROJECT.to_owned(), project_id.to_owned()),
    ])
}

/// An engine `filters` value selecting objects carrying all `labels`.
pub fn label_filter(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    let values = labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    HashMap::from([("label".to_owned(), values)])
}

/// Whether `labels` put the object in `namespace` and `project_id` (and,
/// when given, make it deployment `deployment_id`): the ownership check made
/// before acting on an object found by name.
pub fn owned_by(
    labels: Option<&HashMap<String, String>>,
    namespace: &str,
    project_id: &str,
    deployment_id: Option<&str>,
) -> bool {
    let Some(labels) = labels else {
        return false;
    };
    let has = |key: &str, value: &str| labels.get(key).is_some_and(|v| v == value);
    has(NAMESPACE, namespace)
        && has(PROJECT, project_id)
        && deployment_id.is_none_or(|id| has(DEPLOYMENT_ID, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::spec::{DeploymentType, Endpoint};

    fn spec() -> DeploymentSpec {
        let mut spec =
            DeploymentSpec::new("proj", "ns-p-proj-s-web", DeploymentType::Service, "img");
        spec.display_name = "Web".to_owned();
        spec.created_by = "alice".to_owned();
        spec.endpoints = vec![
            Endpoint::parse("8080").unwrap(),
            Endpoint::parse("9001/webapp/ui").unwrap(),
        ];
        spec
    }

    #[test]
    fn names_follow_contaxy() {
        assert_eq!(network_name("ns", "proj"), "ns-p-proj-network");
        assert_eq!(volume_name(&spec()), "ns-p-proj-s-web-vol");
    }

    #[test]
    fn a_volume_name_sets_apart_projects_that_reused_an_id() {
        let mut old = spec();
        old.project_incarnation = Some(uuid::Uuid::from_u128(1));
        let mut new = spec();
        new.project_incarnation = Some(uuid::Uuid::from_u128(2));
        assert_eq!(
            volume_name(&old),
            "ns-p-proj-s-web-00000000000000000000000000000001-vol"
        );
        assert_ne!(volume_name(&old), volume_name(&new));
        assert_eq!(
            volume_labels("ns", &new)[PROJECT_INCARNATION],
            "00000000-0000-0000-0000-000000000002"
        );
    }

    #[test]
    fn a_container_carries_all_seven_labels() {
        let labels = container_labels("ns", &spec());
        let expected = [
            (NAMESPACE, "ns"),
            (PROJECT, "proj"),
            (DEPLOYMENT_ID, "ns-p-proj-s-web"),
            (DEPLOYMENT_TYPE, "service"),
            (DISPLAY_NAME, "Web"),
            (ENDPOINTS, "8080,9001/webapp/ui"),
            (CREATED_BY, "alice"),
        ];
        assert_eq!(labels.len(), expected.len());
        for (key, value) in expected {
            assert_eq!(labels.get(key).map(String::as_str), Some(value), "{key}");
        }
    }

    #[test]
    fn a_volume_records_its_size_limit_only_when_given() {
        let mut spec = spec();
        assert!(!volume_labels("ns", &spec).contains_key(MAX_VOLUME_SIZE_MB));
        spec.max_volume_size_mb = Some(512);
        let labels = volume_labels("ns", &spec);
        assert_eq!(labels[MAX_VOLUME_SIZE_MB], "512");
        assert_eq!(labels[DEPLOYMENT_ID], "ns-p-proj-s-web");
        assert_eq!(labels[NAMESPACE], "ns");
    }

    #[test]
    fn a_network_carries_namespace_and_project() {
        let labels = network_labels("ns", "proj");
        assert_eq!(labels.len(), 2);
        assert_eq!(labels[NAMESPACE], "ns");
        assert_eq!(labels[PROJECT], "proj");
    }

    #[test]
    fn label_filters_name_every_label() {
        let filter = label_filter(&[(NAMESPACE, "ns"), (PROJECT, "p")]);
        assert_eq!(filter["label"], ["ctxy.namespace=ns", "ctxy.projectName=p"]);
    }

    #[test]
    fn ownership_needs_namespace_project_and_deployment_to_match() {
        let labels = container_labels("ns", &spec());
        let id = Some("ns-p-proj-s-web");
        assert!(owned_by(Some(&labels), "ns", "proj", id));
        assert!(owned_by(Some(&labels), "ns", "proj", None));
        assert!(!owned_by(Some(&labels), "other", "proj", id));
        assert!(!owned_by(Some(&labels), "ns", "other", id));
        assert!(!owned_by(Some(&labels), "ns", "proj", Some("other")));
        assert!(!owned_by(None, "ns", "proj", id));
        assert!(!owned_by(Some(&HashMap::new()), "ns", "proj", None));
    }

    #[test]
    fn bridge_names_fit_the_kernel_and_differ_per_network() {
        let a = bridge_name("ctxy-p-alpha-network");
        let b = bridge_name("ctxy-p-beta-network");
        assert_eq!(a.len(), 15, "{a}");
        assert!(a.starts_with(BRIDGE_PREFIX), "{a}");
        assert!(
            a[BRIDGE_PREFIX.len()..]
                .chars()
                .all(|c| c.is_ascii_hexdigit()),
            "{a}"
        );
        assert_ne!(a, b);
        assert_eq!(a, bridge_name("ctxy-p-alpha-network"), "deterministic");
    }
}
