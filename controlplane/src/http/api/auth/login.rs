//! `POST /auth/login`: limits, one password check, the audit record.

use super::session::{TokenPair, session};
use super::{source_ip, unauthenticated, user_agent};
use crate::http::AppState;
use crate::http::api::error::{ApiError, ApiResult, JsonBody, trace_id};
use crate::iam::limits::{LoginScope, LoginThrottled};
use crate::iam::tokens::CheckError;
use crate::iam::{PrincipalKind, Target, actions};
use crate::store::audit::AuditEntry;
use crate::store::iam::User;
use crate::store::orgs::Org;
use crate::util::now_ms;
use axum::Json;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;

/// A user's credentials.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Login {
    /// The user's org.
    org: String,
    /// The user's name.
    username: String,
    /// The user's password (users created without one cannot log in).
    #[schema(format = Password)]
    password: String,
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

/// Logs a user in with a password: a new session.
///
/// No credentials needed. Attempts are limited per client address and
/// per account (429 `rate_limited` with `Retry-After`), and password checks
/// at once per server (503 `login_busy`). Every refusal answers the same
/// 401, whether the org or user does not exist, has no password, or the
/// password is wrong. Logins into an org that exists are audited there,
/// allowed and refused (the refused ones anonymously, the name tried as a
/// parameter).
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = Login,
    responses((status = 200, description = "An access token and a refresh token", body = TokenPair))
)]
pub(super) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    JsonBody(login): JsonBody<Login>,
) -> ApiResult<Json<TokenPair>> {
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
async fn try_login(state: &AppState, a: &Attempt, password: String) -> Result<Json<TokenPair>, LoginError> {
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
        trace_id: trace_id().to_string(),
        params: params.to_string(),
    };
    // A refusal is answered without waiting for its record: an org that
    // does not exist has no chain to write into, and the time of the write
    // would tell a caller which orgs exist.
    if refused {
        state.audit.append_later(&org.id, entry);
    } else {
        state.audit.append(&org.id, entry).await;
    }
}

/// The actor type of a refused login: nobody proved who they are.
const ANONYMOUS: &str = "anonymous";

/// An attacker-chosen name, cut short for logs and audit records (real
/// names are at most 63 characters).
fn clip(name: &str) -> String {
    name.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::limits::LoginScope;
    use axum::http::header;
    use axum::response::IntoResponse;

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
