//! The backends the suite runs on: Docker, always (the Engine runs here),
//! and Kubernetes when `KUBECONFIG` names a cluster.

use std::sync::Arc;
use std::time::Duration;

use contaxy_tests::docker::fresh_namespace;
use contaxy_tests::runtime::TestRuntime;
use contaxy_tests::{DEADLINE, IMAGE};
use contaxy_worker::runtime::kubernetes::names;
use contaxy_worker::runtime::kubernetes::{KubeRuntime, KubeRuntimeConfig};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use super::Subject;

/// The image the Kubernetes run uses: a busybox a cluster can pull
/// (`CONTAXY_CONFORMANCE_IMAGE` overrides it, for a cluster with a mirror).
const KUBE_IMAGE: &str = "busybox:1.36";

/// The Docker backend in a fresh namespace, with the locally built test
/// image; `TestRuntime` removes the namespace's objects when dropped.
pub async fn docker() -> Subject {
    let test = TestRuntime::new().await;
    Subject {
        runtime: test.dyn_runtime(),
        namespace: test.namespace.clone(),
        image: IMAGE.to_owned(),
        deadline: DEADLINE,
        // Names resolve only inside the project's network; by address is
        // tested in docker_networks.rs.
        host_from_elsewhere: |_, _, deployment_id| deployment_id.to_owned(),
        _cleanup: Box::new(test),
    }
}

/// The Kubernetes backend in a fresh namespace of the cluster `KUBECONFIG`
/// names, or `None` (said on stderr) when it is not set: the case then did
/// not run and verified nothing on Kubernetes.
pub async fn kubernetes(case: &str) -> Option<Subject> {
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!(
            "SKIPPED: KUBECONFIG not set: the Kubernetes conformance case {case} did not run \
             and verified nothing (see docs/kubernetes.md to run it against a cluster)"
        );
        return None;
    }
    let namespace = fresh_namespace("k");
    let runtime = KubeRuntime::connect(KubeRuntimeConfig::with_namespace(&namespace))
        .await
        .expect("the cluster KUBECONFIG names is reachable");
    let image = std::env::var("CONTAXY_CONFORMANCE_IMAGE").unwrap_or_else(|_| KUBE_IMAGE.into());
    Some(Subject {
        runtime: Arc::new(runtime),
        namespace: namespace.clone(),
        image,
        deadline: Duration::from_secs(240),
        // The Service's name qualified by its namespace resolves
        // cluster-wide: only the NetworkPolicy keeps other projects out.
        host_from_elsewhere: |namespace, project, deployment_id| {
            format!(
                "{}.{}",
                names::object_name(deployment_id),
                names::project_namespace(namespace, project)
            )
        },
        _cleanup: Box::new(KubeNamespaces { namespace }),
    })
}

/// Deletes every project namespace labelled with the test's namespace
/// (everything a deployment made lives in one), when dropped.
struct KubeNamespaces {
    namespace: String,
}

impl Drop for KubeNamespaces {
    fn drop(&mut self) {
        let namespace = self.namespace.clone();
        // A client of its own on a runtime of its own: the test's runtime
        // is blocked in this drop.
        let removed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = kube::Client::try_default()
                    .await
                    .map_err(|e| e.to_string())?;
                let api: Api<Namespace> = Api::all(client);
                let selector = format!("{}={namespace}", names::NAMESPACE);
                let found = api
                    .list(&ListParams::default().labels(&selector))
                    .await
                    .map_err(|e| e.to_string())?;
                for name in found.items.into_iter().filter_map(|n| n.metadata.name) {
                    api.delete(&name, &DeleteParams::background())
                        .await
                        .map_err(|e| format!("{name}: {e}"))?;
                }
                Ok::<(), String>(())
            })
        })
        .join();
        match removed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!(
                "cleaning up Kubernetes namespace {}: {error}",
                self.namespace
            ),
            Err(_) => eprintln!(
                "cleaning up Kubernetes namespace {} panicked",
                self.namespace
            ),
        }
    }
}
