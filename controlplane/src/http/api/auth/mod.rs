//! Authentication: the middleware that turns a bearer token into a
//! [`Caller`], and `/auth/login`, `/auth/refresh`, `/auth/logout`,
//! `/auth/me`, `/auth/signing-keys/rotate`.
//!
//! - `principal`: the principal an API key, access token or legacy token names.
//! - `login`: the login handler, its limits and its audit record.
//! - `session`: token pairs, refresh, logout, `me`, and rotating the signing keys.

mod login;
mod principal;
mod session;

use super::error::{ApiError, ApiResult};
use crate::handover::Peer;
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::{Caller, Target};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use principal::principal;
use std::net::IpAddr;

/// Routes that need no credentials (they hand them out).
pub fn public_router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(login::login))
        .routes(routes!(session::refresh))
        .routes(routes!(session::logout))
}

/// Routes that need credentials.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(session::me))
        .routes(routes!(session::rotate))
}

fn unauthenticated(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
}

/// Requires `Authorization: Bearer <token>` (an API key or an access
/// token), applies the principal's rate limit, and hands handlers the
/// [`Caller`]. The request's queries, from the credentials' lookup to the
/// handler's reads, run on one connection while they follow each other
/// (`store::on_one_connection`: each connection the pool hands out and
/// takes back costs a round trip to its SQLite thread).
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    crate::store::on_one_connection(async move {
        match caller_of(&state, Credentials::of(&req)).await {
            Ok(caller) => {
                req.extensions_mut().insert(caller);
                next.run(req).await
            }
            Err(e) => e.into_response(),
        }
    })
    .await
}

/// What a request says about its caller, read before any await (a
/// request body need not be `Sync`).
#[derive(Debug)]
pub struct Credentials {
    token: Option<String>,
    source_ip: Option<IpAddr>,
    user_agent: String,
}

impl Credentials {
    /// Reads the bearer token, client address and user agent.
    pub fn of<B>(req: &axum::http::Request<B>) -> Self {
        Self {
            token: bearer(req.headers()),
            source_ip: source_ip(req.extensions()),
            user_agent: user_agent(req.headers()),
        }
    }
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

/// The caller `token` names now, for a long-lived response (a stream) that
/// checks again that its credentials still hold: a revoked key, a removed
/// user or an ended session ends it. No rate limit is taken.
pub async fn reauthenticate(state: &AppState, token: &str, caller: &Caller) -> ApiResult<Caller> {
    caller_of_token(state, token, caller.source_ip, caller.user_agent.clone()).await
}

/// The caller `token` names, without taking from its rate limit: for one
/// whose requests are limited where they are made (the console, every API
/// call of which goes through the API's own limit).
pub async fn caller_of_token(
    state: &AppState,
    token: &str,
    source_ip: Option<IpAddr>,
    user_agent: String,
) -> ApiResult<Caller> {
    Ok(Caller {
        principal: principal(state, token).await?,
        source_ip,
        user_agent,
    })
}

/// The client's address, from the connection.
fn source_ip(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(Peer(a))| a.ip())
}

/// The client's `User-Agent`, cut to 256 characters.
fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(256)
        .collect()
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
