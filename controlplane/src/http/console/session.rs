//! The console's session: the user's access and refresh tokens (from the
//! API's own login) in one cookie, `HttpOnly` and `SameSite=Strict`, with
//! a CSRF token drawn at sign-in that every form and every changing call
//! of the script must echo. An access token about to expire is renewed
//! with the refresh token (through the API) and the cookie rewritten.

use super::ConsoleError;
use super::api::{InProcess, Sent};
use super::layout;
use crate::handover::Peer;
use crate::http::AppState;
use crate::iam::Caller;
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::html;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// The session cookie.
const COOKIE: &str = "mc_console";
/// The cookie of the sign-in form (its CSRF token, before a session).
const LOGIN_COOKIE: &str = "mc_login";

/// What the session cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Held {
    /// Access token.
    a: String,
    /// Refresh token.
    r: String,
    /// When the access token expires, epoch ms.
    e: i64,
    /// The CSRF token.
    c: String,
}

/// A signed-in user, for a console handler.
#[derive(Debug, Clone)]
pub struct Session {
    held: Held,
    peer: Option<Peer>,
    /// Who the API sees (for showing only the buttons it would allow).
    pub caller: Caller,
}

/// Where a renewed session cookie waits for the response (the frame's
/// middleware sets it).
#[derive(Debug, Clone, Default)]
pub struct Renewal(pub Arc<Mutex<Option<HeaderValue>>>);

impl Session {
    /// The access token the API is called with.
    pub fn access_token(&self) -> &str {
        &self.held.a
    }

    /// The CSRF token forms carry.
    pub fn csrf(&self) -> &str {
        &self.held.c
    }

    /// The user's name and org, as the API knows the caller (never as the
    /// cookie says: a user can edit their own cookie).
    pub fn user(&self) -> (&str, &str) {
        let p = &self.caller.principal;
        (&p.user_name, &p.org.name)
    }

    /// The client's address (for the API's audit records and limits).
    pub fn peer(&self) -> Option<Peer> {
        self.peer
    }

    /// Whether `sent` (a form field or header) is this session's CSRF
    /// token, compared in constant time.
    pub fn csrf_matches(&self, sent: Option<&HeaderValue>) -> bool {
        sent.and_then(|v| v.to_str().ok())
            .is_some_and(|v| constant_eq(v.as_bytes(), self.held.c.as_bytes()))
    }

    /// Refuses a form whose CSRF field is not this session's.
    pub fn check_form(&self, sent: &str) -> Result<(), ConsoleError> {
        if constant_eq(sent.as_bytes(), self.held.c.as_bytes()) {
            Ok(())
        } else {
            Err(ConsoleError::new(
                StatusCode::FORBIDDEN,
                "the form is not from this session (its CSRF token does not match): reload the page and try again",
            ))
        }
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn encode(held: &Held) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(held).unwrap_or_default())
}

fn decode(text: &str) -> Option<Held> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).ok()?).ok()
}

/// The `Set-Cookie` of a session (or of its end, with `None`).
fn set_cookie(held: Option<&Held>, max_age_secs: u64) -> HeaderValue {
    let value = match held {
        Some(h) => format!(
            "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}",
            encode(h)
        ),
        None => format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("mc_console=; Max-Age=0"))
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Not signed in: pages send the browser to the sign-in form, the
/// script's calls get 401.
fn sign_in_first(parts: &Parts) -> Response {
    if parts.uri.path().starts_with("/console/api/") {
        return (StatusCode::UNAUTHORIZED, "sign in at /console/login").into_response();
    }
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/console");
    Redirect::to(&format!(
        "/console/login?next={}",
        percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
    ))
    .into_response()
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(mut held) = cookie(&parts.headers, COOKIE).and_then(decode) else {
            return Err(sign_in_first(parts));
        };
        let peer = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .map(|ConnectInfo(p)| *p);
        if held.e < crate::util::now_ms() + 30_000 {
            let api = parts.extensions.get::<InProcess>().cloned();
            match api {
                Some(api) => match renew(&api, &held, peer).await {
                    Some(renewed) => {
                        held = renewed;
                        if let Some(slot) = parts.extensions.get::<Renewal>() {
                            let max_age = state.config.refresh_token_ttl_secs;
                            *slot.0.lock().unwrap_or_else(|e| e.into_inner()) =
                                Some(set_cookie(Some(&held), max_age));
                        }
                    }
                    None => return Err(sign_in_first(parts)),
                },
                None => return Err(sign_in_first(parts)),
            }
        }
        let creds = axum::http::Request::builder()
            .header(header::AUTHORIZATION, format!("Bearer {}", held.a))
            .body(())
            .map_err(|_| sign_in_first(parts))?;
        let caller =
            match crate::http::api::auth::caller_of(state, crate::http::api::auth::Credentials::of(&creds))
                .await
            {
                Ok(mut c) => {
                    c.source_ip = peer.map(|Peer(a)| a.ip());
                    c
                }
                Err(e) if e.status() == StatusCode::UNAUTHORIZED => return Err(sign_in_first(parts)),
                Err(e) => return Err(e.into_response()),
            };
        Ok(Session { held, peer, caller })
    }
}

/// A new token pair for `held`'s refresh token, through the API.
async fn renew(api: &InProcess, held: &Held, peer: Option<Peer>) -> Option<Held> {
    let body = json!({"refresh_token": held.r});
    let sent = Sent {
        peer,
        ..Sent::default()
    };
    let (status, pair) = api
        .json(Method::POST, "/auth/refresh", Some(&body), sent)
        .await
        .ok()?;
    if !status.is_success() {
        return None;
    }
    Some(Held {
        a: pair["access_token"].as_str()?.to_owned(),
        r: pair["refresh_token"].as_str()?.to_owned(),
        e: crate::util::now_ms() + pair["expires_in"].as_i64()? * 1000,
        ..held.clone()
    })
}

/// `?next=` of the sign-in form.
#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only a console page is a place to go after signing in: not the
/// console's API (a tenant's object would render there), nothing with dot
/// segments (`/console/../fn/...` is a tenant's page), no other host.
fn safe_next(next: Option<&str>) -> &str {
    let Some(n) = next else { return "/console" };
    let path = n.split(['?', '#']).next().unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    let dotted = path.split('/').any(|seg| seg == "." || seg == "..") || lower.contains("%2e");
    let ok = (path == "/console" || path.starts_with("/console/"))
        && !path.starts_with("/console/api")
        && !dotted
        && !n.contains('\\')
        && !n.contains("//")
        && !n.chars().any(char::is_control);
    if ok { n } else { "/console" }
}

/// `GET /console/login`.
pub async fn login_page(Query(q): Query<Next>) -> Response {
    let token = random_token();
    let page = layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in to MiniCloud" }
            (login_form(&token, q.next.as_deref(), None))
        },
    );
    let cookie = format!("{LOGIN_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=3600");
    let mut resp = page.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

fn login_form(token: &str, next: Option<&str>, error: Option<&str>) -> maud::Markup {
    html! {
        form.card method="post" action="/console/login" {
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="next" value=(safe_next(next));
            label for="org" { "Org" }
            input #org name="org" value="default" autocomplete="organization" required;
            label for="username" { "User name" }
            input #username name="username" autocomplete="username" required autofocus;
            label for="password" { "Password" }
            input #password name="password" type="password" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
    }
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct Login {
    csrf: String,
    next: Option<String>,
    org: String,
    username: String,
    password: String,
}

/// `POST /console/login`: the API's login, then the session cookie.
pub async fn login(
    State(state): State<AppState>,
    axum::Extension(api): axum::Extension<InProcess>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Form(form): Form<Login>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return ConsoleError::new(
            StatusCode::FORBIDDEN,
            "the sign-in form expired or is not this site's: open the sign-in page again",
        )
        .into_response();
    }
    let body = json!({"org": form.org, "username": form.username, "password": form.password});
    let sent = Sent {
        peer: extensions.get::<ConnectInfo<Peer>>().map(|ConnectInfo(p)| *p),
        user_agent: headers.get(header::USER_AGENT).cloned(),
        ..Sent::default()
    };
    let (status, answer) = match api.json(Method::POST, "/auth/login", Some(&body), sent).await {
        Ok(answered) => answered,
        Err(e) => return e.into_response(),
    };
    let pair = (
        answer["access_token"].as_str(),
        answer["refresh_token"].as_str(),
        answer["expires_in"].as_i64(),
    );
    let (Some(a), Some(r), Some(expires_in)) = pair else {
        let message = super::api::message(&answer);
        let page = layout::bare(
            "Sign in",
            html! {
                h1 { "Sign in to MiniCloud" }
                (login_form(&form.csrf, form.next.as_deref(), Some(&message)))
            },
        );
        let status = if status.is_success() {
            StatusCode::BAD_GATEWAY
        } else {
            status
        };
        return (status, page).into_response();
    };
    let held = Held {
        a: a.to_owned(),
        r: r.to_owned(),
        e: crate::util::now_ms() + expires_in * 1000,
        c: random_token(),
    };
    let mut resp = Redirect::to(safe_next(form.next.as_deref())).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(Some(&held), state.config.refresh_token_ttl_secs),
    );
    h.append(
        header::SET_COOKIE,
        HeaderValue::from_static("mc_login=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    resp
}

/// A form that only carries the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    /// The session's CSRF token.
    pub csrf: String,
}

/// `POST /console/logout`: the refresh token revoked through the API, the
/// cookie cleared.
pub async fn logout(
    axum::Extension(api): axum::Extension<InProcess>,
    axum::Extension(renewal): axum::Extension<Renewal>,
    session: Session,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    // A pair renewed on the way in must not be set again on the way out.
    renewal.0.lock().unwrap_or_else(|e| e.into_inner()).take();
    // Revoked through the API; the cookie goes whatever it answers.
    let body = json!({"refresh_token": session.held.r});
    let _ = api
        .json(Method::POST, "/auth/logout", Some(&body), Sent::default())
        .await;
    let mut resp = Redirect::to("/console/login").into_response();
    resp.headers_mut().insert(header::SET_COOKIE, set_cookie(None, 0));
    Ok(resp)
}
