//! Names, labels and annotations of what the Kubernetes backend creates.
//!
//! Kubernetes is stricter than Docker: object and namespace names are
//! lowercase RFC 1035/1123 labels of at most 63 characters, and label values
//! are at most 63 characters without spaces or `/`. Contaxy's ids are not
//! (a deployment id may be 200 characters with `_` and capitals), so names
//! are derived: an id that already fits is used as it is, any other becomes
//! a readable prefix and a hash of the whole id, which is deterministic (a
//! redelivered deploy finds the same objects) and cannot collide by case.
//! The full ids, the display name, the endpoints and who created it are
//! annotations; the labels are what lookups select on.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::config::is_dns_label;
use crate::runtime::spec::DeploymentSpec;

pub use crate::runtime::docker::labels::{
    CREATED_BY, DEPLOYMENT_ID, DEPLOYMENT_TYPE, DISPLAY_NAME, ENDPOINTS, MAX_VOLUME_SIZE_MB,
    NAMESPACE, PROJECT,
};

/// The one field manager of every server-side apply, so a redelivered
/// deploy owns (and converges) the same fields.
pub const FIELD_MANAGER: &str = "contaxy-worker";

/// The key of the deployment's API token in its Secret, and the variable it
/// becomes.
pub const TOKEN_VARIABLE: &str = "CONTAXY_API_TOKEN";

/// The label Kubernetes puts on every namespace with its name (1.21+): how
/// the NetworkPolicy selects the platform's namespace.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The project's Kubernetes namespace: `{namespace}-p-{project}`, hashed
/// when the project id has capitals or the name would be too long.
pub fn project_namespace(namespace: &str, project_id: &str) -> String {
    fitted(&format!("{namespace}-p-{project_id}"))
}

/// The name of a deployment's objects (Deployment or Job, Service, PVC,
/// pods' prefix). A Service name must start with a letter, so ids starting
/// with a digit are fitted too.
pub fn object_name(deployment_id: &str) -> String {
    if deployment_id.starts_with(|c: char| c.is_ascii_lowercase()) {
        fitted(deployment_id)
    } else {
        fitted(&format!("d-{deployment_id}"))
    }
}

/// The Secret holding the deployment's API token.
pub fn token_secret_name(deployment_id: &str) -> String {
    format!("{}-token", object_name(deployment_id))
}

/// The deployment's PersistentVolumeClaim.
pub fn volume_claim_name(deployment_id: &str) -> String {
    format!("{}-vol", object_name(deployment_id))
}

/// The project's NetworkPolicy.
pub const NETWORK_POLICY_NAME: &str = "ctxy-project-ingress";

/// The NetworkPolicy that isolates disconnected pods.
pub const DISCONNECTED_POLICY_NAME: &str = "ctxy-disconnected";

/// The label `network.disconnect` sets on a deployment's pods (through a
/// Deployment's pod template, or on a Job's pods) and on the Deployment
/// or Job itself; `network.connect` removes it.
pub const DISCONNECTED: &str = "ctxy.disconnected";

/// `value` when it is a DNS label of at most 52 characters (room for the
/// `-token`/`-vol` suffixes and pod hashes); otherwise a lowercase prefix
/// of it and 10 hex digits of its SHA-256.
fn fitted(value: &str) -> String {
    const LIMIT: usize = 52;
    if value.len() <= LIMIT && is_dns_label(value) {
        return value.to_owned();
    }
    let digest = Sha256::digest(value.as_bytes());
    let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let prefix: String = value
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .take(LIMIT - hash.len() - 1)
        .collect();
    let prefix = prefix.trim_matches('-');
    format!("{prefix}-{hash}")
}

/// A label value: the value itself when Kubernetes accepts it, else fitted.
fn label_value(value: &str) -> String {
    let ok = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok { value.to_owned() } else { fitted(value) }
}

/// The labels of a project's namespace and NetworkPolicy.
pub fn project_labels(namespace: &str, project_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAMESPACE.to_owned(), namespace.to_owned()),
        (PROJECT.to_owned(), project_id.to_owned()),
    ])
}

/// What selects one deployment's pods (and the objects made for it).
pub fn selector_labels(
    namespace: &str,
    project_id: &str,
    deployment_id: &str,
) -> BTreeMap<String, String> {
    let mut labels = project_labels(namespace, project_id);
    labels.insert(DEPLOYMENT_ID.to_owned(), label_value(deployment_id));
    labels
}

/// The labels of every object of a deployment: the selector and its type.
pub fn deployment_labels(namespace: &str, spec: &DeploymentSpec) -> BTreeMap<String, String> {
    let mut labels = selector_labels(namespace, &spec.project_id, &spec.deployment_id);
    labels.insert(DEPLOYMENT_TYPE.to_owned(), spec.kind.as_str().to_owned());
    labels
}

/// The annotations of every object of a deployment: the full id and what
/// Docker keeps in labels but Kubernetes label values cannot hold.
pub fn deployment_annotations(spec: &DeploymentSpec) -> BTreeMap<String, String> {
    let endpoints = spec
        .endpoints
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut annotations = BTreeMap::from([
        (DEPLOYMENT_ID.to_owned(), spec.deployment_id.clone()),
        (DISPLAY_NAME.to_owned(), spec.display_name.clone()),
        (ENDPOINTS.to_owned(), endpoints),
        (CREATED_BY.to_owned(), spec.created_by.clone()),
    ]);
    if let Some(size) = spec.max_volume_size_mb {
        annotations.insert(MAX_VOLUME_SIZE_MB.to_owned(), size.to_string());
    }
    annotations
}

/// A label selector string (`a=b,c=d`) for list and watch requests.
pub fn selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_fit_are_kept_and_others_are_hashed_deterministically() {
        assert_eq!(project_namespace("ns", "proj"), "ns-p-proj");
        assert_eq!(object_name("ns-p-proj-s-web"), "ns-p-proj-s-web");
        for id in ["Web_1.x", "1web", &"a".repeat(200)] {
            let name = object_name(id);
            assert!(is_dns_label(&name) && name.len() <= 52, "{name}");
            assert!(name.starts_with(|c: char| c.is_ascii_lowercase()), "{name}");
            assert_eq!(name, object_name(id));
        }
        assert_ne!(
            project_namespace("ns", "Proj"),
            project_namespace("ns", "proj")
        );
        assert!(is_dns_label(&token_secret_name(&"x".repeat(200))));
        assert!(is_dns_label(&volume_claim_name(&"x".repeat(200))));
    }

    #[test]
    fn label_values_are_valid_and_full_ids_are_annotations() {
        let long = "x".repeat(100);
        let labels = selector_labels("ns", "proj", &long);
        assert!(labels[DEPLOYMENT_ID].len() <= 63);
        let spec = DeploymentSpec::new(
            "proj",
            long.clone(),
            crate::runtime::DeploymentType::Job,
            "img",
        );
        assert_eq!(deployment_annotations(&spec)[DEPLOYMENT_ID], long);
        assert_eq!(
            selector(&selector_labels("ns", "p", "d")),
            "ctxy.deploymentId=d,ctxy.namespace=ns,ctxy.projectName=p"
        );
    }
}
