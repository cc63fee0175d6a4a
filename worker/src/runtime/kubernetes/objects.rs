//! The Kubernetes objects a deployment and a project become, built as pure
//! functions of the spec and the settings so that the mapping and the
//! security defaults can be read (and tested, and validated against the
//! published schemas) in one place.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec as AppsDeploymentSpec, DeploymentStrategy,
};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, Namespace, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, Secret, SecretKeySelector, SecurityContext, Service,
    ServicePort, ServiceSpec, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config::KubeRuntimeConfig;
use super::names;
pub use super::network_policies::{disconnected_policy, network_policy};
use crate::runtime::docker::container_body::CAPABILITIES_ADDED;
use crate::runtime::spec::{DeploymentSpec, DeploymentType};

/// The GPU resource of the NVIDIA device plugin.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// The project's namespace, labelled with the installation and the project.
/// Pods in it are held to the `baseline` Pod Security Standard, so even an
/// object made outside contaxy cannot use host namespaces, host paths or
/// privileged mode there.
pub fn namespace(config: &KubeRuntimeConfig, project_id: &str) -> Namespace {
    let mut labels = names::project_labels(&config.namespace, project_id);
    labels.insert(
        "pod-security.kubernetes.io/enforce".to_owned(),
        "baseline".to_owned(),
    );
    Namespace {
        metadata: ObjectMeta {
            name: Some(names::project_namespace(&config.namespace, project_id)),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// Metadata of an object of the deployment, in its project's namespace.
fn metadata(config: &KubeRuntimeConfig, spec: &DeploymentSpec, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(names::project_namespace(
            &config.namespace,
            &spec.project_id,
        )),
        labels: Some(names::deployment_labels(&config.namespace, spec)),
        annotations: Some(names::deployment_annotations(spec)),
        ..ObjectMeta::default()
    }
}

/// The Secret with the deployment's API token, when its environment has
/// one: the pod spec references it and never holds the token itself.
pub fn token_secret(config: &KubeRuntimeConfig, spec: &DeploymentSpec) -> Option<Secret> {
    let token = spec.env.get(names::TOKEN_VARIABLE)?;
    Some(Secret {
        metadata: metadata(config, spec, names::token_secret_name(&spec.deployment_id)),
        data: Some(BTreeMap::from([(
            names::TOKEN_VARIABLE.to_owned(),
            ByteString(token.clone().into_bytes()),
        )])),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    })
}

/// The PersistentVolumeClaim of a deployment with a `volume_path`, sized
/// `max_volume_size` (else the configured default).
pub fn volume_claim(
    config: &KubeRuntimeConfig,
    spec: &DeploymentSpec,
) -> Option<PersistentVolumeClaim> {
    spec.volume_path.as_ref()?;
    let size_mb = spec
        .max_volume_size_mb
        .unwrap_or(config.default_volume_size_mb);
    let mut metadata = metadata(config, spec, names::volume_claim_name(&spec.deployment_id));
    // Which incarnation of the project it holds data of: the orphan sweep
    // removes a claim left by a deleted project whose id was taken again.
    if let (Some(labels), Some(incarnation)) = (metadata.labels.as_mut(), spec.project_incarnation)
    {
        labels.insert(
            crate::runtime::docker::labels::PROJECT_INCARNATION.to_owned(),
            incarnation.to_string(),
        );
    }
    Some(PersistentVolumeClaim {
        metadata,
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(format!("{size_mb}Mi")),
                )])),
                limits: None,
            }),
            storage_class_name: config.storage_class.clone(),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    })
}

/// A service's Deployment: one replica (stopping scales it to zero).
pub fn deployment(config: &KubeRuntimeConfig, spec: &DeploymentSpec) -> Deployment {
    let selector = names::selector_labels(&config.namespace, &spec.project_id, &spec.deployment_id);
    Deployment {
        metadata: metadata(config, spec, names::object_name(&spec.deployment_id)),
        spec: Some(AppsDeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            // A ReadWriteOnce volume cannot be mounted by the old and the new
            // pod at once.
            strategy: spec.volume_path.as_ref().map(|_| DeploymentStrategy {
                type_: Some("Recreate".to_owned()),
                rolling_update: None,
            }),
            template: pod_template(config, spec, "Always"),
            ..AppsDeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// A job's Job: never retried by the cluster (`backoffLimit: 0`: retries
/// are the pipeline's), bounded by the deadline when one is set, and
/// removed `job_ttl_secs` after it finished.
pub fn job(config: &KubeRuntimeConfig, spec: &DeploymentSpec) -> Job {
    Job {
        metadata: metadata(config, spec, names::object_name(&spec.deployment_id)),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: config.job_deadline_secs.map(i64::from),
            ttl_seconds_after_finished: Some(
                i32::try_from(config.job_ttl_secs).unwrap_or(i32::MAX),
            ),
            template: pod_template(config, spec, "Never"),
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// The ClusterIP Service of a deployment with endpoints (one port each),
/// reachable in its project as the deployment's object name.
pub fn service(config: &KubeRuntimeConfig, spec: &DeploymentSpec) -> Option<Service> {
    if spec.endpoints.is_empty() {
        return None;
    }
    let mut ports: Vec<u16> = spec.endpoints.iter().map(|e| e.port).collect();
    ports.sort_unstable();
    ports.dedup();
    Some(Service {
        metadata: metadata(config, spec, names::object_name(&spec.deployment_id)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(names::selector_labels(
                &config.namespace,
                &spec.project_id,
                &spec.deployment_id,
            )),
            ports: Some(
                ports
                    .into_iter()
                    .map(|port| ServicePort {
                        name: Some(format!("p{port}")),
                        port: i32::from(port),
                        target_port: Some(IntOrString::Int(i32::from(port))),
                        protocol: Some("TCP".to_owned()),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}

fn pod_template(
    config: &KubeRuntimeConfig,
    spec: &DeploymentSpec,
    restart_policy: &str,
) -> PodTemplateSpec {
    let mut labels = names::deployment_labels(&config.namespace, spec);
    labels.extend(names::selector_labels(
        &config.namespace,
        &spec.project_id,
        &spec.deployment_id,
    ));
    let volume = spec.volume_path.as_ref().map(|_| Volume {
        name: "data".to_owned(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: names::volume_claim_name(&spec.deployment_id),
            read_only: Some(false),
        }),
        ..Volume::default()
    });
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: Some(names::deployment_annotations(spec)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container(config, spec)],
            restart_policy: Some(restart_policy.to_owned()),
            // Untrusted code: no cluster credentials, none of the node's
            // namespaces, no variables naming other services.
            automount_service_account_token: Some(false),
            host_network: Some(false),
            host_pid: Some(false),
            host_ipc: Some(false),
            // The init process Docker gets from `init: true`: with one PID
            // namespace for the pod, the pause container is PID 1 and
            // reaps orphaned processes, and the program is not PID 1, so
            // SIGTERM stops it even when it installs no handler. The pod
            // has one container, so nothing else is visible.
            share_process_namespace: Some(true),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(i64::from(config.stop_timeout_secs)),
            volumes: volume.map(|volume| vec![volume]),
            ..PodSpec::default()
        }),
    }
}

fn container(config: &KubeRuntimeConfig, spec: &DeploymentSpec) -> Container {
    let env = spec
        .env
        .iter()
        .map(|(key, value)| {
            if key == names::TOKEN_VARIABLE {
                EnvVar {
                    name: key.clone(),
                    value: None,
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: names::token_secret_name(&spec.deployment_id),
                            key: names::TOKEN_VARIABLE.to_owned(),
                            optional: Some(false),
                        }),
                        ..EnvVarSource::default()
                    }),
                }
            } else {
                EnvVar {
                    name: key.clone(),
                    value: Some(value.clone()),
                    value_from: None,
                }
            }
        })
        .collect::<Vec<_>>();
    let mut ports: Vec<u16> = spec.endpoints.iter().map(|e| e.port).collect();
    ports.sort_unstable();
    ports.dedup();
    Container {
        name: "main".to_owned(),
        image: Some(spec.image.clone()),
        command: non_empty(&spec.command),
        args: non_empty(&spec.args),
        env: (!env.is_empty()).then_some(env),
        ports: (!ports.is_empty()).then(|| {
            ports
                .into_iter()
                .map(|port| ContainerPort {
                    container_port: i32::from(port),
                    protocol: Some("TCP".to_owned()),
                    ..ContainerPort::default()
                })
                .collect()
        }),
        resources: Some(resources(config, spec)),
        security_context: Some(security_context()),
        volume_mounts: spec.volume_path.as_ref().map(|path| {
            vec![VolumeMount {
                name: "data".to_owned(),
                mount_path: path.clone(),
                ..VolumeMount::default()
            }]
        }),
        ..Container::default()
    }
}

/// The container's security context: as on Docker, every capability
/// dropped and the same few given back, no privilege escalation
/// (`no-new-privileges`), never privileged, and the runtime's default
/// seccomp profile (Docker applies its own by default).
pub fn security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: Some(CAPABILITIES_ADDED.iter().map(|c| (*c).to_owned()).collect()),
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

/// Requests from `min_*`, limits from `max_*`; a memory and a CPU limit
/// always (the configured defaults, at least the minimums, as on Docker); GPUs as the
/// NVIDIA device plugin's resource (a limit, which is also the request).
pub fn resources(config: &KubeRuntimeConfig, spec: &DeploymentSpec) -> ResourceRequirements {
    let compute = &spec.compute;
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    if let Some(cpus) = compute.min_cpus {
        requests.insert("cpu".to_owned(), millicores(cpus));
    }
    if let Some(mb) = compute.min_memory_mb {
        requests.insert("memory".to_owned(), Quantity(format!("{mb}Mi")));
    }
    let cpus = compute.max_cpus.unwrap_or_else(|| {
        (f64::from(config.default_cpu_millicores) / 1000.0).max(compute.min_cpus.unwrap_or(0.0))
    });
    limits.insert("cpu".to_owned(), millicores(cpus));
    let memory_mb = compute.max_memory_mb.unwrap_or_else(|| {
        config
            .default_memory_mb
            .max(compute.min_memory_mb.unwrap_or(0))
    });
    limits.insert("memory".to_owned(), Quantity(format!("{memory_mb}Mi")));
    if let Some(gpus) = compute.gpus.filter(|n| *n > 0) {
        limits.insert(GPU_RESOURCE.to_owned(), Quantity(gpus.to_string()));
    }
    ResourceRequirements {
        requests: (!requests.is_empty()).then_some(requests),
        limits: Some(limits),
        ..ResourceRequirements::default()
    }
}

/// Cores as a millicore quantity (`1500m`); validation bounds cores to
/// 0.01..=host cores, so the rounding cannot overflow.
fn millicores(cores: f64) -> Quantity {
    Quantity(format!("{}m", (cores * 1000.0).round() as i64))
}

fn non_empty(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}

/// Whether the spec is a service (Deployment) or a job (Job).
pub fn is_service(spec: &DeploymentSpec) -> bool {
    spec.kind == DeploymentType::Service
}

#[cfg(test)]
#[path = "objects_tests.rs"]
pub(crate) mod tests;
