//! API keys of a user: mint, list, revoke.

use super::*;

/// A new API key.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    /// A label, 1 to 128 characters.
    name: String,
    /// Seconds until the key stops working (at least 1); none: it never
    /// expires.
    #[schema(minimum = 1)]
    expires_in_secs: Option<u64>,
}

/// A key just minted, with its token: the only time the token is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct MintedKey {
    #[serde(flatten)]
    key: ApiKey,
    /// The credential, `Authorization: Bearer <token>`. Shown only here:
    /// the server keeps a hash of its secret.
    token: String,
}

/// A user's API keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct KeyList {
    /// Newest first, revoked ones included (with `revoked_ms`).
    items: Vec<ApiKey>,
}

/// Mints an API key for a user.
///
/// Needs `iam:CreateApiKey` on `user/<name>` in the org; only a platform
/// administrator may mint a key for a user who holds the platform
/// Administrator role. The answer holds the key's token, shown this once.
/// A key without bindings of its own acts with its user's roles; one with
/// bindings (`key:<id>` in `POST .../bindings`) is limited to them.
#[utoipa::path(
    post,
    path = "/orgs/{org}/users/{user}/keys",
    tag = "iam",
    params(("user" = String, Path, description = "The user's name")),
    request_body = NewKey,
    responses((status = 201, description = "The key, with its token", body = MintedKey))
)]
pub(super) async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
    JsonBody(new): JsonBody<NewKey>,
) -> ApiResult<(StatusCode, Json<MintedKey>)> {
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
    // Shown once: only its hash is kept.
    let token = tokens::api_key_token(&key.id, &secret);
    Ok((StatusCode::CREATED, Json(MintedKey { key, token })))
}

/// Lists a user's API keys (never their secrets).
///
/// Needs `iam:ListApiKeys` on `user/<name>` in the org. Every key is in
/// the one answer, newest first.
#[utoipa::path(
    get,
    path = "/orgs/{org}/users/{user}/keys",
    tag = "iam",
    params(("user" = String, Path, description = "The user's name")),
    responses((status = 200, description = "The user's keys", body = KeyList))
)]
pub(super) async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<Json<KeyList>> {
    let (scope, user) = user_in(&state, &caller, &org, act::LIST_API_KEYS, &name).await?;
    Ok(Json(KeyList {
        items: scope.list_api_keys(&user.id).await?,
    }))
}

/// Revokes an API key.
///
/// Needs `iam:RevokeApiKey` on `user/<name>` in the org; only a platform
/// administrator may revoke a key of a user who holds the platform
/// Administrator role. The key stops working at once; it stays in the
/// list, with `revoked_ms`.
#[utoipa::path(
    delete,
    path = "/orgs/{org}/users/{user}/keys/{key}",
    tag = "iam",
    params(
        ("user" = String, Path, description = "The user's name"),
        ("key" = String, Path, description = "The key's id")
    ),
    responses((status = 204, description = "Revoked"))
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
