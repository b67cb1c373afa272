//! API keys of a user: mint, list, revoke.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    name: String,
    /// Seconds until the key stops working; none: it never expires.
    expires_in_secs: Option<u64>,
}

#[utoipa::path(
    post,
    path = "/orgs/{org}/users/{user}/keys",
    tag = "iam",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, description = "Done", body = Object))
)]
pub(super) async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
    JsonBody(new): JsonBody<NewKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if new.name.is_empty() || new.name.len() > 128 {
        return Err(ApiError::bad_request(
            "invalid_name",
            "a key name is 1 to 128 characters",
        ));
    }
    let (scope, user) = user_in(&state, &caller, &org, act::CREATE_API_KEY, &name).await?;
    guard_administrator(&state, &scope, &caller, &user).await?;
    let expires_ms = match new.expires_in_secs {
        Some(0) => {
            return Err(ApiError::bad_request(
                "invalid_expiry",
                "expires_in_secs must be positive",
            ));
        }
        Some(s) => {
            Some(now_ms().saturating_add(i64::try_from(s).unwrap_or(i64::MAX / 1000).saturating_mul(1000)))
        }
        None => None,
    };
    let secret = tokens::random_secret();
    let key = state
        .iam
        .in_org(&scope)
        .create_api_key(&user.id, &new.name, &hash_token(&secret), expires_ms)
        .await?;
    let mut body = serde_json::to_value(&key).map_err(ApiError::internal)?;
    // Shown once: only its hash is kept.
    body["token"] = json!(tokens::api_key_token(&key.id, &secret));
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(
    get,
    path = "/orgs/{org}/users/{user}/keys",
    tag = "iam",
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (scope, user) = user_in(&state, &caller, &org, act::LIST_API_KEYS, &name).await?;
    Ok(Json(json!({ "items": scope.list_api_keys(&user.id).await? })))
}

#[utoipa::path(
    delete,
    path = "/orgs/{org}/users/{user}/keys/{key}",
    tag = "iam",
    responses((status = 204, description = "Done"))
)]
pub(super) async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, key)): PathParams<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (scope, user) = user_in(&state, &caller, &org, act::REVOKE_API_KEY, &name).await?;
    guard_administrator(&state, &scope, &caller, &user).await?;
    if !state.iam.in_org(&scope).revoke_api_key(&user.id, &key).await? {
        return Err(ApiError::not_found(format!(
            "user {name:?} has no live key {key:?}"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}
