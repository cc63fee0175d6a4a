//! The API's routes.
//!
//! Every API route is registered through [`api_routes`], an
//! [`OpenApiRouter`], so it is in the OpenAPI document served at
//! `GET /openapi.json`, and sits behind the authentication layer
//! ([`crate::auth::guard::authenticate`]). Only the routes in
//! [`PUBLIC_PATHS`] answer without a token: the operational routes from
//! [`contaxy_common::ops`] and the document itself.
//!
//! Request bodies are limited to `CONTAXY_API_MAX_BODY_BYTES` everywhere
//! but on the files routes ([`files`]), which stream uploads and set their
//! own limits.
//!
//! Time is bounded the same way: the server closes a connection that does
//! not send a request head in time (`CONTAXY_API_IDLE_TIMEOUT_SECS`, in
//! `contaxy_common::http_server`); every route but the files routes must
//! have its answer's head ready within `CONTAXY_API_REQUEST_TIMEOUT_SECS`
//! (408 otherwise; a streamed answer such as a log follow runs on after its
//! head); the files routes, whose bodies are long streams, instead end an
//! upload whose body stalls for `CONTAXY_API_BODY_IDLE_TIMEOUT_SECS`, so a
//! long transfer that makes progress is never cut.

pub mod actions;
pub mod allowed_images;
pub mod dead_letters;
pub mod deployments;
mod document;
pub mod events;
pub mod files;
pub mod members;
pub mod networks;
pub mod projects;
pub mod schedules;
pub mod schema;
pub mod system;
pub mod tokens;

use deployments::{jobs, offers, services, suggest};

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router, middleware};
use contaxy_common::ops::{self, Readiness};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::map_request_body::MapRequestBodyLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::guard::authenticate;
use crate::config::HttpTimeouts;
use crate::error;
use crate::files::stall::StallLimitedBody;
use crate::state::AppState;

/// The routes that answer without a token.
pub const PUBLIC_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics", "/openapi.json"];

/// Every authenticated API route, with its documentation.
pub fn api_routes() -> OpenApiRouter<AppState> {
    bounded_routes().merge(files::routes())
}

/// The API routes whose bodies are held to `CONTAXY_API_MAX_BODY_BYTES`:
/// all but the files routes.
fn bounded_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(document::ApiDoc::openapi())
        .routes(routes!(projects::create_project, projects::list_projects))
        .routes(routes!(projects::suggest_project_id))
        .routes(routes!(
            projects::get_project,
            projects::update_project,
            projects::delete_project
        ))
        .routes(routes!(members::list_members))
        .routes(routes!(members::put_member, members::remove_member))
        .routes(routes!(networks::list_networks))
        .routes(routes!(events::project_events))
        .routes(routes!(tokens::project_token))
        .routes(routes!(tokens::create::create_token, tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(tokens::verify_token))
        .routes(routes!(
            services::list_services,
            services::create_service,
            services::delete_services
        ))
        .routes(routes!(
            services::get_service,
            services::update_service,
            services::delete_service
        ))
        .routes(routes!(services::service_logs))
        .routes(routes!(services::list_service_actions))
        .routes(routes!(services::run_service_action))
        .route(
            "/projects/{project_id}/services/{service_id}",
            axum::routing::post(services::service_verb),
        )
        .routes(routes!(
            jobs::list_jobs,
            jobs::create_job,
            jobs::delete_jobs
        ))
        .routes(routes!(jobs::get_job, jobs::delete_job))
        .route(
            "/projects/{project_id}/jobs/{job_id}",
            axum::routing::post(jobs::job_verb),
        )
        .routes(routes!(jobs::job_logs))
        .routes(routes!(offers::list_job_actions))
        .routes(routes!(offers::run_job_action))
        .routes(routes!(offers::list_deploy_service_actions))
        .routes(routes!(offers::list_deploy_job_actions))
        .routes(routes!(suggest::suggest_service_config))
        .routes(routes!(suggest::suggest_job_config))
        .routes(routes!(
            schedules::list_schedules,
            schedules::create_schedule
        ))
        .routes(routes!(
            schedules::get_schedule,
            schedules::update_schedule,
            schedules::delete_schedule,
            schedules::schedule_verb
        ))
        .routes(routes!(schedules::list_runs))
        .routes(routes!(actions::get_action))
        .routes(routes!(system::health))
        .routes(routes!(system::info))
        .routes(routes!(dead_letters::list_dead_letters))
        .routes(routes!(dead_letters::dead_letter_verb))
        .routes(routes!(system::statistics))
        .routes(routes!(
            allowed_images::list_allowed_images,
            allowed_images::add_allowed_image,
            allowed_images::delete_allowed_image
        ))
}

/// The OpenAPI document of the API.
pub fn openapi() -> OpenApiDoc {
    let mut doc = api_routes().into_openapi();
    document::add_verb_routes(&mut doc);
    document::finish(&mut doc);
    doc
}

/// The full router of the API.
pub(crate) fn router(
    state: AppState,
    readiness: Readiness,
    max_body_bytes: usize,
    timeouts: HttpTimeouts,
) -> Router {
    let (bounded, mut doc) = bounded_routes().split_for_parts();
    let (file_routes, files_doc) = files::routes().split_for_parts();
    doc.merge(files_doc);
    document::add_verb_routes(&mut doc);
    document::finish(&mut doc);
    let doc = Arc::new(doc);
    let bounded = bounded
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state.clone());
    let file_routes = file_routes
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state);
    Router::new()
        .merge(ops::router(readiness))
        .route("/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .merge(bounded)
        .fallback(error::no_route)
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeouts.request,
        ))
        // After the body limit and the request timeout: uploads stream
        // under their own limit, and as long as they make progress.
        .merge(file_routes.layer(MapRequestBodyLayer::new(move |body| {
            axum::body::Body::new(StallLimitedBody::new(body, timeouts.body_idle))
        })))
        // Every route so far, with its template: counts and latencies.
        .route_layer(middleware::from_fn(crate::request_metrics::record))
        // Outside the body limit, so that its 413 gets the JSON shape too.
        .layer(middleware::map_response(error::json_errors))
        .layer(
            // The span names the path, never the query: a contaxy client may
            // send its token as `?ct_token=`. A 5xx the API chose to send (a
            // dependency is down) is worth a warning; errors an operator must
            // act on are logged where they happen.
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
                })
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::time::Duration;

    use crate::auth::Auth;
    use crate::config::ApiSettings;

    /// The paths the router serves, read from its `Debug` output (axum has no
    /// public listing; if its format changes, the count check below fails).
    fn router_paths(router: &Router) -> BTreeSet<String> {
        let debug = format!("{router:?}");
        // `Router { path_router: …, fallback_router: … }`: only the first
        // holds routes; map entries there look like
        // `RouteId(3): "/projects/{project_id}"`.
        let (routes, _fallback) = debug
            .split_once("fallback_router")
            .expect("axum's Router Debug names its fallback router");
        routes
            .split("RouteId(")
            .skip(1)
            .filter_map(|entry| {
                let (_, rest) = entry.split_once("): \"")?;
                let (path, _) = rest.split_once('"')?;
                path.starts_with('/').then(|| path.to_owned())
            })
            .collect()
    }

    #[test]
    fn every_reference_in_the_document_resolves() {
        fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                        out.push(target.clone());
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = serde_json::to_value(openapi()).expect("JSON");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{target} is not a schema reference"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{target} does not resolve"
            );
        }
    }

    #[test]
    fn every_body_is_described_and_query_parameters_are_in_the_query() {
        let doc = serde_json::to_value(openapi()).expect("JSON");
        let text = doc.to_string();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("operation") {
                // Every segment of the template is declared (a second
                // `params(...)` on a handler replaces the first).
                for segment in path.split('/').flat_map(|part| part.split(':')) {
                    if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
                    {
                        assert!(
                            operation["parameters"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|p| p["in"] == "path" && p["name"] == name),
                            "{method} {path}: path parameter {name} is not declared"
                        );
                    }
                }
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    let name = parameter["name"].as_str().expect("name");
                    if parameter["in"] == "path" {
                        assert!(
                            path.contains(&format!("{{{name}}}")),
                            "{method} {path}: {name} is not in the path"
                        );
                    }
                }
            }
        }
        // An untyped body is `{"type": "object"}` with nothing else.
        assert!(
            !text.contains(r#""schema":{"type":"object"}"#),
            "an untyped body"
        );
    }

    #[tokio::test]
    async fn every_route_of_the_router_is_documented_or_public() {
        let pool =
            sqlx::PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").expect("lazy pool");
        let auth = Auth::from_settings(
            &ApiSettings::default(),
            tokio_util::sync::CancellationToken::new(),
        )
        .expect("auth");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let broker = contaxy_common::broker::Broker::start(
            &"amqp://127.0.0.1:1/%2f".to_owned().into(),
            "router-test",
            contaxy_common::topology::Topology::new("t."),
            shutdown.clone(),
        );
        let publisher = contaxy_common::publisher::Publisher::new(
            broker.clone(),
            contaxy_common::topology::Topology::new("t."),
        );
        let state = AppState {
            publish_marks: contaxy_common::submit::PublishMarks::start(pool.clone()),
            db: pool,
            auth: Arc::new(auth),
            publisher: Arc::new(publisher),
            broker,
            namespace: "t".to_owned(),
            wait_timeout: Duration::from_secs(1),
            changes: contaxy_common::store::changes::Changes::new(),
            recheck_interval: Duration::from_secs(1),
            wait_by_default: false,
            contaxy_statuses: false,
            logs_timeout: Duration::from_secs(1),
            storage: contaxy_common::storage::ObjectStore::new(
                &contaxy_common::config::CommonConfig::default(),
            ),
            file_limits: crate::files::FileLimits::from_settings(&ApiSettings::default())
                .expect("default limits"),
            schedule_min_interval: Duration::from_secs(60),
            quotas: contaxy_common::store::quotas::Quotas::default(),
            event_streams: Arc::new(tokio::sync::Semaphore::new(1)),
            event_stream_max: Duration::from_secs(1),
        };
        let readiness = Readiness::new(vec![], Duration::from_secs(1));
        let router = router(
            state,
            readiness,
            1024,
            ApiSettings::default().http_timeouts(),
        );
        let served = router_paths(&router);
        // A verb path is served by its base path's handler.
        let documented: BTreeSet<String> = openapi()
            .paths
            .paths
            .keys()
            .filter(|path| !document::VERB_PATHS.contains(&path.as_str()))
            .cloned()
            .collect();
        // The one wildcard route serves every documented path on a file key
        // (`{file_key}`, `{file_key}:download`, …).
        let on_key = |path: &str| path.starts_with("/projects/{project_id}/files/{file_key}");
        let plain = documented.iter().filter(|p| !on_key(p)).count();
        assert!(
            served.len() > plain + PUBLIC_PATHS.len(),
            "could not read the router's paths: {served:?}"
        );
        assert!(served.contains(files::KEY_ROUTE), "{served:?}");
        assert_eq!(documented.iter().filter(|p| on_key(p)).count(), 5);
        for path in &served {
            assert!(
                documented.contains(path)
                    || PUBLIC_PATHS.contains(&path.as_str())
                    || path == files::KEY_ROUTE,
                "{path} is routed but neither documented nor public"
            );
        }
        for path in &documented {
            assert!(
                served.contains(path) || on_key(path),
                "{path} is documented but not routed"
            );
        }
    }
}
