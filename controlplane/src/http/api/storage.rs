//! Object storage for people: buckets of a project, and objects streamed
//! both ways with content type, ETag and user metadata
//! (`x-minicloud-meta-<name>` headers).

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::{Page, PathParams, authorized, check_name, list_page};
use crate::capabilities::objects::{BucketError, ProjectObjects};
use crate::http::AppState;
use crate::iam::Caller;
use crate::iam::actions::storage;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use minicloud_runtime::caps::backend::{
    BackendError, Cause, ListQuery, ObjectMeta, PutOptions, StorageBackend,
};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_buckets, create_bucket))
        .routes(routes!(delete_bucket))
        .routes(routes!(list_objects))
        .routes(routes!(get_object, head_object, put_object, delete_object))
}

const META_PREFIX: &str = "x-minicloud-meta-";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBucket {
    name: String,
}

async fn objects(
    state: &AppState,
    caller: &Caller,
    project: &str,
    action: &str,
    resource: &str,
) -> ApiResult<ProjectObjects> {
    let project = authorized(state, caller, project, action, resource).await?;
    Ok(state.services.objects.project(&project))
}

#[utoipa::path(
    post,
    path = "/projects/{project}/buckets",
    tag = "storage",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, description = "Done", body = Object))
)]
async fn create_bucket(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(new): JsonBody<NewBucket>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    check_name("bucket", &new.name)?;
    let resource = format!("bucket/{}", new.name);
    let objects = objects(&state, &caller, &project_name, storage::CREATE_BUCKET, &resource).await?;
    let created = objects.create_bucket(&new.name).await?;
    Ok((StatusCode::CREATED, Json(json!(created))))
}

#[utoipa::path(
    get,
    path = "/projects/{project}/buckets",
    tag = "storage",
    params(Page),
    responses((status = 200, description = "Done", body = Object))
)]
async fn list_buckets(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    QueryParams(page): QueryParams<Page>,
) -> ApiResult<Json<serde_json::Value>> {
    let limit = page.limit()?;
    let objects = objects(&state, &caller, &project_name, storage::LIST_BUCKETS, "bucket/*").await?;
    let buckets = objects
        .buckets(page.cursor.as_deref().unwrap_or(""), limit)
        .await?;
    Ok(list_page(&buckets, limit, |b| b.name.clone()))
}

#[utoipa::path(
    delete,
    path = "/projects/{project}/buckets/{bucket}",
    tag = "storage",
    responses((status = 204, description = "Done"))
)]
async fn delete_bucket(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, bucket)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let resource = format!("bucket/{bucket}");
    let objects = objects(&state, &caller, &project_name, storage::DELETE_BUCKET, &resource).await?;
    objects.delete_bucket(&bucket).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<BucketError> for ApiError {
    fn from(e: BucketError) -> Self {
        match e {
            BucketError::Exists(..) => Self::new(StatusCode::CONFLICT, "already_exists", e.to_string()),
            BucketError::NotEmpty(_) => Self::new(StatusCode::CONFLICT, "bucket_not_empty", e.to_string()),
            BucketError::Backend(b) => b.into(),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ObjectQuery {
    prefix: Option<String>,
    delimiter: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/projects/{project}/buckets/{bucket}/objects",
    tag = "storage",
    params(ObjectQuery),
    responses((status = 200, description = "Done", body = Object))
)]
async fn list_objects(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, bucket)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<ObjectQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let limit = super::page_limit(q.limit)?;
    let objects = objects(
        &state,
        &caller,
        &project_name,
        storage::LIST_BUCKET,
        &format!("bucket/{bucket}"),
    )
    .await?;
    let page = objects
        .list(
            &bucket,
            ListQuery {
                prefix: q.prefix.unwrap_or_default(),
                delimiter: q.delimiter,
                cursor: q.cursor,
                limit: limit as u32,
            },
        )
        .await?;
    Ok(Json(json!({
        "items": page.objects,
        "common_prefixes": page.common_prefixes,
        "next_cursor": page.cursor,
    })))
}

/// Checks the key and the caller's right to `action` on it.
async fn object_access(
    state: &AppState,
    caller: &Caller,
    project: &str,
    bucket: &str,
    key: &str,
    action: &str,
) -> ApiResult<ProjectObjects> {
    minicloud_runtime::names::check_key(key).map_err(|e| match e {
        BackendError::Invalid(m) => ApiError::bad_request("invalid_key", m),
        other => other.into(),
    })?;
    objects(state, caller, project, action, &format!("bucket/{bucket}/{key}")).await
}

fn object_headers(m: &ObjectMeta) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&m.etag) {
        headers.insert(header::ETAG, v);
    }
    let content_type = m.content_type.as_deref().unwrap_or("application/octet-stream");
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(m.size));
    if let Ok(v) = HeaderValue::from_str(&httpdate(m.last_modified_ms)) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    for (k, v) in &m.metadata {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(format!("{META_PREFIX}{k}")),
            HeaderValue::from_str(v),
        ) {
            headers.insert(name, value);
        }
    }
    headers
}

fn httpdate(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn not_modified(req: &HeaderMap, m: &ObjectMeta) -> bool {
    req.get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == m.etag || t.trim() == "*"))
}

#[utoipa::path(
    get,
    path = "/projects/{project}/buckets/{bucket}/objects/{*key}",
    tag = "storage",
    responses((status = 200, description = "Done"))
)]
async fn get_object(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, bucket, key)): PathParams<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let objects = object_access(&state, &caller, &project_name, &bucket, &key, storage::GET_OBJECT).await?;
    let (meta, body) = objects.get(&bucket, &key).await?;
    let out = object_headers(&meta);
    if not_modified(&headers, &meta) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, meta.etag)]).into_response());
    }
    let body = Body::from_stream(body.map_err(std::io::Error::other));
    Ok((out, body).into_response())
}

#[utoipa::path(
    head,
    path = "/projects/{project}/buckets/{bucket}/objects/{*key}",
    tag = "storage",
    responses((status = 200, description = "Done"))
)]
async fn head_object(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, bucket, key)): PathParams<(String, String, String)>,
) -> ApiResult<Response> {
    let objects = object_access(&state, &caller, &project_name, &bucket, &key, storage::GET_OBJECT).await?;
    let meta = objects.head(&bucket, &key).await?;
    Ok((object_headers(&meta), Body::empty()).into_response())
}

#[utoipa::path(
    put,
    path = "/projects/{project}/buckets/{bucket}/objects/{*key}",
    tag = "storage",
    responses((status = 201, description = "Done", body = Object))
)]
async fn put_object(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, bucket, key)): PathParams<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, HeaderMap, Json<ObjectMeta>)> {
    let objects = object_access(&state, &caller, &project_name, &bucket, &key, storage::PUT_OBJECT).await?;
    let mut metadata = BTreeMap::new();
    for (name, value) in &headers {
        if let Some(k) = name.as_str().strip_prefix(META_PREFIX) {
            let v = value.to_str().map_err(|_| {
                ApiError::bad_request("invalid_metadata", format!("metadata {k:?} is not visible ASCII"))
            })?;
            metadata.insert(k.to_owned(), v.to_owned());
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let stream = body
        .into_data_stream()
        .map_err(|e| BackendError::Invalid(format!("the upload broke off: {e}")));
    let meta = objects
        .put(
            &bucket,
            &key,
            PutOptions {
                content_type,
                metadata,
                cause: Cause::default(),
            },
            Box::pin(stream),
        )
        .await?;
    let mut out = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&meta.etag) {
        out.insert(header::ETAG, v);
    }
    Ok((StatusCode::CREATED, out, Json(meta)))
}

#[utoipa::path(
    delete,
    path = "/projects/{project}/buckets/{bucket}/objects/{*key}",
    tag = "storage",
    responses((status = 204, description = "Done"))
)]
async fn delete_object(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, bucket, key)): PathParams<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let objects = object_access(
        &state,
        &caller,
        &project_name,
        &bucket,
        &key,
        storage::DELETE_OBJECT,
    )
    .await?;
    // As in S3, deleting is idempotent: a missing object is not an error.
    objects.delete(&bucket, &key, Cause::default()).await?;
    Ok(StatusCode::NO_CONTENT)
}
