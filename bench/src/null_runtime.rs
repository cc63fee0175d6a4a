//! A container runtime that runs nothing: the engine bench's stand-in for
//! Docker, so that what is measured is the action pipeline itself (API,
//! PostgreSQL, RabbitMQ, the worker's claim, dispatch and settle), not the
//! engine it drives. It lives in the bench crate only, never in a shipped
//! binary.
//!
//! A deploy records the deployment in memory and answers it `running`; a
//! job then reports `running` and, at once, `succeeded` (exit code 0) on its
//! status stream, as a job that exits immediately would. Every other
//! operation changes the record and succeeds. Included with `#[path]` (the
//! bench crate has no library).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::Utc;
use contaxy_worker::runtime::{
    DeleteOptions, Deployed, DeploymentRef, DeploymentSpec, DeploymentState, DeploymentStatus,
    DeploymentType, HostCapacity, LogStream, NetworkInfo, Runtime, RuntimeFuture, StatusChange,
    StatusChangeStream, SubnetSpec, VolumeInfo,
};
use futures::StreamExt;
use tokio::sync::broadcast;

/// The in-memory runtime. Cheap to call from many tasks at once: one map
/// behind a mutex held for a lookup or an insert, never across an await.
#[derive(Debug)]
pub struct NullRuntime {
    deployments: Mutex<HashMap<(String, String), DeploymentState>>,
    changes: broadcast::Sender<StatusChange>,
}

impl Default for NullRuntime {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(65_536);
        Self {
            deployments: Mutex::default(),
            changes,
        }
    }
}

impl NullRuntime {
    fn key(target: &DeploymentRef) -> (String, String) {
        (target.project_id.clone(), target.deployment_id.clone())
    }

    fn set_status(&self, target: &DeploymentRef, status: DeploymentStatus) {
        let change = {
            let mut map = self.deployments.lock().unwrap_or_else(|e| e.into_inner());
            let Some(state) = map.get_mut(&Self::key(target)) else {
                return;
            };
            state.status = status;
            change_of(state)
        };
        // Nobody listening (the worker not started yet): nothing to tell.
        let _ = self.changes.send(change);
    }
}

fn change_of(state: &DeploymentState) -> StatusChange {
    StatusChange {
        project_id: state.project_id.clone(),
        deployment_id: state.deployment_id.clone(),
        kind: state.kind,
        status: state.status,
        exit_code: state.exit_code,
        at: Utc::now(),
    }
}

fn done<'a, T: Send + 'a>(value: T) -> RuntimeFuture<'a, T> {
    Box::pin(async move { Ok(value) })
}

impl Runtime for NullRuntime {
    fn backend(&self) -> &'static str {
        "null"
    }

    fn capacity(&self) -> HostCapacity {
        HostCapacity {
            cpus: 1024.0,
            memory_bytes: 1 << 44,
        }
    }

    fn deploy<'a>(&'a self, spec: &'a DeploymentSpec) -> RuntimeFuture<'a, Deployed> {
        let now = Utc::now();
        let state = DeploymentState {
            project_id: spec.project_id.clone(),
            deployment_id: spec.deployment_id.clone(),
            kind: spec.kind,
            display_name: spec.display_name.clone(),
            status: DeploymentStatus::Running,
            exit_code: None,
            reason: None,
            internal_id: format!("null-{}", spec.deployment_id),
            created_at: Some(now),
            started_at: Some(now),
            finished_at: None,
        };
        // A job exits at once, successfully: its record ends `succeeded`,
        // and it reports `running` and then that.
        let (adopted, finished) = {
            let mut map = self.deployments.lock().unwrap_or_else(|e| e.into_inner());
            let recorded = map.entry(Self::key(&spec.target()));
            let adopted = matches!(recorded, std::collections::hash_map::Entry::Occupied(_));
            let record = recorded.or_insert_with(|| state.clone());
            let finished = (spec.kind == DeploymentType::Job).then(|| {
                record.status = DeploymentStatus::Succeeded;
                record.exit_code = Some(0);
                record.finished_at = Some(Utc::now());
                change_of(record)
            });
            (adopted, finished)
        };
        let _ = self.changes.send(change_of(&state));
        if let Some(change) = finished {
            let _ = self.changes.send(change);
        }
        done(Deployed { state, adopted })
    }

    fn start<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.set_status(target, DeploymentStatus::Running);
        done(())
    }

    fn stop<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.set_status(target, DeploymentStatus::Stopped);
        done(())
    }

    fn restart<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.set_status(target, DeploymentStatus::Running);
        done(())
    }

    fn delete<'a>(
        &'a self,
        target: &'a DeploymentRef,
        _options: DeleteOptions,
    ) -> RuntimeFuture<'a, ()> {
        self.deployments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&Self::key(target));
        done(())
    }

    fn status<'a>(
        &'a self,
        target: &'a DeploymentRef,
    ) -> RuntimeFuture<'a, Option<DeploymentState>> {
        let state = self
            .deployments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&Self::key(target))
            .cloned();
        done(state)
    }

    fn list<'a>(&'a self, project_id: Option<&'a str>) -> RuntimeFuture<'a, Vec<DeploymentState>> {
        let states = self
            .deployments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|s| project_id.is_none_or(|p| s.project_id == p))
            .cloned()
            .collect();
        done(states)
    }

    fn logs<'a>(
        &'a self,
        _target: &'a DeploymentRef,
        _options: contaxy_worker::runtime::LogOptions,
    ) -> RuntimeFuture<'a, LogStream> {
        done(futures::stream::empty().boxed())
    }

    fn ensure_network<'a>(
        &'a self,
        project_id: &'a str,
        subnet: Option<&'a SubnetSpec>,
    ) -> RuntimeFuture<'a, NetworkInfo> {
        done(NetworkInfo {
            name: format!("null-{project_id}"),
            id: format!("null-{project_id}"),
            project_id: project_id.to_owned(),
            subnets: subnet.map(|s| s.cidr.clone()).into_iter().collect(),
            gateways: Vec::new(),
            containers: Vec::new(),
        })
    }

    fn delete_network<'a>(&'a self, _project_id: &'a str) -> RuntimeFuture<'a, ()> {
        done(())
    }

    fn list_networks(&self) -> RuntimeFuture<'_, Vec<NetworkInfo>> {
        done(Vec::new())
    }

    fn list_volumes<'a>(
        &'a self,
        _project_id: Option<&'a str>,
    ) -> RuntimeFuture<'a, Vec<VolumeInfo>> {
        done(Vec::new())
    }

    fn remove_volume<'a>(&'a self, _name: &'a str) -> RuntimeFuture<'a, bool> {
        done(true)
    }

    fn connect_network<'a>(&'a self, _target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        done(())
    }

    fn disconnect_network<'a>(&'a self, _target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        done(())
    }

    fn status_changes(&self, _since: Option<chrono::DateTime<chrono::Utc>>) -> StatusChangeStream {
        let receiver = self.changes.subscribe();
        futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(change) => return Some((Ok(change), receiver)),
                    // Missed changes: the worker's reconcile catches up.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }
}
