//! `/projects/{project_id}/files`: a project's files in the object storage.
//!
//! contaxy's routes put a verb after the key (`…/files/{key}:download`),
//! and a key may hold `/` and `:` itself. So every route on a key is one
//! wildcard route, [`KEY_ROUTE`], and the verb is split off the end here:
//!
//! - the text after the path's **last** `:` is the verb when it is one of
//!   `metadata`, `download`, `upload-url`, `download-url`
//!   (`a:b.txt:download` downloads `a:b.txt`); otherwise the whole rest of
//!   the path is the key;
//! - `GET` needs a verb; `POST` (upload), `PATCH` (metadata) and `DELETE`
//!   take none. The wrong pairing is a 405, as for any route and method
//!   that do not go together. So a key may hold `:`, but may not end with
//!   `:` and one of the four verbs.
//!
//! The key is then parsed once ([`FileKey::parse`]): a bad one is a 400
//! naming the rule it broke. It is always resolved inside the project the
//! token was checked against ([`ProjectAccess`]), so no key reaches another
//! project's files.
//!
//! Uploads are exempt from `CONTAXY_API_MAX_BODY_BYTES` (they stream, and
//! have their own limit, `CONTAXY_API_MAX_UPLOAD_BYTES`); a PATCH body is
//! at most [`FILE_INPUT_MAX_BYTES`].
//!
//! - [`bulk`]: `DELETE /projects/{project_id}/files?date_from=&date_to=`,
//!   the bulk delete by date, handed to a worker as a `file.delete_by_date`
//!   action.
//! - [`read`]: listing, metadata, downloads.
//! - [`write`]: upload, metadata merge, delete.
//! - [`presign`]: presigned upload and download URLs.
//! - [`wire`]: the JSON shapes.

pub mod bulk;
pub mod presign;
pub mod read;
pub mod wire;
pub mod write;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, patch, post};
use contaxy_common::domain::file::FileKey;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{ProjectAccess, Read, Write};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::state::AppState;

/// The one route of every operation on a key.
pub const KEY_ROUTE: &str = "/projects/{project_id}/files/{*file_key}";
/// Largest PATCH body (S3 stores 2 KB of metadata anyway).
pub const FILE_INPUT_MAX_BYTES: usize = 64 * 1024;

crate::routes::schema::text_schema! {
    /// A file key: 1–1024 characters, `/`-separated, no `..` segment, no
    /// leading `/`, no line breaks or other control characters. In a `GET`
    /// path it is followed by `:` and a verb.
    pub struct FileKeyText {
        min_length: 1,
        max_length: 1024,
    }
}

/// The version a route on one file reads.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// This version instead of the current one.
    pub version: Option<String>,
}

/// What a `GET` on a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `:metadata`
    Metadata,
    /// `:download`
    Download,
    /// `:upload-url`
    UploadUrl,
    /// `:download-url`
    DownloadUrl,
}

/// Splits the verb after the last `:` off a `GET` path; `None` when there
/// is no known verb there.
pub fn split_verb(raw: &str) -> Option<(&str, Verb)> {
    let (key, verb) = raw.rsplit_once(':')?;
    let verb = match verb {
        "metadata" => Verb::Metadata,
        "download" => Verb::Download,
        "upload-url" => Verb::UploadUrl,
        "download-url" => Verb::DownloadUrl,
        _ => return None,
    };
    Some((key, verb))
}

/// Parses a key from a path, as a 400 naming the rule.
pub fn parse_key(raw: &str) -> Result<FileKey, ApiError> {
    FileKey::parse(raw)
        .map_err(|rule| ApiError::Invalid(format!("The file key is invalid: {rule}.")))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        read::file_metadata,
        read::download_file,
        presign::upload_url,
        presign::download_url,
        write::upload_file,
        write::update_file,
        write::delete_file
    ),
    components(schemas(FileKeyText))
)]
struct KeyRoutesDoc;

/// The files routes, with their documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    let on_key = post(post_on_key)
        .layer(DefaultBodyLimit::disable())
        .merge(get(get_on_key).delete(delete_on_key))
        .merge(patch(patch_on_key).layer(DefaultBodyLimit::max(FILE_INPUT_MAX_BYTES)))
        .layer(middleware::from_fn(method_fits_verb));
    OpenApiRouter::with_openapi(KeyRoutesDoc::openapi())
        .routes(routes!(read::list_files, bulk::delete_files_by_date))
        .route(KEY_ROUTE, on_key)
}

fn query_of<T: DeserializeOwned>(parts: &Parts) -> Result<T, ApiError> {
    Query::<T>::try_from_uri(&parts.uri)
        .map(|Query(query)| query)
        .map_err(|rejection| ApiError::Invalid(rejection.body_text()))
}

async fn access<L: crate::auth::guard::RequiredLevel>(
    parts: &mut Parts,
    state: &AppState,
) -> Result<ProjectAccess<L>, ApiError> {
    ProjectAccess::<L>::from_request_parts(parts, state).await
}

/// Answers 405 when the method does not go with the path's verb, before
/// any body is read: `GET` needs a verb, every other method has none.
async fn method_fits_verb(
    Path((_, raw)): Path<(String, String)>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let is_get = request.method() == Method::GET;
    match (is_get, split_verb(&raw).is_some()) {
        (true, false) => Err(get_needs_a_verb()),
        (false, true) => Err(ApiError::MethodNotAllowed {
            message: "A route with a verb (`:metadata`, `:download`, `:upload-url`, `:download-url`) is only read with GET.".to_owned(),
            allow: "GET",
        }),
        _ => Ok(next.run(request).await),
    }
}

fn get_needs_a_verb() -> ApiError {
    ApiError::MethodNotAllowed {
        message: "A file is read with GET `{key}:metadata`, `{key}:download`, `{key}:download-url` or `{key}:upload-url`; the key alone takes POST, PATCH and DELETE.".to_owned(),
        allow: "POST, PATCH, DELETE",
    }
}

async fn get_on_key(
    State(state): State<AppState>,
    Path((_, raw)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let Some((raw_key, verb)) = split_verb(&raw) else {
        return Err(get_needs_a_verb());
    };
    let key = parse_key(raw_key)?;
    let (mut parts, _body) = request.into_parts();
    match verb {
        Verb::Metadata => {
            let access = access::<Read>(&mut parts, &state).await?;
            read::file_metadata(&state, &access, &key, &query_of(&parts)?).await
        }
        Verb::Download => {
            let access = access::<Read>(&mut parts, &state).await?;
            read::download_file(&state, &access, &key, &query_of(&parts)?, &parts.headers).await
        }
        Verb::DownloadUrl => {
            let access = access::<Read>(&mut parts, &state).await?;
            presign::download_url(&state, &access, &key, &query_of(&parts)?).await
        }
        Verb::UploadUrl => {
            let access = access::<Write>(&mut parts, &state).await?;
            presign::upload_url(&state, &access, &key, &query_of(&parts)?).await
        }
    }
}

async fn post_on_key(
    State(state): State<AppState>,
    Path((_, raw)): Path<(String, String)>,
    access: ProjectAccess<Write>,
    headers: HeaderMap,
    form: Multipart,
) -> Result<Response, ApiError> {
    let key = parse_key(&raw)?;
    write::upload_file(&state, &access, &key, &headers, form).await
}

async fn patch_on_key(
    State(state): State<AppState>,
    Path((_, raw)): Path<(String, String)>,
    access: ProjectAccess<Write>,
    Query(query): Query<VersionQuery>,
    JsonBody(input): JsonBody<wire::FileInput>,
) -> Result<Response, ApiError> {
    let key = parse_key(&raw)?;
    write::update_file(&state, &access, &key, &query, input).await
}

async fn delete_on_key(
    State(state): State<AppState>,
    Path((_, raw)): Path<(String, String)>,
    access: ProjectAccess<Write>,
    Query(query): Query<write::DeleteQuery>,
) -> Result<Response, ApiError> {
    let key = parse_key(&raw)?;
    write::delete_file(&state, &access, &key, &query).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verb_is_split_off_after_the_last_colon() {
        assert_eq!(
            split_verb("a/b.txt:download"),
            Some(("a/b.txt", Verb::Download))
        );
        assert_eq!(
            split_verb("a:b.txt:metadata"),
            Some(("a:b.txt", Verb::Metadata))
        );
        assert_eq!(split_verb("x:upload-url"), Some(("x", Verb::UploadUrl)));
        assert_eq!(split_verb("x:download-url"), Some(("x", Verb::DownloadUrl)));
        assert_eq!(split_verb("a:b.txt"), None);
        assert_eq!(split_verb("plain"), None);
    }

    #[test]
    fn a_bad_key_names_its_rule() {
        let message = parse_key("a/../b").expect_err("traversal").to_string();
        assert!(message.contains("'..'"), "{message}");
        assert!(
            parse_key("/etc/passwd")
                .expect_err("absolute")
                .to_string()
                .contains("'/'")
        );
    }
}
