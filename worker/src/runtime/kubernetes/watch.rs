//! Status changes from a watch on our pods (in every project namespace,
//! by the installation's label). `kube::runtime::watcher` lists first (the
//! current state of every pod, which is the replay: `since` is not needed),
//! then watches; after `410 Gone` (the resource version is too old) or a
//! dropped connection it lists again and resumes, with a backoff. Those
//! errors are logged, not yielded: the stream only ends with the runtime.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};

use super::{KubeRuntime, names, status};
use crate::runtime::StatusChangeStream;

impl KubeRuntime {
    pub(super) fn pod_status_changes(&self) -> StatusChangeStream {
        let selector = format!("{}={}", names::NAMESPACE, self.config.namespace);
        let pods: Api<Pod> = Api::all(self.client.clone());
        watcher(pods, watcher::Config::default().labels(&selector))
            .default_backoff()
            .filter_map(|event| async move {
                let now = chrono::Utc::now();
                match event {
                    Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => {
                        status::pod_change(&pod, false, now).map(Ok)
                    }
                    Ok(watcher::Event::Delete(pod)) => status::pod_change(&pod, true, now).map(Ok),
                    Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                    Err(error) => {
                        tracing::warn!(%error, "The pod watch broke; it resumes after a backoff.");
                        None
                    }
                }
            })
            .boxed()
    }
}
