//! Authentication: the middleware that turns a bearer token into a
//! [`Caller`], and `/auth/login`, `/auth/refresh`, `/auth/logout`,
//! `/auth/me`, `/auth/signing-keys/rotate`.

use super::error::{ApiError, ApiResult, JsonBody, trace_id};
use crate::handover::Peer;
use crate::http::AppState;
use crate::iam::builtin::ADMIN_USER;
use crate::iam::limits::{LoginScope, LoginThrottled};
use crate::iam::tokens::CheckError;
use crate::iam::tokens::{self, Credential, TokenError};
use crate::iam::{Caller, Principal, PrincipalKind, Target, actions};
use crate::store::audit::AuditEntry;
use crate::store::iam::User;
use crate::store::orgs::Org;
use crate::store::projects::DEFAULT_ORG_ID;
use crate::util::{hash_token, now_ms};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::IpAddr;

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
    source_ip: Option<IpAddr>,
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
        Self {
            token,
            source_ip: source_ip(req.extensions()),
            user_agent: user_agent(req.headers()),
        }
    }
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

/// The one refusal of a login that got as far as a password check, for
/// every cause: an unknown org or user, a user without a password, or a
/// wrong password.
fn login_refused() -> ApiError {
    unauthenticated("wrong org, user name or password")
}

/// How a login attempt ended: the `outcome` label of
/// `minicloud_login_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoginOutcome {
    Success,
    /// Refused in an org that exists (audited).
    Failure,
    /// Refused: no such org, so no chain to audit into.
    UnknownOrg,
    RateLimited,
    /// No password-check permit within the wait.
    Busy,
    Error,
}

impl LoginOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::UnknownOrg => "unknown_org",
            Self::RateLimited => "rate_limited",
            Self::Busy => "busy",
            Self::Error => "error",
        }
    }
}

/// A login that did not succeed: how it ended, and the answer.
#[derive(Debug)]
struct LoginError(LoginOutcome, ApiError);

impl From<crate::store::StoreError> for LoginError {
    fn from(e: crate::store::StoreError) -> Self {
        Self(LoginOutcome::Error, e.into())
    }
}

impl From<LoginThrottled> for LoginError {
    fn from(t: LoginThrottled) -> Self {
        let e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", t.to_string());
        Self(LoginOutcome::RateLimited, e.retry_after(t.retry_after_secs))
    }
}

impl From<CheckError> for LoginError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Busy => {
                let e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "login_busy",
                    "too many logins are being checked at once; retry shortly",
                );
                Self(LoginOutcome::Busy, e.retry_after(1))
            }
            CheckError::Task(e) => Self(LoginOutcome::Error, ApiError::internal(e)),
        }
    }
}

/// Who is trying to log in, as the connection and the body say.
struct Attempt {
    org: String,
    username: String,
    source_ip: Option<IpAddr>,
    user_agent: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    JsonBody(login): JsonBody<Login>,
) -> ApiResult<Json<Value>> {
    let attempt = Attempt {
        org: login.org,
        username: login.username,
        source_ip: source_ip(&extensions),
        user_agent: user_agent(&headers),
    };
    let (outcome, answer) = match try_login(&state, &attempt, login.password).await {
        Ok(session) => (LoginOutcome::Success, Ok(session)),
        Err(LoginError(outcome, e)) => (outcome, Err(e)),
    };
    metrics::counter!("minicloud_login_total", "outcome" => outcome.as_str()).increment(1);
    answer
}

/// Limits first (they cost nothing), then one argon2 verification whatever
/// the org and user turn out to be, then the audit record.
async fn try_login(state: &AppState, a: &Attempt, password: String) -> Result<Json<Value>, LoginError> {
    if let Err(throttled) = state.login.limiter.check(a.source_ip, &a.org, &a.username) {
        tracing::debug!(scope = throttled.scope.as_str(), "login attempt over its limit");
        if state
            .login
            .limiter
            .audit_due(&throttled, a.source_ip, &a.org, &a.username)
            && let Some(org) = state.store.org(&a.org).await?
        {
            let reason = match throttled.scope {
                LoginScope::Address => "throttled_address",
                LoginScope::Account => "throttled_account",
            };
            let status = StatusCode::TOO_MANY_REQUESTS;
            audit_login(state, &org, a, Verdict::Refused(reason), status).await;
        }
        return Err(throttled.into());
    }
    let org = state.store.org(&a.org).await?;
    let user = match &org {
        Some(org) => state.store.in_org(org).user(&a.username).await?,
        None => None,
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = state.login.passwords.check(password, hash).await?;
    let Some(org) = org else {
        tracing::info!(
            org = %clip(&a.org),
            user = %clip(&a.username),
            source_ip = ?a.source_ip,
            "login refused: no such org"
        );
        return Err(LoginError(LoginOutcome::UnknownOrg, login_refused()));
    };
    match user {
        Some(user) if matches => {
            let answer = session(state, &org, &user.id).await;
            let status = answer.as_ref().map_or_else(ApiError::status, |_| StatusCode::OK);
            audit_login(state, &org, a, Verdict::Allowed(&user), status).await;
            answer.map_err(|e| LoginError(LoginOutcome::Error, e))
        }
        user => {
            let reason = match user {
                None => "unknown_user",
                Some(u) if u.password_hash.is_none() => "no_password",
                Some(_) => "wrong_password",
            };
            audit_login(state, &org, a, Verdict::Refused(reason), StatusCode::UNAUTHORIZED).await;
            Err(LoginError(LoginOutcome::Failure, login_refused()))
        }
    }
}

/// What a login attempt came to, for its audit record.
enum Verdict<'a> {
    /// The password matched this user's.
    Allowed(&'a User),
    /// Refused, and why (seen by the org's auditors, never by the client).
    Refused(&'static str),
}

/// Writes a login into the org's audit chain. A refused attempt is
/// anonymous: the name it tried is a parameter, never the actor, so a name
/// an attacker chose cannot pass for a principal of the org (nor match
/// `?actor=`). An allowed one is the user it proved to be.
async fn audit_login(state: &AppState, org: &Org, a: &Attempt, verdict: Verdict<'_>, status: StatusCode) {
    let mut params = json!({
        "method": "POST",
        "path": "/api/v1/auth/login",
        "body": {"org": org.name, "username": clip(&a.username), "password": "[redacted]"},
    });
    let refused = matches!(verdict, Verdict::Refused(_));
    let (actor_type, actor_id, actor_name, decision) = match verdict {
        Verdict::Allowed(u) => (
            PrincipalKind::User.as_str(),
            u.id.clone(),
            u.name.clone(),
            "Allow",
        ),
        Verdict::Refused(reason) => {
            params["reason"] = json!(reason);
            (ANONYMOUS, String::new(), String::new(), "Deny")
        }
    };
    let entry = AuditEntry {
        time_ms: now_ms(),
        actor_type: actor_type.to_owned(),
        actor_id,
        actor_name,
        action: actions::auth::LOGIN.to_owned(),
        resource: Target::in_org("iam", org, "login").mrn.to_string(),
        decision: decision.to_owned(),
        outcome: i64::from(status.as_u16()),
        source_ip: a.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        user_agent: a.user_agent.clone(),
        trace_id: trace_id(),
        params: params.to_string(),
    };
    let (state, org_id) = (state.clone(), org.id.clone());
    let write = async move {
        let _serial = state.audit_lock.lock().await;
        if let Err(e) = state.store.append_audit(&org_id, &entry).await {
            metrics::counter!("minicloud_audit_write_failures_total").increment(1);
            tracing::error!(error = %e, action = %entry.action, "cannot write an audit record");
        }
    };
    // A refusal is answered without waiting for its record: an org that
    // does not exist has no chain to write into, and the time of the write
    // would tell a caller which orgs exist.
    if refused {
        tokio::spawn(write);
    } else {
        write.await;
    }
}

/// The actor type of a refused login: nobody proved who they are.
const ANONYMOUS: &str = "anonymous";

/// An attacker-chosen name, cut short for logs and audit records (real
/// names are at most 63 characters).
fn clip(name: &str) -> String {
    name.chars().take(64).collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::limits::LoginScope;

    #[test]
    fn throttled_logins_answer_429_with_retry_after() {
        let throttled = LoginThrottled {
            scope: LoginScope::Account,
            retry_after_secs: 12,
        };
        let LoginError(outcome, e) = throttled.into();
        assert_eq!(outcome, LoginOutcome::RateLimited);
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "12");
    }

    #[test]
    fn busy_password_checks_answer_503() {
        let LoginError(outcome, e) = CheckError::Busy.into();
        assert_eq!(outcome, LoginOutcome::Busy);
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(resp.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn attempted_names_are_clipped_on_characters() {
        assert_eq!(clip(&"é".repeat(100)).chars().count(), 64);
        assert_eq!(clip("admin"), "admin");
    }
}
