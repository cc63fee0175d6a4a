//! `deployment.*` actions: deploy (find or create, in the project's network,
//! which is ensured first), delete, start, stop, restart. Status after the
//! action comes from the runtime's own events (see `crate::status`), not
//! from here.

use std::collections::BTreeMap;

use contaxy_common::domain::action::{ActionKind, ErrorClass};
use contaxy_common::domain::deployment::{DeploymentInput, DeploymentStatus, DeploymentType};
use contaxy_common::domain::payload::{DeletePayload, DeployPayload, RestartPayload};
use contaxy_common::domain::{AccessLevel, Permission, ProjectId, TokenHash, TokenSecret};
use contaxy_common::store::actions::ActionRecord;
use contaxy_common::store::deployments::{self, DeploymentRecord, NewDeployment};
use contaxy_common::store::networks;
use contaxy_common::store::tokens::{self, DeploymentToken, PreviousToken};

use super::{network, parse_payload, with_retries};
use crate::executor::{ActionError, Executor};
use crate::runtime::{
    ComputeSpec, DeleteOptions, DeploymentRef, DeploymentSpec, Endpoint, RuntimeError,
};

/// What the worker tells containers about the platform.
#[derive(Debug, Clone)]
pub struct DeploymentSettings {
    /// `CONTAXY_BASE_URL` inside containers.
    pub base_url: String,
    /// `CONTAXY_API_ENDPOINT` inside containers.
    pub api_endpoint: String,
}

/// Executes one `deployment.*` action.
pub async fn execute(
    exec: &Executor,
    kind: ActionKind,
    action: &ActionRecord,
) -> Result<(), ActionError> {
    let id = action
        .resource_id
        .as_deref()
        .ok_or_else(|| ActionError::permanent("resource_id (the deployment id) is missing"))?;
    let target = DeploymentRef::new(&action.project_id, id);
    match kind {
        ActionKind::DeploymentDeploy => deploy(exec, action, id).await,
        ActionKind::DeploymentDelete => {
            let payload: DeletePayload = parse_payload(action)?;
            let _ = deployments::set_status(
                &exec.pool,
                &action.project_id,
                id,
                DeploymentStatus::Terminating,
                None,
            )
            .await?;
            let options = DeleteOptions {
                delete_volumes: payload.delete_volumes,
            };
            with_retries(|| exec.runtime.delete(&target, options)).await?;
            deployments::delete(&exec.pool, &action.project_id, id).await?;
            Ok(())
        }
        ActionKind::DeploymentStart => Ok(with_retries(|| exec.runtime.start(&target)).await?),
        ActionKind::DeploymentStop => Ok(with_retries(|| exec.runtime.stop(&target)).await?),
        ActionKind::DeploymentRestart => {
            let payload: RestartPayload = parse_payload(action)?;
            if payload.recreate {
                // The input changed: make the container anew, keep the data.
                let keep = DeleteOptions {
                    delete_volumes: false,
                };
                with_retries(|| exec.runtime.delete(&target, keep)).await?;
                deploy(exec, action, id).await
            } else {
                Ok(with_retries(|| exec.runtime.restart(&target)).await?)
            }
        }
        other => Err(ActionError::permanent(format!(
            "{other} is not a deployment action"
        ))),
    }
}

async fn deploy(exec: &Executor, action: &ActionRecord, id: &str) -> Result<(), ActionError> {
    let record = match deployments::find(&exec.pool, &action.project_id, id).await? {
        Some(record) => record,
        // Published by another system: record the deployment first.
        None => record_from_payload(exec, action, id).await?,
    };
    if record.spec.disabled {
        // Recorded, not run: contaxy's `disabled`.
        deployments::set_status(
            &exec.pool,
            &action.project_id,
            id,
            DeploymentStatus::Stopped,
            Some("disabled"),
        )
        .await?;
        return Ok(());
    }
    let mut spec = spec_for(&record, &exec.deployment)?;
    // The network is ensured here, under the project's lock, and not again
    // by the runtime. Should it be gone by the time the container starts
    // (removed outside contaxy, or by a delete racing this deploy), the
    // runtime says `NetworkMissing`, leaving nothing behind: the network
    // is ensured once more and the deploy tried again, once.
    let ensure_network =
        async || match network::ensure_project_network(exec, &action.project_id).await {
            Ok(_) => Ok(()),
            Err(error) => {
                if error.class != ErrorClass::Transient {
                    fail_deployment(exec, action, id, &error.message).await?;
                }
                Err(error)
            }
        };
    ensure_network().await?;
    let token = issue_token(exec, &record).await?;
    spec.env.insert(
        "CONTAXY_API_TOKEN".to_owned(),
        token.secret.expose().to_owned(),
    );
    let mut deployed = with_retries(|| exec.runtime.deploy(&spec)).await;
    if let Err(RuntimeError::NetworkMissing { network }) = &deployed {
        tracing::info!(%network, deployment_id = id, "The project network was gone; ensuring it again.");
        ensure_network().await?;
        deployed = with_retries(|| exec.runtime.deploy(&spec)).await;
    }
    match deployed {
        Ok(deployed) => {
            if deployed.adopted {
                // Left as it is: a disconnect may have detached it on
                // purpose; the network sweep corrects the record. It keeps
                // the token it was started with.
                if let Some(previous) = &token.previous {
                    tokens::restore_deployment_token(&exec.pool, id, &token.hash, previous).await?;
                }
                tracing::info!(deployment_id = id, "Adopted the existing deployment.");
            } else {
                networks::attach(&exec.pool, &action.project_id, id).await?;
            }
            Ok(())
        }
        // Gone again: something keeps removing it (a project or network
        // delete in progress). The next attempt ensures it first.
        Err(error @ RuntimeError::NetworkMissing { .. }) => {
            Err(ActionError::transient(error.to_string()))
        }
        Err(error) => {
            if !error.is_retryable() {
                // The runtime left nothing behind; the deployment will not
                // come up, so say so on it, not only on the action.
                fail_deployment(exec, action, id, &error.to_string()).await?;
            }
            Err(error.into())
        }
    }
}

/// A deployment's new `CONTAXY_API_TOKEN`, and the one it had.
struct IssuedToken {
    secret: TokenSecret,
    hash: TokenHash,
    previous: Option<PreviousToken>,
}

/// Mints the token a deployment finds in `CONTAXY_API_TOKEN`: subject its
/// project, `read` on the deployment itself (`projects/{p}/services/{id}` or
/// `…/jobs/{id}`: its own record), stored as a hash, removed with
/// the deployment's row. It replaces the token the deployment had; an adopted
/// container gets its old one back (see [`deploy`]).
async fn issue_token(
    exec: &Executor,
    record: &DeploymentRecord,
) -> Result<IssuedToken, ActionError> {
    let project = ProjectId::parse(&record.project_id)
        .map_err(|e| ActionError::permanent(format!("project id: {e}")))?;
    let collection = if record.deployment_type == DeploymentType::Service.as_str() {
        "services"
    } else {
        "jobs"
    };
    let scope = Permission::new(
        format!("projects/{project}/{collection}/{}", record.id),
        AccessLevel::Read,
    )
    .map_err(|e| ActionError::permanent(format!("deployment token scope: {e}")))?;
    let secret = TokenSecret::generate();
    let hash = secret.hash();
    let previous = tokens::rotate_deployment_token(
        &exec.pool,
        &DeploymentToken {
            project: &project,
            deployment_id: &record.id,
            hash,
            scope,
        },
    )
    .await?;
    Ok(IssuedToken {
        secret,
        hash,
        previous,
    })
}

async fn fail_deployment(
    exec: &Executor,
    action: &ActionRecord,
    id: &str,
    detail: &str,
) -> Result<(), ActionError> {
    deployments::set_status(
        &exec.pool,
        &action.project_id,
        id,
        DeploymentStatus::Failed,
        Some(detail),
    )
    .await?;
    Ok(())
}

async fn record_from_payload(
    exec: &Executor,
    action: &ActionRecord,
    id: &str,
) -> Result<DeploymentRecord, ActionError> {
    let payload: DeployPayload = parse_payload(action)?;
    payload
        .input
        .validate(payload.deployment_type)
        .map_err(|e| ActionError::permanent(e.to_string()))?;
    let mut conn = exec.pool.acquire().await?;
    let new = NewDeployment {
        id,
        project_id: &action.project_id,
        deployment_type: payload.deployment_type,
        spec: &payload.input,
        created_by: action.requested_by.as_deref(),
    };
    if let Some(record) = deployments::insert(&mut conn, &new).await? {
        return Ok(record);
    }
    // Same id in another project, or raced by a duplicate: look again, scoped.
    deployments::find(&exec.pool, &action.project_id, id)
        .await?
        .ok_or_else(|| ActionError::permanent(format!("deployment id {id} is taken")))
}

/// The runtime spec of a recorded deployment: parameters with templates
/// expanded, the platform's variables injected.
pub fn spec_for(
    record: &DeploymentRecord,
    settings: &DeploymentSettings,
) -> Result<DeploymentSpec, ActionError> {
    let input: &DeploymentInput = &record.spec;
    let kind = match record.deployment_type.as_str() {
        "service" => DeploymentType::Service,
        "job" => DeploymentType::Job,
        other => {
            return Err(ActionError::permanent(format!(
                "unknown deployment type {other}"
            )));
        }
    };
    let endpoints = input
        .endpoints
        .iter()
        .map(|e| Endpoint::parse(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ActionError::permanent)?;
    let mut spec =
        DeploymentSpec::new(&record.project_id, &record.id, kind, &input.container_image);
    spec.command = input.command.clone().unwrap_or_default();
    spec.args = input.args.clone().unwrap_or_default();
    spec.display_name = record.display_name.clone();
    spec.created_by = record.created_by.clone().unwrap_or_default();
    spec.env = environment(record, settings, endpoints.first());
    spec.endpoints = endpoints;
    let compute = &input.compute;
    spec.compute = ComputeSpec {
        min_cpus: Some(compute.min_cpus),
        max_cpus: compute.max_cpus,
        min_memory_mb: Some(compute.min_memory),
        max_memory_mb: compute.max_memory,
        gpus: compute.max_gpus.or(compute.min_gpus).filter(|g| *g > 0),
        pids_limit: None,
    };
    spec.volume_path = compute.volume_path.clone();
    spec.max_volume_size_mb = compute.max_volume_size;
    Ok(spec)
}

fn environment(
    record: &DeploymentRecord,
    settings: &DeploymentSettings,
    first: Option<&Endpoint>,
) -> BTreeMap<String, String> {
    let mut platform = BTreeMap::from([
        ("CONTAXY_DEPLOYMENT_NAME".to_owned(), record.id.clone()),
        ("CONTAXY_BASE_URL".to_owned(), settings.base_url.clone()),
        (
            "CONTAXY_API_ENDPOINT".to_owned(),
            settings.api_endpoint.clone(),
        ),
    ]);
    if record.deployment_type == DeploymentType::Service.as_str() {
        let url = match first {
            Some(endpoint) => format!("http://{}:{}", record.id, endpoint.port),
            None => format!("http://{}", record.id),
        };
        platform.insert("CONTAXY_SERVICE_URL".to_owned(), url);
    }
    let user = record.created_by.clone().unwrap_or_default();
    let mut env: BTreeMap<String, String> = record
        .spec
        .parameters
        .iter()
        .map(|(key, value)| {
            let value = value
                .replace("{env.CONTAXY_BASE_URL}", &settings.base_url)
                .replace("{env.CONTAXY_API_ENDPOINT}", &settings.api_endpoint)
                .replace("{env.projectId}", &record.project_id)
                .replace("{env.userId}", &user);
            (key.clone(), value)
        })
        .collect();
    // The platform's variables win: validation already refuses CONTAXY_* keys.
    env.extend(platform);
    env
}
