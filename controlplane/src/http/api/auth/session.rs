//! Sessions: access and refresh token pairs, refresh, logout, `me`, and
//! rotating the keys that sign access tokens.

use super::principal::user_principal;
use super::unauthenticated;
use crate::http::AppState;
use crate::http::api::error::{ApiError, ApiResult, JsonBody};
use crate::iam::tokens;
use crate::iam::{Caller, Target, actions};
use crate::util::{hash_token, now_ms};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// An access token and a refresh token for a user.
pub(super) async fn session(
    state: &AppState,
    org: &crate::store::orgs::Org,
    user_id: &str,
) -> ApiResult<Json<Value>> {
    let access = state.tokens.issue(user_id, &org.id).map_err(ApiError::internal)?;
    let refresh = format!("mcr_{}", tokens::random_secret());
    let ttl_ms = i64::try_from(state.config.refresh_token_ttl_secs)
        .unwrap_or(i64::MAX / 2_000)
        .saturating_mul(1000);
    state
        .store
        .in_org(org)
        .create_refresh_token(user_id, &hash_token(&refresh), now_ms().saturating_add(ttl_ms))
        .await?;
    Ok(Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": state.tokens.ttl().as_secs(),
        "refresh_token": refresh,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RefreshToken {
    refresh_token: String,
}

/// Trades a refresh token for a new pair; the old refresh token is revoked
/// (rotation), so a stolen one works at most once.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshToken>,
) -> ApiResult<Json<Value>> {
    let refused = || unauthenticated("the refresh token is unknown, revoked or expired");
    let hash = hash_token(&body.refresh_token);
    let (org_id, user_id) = state.store.live_refresh_token(&hash).await?.ok_or_else(refused)?;
    if !state.store.revoke_refresh_token(&hash).await? {
        return Err(refused());
    }
    let p = user_principal(&state, &org_id, &user_id).await?;
    session(&state, &p.org, &p.user_id).await
}

#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 204, description = "Done"))
)]
pub(super) async fn logout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshToken>,
) -> ApiResult<StatusCode> {
    state
        .store
        .revoke_refresh_token(&hash_token(&body.refresh_token))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/auth/me",
    tag = "auth",
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn me(caller: Caller) -> Json<Value> {
    let p = &caller.principal;
    Json(json!({
        "principal_type": p.kind.as_str(),
        "principal_id": p.id,
        "user": p.user_name,
        "user_id": p.user_id,
        "org": p.org.name,
        "source_ip": caller.source_ip.map(|ip| ip.to_string()),
    }))
}

#[utoipa::path(
    post,
    path = "/auth/signing-keys/rotate",
    tag = "auth",
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn rotate(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    state
        .authorize(
            &caller,
            actions::iam::ROTATE_SIGNING_KEYS,
            &Target::platform("iam", "signing-keys"),
        )
        .await?;
    let kid = state.tokens.rotate().await?;
    Ok(Json(json!({ "kid": kid })))
}
