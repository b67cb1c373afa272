//! Authentication: the middleware that turns a bearer token into a
//! [`Caller`], and `/auth/login`, `/auth/refresh`, `/auth/logout`,
//! `/auth/me`, `/auth/signing-keys/rotate`.

use super::error::{ApiError, ApiResult, JsonBody};
use crate::app::{ADMIN_USER, AppState};
use crate::handover::Peer;
use crate::iam::tokens::{self, Credential, TokenError};
use crate::iam::{Caller, Principal, PrincipalKind, Target, actions};
use crate::store::projects::DEFAULT_ORG_ID;
use crate::util::{hash_token, now_ms};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// Routes that need no credentials (they hand them out).
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
}

/// Routes that need credentials.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/me", get(me))
        .route("/auth/signing-keys/rotate", post(rotate))
}

fn unauthenticated(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
}

/// Requires `Authorization: Bearer <token>` (an API key or an access
/// token), applies the principal's rate limit, and hands handlers the
/// [`Caller`].
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match caller_of(&state, Credentials::of(&req)).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// What a request says about its caller, read before any await (a
/// request body need not be `Sync`).
#[derive(Debug)]
pub struct Credentials {
    token: Option<String>,
    source_ip: Option<std::net::IpAddr>,
    user_agent: String,
}

impl Credentials {
    /// Reads the bearer token, client address and user agent.
    pub fn of<B>(req: &axum::http::Request<B>) -> Self {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        let source_ip = req
            .extensions()
            .get::<ConnectInfo<Peer>>()
            .map(|ConnectInfo(Peer(a))| a.ip());
        let user_agent: String = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(256)
            .collect();
        Self {
            token,
            source_ip,
            user_agent,
        }
    }
}

/// The caller the credentials name, once its rate limit allows.
pub async fn caller_of(state: &AppState, creds: Credentials) -> ApiResult<Caller> {
    let Credentials {
        token,
        source_ip,
        user_agent,
    } = creds;
    let Some(token) = token else {
        return Err(unauthenticated(
            "send `Authorization: Bearer <API key or access token>`; the admin's key is in <data-dir>/admin-token",
        ));
    };
    let principal = principal(state, &token).await?;
    if let Err(wait) = state
        .limiter
        .take(&format!("{}:{}", principal.kind.as_str(), principal.id))
    {
        metrics::counter!("minicloud_rate_limited_total", "principal_type" => principal.kind.as_str())
            .increment(1);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests from this principal; retry in {wait} s"),
        )
        .retry_after(wait));
    }
    Ok(Caller {
        principal,
        source_ip,
        user_agent,
    })
}

async fn principal(state: &AppState, token: &str) -> ApiResult<Principal> {
    match tokens::parse(token) {
        Credential::ApiKey { id, secret } => {
            let Some((key, user, org)) = state.store.live_api_key(id).await? else {
                return Err(unauthenticated("the API key is unknown, revoked or expired"));
            };
            if !tokens::secret_matches(secret, &key.secret_hash) {
                return Err(unauthenticated("the API key is unknown, revoked or expired"));
            }
            let now = now_ms();
            if key.last_used_ms.is_none_or(|t| now - t > 60_000) {
                let store = state.store.clone();
                let id = key.id.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.touch_api_key(&id, now).await {
                        tracing::warn!(error = %e, "cannot record an API key's last use");
                    }
                });
            }
            Ok(Principal {
                kind: PrincipalKind::ApiKey,
                id: key.id,
                user_id: user.id,
                user_name: user.name,
                tags: user.tags,
                org,
            })
        }
        Credential::Jwt(jwt) => {
            let claims = state.tokens.verify(jwt).await.map_err(|e| match e {
                TokenError::Invalid(m) => unauthenticated(format!("the access token is not valid: {m}")),
                TokenError::Store(e) => e.into(),
            })?;
            user_principal(state, &claims.org, &claims.sub).await
        }
        Credential::Legacy(t) => {
            if !state.store.token_exists(&hash_token(t)).await? {
                return Err(unauthenticated("the token is not valid"));
            }
            // A foundation-era token acts as the bootstrap admin.
            let org = state
                .store
                .org_by_id(DEFAULT_ORG_ID)
                .await?
                .ok_or_else(|| unauthenticated("the token is not valid"))?;
            let user = state
                .store
                .in_org(&org)
                .user(ADMIN_USER)
                .await?
                .ok_or_else(|| unauthenticated("the token is not valid"))?;
            Ok(Principal {
                kind: PrincipalKind::User,
                id: user.id.clone(),
                user_id: user.id,
                user_name: user.name,
                tags: user.tags,
                org,
            })
        }
    }
}

async fn user_principal(state: &AppState, org_id: &str, user_id: &str) -> ApiResult<Principal> {
    let gone = || unauthenticated("the user or org of this token no longer exists");
    let org = state.store.org_by_id(org_id).await?.ok_or_else(gone)?;
    let user = state
        .store
        .in_org(&org)
        .user_by_id(user_id)
        .await?
        .ok_or_else(gone)?;
    Ok(Principal {
        kind: PrincipalKind::User,
        id: user.id.clone(),
        user_id: user.id,
        user_name: user.name,
        tags: user.tags,
        org,
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| unauthenticated("this endpoint needs credentials"))
    }
}

impl AppState {
    /// Allows the caller's action on the target, or answers 403; the
    /// decision goes into the request's audit record.
    pub async fn authorize(&self, caller: &Caller, action: &str, target: &Target) -> ApiResult<()> {
        self.authorize_with(caller, action, target, &[]).await
    }

    /// As [`AppState::authorize`], with request condition keys added.
    pub async fn authorize_with(
        &self,
        caller: &Caller,
        action: &str,
        target: &Target,
        extra: &[(String, Vec<String>)],
    ) -> ApiResult<()> {
        match self.authorizer.check_with(caller, action, target, extra).await {
            Ok(()) => {
                super::audit::note(caller, action, target, true);
                Ok(())
            }
            Err(crate::iam::AuthzError::Denied(m)) => {
                super::audit::note(caller, action, target, false);
                Err(ApiError::new(StatusCode::FORBIDDEN, "access_denied", m))
            }
            Err(crate::iam::AuthzError::Store(e)) => Err(e.into()),
        }
    }

    /// Whether the caller may do the action, without answering or
    /// auditing: for filtering the rows of a list.
    pub async fn allowed(&self, caller: &Caller, action: &str, target: &Target) -> ApiResult<bool> {
        match self.authorizer.check(caller, action, target).await {
            Ok(()) => Ok(true),
            Err(crate::iam::AuthzError::Denied(_)) => Ok(false),
            Err(crate::iam::AuthzError::Store(e)) => Err(e.into()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    org: String,
    username: String,
    password: String,
}

/// An access token and a refresh token for a user.
async fn session(state: &AppState, org: &crate::store::orgs::Org, user_id: &str) -> ApiResult<Json<Value>> {
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

async fn login(State(state): State<AppState>, JsonBody(login): JsonBody<Login>) -> ApiResult<Json<Value>> {
    let refused = || unauthenticated("wrong org, user name or password");
    let org = state.store.org(&login.org).await?.ok_or_else(refused)?;
    let user = state
        .store
        .in_org(&org)
        .user(&login.username)
        .await?
        .ok_or_else(refused)?;
    let hash = user.password_hash.clone().ok_or_else(refused)?;
    let password = login.password;
    // argon2 is deliberately slow: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || tokens::verify_password(&password, &hash))
        .await
        .map_err(ApiError::internal)?;
    if !ok {
        return Err(refused());
    }
    session(&state, &org, &user.id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshToken {
    refresh_token: String,
}

/// Trades a refresh token for a new pair; the old refresh token is revoked
/// (rotation), so a stolen one works at most once.
async fn refresh(
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

async fn logout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshToken>,
) -> ApiResult<StatusCode> {
    state
        .store
        .revoke_refresh_token(&hash_token(&body.refresh_token))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(caller: Caller) -> Json<Value> {
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

async fn rotate(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
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
