//! Object storage for people: buckets of a project, and objects streamed
//! both ways with content type, ETag and user metadata
//! (`x-minicloud-meta-<name>` headers).

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::openapi::ListPage;
use super::{Page, PathParams, authorized, check_name, list_page};
use crate::capabilities::objects::{BucketError, ProjectObjects};
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::Caller;
use crate::iam::actions::storage;
use crate::store::objects::BucketRow;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use minicloud_runtime::caps::backend::{
    BackendError, Cause, ListQuery, ObjectMeta, PutOptions, StorageBackend,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(list_buckets, create_bucket))
        .routes(routes!(delete_bucket))
        .routes(routes!(list_objects))
        .routes(routes!(get_object, head_object, put_object, delete_object))
}

const META_PREFIX: &str = "x-minicloud-meta-";

/// A new bucket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewBucket {
    /// Unique in the project: 1 to 63 characters of `a-z`, `0-9`, `-`
    /// and `_`, starting with a letter or digit.
    name: String,
}

/// What is known of a stored object (the JSON of
/// `minicloud_runtime::caps::backend::ObjectMeta`).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "describes the JSON of ObjectMeta, a type of the runtime crate"
)]
struct StoredObject {
    /// The object's key in its bucket.
    key: String,
    /// Its size, bytes.
    size: u64,
    /// A quoted hash of the content (also the `ETag` header).
    etag: String,
    /// The content type it was stored with; `null` if none was given.
    content_type: Option<String>,
    /// When it was last written, epoch ms.
    last_modified_ms: i64,
    /// User metadata (the `x-minicloud-meta-<name>` headers it was stored
    /// with, names in lower case).
    metadata: BTreeMap<String, String>,
}

/// A page of a bucket's objects.
#[derive(Debug, Serialize, ToSchema)]
struct ObjectList {
    /// Objects, in key order.
    #[schema(value_type = Vec<StoredObject>)]
    items: Vec<ObjectMeta>,
    /// With `delimiter`: the key prefixes rolled up, each up to and with
    /// the first delimiter after `prefix`.
    common_prefixes: Vec<String>,
    /// Where the next page starts (pass it as `cursor`); `null` on the
    /// last page.
    next_cursor: Option<String>,
}

/// An object's bytes.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code, reason = "describes an object's content")]
struct ObjectContent(Vec<u8>);

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

/// Creates a bucket.
///
/// Needs `storage:CreateBucket` on `bucket/<name>`; audited. A name the
/// project already has is 409 `already_exists`.
#[utoipa::path(
    post,
    path = "/projects/{project}/buckets",
    tag = "storage",
    request_body = NewBucket,
    responses((status = 201, description = "The bucket", body = BucketRow))
)]
async fn create_bucket(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(new): JsonBody<NewBucket>,
) -> ApiResult<(StatusCode, Json<BucketRow>)> {
    check_name("bucket", &new.name)?;
    let resource = format!("bucket/{}", new.name);
    let objects = objects(&state, &caller, &project_name, storage::CREATE_BUCKET, &resource).await?;
    let created = objects.create_bucket(&new.name).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The project's buckets, by name.
///
/// Needs `storage:ListBuckets` on `bucket/*`. The cursor is the last name
/// of the page before.
#[utoipa::path(
    get,
    path = "/projects/{project}/buckets",
    tag = "storage",
    params(Page),
    responses((status = 200, description = "A page of buckets, by name", body = ListPage<BucketRow>))
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

/// Deletes a bucket, which must be empty.
///
/// Needs `storage:DeleteBucket` on `bucket/<bucket>`; audited. A bucket
/// that holds objects is 409 `bucket_not_empty`.
#[utoipa::path(
    delete,
    path = "/projects/{project}/buckets/{bucket}",
    tag = "storage",
    params(("bucket" = String, Path, description = "The bucket's name")),
    responses((status = 204, description = "Deleted"))
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

/// `?prefix=&delimiter=&cursor=&limit=` of an object listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ObjectQuery {
    /// Only keys that start with it.
    prefix: Option<String>,
    /// Rolls keys up at the first occurrence of it after the prefix, as
    /// folders (`/`): they come as `common_prefixes`.
    delimiter: Option<String>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
    /// Objects per page (1 to 1000, default 100).
    limit: Option<i64>,
}

/// A bucket's objects, in key order.
///
/// Needs `storage:ListBucket` on `bucket/<bucket>`.
#[utoipa::path(
    get,
    path = "/projects/{project}/buckets/{bucket}/objects",
    tag = "storage",
    params(ObjectQuery, ("bucket" = String, Path, description = "The bucket's name")),
    responses((status = 200, description = "A page of objects", body = ObjectList))
)]
async fn list_objects(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, bucket)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<ObjectQuery>,
) -> ApiResult<Json<ObjectList>> {
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
    Ok(Json(ObjectList {
        items: page.objects,
        common_prefixes: page.common_prefixes,
        next_cursor: page.cursor,
    }))
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

/// Downloads an object, streamed.
///
/// The answer carries the object's stored `Content-Type`
/// (`application/octet-stream` when none was given), `ETag`,
/// `Last-Modified` and its metadata as `x-minicloud-meta-<name>` headers.
/// With `If-None-Match` holding its ETag (or `*`) the answer is 304 with
/// no body. Needs `storage:GetObject` on `bucket/<bucket>/<key>`.
#[utoipa::path(
    get,
    path = "/projects/{project}/buckets/{bucket}/objects/{*key}",
    tag = "storage",
    params(
        ("bucket" = String, Path, description = "The bucket's name"),
        ("key" = String, Path, description = "The object's key (may hold `/`): 1 to 1024 bytes, no control characters, no empty, `.` or `..` segment"),
        ("if-none-match" = Option<String>, Header, nullable = false, description = "ETags (or `*`): an object holding one of them answers 304")
    ),
    responses(
        (status = 200, description = "The object's content, in its stored content type", content_type = "*/*", body = inline(ObjectContent),
            headers(
                ("etag" = String, description = "The object's ETag"),
                ("last-modified" = String, description = "When the object was last written (HTTP date)"),
                ("content-length" = u64, description = "The object's size, bytes")
            )),
        (status = 304, description = "Not modified: the object holds an ETag of `If-None-Match`; no body",
            headers(("etag" = String, description = "The object's ETag")))
    )
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

/// An object's metadata, as the headers of a download without its body.
///
/// `Content-Type`, `ETag`, `Last-Modified`, `Content-Length` and the
/// `x-minicloud-meta-<name>` headers. Needs `storage:GetObject` on
/// `bucket/<bucket>/<key>`.
#[utoipa::path(
    head,
    path = "/projects/{project}/buckets/{bucket}/objects/{*key}",
    tag = "storage",
    params(
        ("bucket" = String, Path, description = "The bucket's name"),
        ("key" = String, Path, description = "The object's key (may hold `/`)")
    ),
    responses(
        (status = 200, description = "The object's headers; no body",
            headers(
                ("etag" = String, description = "The object's ETag"),
                ("last-modified" = String, description = "When the object was last written (HTTP date)"),
                ("content-length" = u64, description = "The object's size, bytes")
            ))
    )
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

/// Uploads an object, streamed; it replaces any object of the key.
///
/// The body is the content, of any type: the request's `Content-Type` is
/// stored with it, and `x-minicloud-meta-<name>` headers (visible ASCII)
/// become its metadata. The object becomes visible only once the upload
/// is complete, and only within the stored-bytes quotas of the project
/// and its org. The change is announced as a `minicloud.storage` event
/// (`Object Created`). Needs `storage:PutObject` on
/// `bucket/<bucket>/<key>`; audited.
#[utoipa::path(
    put,
    path = "/projects/{project}/buckets/{bucket}/objects/{*key}",
    tag = "storage",
    params(
        ("bucket" = String, Path, description = "The bucket's name"),
        ("key" = String, Path, description = "The object's key (may hold `/`): 1 to 1024 bytes, no control characters, no empty, `.` or `..` segment")
    ),
    request_body(
        description = "The object's content; its `Content-Type` is stored with it",
        content((inline(ObjectContent) = "application/octet-stream"))
    ),
    responses(
        (status = 201, description = "The object as stored", body = StoredObject,
            headers(("etag" = String, description = "The object's ETag")))
    )
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

/// Deletes an object.
///
/// As in S3, deleting is idempotent: a missing object answers 204 too (a
/// missing bucket is 404). The deletion of an object is announced as a
/// `minicloud.storage` event (`Object Deleted`). Needs
/// `storage:DeleteObject` on `bucket/<bucket>/<key>`; audited.
#[utoipa::path(
    delete,
    path = "/projects/{project}/buckets/{bucket}/objects/{*key}",
    tag = "storage",
    params(
        ("bucket" = String, Path, description = "The bucket's name"),
        ("key" = String, Path, description = "The object's key (may hold `/`)")
    ),
    responses((status = 204, description = "Deleted, or there was no such object"))
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
