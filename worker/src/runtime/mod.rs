//! The container runtime the worker drives: one backend-neutral [`Runtime`]
//! trait, held as `Arc<dyn Runtime>`, chosen by configuration
//! ([`RuntimeConfig`], built by [`build`]), and its Docker backend
//! ([`docker::DockerRuntime`]), and its Kubernetes backend
//! ([`kubernetes::KubeRuntime`]), the other [`RuntimeConfig`] variant. The design,
//! the labels, the security defaults and the Docker API version decision are
//! written down in `README.md` beside this file.
//!
//! - [`config`]: [`RuntimeConfig`], the chosen backend and its settings;
//!   [`build`] and the readiness [`probe`].
//! - [`spec`]: [`DeploymentSpec`], what to run, and [`DeploymentRef`], which
//!   deployment an operation is about.
//! - [`validate`]: pure checks made before anything is created.
//! - [`state`]: statuses, states and status changes reported back.
//! - [`logs`], [`network`], [`volume`]: the types of those operations.
//! - [`error`]: [`RuntimeError`] and whether to retry it.
//! - [`docker`]: the Docker backend (bollard).
//! - [`kubernetes`]: the Kubernetes backend (kube).

pub mod config;
pub mod docker;
pub mod error;
pub mod kubernetes;
pub mod logs;
pub mod network;
pub mod spec;
pub mod state;
pub mod validate;
pub mod volume;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;

pub use config::{RuntimeBackend, RuntimeConfig, build, probe};
pub use contaxy_common::domain::capacity::HostCapacity;
pub use docker::{DockerRuntime, DockerRuntimeConfig};
pub use error::{BoxError, RuntimeError};
pub use logs::{LogChunk, LogOptions, LogSource};
pub use network::{NetworkInfo, SubnetSpec};
pub use spec::{
    ComputeSpec, DeleteOptions, DeploymentRef, DeploymentSpec, DeploymentType, Endpoint,
};
pub use state::{Deployed, DeploymentState, DeploymentStatus, StatusChange};
pub use volume::VolumeInfo;

/// The future every [`Runtime`] operation returns.
pub type RuntimeFuture<'a, T> = BoxFuture<'a, Result<T, RuntimeError>>;
/// A deployment's output, chunk by chunk.
pub type LogStream = BoxStream<'static, Result<LogChunk, RuntimeError>>;
/// Status changes as the runtime reports them. It ends when the runtime's
/// event connection ends (after an `Err` item): resume with `since` set to
/// the last change's `at`.
pub type StatusChangeStream = BoxStream<'static, Result<StatusChange, RuntimeError>>;

/// What the worker needs from a container runtime. Every operation is
/// idempotent: deploy finds and adopts what an earlier attempt created, and
/// deleting what is gone succeeds. Every lookup is scoped by the runtime's
/// namespace and by the project named in the call.
///
/// The methods return boxed futures rather than being `async fn`s so that
/// the trait stays object safe (`Arc<dyn Runtime>`) and its futures `Send`,
/// without a macro crate hiding the signatures.
pub trait Runtime: Send + Sync + std::fmt::Debug {
    /// The backend's name, for logs and metric labels (`docker`, `kubernetes`).
    fn backend(&self) -> &'static str;

    /// The most one deployment can get on this runtime's host (read once,
    /// when the runtime was built). Specs are checked against it, and the
    /// worker records it for the API.
    fn capacity(&self) -> HostCapacity;

    /// Creates the deployment unless it exists (then adopts it), and starts
    /// it if it never ran (a service also when it has exited). A deploy that
    /// fails permanently leaves nothing behind.
    ///
    /// The project's network must exist ([`Runtime::ensure_network`]
    /// first): deploy does not make it, and answers
    /// [`RuntimeError::NetworkMissing`] when it is not there, having left
    /// nothing behind.
    fn deploy<'a>(&'a self, spec: &'a DeploymentSpec) -> RuntimeFuture<'a, Deployed>;

    /// Starts a stopped deployment; starting a running one is a no-op.
    fn start<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()>;

    /// Stops a deployment (graceful, then killed after the runtime's stop
    /// timeout); stopping a stopped one is a no-op.
    fn stop<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()>;

    /// Restarts a deployment.
    fn restart<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()>;

    /// Removes a deployment (stopping it first); removing one that is gone
    /// succeeds. With `delete_volumes` its volume goes too.
    fn delete<'a>(
        &'a self,
        target: &'a DeploymentRef,
        options: DeleteOptions,
    ) -> RuntimeFuture<'a, ()>;

    /// The deployment's state, or `None` when the runtime has nothing by that
    /// id in that project (a deployment the database knows is then
    /// `stopped`).
    fn status<'a>(
        &'a self,
        target: &'a DeploymentRef,
    ) -> RuntimeFuture<'a, Option<DeploymentState>>;

    /// Every deployment of this namespace, or of one project.
    fn list<'a>(&'a self, project_id: Option<&'a str>) -> RuntimeFuture<'a, Vec<DeploymentState>>;

    /// The deployment's output; with `follow`, a stream that stays open.
    fn logs<'a>(
        &'a self,
        target: &'a DeploymentRef,
        options: LogOptions,
    ) -> RuntimeFuture<'a, LogStream>;

    /// Creates the project's network unless it exists. With a subnet, an
    /// existing network must have that subnet.
    fn ensure_network<'a>(
        &'a self,
        project_id: &'a str,
        subnet: Option<&'a SubnetSpec>,
    ) -> RuntimeFuture<'a, NetworkInfo>;

    /// Removes the project's network; removing one that is gone succeeds.
    fn delete_network<'a>(&'a self, project_id: &'a str) -> RuntimeFuture<'a, ()>;

    /// Every network of this namespace, with the containers attached.
    fn list_networks(&self) -> RuntimeFuture<'_, Vec<NetworkInfo>>;

    /// Every deployment volume of this namespace, or of one project, whether
    /// or not a deployment still uses it.
    fn list_volumes<'a>(
        &'a self,
        project_id: Option<&'a str>,
    ) -> RuntimeFuture<'a, Vec<VolumeInfo>>;

    /// Removes a volume of this namespace by name; one that is gone counts
    /// as removed. False when a container still uses it (it stays).
    fn remove_volume<'a>(&'a self, name: &'a str) -> RuntimeFuture<'a, bool>;

    /// Attaches the deployment to its project's network (which must exist:
    /// [`RuntimeError::NetworkMissing`] otherwise); attaching an attached
    /// one succeeds.
    fn connect_network<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()>;

    /// Detaches the deployment from its project's network, so it reaches
    /// nothing and nothing reaches it; detaching a detached or missing one
    /// succeeds.
    fn disconnect_network<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()>;

    /// Status changes of this namespace's deployments, from the runtime's own
    /// events, starting at `since` (replayed) or now.
    fn status_changes(&self, since: Option<DateTime<Utc>>) -> StatusChangeStream;

    /// The configuration `image` carries (exposed ports, volumes,
    /// environment, labels), for the API's deploy suggestions. A backend
    /// that cannot read images answers [`RuntimeError::Rejected`] (the
    /// Kubernetes backend: its cluster pulls images on its nodes, and the
    /// worker has no image store of its own).
    fn image_config<'a>(
        &'a self,
        image: &'a str,
    ) -> RuntimeFuture<'a, contaxy_common::image_config::ImageConfig> {
        let backend = self.backend();
        Box::pin(async move {
            Err(RuntimeError::Rejected {
                operation: "inspect image",
                status: 501,
                message: format!("the {backend} backend cannot read {image}'s configuration"),
            })
        })
    }
}
