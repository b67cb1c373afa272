//! Roles: managed policies attached, inline policies.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRole {
    name: String,
    /// Managed policies to attach at once (built-in or the org's).
    #[serde(default)]
    policies: Vec<String>,
}

pub(super) async fn role_named(scope: &OrgScope, name: &str) -> ApiResult<Role> {
    scope
        .role(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("role {name:?} does not exist")))
}

/// A managed policy that can be attached: built-in (not Administrator) or
/// the org's own.
pub(super) async fn attachable(scope: &OrgScope, name: &str) -> ApiResult<()> {
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

pub(super) async fn role_view(scope: &OrgScope, role: &Role) -> ApiResult<Value> {
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

#[utoipa::path(
    post,
    path = "/orgs/{org}/roles",
    tag = "iam",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, description = "Done", body = Object))
)]
pub(super) async fn create_role(
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
    let role = match state.iam.in_org(&scope).create_role(&new.name).await? {
        Created::New(r) => r,
        Created::Taken => return Err(taken("role", &new.name)),
    };
    for p in &new.policies {
        state.iam.in_org(&scope).attach_policy(&role, p).await?;
    }
    Ok((StatusCode::CREATED, Json(role_view(&scope, &role).await?)))
}

#[utoipa::path(
    get,
    path = "/orgs/{org}/roles",
    tag = "iam",
    params(Page),
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn list_roles(
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

#[utoipa::path(
    get,
    path = "/orgs/{org}/roles/{role}",
    tag = "iam",
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn get_role(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (scope, role) = role_in(&state, &caller, &org, act::GET_ROLE, &name).await?;
    Ok(Json(role_view(&scope, &role).await?))
}

#[utoipa::path(
    delete,
    path = "/orgs/{org}/roles/{role}",
    tag = "iam",
    responses((status = 204, description = "Done"))
)]
pub(super) async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let (scope, role) = role_in(&state, &caller, &org, act::DELETE_ROLE, &name).await?;
    state.iam.in_org(&scope).delete_role(&role).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put,
    path = "/orgs/{org}/roles/{role}/policies/{policy}",
    tag = "iam",
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn attach_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, policy)): PathParams<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let (scope, role) = role_in(&state, &caller, &org, act::ATTACH_ROLE_POLICY, &name).await?;
    attachable(&scope, &policy).await?;
    state.iam.in_org(&scope).attach_policy(&role, &policy).await?;
    Ok(Json(role_view(&scope, &role).await?))
}

#[utoipa::path(
    delete,
    path = "/orgs/{org}/roles/{role}/policies/{policy}",
    tag = "iam",
    responses((status = 204, description = "Done"))
)]
pub(super) async fn detach_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, policy)): PathParams<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (scope, role) = role_in(&state, &caller, &org, act::ATTACH_ROLE_POLICY, &name).await?;
    if !state.iam.in_org(&scope).detach_policy(&role, &policy).await? {
        return Err(ApiError::not_found(format!(
            "policy {policy:?} is not attached to role {name:?}"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put,
    path = "/orgs/{org}/roles/{role}/inline-policies/{policy}",
    tag = "iam",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn put_inline_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, policy)): PathParams<(String, String, String)>,
    JsonBody(body): JsonBody<PolicyDocument>,
) -> ApiResult<Json<Value>> {
    check_name("policy", &policy)?;
    let (scope, role) = role_in(&state, &caller, &org, act::PUT_ROLE_POLICY, &name).await?;
    let text = validated(&body.document)?;
    state
        .iam
        .in_org(&scope)
        .put_inline_policy(&role, &policy, &text)
        .await?;
    Ok(Json(role_view(&scope, &role).await?))
}

#[utoipa::path(
    delete,
    path = "/orgs/{org}/roles/{role}/inline-policies/{policy}",
    tag = "iam",
    responses((status = 204, description = "Done"))
)]
pub(super) async fn delete_inline_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, policy)): PathParams<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (scope, role) = role_in(&state, &caller, &org, act::PUT_ROLE_POLICY, &name).await?;
    if !state
        .iam
        .in_org(&scope)
        .delete_inline_policy(&role, &policy)
        .await?
    {
        return Err(ApiError::not_found(format!(
            "role {name:?} has no inline policy {policy:?}"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}
