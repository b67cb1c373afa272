//! Identities and access of an org: users and their API keys, managed
//! policies, roles (managed and inline policies), and bindings of users
//! and keys to roles in the org or in one project.
//!
//! Every change invalidates the authorizer's compiled grants, so it takes
//! effect on the next request.

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::{Page, PathParams, check_name};
use crate::app::AppState;
use crate::iam::actions::iam as act;
use crate::iam::{Caller, Target, builtin, tokens};
use crate::store::iam::{Created, OrgScope, Role, User};
use crate::store::orgs::Org;
use crate::util::{hash_token, now_ms};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use minicloud_policy::Policy;
use serde::Deserialize;
use serde_json::{Value, json};

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/users", get(list_users).post(create_user))
        .route(
            "/orgs/{org}/users/{user}",
            get(get_user).patch(tag_user).delete(delete_user),
        )
        .route("/orgs/{org}/users/{user}/keys", get(list_keys).post(create_key))
        .route("/orgs/{org}/users/{user}/keys/{key}", delete(revoke_key))
        .route("/orgs/{org}/policies", get(list_policies).post(create_policy))
        .route(
            "/orgs/{org}/policies/{policy}",
            get(get_policy).put(update_policy).delete(delete_policy),
        )
        .route("/orgs/{org}/roles", get(list_roles).post(create_role))
        .route("/orgs/{org}/roles/{role}", get(get_role).delete(delete_role))
        .route(
            "/orgs/{org}/roles/{role}/policies/{policy}",
            put(attach_policy).delete(detach_policy),
        )
        .route(
            "/orgs/{org}/roles/{role}/inline-policies/{policy}",
            put(put_inline_policy).delete(delete_inline_policy),
        )
        .route("/orgs/{org}/bindings", get(list_bindings).post(create_binding))
        .route("/orgs/{org}/bindings/{id}", delete(delete_binding))
}

/// The org in the path and its IAM scope, once the caller may do
/// `action` on `resource` (such as `user/alice`) in it.
async fn scoped(
    state: &AppState,
    caller: &Caller,
    org_name: &str,
    action: &str,
    resource: &str,
) -> ApiResult<(Org, OrgScope)> {
    let org = state
        .store
        .org(org_name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("org {org_name:?} does not exist")))?;
    state
        .authorize(caller, action, &Target::in_org("iam", &org, resource))
        .await?;
    let scope = state.store.in_org(&org);
    Ok((org, scope))
}

/// Only a platform administrator may manage a user who holds the platform
/// Administrator role (mint or revoke their keys, tag or delete them):
/// otherwise an admin of the `default` org could become one.
async fn guard_administrator(
    state: &AppState,
    scope: &OrgScope,
    caller: &Caller,
    user: &User,
) -> ApiResult<()> {
    if !holds_administrator(scope, &user.id).await? || is_administrator(state, caller).await? {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "access_denied",
        format!("only a platform administrator may manage user {:?}", user.name),
    ))
}

/// Whether the caller's user holds the platform Administrator role.
async fn is_administrator(state: &AppState, caller: &Caller) -> ApiResult<bool> {
    let scope = state.store.in_org(&caller.principal.org);
    holds_administrator(&scope, &caller.principal.user_id).await
}

/// Whether a user of the scope's org is bound to the Administrator role.
async fn holds_administrator(scope: &OrgScope, user_id: &str) -> ApiResult<bool> {
    let role = builtin::role_id(builtin::ADMINISTRATOR);
    let bindings = scope.bindings_of("user", user_id).await?;
    Ok(bindings.iter().any(|b| b.role_id == role))
}

/// The org's IAM scope and the role named in the path, once the caller
/// may do `action` on it.
async fn role_in(
    state: &AppState,
    caller: &Caller,
    org: &str,
    action: &str,
    name: &str,
) -> ApiResult<(OrgScope, Role)> {
    let (_, scope) = scoped(state, caller, org, action, &format!("role/{name}")).await?;
    let role = role_named(&scope, name).await?;
    Ok((scope, role))
}

/// The org's IAM scope and the user named in the path, once the caller
/// may do `action` on them.
async fn user_in(
    state: &AppState,
    caller: &Caller,
    org: &str,
    action: &str,
    name: &str,
) -> ApiResult<(OrgScope, User)> {
    let (_, scope) = scoped(state, caller, org, action, &format!("user/{name}")).await?;
    let user = user_named(&scope, name).await?;
    Ok((scope, user))
}

fn taken(kind: &str, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "name_taken",
        format!("{kind} {name:?} exists (names of deleted {kind}s stay reserved)"),
    )
}

fn next_cursor<T>(rows: &[T], limit: i64, key: impl Fn(&T) -> String) -> Option<String> {
    (rows.len() as i64 == limit)
        .then(|| rows.last().map(key))
        .flatten()
}

// ---- users ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    /// Optional: users without a password sign in with API keys only.
    password: Option<String>,
    /// Optional tags (`mc:PrincipalTag/<key>` in policies).
    #[serde(default)]
    tags: crate::store::iam::Tags,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChange {
    tags: crate::store::iam::Tags,
}

async fn user_named(scope: &OrgScope, name: &str) -> ApiResult<User> {
    scope.user(name).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "user {name:?} does not exist in org {:?}",
            scope.org_name
        ))
    })
}

async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    JsonBody(new): JsonBody<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    check_name("user", &new.name)?;
    super::check_tags(&new.tags)?;
    let (_, scope) = scoped(
        &state,
        &caller,
        &org,
        act::CREATE_USER,
        &format!("user/{}", new.name),
    )
    .await?;
    let hash = match new.password {
        Some(p) if p.len() < 12 || p.len() > 1024 => {
            return Err(ApiError::bad_request(
                "weak_password",
                "a password must be 12 to 1024 characters",
            ));
        }
        Some(p) => Some(
            tokio::task::spawn_blocking(move || tokens::hash_password(&p))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    match scope.create_user(&new.name, hash.as_deref(), new.tags).await? {
        Created::New(u) => Ok((StatusCode::CREATED, Json(u))),
        Created::Taken => Err(taken("user", &new.name)),
    }
}

async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    QueryParams(p): QueryParams<Page>,
) -> ApiResult<Json<Value>> {
    let (_, scope) = scoped(&state, &caller, &org, act::LIST_USERS, "user/*").await?;
    let limit = p.limit()?;
    let rows = scope.list_users(p.cursor.as_deref().unwrap_or(""), limit).await?;
    let next = next_cursor(&rows, limit, |u| u.name.clone());
    Ok(Json(json!({ "items": rows, "next_cursor": next })))
}

async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<Json<User>> {
    let (_, user) = user_in(&state, &caller, &org, act::GET_USER, &name).await?;
    Ok(Json(user))
}

async fn tag_user(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org_name, name)): PathParams<(String, String)>,
    JsonBody(change): JsonBody<UserChange>,
) -> ApiResult<Json<User>> {
    super::check_tags(&change.tags)?;
    let org = state
        .store
        .org(&org_name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("org {org_name:?} does not exist")))?;
    let scope = state.store.in_org(&org);
    let mut user = user_named(&scope, &name).await?;
    guard_administrator(&state, &scope, &caller, &user).await?;
    let target = Target::in_org("iam", &org, &format!("user/{name}")).with_tags(user.tags.clone());
    state
        .authorize_with(
            &caller,
            act::TAG_USER,
            &target,
            &crate::iam::request_tags(&change.tags),
        )
        .await?;
    scope.set_user_tags(&user.id, &change.tags).await?;
    user.tags = change.tags;
    state.iam_changed();
    Ok(Json(user))
}

async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let (scope, user) = user_in(&state, &caller, &org, act::DELETE_USER, &name).await?;
    guard_administrator(&state, &scope, &caller, &user).await?;
    if user.id == caller.principal.user_id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "self_delete",
            "a user cannot delete themselves",
        ));
    }
    scope.delete_user(&user).await?;
    state.iam_changed();
    Ok(StatusCode::NO_CONTENT)
}

// ---- API keys ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    /// Seconds until the key stops working; none: it never expires.
    expires_in_secs: Option<u64>,
}

async fn create_key(
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
    let key = scope
        .create_api_key(&user.id, &new.name, &hash_token(&secret), expires_ms)
        .await?;
    let mut body = serde_json::to_value(&key).map_err(ApiError::internal)?;
    // Shown once: only its hash is kept.
    body["token"] = json!(tokens::api_key_token(&key.id, &secret));
    Ok((StatusCode::CREATED, Json(body)))
}

async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (scope, user) = user_in(&state, &caller, &org, act::LIST_API_KEYS, &name).await?;
    Ok(Json(json!({ "items": scope.list_api_keys(&user.id).await? })))
}

async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, key)): PathParams<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (scope, user) = user_in(&state, &caller, &org, act::REVOKE_API_KEY, &name).await?;
    guard_administrator(&state, &scope, &caller, &user).await?;
    if !scope.revoke_api_key(&user.id, &key).await? {
        return Err(ApiError::not_found(format!(
            "user {name:?} has no live key {key:?}"
        )));
    }
    state.iam_changed();
    Ok(StatusCode::NO_CONTENT)
}

// ---- policies ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPolicy {
    name: String,
    document: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDocument {
    document: Value,
}

/// Validates a document before it is stored: 400 with the JSON path. A
/// stored policy names MiniCloud resources: `*` or `mrn:<service>:...`
/// patterns (wildcards and variables allowed), never AWS ARNs.
fn validated(document: &Value) -> ApiResult<String> {
    let policy = Policy::from_value(document).map_err(|e| ApiError::invalid_policy("document", &e))?;
    for (path, resource) in policy.resource_strings() {
        // `mrn:functions:acme:*` is a fine pattern: a trailing `*` spans segments.
        let shaped = resource == "*"
            || resource
                .strip_prefix("mrn:")
                .is_some_and(|rest| rest.split(':').next().is_some_and(|service| !service.is_empty()));
        if !shaped {
            let err = minicloud_policy::PolicyError {
                path,
                message: format!(
                    "{resource:?} is not a resource name; write mrn:<service>:<org>:<project>:<type>/<path> \
                     (wildcards and ${{...}} variables allowed) or *"
                ),
            };
            return Err(ApiError::invalid_policy("document", &err));
        }
    }
    let text = document.to_string();
    if text.len() > minicloud_policy::document::MAX_DOCUMENT_BYTES {
        return Err(ApiError::bad_request(
            "invalid_policy",
            format!(
                "document: {} bytes; the limit is {}",
                text.len(),
                minicloud_policy::document::MAX_DOCUMENT_BYTES
            ),
        ));
    }
    Ok(text)
}

fn policy_view(name: &str, document: &str, builtin: bool) -> Value {
    json!({
        "name": name,
        "builtin": builtin,
        "document": serde_json::from_str::<Value>(document).unwrap_or(Value::Null),
    })
}

async fn create_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    JsonBody(new): JsonBody<NewPolicy>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_name("policy", &new.name)?;
    let (_, scope) = scoped(
        &state,
        &caller,
        &org,
        act::CREATE_POLICY,
        &format!("policy/{}", new.name),
    )
    .await?;
    let text = validated(&new.document)?;
    if builtin::policy(&new.name).is_some() {
        return Err(taken("policy", &new.name));
    }
    match scope.create_policy(&new.name, &text).await? {
        Created::New(p) => Ok((
            StatusCode::CREATED,
            Json(policy_view(&p.name, &p.document, false)),
        )),
        Created::Taken => Err(taken("policy", &new.name)),
    }
}

async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    QueryParams(p): QueryParams<Page>,
) -> ApiResult<Json<Value>> {
    let (_, scope) = scoped(&state, &caller, &org, act::LIST_POLICIES, "policy/*").await?;
    let limit = p.limit()?;
    let rows = scope
        .list_policies(p.cursor.as_deref().unwrap_or(""), limit)
        .await?;
    let next = next_cursor(&rows, limit, |p| p.name.clone());
    let items: Vec<Value> = rows
        .iter()
        .map(|p| policy_view(&p.name, &p.document, false))
        .collect();
    let builtins: Vec<&str> = builtin::names()
        .filter(|n| *n != builtin::ADMINISTRATOR)
        .collect();
    Ok(Json(
        json!({ "items": items, "next_cursor": next, "builtin": builtins }),
    ))
}

async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (_, scope) = scoped(&state, &caller, &org, act::GET_POLICY, &format!("policy/{name}")).await?;
    if let Some(p) = builtin::policy(&name) {
        return Ok(Json(policy_view(&name, &p.document().to_string(), true)));
    }
    let p = scope
        .policy(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("policy {name:?} does not exist")))?;
    Ok(Json(policy_view(&p.name, &p.document, false)))
}

async fn update_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<PolicyDocument>,
) -> ApiResult<Json<Value>> {
    let (_, scope) = scoped(
        &state,
        &caller,
        &org,
        act::UPDATE_POLICY,
        &format!("policy/{name}"),
    )
    .await?;
    let text = validated(&body.document)?;
    if !scope.update_policy(&name, &text).await? {
        return Err(ApiError::not_found(format!(
            "policy {name:?} does not exist (built-in policies cannot change)"
        )));
    }
    state.iam_changed();
    Ok(Json(policy_view(&name, &text, false)))
}

async fn delete_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let (_, scope) = scoped(
        &state,
        &caller,
        &org,
        act::DELETE_POLICY,
        &format!("policy/{name}"),
    )
    .await?;
    if !scope.delete_policy(&name).await? {
        return Err(ApiError::not_found(format!("policy {name:?} does not exist")));
    }
    state.iam_changed();
    Ok(StatusCode::NO_CONTENT)
}

// ---- roles ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRole {
    name: String,
    /// Managed policies to attach at once (built-in or the org's).
    #[serde(default)]
    policies: Vec<String>,
}

async fn role_named(scope: &OrgScope, name: &str) -> ApiResult<Role> {
    scope
        .role(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("role {name:?} does not exist")))
}

/// A managed policy that can be attached: built-in (not Administrator) or
/// the org's own.
async fn attachable(scope: &OrgScope, name: &str) -> ApiResult<()> {
    if name == builtin::ADMINISTRATOR {
        return Err(ApiError::bad_request(
            "not_attachable",
            "the platform Administrator policy is reserved for the bootstrap administrator",
        ));
    }
    if builtin::policy(name).is_some() || scope.policy(name).await?.is_some() {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("policy {name:?} does not exist")))
    }
}

async fn role_view(scope: &OrgScope, role: &Role) -> ApiResult<Value> {
    let policies = scope.role_policies(&role.id).await?;
    let (inline, managed): (Vec<_>, Vec<_>) = policies.iter().partition(|(n, _)| n.starts_with("inline:"));
    Ok(json!({
        "name": role.name,
        "created_ms": role.created_ms,
        "policies": managed.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "inline_policies": inline.iter().map(|(n, d)| json!({
            "name": n.trim_start_matches("inline:"),
            "document": d.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
        })).collect::<Vec<_>>(),
    }))
}

async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    JsonBody(new): JsonBody<NewRole>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_name("role", &new.name)?;
    let (_, scope) = scoped(
        &state,
        &caller,
        &org,
        act::CREATE_ROLE,
        &format!("role/{}", new.name),
    )
    .await?;
    for p in &new.policies {
        attachable(&scope, p).await?;
    }
    let role = match scope.create_role(&new.name).await? {
        Created::New(r) => r,
        Created::Taken => return Err(taken("role", &new.name)),
    };
    for p in &new.policies {
        scope.attach_policy(&role, p).await?;
    }
    Ok((StatusCode::CREATED, Json(role_view(&scope, &role).await?)))
}

async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    QueryParams(p): QueryParams<Page>,
) -> ApiResult<Json<Value>> {
    let (_, scope) = scoped(&state, &caller, &org, act::LIST_ROLES, "role/*").await?;
    let limit = p.limit()?;
    let rows = scope.list_roles(p.cursor.as_deref().unwrap_or(""), limit).await?;
    let next = next_cursor(&rows, limit, |r| r.name.clone());
    let builtins: Vec<&str> = builtin::names()
        .filter(|n| *n != builtin::ADMINISTRATOR)
        .collect();
    Ok(Json(
        json!({ "items": rows, "next_cursor": next, "builtin": builtins }),
    ))
}

async fn get_role(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (scope, role) = role_in(&state, &caller, &org, act::GET_ROLE, &name).await?;
    Ok(Json(role_view(&scope, &role).await?))
}

async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let (scope, role) = role_in(&state, &caller, &org, act::DELETE_ROLE, &name).await?;
    scope.delete_role(&role).await?;
    state.iam_changed();
    Ok(StatusCode::NO_CONTENT)
}

async fn attach_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, policy)): PathParams<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let (scope, role) = role_in(&state, &caller, &org, act::ATTACH_ROLE_POLICY, &name).await?;
    attachable(&scope, &policy).await?;
    scope.attach_policy(&role, &policy).await?;
    state.iam_changed();
    Ok(Json(role_view(&scope, &role).await?))
}

async fn detach_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, policy)): PathParams<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (scope, role) = role_in(&state, &caller, &org, act::ATTACH_ROLE_POLICY, &name).await?;
    if !scope.detach_policy(&role, &policy).await? {
        return Err(ApiError::not_found(format!(
            "policy {policy:?} is not attached to role {name:?}"
        )));
    }
    state.iam_changed();
    Ok(StatusCode::NO_CONTENT)
}

async fn put_inline_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, policy)): PathParams<(String, String, String)>,
    JsonBody(body): JsonBody<PolicyDocument>,
) -> ApiResult<Json<Value>> {
    check_name("policy", &policy)?;
    let (scope, role) = role_in(&state, &caller, &org, act::PUT_ROLE_POLICY, &name).await?;
    let text = validated(&body.document)?;
    scope.put_inline_policy(&role, &policy, &text).await?;
    state.iam_changed();
    Ok(Json(role_view(&scope, &role).await?))
}

async fn delete_inline_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, policy)): PathParams<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (scope, role) = role_in(&state, &caller, &org, act::PUT_ROLE_POLICY, &name).await?;
    if !scope.delete_inline_policy(&role, &policy).await? {
        return Err(ApiError::not_found(format!(
            "role {name:?} has no inline policy {policy:?}"
        )));
    }
    state.iam_changed();
    Ok(StatusCode::NO_CONTENT)
}

// ---- bindings ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBinding {
    /// A user name, or `key:<key id>` for an API key.
    principal: String,
    /// A role of the org, or a built-in one: OrgAdmin, ProjectAdmin,
    /// Developer, ReadOnly.
    role: String,
    /// A project of the org; none: the whole org.
    project: Option<String>,
}

async fn create_binding(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org_name): PathParams<String>,
    JsonBody(new): JsonBody<NewBinding>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (org, scope) = scoped(&state, &caller, &org_name, act::CREATE_BINDING, "binding/*").await?;
    let (principal_type, principal_id) = match new.principal.strip_prefix("key:") {
        Some(key_id) => {
            let owned = state
                .store
                .live_api_key(key_id)
                .await?
                .filter(|(k, _, _)| k.org_id == org.id);
            match owned {
                Some((k, _, _)) => ("api_key", k.id),
                None => {
                    return Err(ApiError::not_found(format!(
                        "no live API key {key_id:?} in this org"
                    )));
                }
            }
        }
        None => ("user", user_named(&scope, &new.principal).await?.id),
    };
    let role_id = if new.role == builtin::ADMINISTRATOR {
        return Err(ApiError::bad_request(
            "not_attachable",
            "the platform Administrator role is reserved for the bootstrap administrator",
        ));
    } else if builtin::policy(&new.role).is_some() {
        builtin::role_id(&new.role)
    } else {
        role_named(&scope, &new.role).await?.id
    };
    let project_id = match &new.project {
        None => String::new(),
        Some(name) => match state.project(name).await? {
            Some(p) if p.org_id == org.id => p.id,
            _ => {
                return Err(ApiError::not_found(format!(
                    "project {name:?} does not exist in this org"
                )));
            }
        },
    };
    let b = scope
        .bind(principal_type, &principal_id, &role_id, &project_id)
        .await?;
    state.iam_changed();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": b.id,
            "principal": new.principal,
            "role": new.role,
            "project": new.project,
            "created_ms": b.created_ms,
        })),
    ))
}

async fn list_bindings(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    QueryParams(p): QueryParams<Page>,
) -> ApiResult<Json<Value>> {
    let (_, scope) = scoped(&state, &caller, &org, act::LIST_BINDINGS, "binding/*").await?;
    let limit = p.limit()?;
    let rows = scope
        .list_bindings(p.cursor.as_deref().unwrap_or(""), limit)
        .await?;
    let next = next_cursor(&rows, limit, |b| b.id.clone());
    Ok(Json(json!({ "items": rows, "next_cursor": next })))
}

async fn delete_binding(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, id)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let (_, scope) = scoped(
        &state,
        &caller,
        &org,
        act::DELETE_BINDING,
        &format!("binding/{id}"),
    )
    .await?;
    let Some(binding) = scope.binding(&id).await? else {
        return Err(ApiError::not_found(format!("binding {id:?} does not exist")));
    };
    if binding.role_id == builtin::role_id(builtin::ADMINISTRATOR)
        && !is_administrator(&state, &caller).await?
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "only a platform administrator may remove the platform Administrator role",
        ));
    }
    if !scope.unbind(&id).await? {
        return Err(ApiError::not_found(format!("binding {id:?} does not exist")));
    }
    state.iam_changed();
    Ok(StatusCode::NO_CONTENT)
}
