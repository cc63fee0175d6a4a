//! `deployment.*` actions: deploy (find or create, in the project's network,
//! which is ensured first), delete, start, stop, restart; cancel and the
//! TTL removal are in [`super::job_end`]. Status after the
//! action comes from the runtime's own events (see `crate::status`), not
//! from here.

use std::collections::BTreeMap;

use contaxy_common::domain::action::DeploymentAction;
use contaxy_common::domain::deployment::{DeploymentInput, DeploymentStatus, DeploymentType};
use contaxy_common::domain::{AccessLevel, Permission, ProjectId, TokenHash, TokenSecret};
use contaxy_common::message::ActionMessage;
use contaxy_common::store::deployments::{self, DeploymentRecord};
use contaxy_common::store::tokens::{self, DeploymentToken, PreviousToken};
use contaxy_common::store::{networks, projects};

use super::job_end;
use super::network::{self, Check};
use super::with_retries;
use crate::context::{ActionContext, DeploymentSettings};
use crate::error::ActionError;
use crate::runtime::{
    ComputeSpec, DeleteOptions, DeploymentRef, DeploymentSpec, Endpoint, RuntimeError,
};
use crate::status::{self, StatusEvent};

/// Executes one `deployment.*` action on deployment `id`.
pub async fn execute(
    ctx: &ActionContext,
    message: &ActionMessage,
    id: &str,
    action: &DeploymentAction,
) -> Result<(), ActionError> {
    let project_id = message.project_id.as_str();
    let target = DeploymentRef::new(project_id, id);
    match action {
        DeploymentAction::Deploy(_) => deploy(ctx, message, id).await,
        DeploymentAction::Delete(payload) if payload.archive_logs => {
            job_end::remove_keeping_record(ctx, &target).await
        }
        DeploymentAction::Delete(payload) => {
            // The row was marked when the delete was accepted (reads no
            // longer see it). A deploy of the same id accepted since took
            // the row back: the old container goes, the row stays for the
            // deploy, which runs after this action.
            let before = deployments::mark_terminating(&ctx.pool, project_id, id).await?;
            if before.is_some_and(|before| before != DeploymentStatus::Terminating) {
                announce(ctx, project_id, id, DeploymentStatus::Terminating).await;
            }
            let options = DeleteOptions {
                delete_volumes: payload.delete_volumes,
            };
            with_retries(|| ctx.runtime.delete(&target, options)).await?;
            job_end::forget_archive(ctx, &target).await?;
            deployments::delete_if_deleting(&ctx.pool, project_id, id).await?;
            Ok(())
        }
        DeploymentAction::Cancel(payload) => job_end::cancel(ctx, &target, payload).await,
        DeploymentAction::Start => match with_retries(|| ctx.runtime.start(&target)).await {
            Ok(()) => Ok(()),
            // Its container went with its volume on stop
            // (`clear_volume_on_stop`): made anew from the record.
            Err(RuntimeError::NotFound { .. }) => {
                let record = recorded(ctx, project_id, id).await?;
                run(ctx, message, id, record).await
            }
            Err(error) => Err(error.into()),
        },
        DeploymentAction::Stop => {
            mark_stopped(ctx, &target, "stopped on request").await?;
            with_retries(|| ctx.runtime.stop(&target)).await?;
            clear_volume_if_asked(ctx, &target).await
        }
        DeploymentAction::Restart(payload) if payload.recreate => {
            // The input changed: make the container anew, keep the data. The
            // recorded input is what is deployed.
            let keep = DeleteOptions {
                delete_volumes: false,
            };
            with_retries(|| ctx.runtime.delete(&target, keep)).await?;
            let record = recorded(ctx, project_id, id).await?;
            run(ctx, message, id, record).await
        }
        DeploymentAction::Restart(_) => {
            // A restart's stop is asked for too: its exit is no failure.
            mark_stopped(ctx, &target, "restarting on request").await?;
            Ok(with_retries(|| ctx.runtime.restart(&target)).await?)
        }
    }
}

/// Writes `stopped` before the runtime stops the container, so that its
/// exit, whatever the code (137 when the stop timeout ran out), reads as the
/// stop it is and not as a failure; announces the change if it made one.
async fn mark_stopped(
    ctx: &ActionContext,
    target: &DeploymentRef,
    detail: &str,
) -> Result<(), ActionError> {
    let before =
        deployments::mark_stopped(&ctx.pool, &target.project_id, &target.deployment_id, detail)
            .await?;
    if before.is_some_and(|before| before != DeploymentStatus::Stopped) {
        let event = StatusEvent {
            deployment_id: &target.deployment_id,
            project_id: &target.project_id,
            status: DeploymentStatus::Stopped,
            exit_code: None,
            at: chrono::Utc::now(),
        };
        status::announce(&ctx.pool, &ctx.publisher, &event).await;
    }
    Ok(())
}

/// After a stop: a service with `clear_volume_on_stop` and a volume loses
/// its container and its volume (a volume cannot be emptied while a
/// container holds it); the next start makes both anew.
async fn clear_volume_if_asked(
    ctx: &ActionContext,
    target: &DeploymentRef,
) -> Result<(), ActionError> {
    let Some(record) =
        deployments::find(&ctx.pool, &target.project_id, &target.deployment_id).await?
    else {
        return Ok(());
    };
    let input = &record.input;
    if record.deployment_type != DeploymentType::Service
        || input.clear_volume_on_stop != Some(true)
        || input.compute.volume_path.is_none()
    {
        return Ok(());
    }
    let options = DeleteOptions {
        delete_volumes: true,
    };
    with_retries(|| ctx.runtime.delete(target, options)).await?;
    set_status(
        ctx,
        &target.project_id,
        &target.deployment_id,
        DeploymentStatus::Stopped,
        Some("stopped; its volume was cleared"),
    )
    .await
}

/// The deployment's record. Every deployment action was accepted with its
/// deployment recorded (by the API, the scheduler, or the worker's
/// acceptance of a broker message: `crate::accept`), so one that finds no
/// record was overtaken by a delete: it does nothing.
async fn recorded(
    ctx: &ActionContext,
    project_id: &str,
    id: &str,
) -> Result<DeploymentRecord, ActionError> {
    deployments::find(&ctx.pool, project_id, id)
        .await?
        .ok_or_else(|| {
            ActionError::Superseded(format!(
                "deployment {id} was deleted after this action was accepted"
            ))
        })
}

async fn deploy(ctx: &ActionContext, message: &ActionMessage, id: &str) -> Result<(), ActionError> {
    let record = recorded(ctx, &message.project_id, id).await?;
    run(ctx, message, id, record).await
}

/// Runs a recorded deployment: in its project's network, with a fresh
/// token, found or created by the runtime.
async fn run(
    exec: &ActionContext,
    action: &ActionMessage,
    id: &str,
    record: DeploymentRecord,
) -> Result<(), ActionError> {
    if record.status == DeploymentStatus::Cancelled {
        // Cancelled before this deploy ran (or a late redelivery): the
        // cancel is the newer action, so nothing is started.
        tracing::info!(
            deployment_id = id,
            "The job was cancelled; not starting it."
        );
        return Ok(());
    }
    if record.input.disabled {
        // Recorded, not run: contaxy's `disabled`.
        set_status(
            exec,
            &action.project_id,
            id,
            DeploymentStatus::Stopped,
            Some("disabled"),
        )
        .await?;
        return Ok(());
    }
    // Nothing is made in a project being deleted: its deletion waits for
    // the actions that were running when it began (see the claim), and any
    // that start later stop here.
    let Some(incarnation) = projects::live_incarnation(&exec.pool, &action.project_id).await?
    else {
        return Err(ActionError::Superseded(format!(
            "project {} is being deleted",
            action.project_id
        )));
    };
    let mut spec = spec_for(&record, &exec.deployment)?;
    spec.project_incarnation = Some(incarnation);
    // The network is ensured here, under the project's lock, and not again
    // by the runtime; a network recorded as ready is taken at its word,
    // with no Engine call. Should it be gone by the time the container
    // starts (removed outside contaxy, or by a delete racing this deploy),
    // the runtime says `NetworkMissing`, leaving nothing behind: the network
    // is ensured once more, asking the runtime, and the deploy tried again,
    // once.
    let ensure_network = async |check| match network::ensure_project_network(
        exec,
        &action.project_id,
        check,
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            if !error.is_transient() {
                fail_deployment(exec, action, id, &error.to_string()).await?;
            }
            Err(error)
        }
    };
    ensure_network(Check::Record).await?;
    let token = issue_token(exec, &record).await?;
    spec.env.insert(
        "CONTAXY_API_TOKEN".to_owned(),
        token.secret.expose().to_owned(),
    );
    let mut deployed = with_retries(|| exec.runtime.deploy(&spec)).await;
    if let Err(RuntimeError::NetworkMissing { network }) = &deployed {
        tracing::info!(%network, deployment_id = id, "The project network was gone; ensuring it again.");
        ensure_network(Check::Runtime).await?;
        deployed = with_retries(|| exec.runtime.deploy(&spec)).await;
    }
    match deployed {
        Ok(deployed) => {
            // What the API answers as `internal_id` and `parameters`: the
            // runtime's id, and the user's parameters as the container got
            // them (the platform's variables, the token among them, left
            // out).
            let expanded: BTreeMap<String, String> = record
                .input
                .parameters
                .keys()
                .filter_map(|key| Some((key.clone(), spec.env.get(key)?.clone())))
                .collect();
            deployments::record_runtime_view(
                &exec.pool,
                &action.project_id,
                id,
                &deployed.state.internal_id,
                &expanded,
            )
            .await?;
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
            Err(ActionError::NetworkGoneAgain(error))
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
    exec: &ActionContext,
    record: &DeploymentRecord,
) -> Result<IssuedToken, ActionError> {
    let project =
        ProjectId::parse(&record.project_id).map_err(|source| ActionError::InvalidValue {
            what: "project id",
            source,
        })?;
    let collection = match record.deployment_type {
        DeploymentType::Service => "services",
        DeploymentType::Job => "jobs",
    };
    let scope = Permission::new(
        format!("projects/{project}/{collection}/{}", record.id),
        AccessLevel::Read,
    )
    .map_err(|source| ActionError::InvalidValue {
        what: "deployment token scope",
        source,
    })?;
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
    exec: &ActionContext,
    action: &ActionMessage,
    id: &str,
    detail: &str,
) -> Result<(), ActionError> {
    set_status(
        exec,
        &action.project_id,
        id,
        DeploymentStatus::Failed,
        Some(detail),
    )
    .await
}

/// Records a status an action decided (not one the runtime reported) and,
/// if it changed, publishes it like any other status change: whoever follows
/// `events` hears of a deployment that failed before it had a container.
async fn set_status(
    exec: &ActionContext,
    project_id: &str,
    id: &str,
    status: DeploymentStatus,
    detail: Option<&str>,
) -> Result<(), ActionError> {
    let before = deployments::set_status(&exec.pool, project_id, id, status, detail).await?;
    if before.is_some_and(|before| before != status) {
        announce(exec, project_id, id, status).await;
    }
    Ok(())
}

/// Publishes a status this worker wrote.
async fn announce(exec: &ActionContext, project_id: &str, id: &str, status: DeploymentStatus) {
    let event = StatusEvent {
        deployment_id: id,
        project_id,
        status,
        exit_code: None,
        at: chrono::Utc::now(),
    };
    status::announce(&exec.pool, &exec.publisher, &event).await;
}

/// The runtime spec of a recorded deployment: parameters with templates
/// expanded, the platform's variables injected.
pub fn spec_for(
    record: &DeploymentRecord,
    settings: &DeploymentSettings,
) -> Result<DeploymentSpec, ActionError> {
    let input: &DeploymentInput = &record.input;
    let endpoints = input
        .endpoints
        .iter()
        .map(|e| Endpoint::parse(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ActionError::InvalidEndpoint)?;
    let mut spec = DeploymentSpec::new(
        &record.project_id,
        &record.id,
        record.deployment_type,
        &input.container_image,
    );
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
    // A service's URL inside its project network (this server runs no
    // proxy, so contaxy's proxied URL would lead nowhere); a job has none.
    let service_url = (record.deployment_type == DeploymentType::Service).then(|| match first {
        Some(endpoint) => format!("http://{}:{}", record.id, endpoint.port),
        None => format!("http://{}", record.id),
    });
    if let Some(url) = &service_url {
        platform.insert("CONTAXY_SERVICE_URL".to_owned(), url.clone());
    }
    let user = record.created_by.clone().unwrap_or_default();
    let mut env: BTreeMap<String, String> = record
        .input
        .parameters
        .iter()
        .map(|(key, value)| {
            let value = value
                .replace("{env.CONTAXY_BASE_URL}", &settings.base_url)
                .replace("{env.CONTAXY_API_ENDPOINT}", &settings.api_endpoint)
                .replace("{env.projectId}", &record.project_id)
                .replace("{env.userId}", &user);
            let value = match &service_url {
                Some(url) => value.replace("{env.CONTAXY_SERVICE_URL}", url),
                None => value,
            };
            (key.clone(), value)
        })
        .collect();
    // The platform's variables win: validation already refuses CONTAXY_* keys.
    env.extend(platform);
    env
}
