//! The two NetworkPolicies of a project namespace, which make it the
//! project's "network" and let one deployment be cut off from it:
//!
//! - `ctxy-project-ingress` selects every **connected** pod (no
//!   `ctxy.disconnected` label) and lets in only connected pods of the same
//!   namespace and pods of the platform's namespace;
//! - `ctxy-disconnected` selects every **disconnected** pod (the label set
//!   by `network.disconnect` on its pod template) and allows nothing, in or
//!   out.
//!
//! Policies only ever add what is allowed, so the first one must not select
//! a disconnected pod (it would let the project in again), and a pod no
//! policy selects would be open to all: together they select every pod.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};

use super::config::KubeRuntimeConfig;
use super::names;

/// Pods with (`Exists`) or without (`DoesNotExist`) the disconnected label.
fn by_disconnected_label(operator: &str) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: names::DISCONNECTED.to_owned(),
            operator: operator.to_owned(),
            values: None,
        }]),
        match_labels: None,
    }
}

fn metadata(config: &KubeRuntimeConfig, project_id: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(names::project_namespace(&config.namespace, project_id)),
        labels: Some(names::project_labels(&config.namespace, project_id)),
        ..ObjectMeta::default()
    }
}

/// The project's ingress policy: its connected pods accept traffic only
/// from connected pods of the same namespace and from the platform's
/// namespace.
pub fn network_policy(config: &KubeRuntimeConfig, project_id: &str) -> NetworkPolicy {
    let platform = NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                names::NAMESPACE_NAME_LABEL.to_owned(),
                config.platform_namespace.clone(),
            )])),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    };
    NetworkPolicy {
        metadata: metadata(config, project_id, names::NETWORK_POLICY_NAME),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(by_disconnected_label("DoesNotExist")),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![
                    // A pod selector without a namespace selector: pods of
                    // this namespace.
                    NetworkPolicyPeer {
                        pod_selector: Some(by_disconnected_label("DoesNotExist")),
                        ..NetworkPolicyPeer::default()
                    },
                    platform,
                ]),
                ports: None,
            }]),
            ..NetworkPolicySpec::default()
        }),
    }
}

/// The policy of disconnected pods: both directions isolated, no rule, so
/// nothing reaches them and they reach nothing (DNS included), as a Docker
/// container detached from every network.
pub fn disconnected_policy(config: &KubeRuntimeConfig, project_id: &str) -> NetworkPolicy {
    NetworkPolicy {
        metadata: metadata(config, project_id, names::DISCONNECTED_POLICY_NAME),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(by_disconnected_label("Exists")),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: None,
            egress: None,
        }),
    }
}
