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
use axum::http::{Extensions, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A session: an access token and the refresh token that renews it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TokenPair {
    /// The access token: `Authorization: Bearer <access_token>` on every
    /// call, until it expires.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token lives (the server's
    /// `--access-token-ttl-secs`, 900 by default).
    expires_in: u64,
    /// The refresh token, for `POST /auth/refresh` (once) and
    /// `POST /auth/logout`; it lives `--refresh-token-ttl-secs` (30 days by
    /// default). The server keeps only its hash.
    refresh_token: String,
}

/// An access token and a refresh token for a user.
pub(super) async fn session(
    state: &AppState,
    org: &crate::store::orgs::Org,
    user_id: &str,
) -> ApiResult<Json<TokenPair>> {
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
    Ok(Json(TokenPair {
        access_token: access,
        token_type: "Bearer",
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token: refresh,
    }))
}

/// A refresh token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RefreshToken {
    /// The `refresh_token` of a login or of the last refresh.
    refresh_token: String,
}

/// Trades a refresh token for a new session.
///
/// No credentials needed: the refresh token is one. The old refresh token
/// is revoked (rotation), so a stolen one works at most once; an unknown,
/// revoked or expired one answers 401. Refused refreshes are limited per
/// client address: past the limit they answer 429 `rate_limited` with
/// `Retry-After`. The new session is the same
/// user's.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    request_body = RefreshToken,
    responses((status = 200, description = "A new access token and refresh token", body = TokenPair))
)]
pub(super) async fn refresh(
    State(state): State<AppState>,
    extensions: Extensions,
    JsonBody(body): JsonBody<RefreshToken>,
) -> ApiResult<Json<TokenPair>> {
    // Refusals count against the client's address (a live token is never
    // held up by others guessing from the same address, a proxy's or a
    // NAT's): past the limit, a refusal is 429.
    let refused = || match state.login.refreshes.check_address(super::source_ip(&extensions)) {
        Ok(()) => unauthenticated("the refresh token is unknown, revoked or expired"),
        Err(t) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many refused refreshes from this address; retry in {} s",
                t.retry_after_secs
            ),
        )
        .retry_after(t.retry_after_secs),
    };
    let hash = hash_token(&body.refresh_token);
    let (org_id, user_id) = state.store.live_refresh_token(&hash).await?.ok_or_else(refused)?;
    if !state.store.revoke_refresh_token(&hash).await? {
        return Err(refused());
    }
    let p = user_principal(&state, &org_id, &user_id).await?;
    session(&state, &p.org, &p.user_id).await
}

/// Ends a session: revokes its refresh token.
///
/// No credentials needed: the refresh token is one. An unknown or revoked
/// token answers 204 too. The session's access token keeps working until
/// it expires.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    request_body = RefreshToken,
    responses((status = 204, description = "The refresh token no longer works"))
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

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Me {
    /// `api_key` for an API key, `user` for an access token.
    principal_type: &'static str,
    /// The user's id, or the API key's id.
    principal_id: String,
    /// The user's name (a key's owner for a key).
    user: String,
    /// The user's id.
    user_id: String,
    /// The user's org.
    org: String,
    /// The client's address, as the server sees it; `null` when unknown.
    source_ip: Option<String>,
}

/// The caller: who the credentials name.
///
/// Any valid credentials may call it; no authorization is needed.
#[utoipa::path(
    get,
    path = "/auth/me",
    tag = "auth",
    responses((status = 200, description = "The caller", body = Me))
)]
pub(super) async fn me(caller: Caller) -> Json<Me> {
    let p = &caller.principal;
    Json(Me {
        principal_type: p.kind.as_str(),
        principal_id: p.id.clone(),
        user: p.user_name.clone(),
        user_id: p.user_id.clone(),
        org: p.org.name.clone(),
        source_ip: caller.source_ip.map(|ip| ip.to_string()),
    })
}

/// The new signing key.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SigningKeyRotated {
    /// The id of the key that signs access tokens from now on.
    kid: String,
}

/// Rotates the keys that sign access tokens.
///
/// Needs `iam:RotateSigningKeys` on the platform resource
/// `mrn:iam:::signing-keys` (the platform administrator's). New access
/// tokens are signed with a new key; tokens signed by the key before keep
/// verifying, those signed by older keys stop at once (their sessions must
/// refresh or log in again).
#[utoipa::path(
    post,
    path = "/auth/signing-keys/rotate",
    tag = "auth",
    responses((status = 200, description = "The new key's id", body = SigningKeyRotated))
)]
pub(super) async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<SigningKeyRotated>> {
    state
        .authorize(
            &caller,
            actions::iam::ROTATE_SIGNING_KEYS,
            &Target::platform("iam", "signing-keys"),
        )
        .await?;
    let kid = state.tokens.rotate().await?;
    Ok(Json(SigningKeyRotated { kid }))
}
