//! The console's session. The browser's cookie holds only a random id;
//! the server keeps the session (the user's access and refresh tokens from
//! the API's own login, and a CSRF token drawn at sign-in that every form
//! and every changing call of the script must echo) in the database,
//! sealed under the master key. Signing out deletes it, so a copied cookie
//! stops working at once. An access token about to expire is renewed with
//! the refresh token (through the API), one renewal per session however
//! many requests ask at once. The cookie is `HttpOnly` and
//! `SameSite=Strict`, and with `--secure-cookies` a `__Host-` cookie
//! marked `Secure`.

use super::ConsoleError;
use super::api::{InProcess, Sent};
use super::layout;
use crate::handover::Peer;
use crate::http::AppState;
use crate::iam::Caller;
use crate::store::iam::ConsoleSessionRow;
use crate::store::secrets::SealedVersion;
use crate::util::{hash_token, now_ms};
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What a session's row seals.
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
    /// The stored session's key (SHA-256 of the cookie's id).
    id_hash: String,
    peer: Option<Peer>,
    /// Who the API sees (for showing only the buttons it would allow).
    pub caller: Caller,
}

impl Session {
    /// The access token the API is called with.
    pub fn access_token(&self) -> &str {
        &self.held.a
    }

    /// The CSRF token forms carry.
    pub fn csrf(&self) -> &str {
        &self.held.c
    }

    /// The user's name and org, as the API knows the caller.
    pub fn user(&self) -> (&str, &str) {
        let p = &self.caller.principal;
        (&p.user_name, &p.org.name)
    }

    /// The client's address (for the API's audit records and limits).
    pub fn peer(&self) -> Option<Peer> {
        self.peer
    }

    /// Whether the API would allow the user `action` on `target`: a
    /// button it would refuse is not shown.
    pub async fn may(&self, state: &AppState, action: &str, target: &crate::iam::Target) -> bool {
        state.allowed(&self.caller, action, target).await.unwrap_or(false)
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

/// The console's two cookies and their attributes, as configured.
#[derive(Debug, Clone, Copy)]
struct Cookies {
    /// The session's id.
    session: &'static str,
    /// The sign-in form's CSRF token, before a session.
    login: &'static str,
    /// `Path`, `Secure` and the rest, the same for both.
    attributes: &'static str,
}

impl Cookies {
    fn of(state: &AppState) -> Self {
        if state.config.secure_cookies {
            // `__Host-`: Secure, no Domain, Path=/ (the gateway keeps them
            // from functions under /fn).
            Self {
                session: "__Host-mc_console",
                login: "__Host-mc_login",
                attributes: "Path=/; Secure; HttpOnly; SameSite=Strict",
            }
        } else {
            Self {
                session: "mc_console",
                login: "mc_login",
                attributes: "Path=/console; HttpOnly; SameSite=Strict",
            }
        }
    }

    /// Clears, on `resp`, the session cookies another host under
    /// `base_domain` could have planted (`Domain=` the parent, on the
    /// console's path or the root) besides the console's own; with
    /// `__Host-` cookies there are none to clear.
    fn clear_planted(&self, resp: &mut Response, base_domain: &str) {
        if self.session.starts_with("__Host-") {
            return;
        }
        let name = self.session;
        let domain: String = base_domain
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
            .collect();
        for variant in [
            format!("{name}=; Path=/console; Max-Age=0"),
            format!("{name}=; Path=/; Max-Age=0"),
            format!("{name}=; Domain={domain}; Path=/console; Max-Age=0"),
            format!("{name}=; Domain={domain}; Path=/; Max-Age=0"),
        ] {
            if let Ok(v) = HeaderValue::from_str(&variant) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
    }

    /// `Set-Cookie` of `name` (a value of `None` clears it).
    fn set(&self, name: &str, value: Option<&str>, max_age_secs: u64) -> HeaderValue {
        let text = match value {
            Some(v) => format!("{name}={v}; {}; Max-Age={max_age_secs}", self.attributes),
            None => format!("{name}=; {}; Max-Age=0", self.attributes),
        };
        HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("mc_console=; Max-Age=0"))
    }
}

/// The values of the cookies named `name` a request carries.
fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The one value of cookie `name`; `None` when absent or sent more than
/// once (a second cookie of the same name is one another host under the
/// domain planted: neither is trusted).
fn cookie<'a>(headers: &'a HeaderMap, name: &'a str) -> Option<&'a str> {
    let mut found = cookies(headers, name);
    let first = found.next();
    if found.next().is_some() { None } else { first }
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// What a session's row holds, sealed under the master key for that row
/// and generation (a sealed value copied onto another row, or replayed
/// from an earlier generation, does not open).
fn seal(state: &AppState, id_hash: &str, generation: i64, held: &Held) -> String {
    let plain = serde_json::to_vec(held).unwrap_or_default();
    let (nonce, ciphertext) =
        state
            .services
            .keyring
            .seal(&format!("console-session/{id_hash}"), generation, &plain);
    format!("{nonce}:{ciphertext}")
}

fn open(state: &AppState, row: &ConsoleSessionRow) -> Option<Held> {
    let (nonce, ciphertext) = row.sealed.split_once(':')?;
    let version = SealedVersion {
        version: row.generation,
        nonce: nonce.to_owned(),
        ciphertext: ciphertext.to_owned(),
        created_ms: 0,
    };
    let plain = state
        .services
        .keyring
        .open(&format!("console-session/{}", row.id_hash), &version)
        .ok()?;
    serde_json::from_slice(&plain).ok()
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

/// Renewals of one session wait for each other on this node: a few locks
/// shared by hash (sessions that share one only wait a little longer).
fn renewal_lock(id_hash: &str) -> &'static tokio::sync::Mutex<()> {
    static LOCKS: std::sync::OnceLock<Vec<tokio::sync::Mutex<()>>> = std::sync::OnceLock::new();
    let locks = LOCKS.get_or_init(|| (0..64).map(|_| tokio::sync::Mutex::new(())).collect());
    let i = usize::from_str_radix(id_hash.get(..2).unwrap_or("0"), 16).unwrap_or(0);
    &locks[i % locks.len()]
}

/// The stored session, as it is now.
async fn current(state: &AppState, id_hash: &str) -> Option<(ConsoleSessionRow, Held)> {
    let row = state.store.console_session(id_hash).await.ok()??;
    let held = open(state, &row)?;
    Some((row, held))
}

/// `row`'s session with an access token that does not expire within half
/// a minute: renewed through the API when needed, once. Another request
/// (here or on another node) may have renewed it first: then its pair is
/// used (the refresh token works once, so the loser's own refresh fails).
async fn fresh(
    state: &AppState,
    api: &InProcess,
    row: ConsoleSessionRow,
    held: Held,
    peer: Option<Peer>,
) -> Option<Held> {
    let due = |h: &Held| h.e < now_ms() + 30_000;
    if !due(&held) {
        return Some(held);
    }
    let _one_at_a_time = renewal_lock(&row.id_hash).lock().await;
    let (row, held) = current(state, &row.id_hash).await?;
    if !due(&held) {
        return Some(held);
    }
    if let Some(renewed) = renew(api, &held, peer).await {
        let sealed = seal(state, &row.id_hash, row.generation + 1, &renewed);
        if state
            .store
            .renew_console_session(&row.id_hash, row.generation, &sealed)
            .await
            .unwrap_or(false)
        {
            return Some(renewed);
        }
        // Stored too late: the pair that lost is revoked at once.
        revoke(api, &renewed.r).await;
    }
    // Refused or lost: renewed elsewhere meanwhile, or signed out; while
    // the access token still works, the session goes on with it (a
    // renewal refused for a moment does not sign anyone out).
    let (_, latest) = current(state, &row.id_hash).await?;
    (latest.e > now_ms() + 1_000).then_some(latest)
}

/// Revokes a refresh token through the API (whatever it answers: an
/// unknown token is no loss).
async fn revoke(api: &InProcess, refresh_token: &str) {
    let body = json!({"refresh_token": refresh_token});
    let _ = api
        .json(Method::POST, "/auth/logout", Some(&body), Sent::default())
        .await;
}

/// Ends the session stored as `id_hash`: its row deleted and its refresh
/// token (the newest, read under the renewal lock) revoked.
async fn end(state: &AppState, api: &InProcess, id_hash: &str) -> Result<(), crate::store::StoreError> {
    let _one_at_a_time = renewal_lock(id_hash).lock().await;
    let held = current(state, id_hash).await;
    state.store.delete_console_session(id_hash).await?;
    if let Some((_, held)) = held {
        revoke(api, &held.r).await;
    }
    Ok(())
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let names = Cookies::of(state);
        let Some(id) = cookie(&parts.headers, names.session) else {
            let mut resp = sign_in_first(parts);
            if cookies(&parts.headers, names.session).count() > 1 {
                names.clear_planted(&mut resp, &state.config.base_domain);
            }
            return Err(resp);
        };
        let id_hash = hash_token(id);
        let peer = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .map(|ConnectInfo(p)| *p);
        let Some((row, held)) = current(state, &id_hash).await else {
            return Err(sign_in_first(parts));
        };
        let Some(api) = parts.extensions.get::<InProcess>().cloned() else {
            return Err(sign_in_first(parts));
        };
        let Some(held) = fresh(state, &api, row, held, peer).await else {
            return Err(sign_in_first(parts));
        };
        // Who the token names; the page's API calls take from its rate
        // limit, this look-up does not.
        let source_ip = peer.map(|Peer(a)| a.ip());
        let caller =
            match crate::http::api::auth::caller_of_token(state, &held.a, source_ip, String::new()).await {
                Ok(c) => c,
                Err(e) if e.status() == StatusCode::UNAUTHORIZED => return Err(sign_in_first(parts)),
                Err(e) => return Err(e.into_response()),
            };
        Ok(Session {
            held,
            id_hash,
            peer,
            caller,
        })
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
        e: now_ms() + pair["expires_in"].as_i64()? * 1000,
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
pub async fn login_page(State(state): State<AppState>, Query(q): Query<Next>) -> Response {
    let token = random_token();
    let page = layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in to MiniCloud" }
            (login_form(&token, q.next.as_deref(), None))
        },
    );
    let names = Cookies::of(&state);
    let mut resp = page.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, names.set(names.login, Some(&token), 3600));
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
    let names = Cookies::of(&state);
    let expected = cookie(&headers, names.login).unwrap_or_default();
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
        e: now_ms() + expires_in * 1000,
        c: random_token(),
    };
    let id = match start(&state, &held).await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    // A session this browser held before ends: every sign-in gets a new id.
    if let Some(old) = cookie(&headers, names.session) {
        let _ = end(&state, &api, &hash_token(old)).await;
    }
    let mut resp = Redirect::to(safe_next(form.next.as_deref())).into_response();
    let h = resp.headers_mut();
    let ttl = state.config.refresh_token_ttl_secs;
    h.append(header::SET_COOKIE, names.set(names.session, Some(&id), ttl));
    h.append(header::SET_COOKIE, names.set(names.login, None, 0));
    resp
}

/// Stores a new session holding `held`; the id for the browser's cookie.
async fn start(state: &AppState, held: &Held) -> Result<String, ConsoleError> {
    let failed = |what: &str| {
        ConsoleError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("signed in, but the session could not be kept ({what}): try again"),
        )
    };
    let caller = crate::http::api::auth::caller_of_token(state, &held.a, None, String::new())
        .await
        .map_err(|e| failed(e.message()))?;
    let p = &caller.principal;
    let id = random_token();
    let id_hash = hash_token(&id);
    let ttl_ms = i64::try_from(state.config.refresh_token_ttl_secs)
        .unwrap_or(i64::MAX / 2)
        .saturating_mul(1000);
    let now = now_ms();
    // Sessions that ended are forgotten as new ones begin.
    let _ = state.store.delete_ended_console_sessions(now).await;
    state
        .store
        .in_org(&p.org)
        .create_console_session(
            &id_hash,
            &p.user_id,
            &seal(state, &id_hash, 0, held),
            now.saturating_add(ttl_ms),
        )
        .await
        .map_err(|e| failed(&e.to_string()))?;
    Ok(id)
}

/// A form that only carries the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    /// The session's CSRF token.
    pub csrf: String,
}

/// `POST /console/logout`: the session deleted (its cookie stops working
/// at once), its refresh token revoked through the API, the cookie
/// cleared.
pub async fn logout(
    State(state): State<AppState>,
    axum::Extension(api): axum::Extension<InProcess>,
    session: Session,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    end(&state, &api, &session.id_hash).await.map_err(|e| {
        ConsoleError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("could not sign out: {e}"),
        )
    })?;
    let names = Cookies::of(&state);
    let mut resp = Redirect::to("/console/login").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, names.set(names.session, None, 0));
    Ok(resp)
}
