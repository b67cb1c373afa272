//! Roles: managed policies attached, inline policies.

use super::*;

/// A new role.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRole {
    /// The role's name, unique in the org (names of deleted roles stay
    /// reserved).
    name: String,
    /// Managed policies to attach at once (built-in or the org's).
    #[serde(default)]
    policies: Vec<String>,
}

/// A role and its policies.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct RoleView {
    /// The role's name.
    name: String,
    /// Creation time, epoch ms.
    created_ms: i64,
    /// The names of the managed policies attached (built-in or the org's),
    /// by name.
    policies: Vec<String>,
    /// The role's inline policies, by name.
    inline_policies: Vec<InlinePolicy>,
}

/// An inline policy of a role.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct InlinePolicy {
    /// Its name, unique among the role's inline policies.
    name: String,
    /// The IAM policy document (`Version`, `Statement` ...).
    #[schema(value_type = Option<Object>)]
    document: Option<Value>,
}

/// A page of the org's roles, and the names of the built-in ones.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct RolePage {
    /// The org's own roles, by name (`GET .../roles/<name>` shows a role's
    /// policies).
    items: Vec<Role>,
    /// Where the next page starts (pass it as `cursor`); `null` on the
    /// last page.
    next_cursor: Option<String>,
    /// The built-in roles bindings may name (each is its built-in policy).
    builtin: Vec<&'static str>,
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

pub(super) async fn role_view(scope: &OrgScope, role: &Role) -> ApiResult<RoleView> {
    let policies = scope.role_policies(&role.id).await?;
    let (inline, managed): (Vec<_>, Vec<_>) = policies.iter().partition(|(n, _)| n.starts_with("inline:"));
    Ok(RoleView {
        name: role.name.clone(),
        created_ms: role.created_ms,
        policies: managed.iter().map(|(n, _)| n.clone()).collect(),
        inline_policies: inline
            .iter()
            .map(|(n, d)| InlinePolicy {
                name: n.trim_start_matches("inline:").to_owned(),
                document: d.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
            })
            .collect(),
    })
}

/// Creates a role, with managed policies attached.
///
/// Needs `iam:CreateRole` on `role/<name>` in the org. Every policy named
/// must exist (built-in or the org's); the platform Administrator policy
/// cannot be attached. A role grants nothing until a binding gives it to a
/// user or key.
#[utoipa::path(
    post,
    path = "/orgs/{org}/roles",
    tag = "iam",
    request_body = NewRole,
    responses((status = 201, description = "The role, created", body = RoleView))
)]
pub(super) async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    JsonBody(new): JsonBody<NewRole>,
) -> ApiResult<(StatusCode, Json<RoleView>)> {
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

/// Lists the org's roles, by name, and names the built-in ones.
///
/// Needs `iam:ListRoles` on `role/*` in the org. The cursor is the last
/// name of the page before.
#[utoipa::path(
    get,
    path = "/orgs/{org}/roles",
    tag = "iam",
    params(Page),
    responses((status = 200, description = "A page of roles, and the built-in names", body = RolePage))
)]
pub(super) async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    QueryParams(p): QueryParams<Page>,
) -> ApiResult<Json<RolePage>> {
    let (_, scope) = scoped(&state, &caller, &org, act::LIST_ROLES, "role/*").await?;
    let limit = p.limit()?;
    let rows = scope.list_roles(p.cursor.as_deref().unwrap_or(""), limit).await?;
    let next = next_cursor(&rows, limit, |r| r.name.clone());
    let builtins: Vec<&str> = builtin::names()
        .filter(|n| *n != builtin::ADMINISTRATOR)
        .collect();
    Ok(Json(RolePage {
        items: rows,
        next_cursor: next,
        builtin: builtins,
    }))
}

/// A role of the org, with its policies.
///
/// Needs `iam:GetRole` on `role/<name>` in the org.
#[utoipa::path(
    get,
    path = "/orgs/{org}/roles/{role}",
    tag = "iam",
    params(("role" = String, Path, description = "The role's name")),
    responses((status = 200, description = "The role", body = RoleView))
)]
pub(super) async fn get_role(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<Json<RoleView>> {
    let (scope, role) = role_in(&state, &caller, &org, act::GET_ROLE, &name).await?;
    Ok(Json(role_view(&scope, &role).await?))
}

/// Deletes a role of the org.
///
/// Needs `iam:DeleteRole` on `role/<name>` in the org. Its bindings are
/// removed with it; its name stays reserved.
#[utoipa::path(
    delete,
    path = "/orgs/{org}/roles/{role}",
    tag = "iam",
    params(("role" = String, Path, description = "The role's name")),
    responses((status = 204, description = "Deleted"))
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

/// Attaches a managed policy to a role.
///
/// Needs `iam:AttachRolePolicy` on `role/<name>` in the org. The policy is
/// built-in (not the platform Administrator policy) or the org's.
/// Attaching one already attached changes nothing.
#[utoipa::path(
    put,
    path = "/orgs/{org}/roles/{role}/policies/{policy}",
    tag = "iam",
    params(
        ("role" = String, Path, description = "The role's name"),
        ("policy" = String, Path, description = "The managed policy's name")
    ),
    responses((status = 200, description = "The role, with its policies", body = RoleView))
)]
pub(super) async fn attach_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, policy)): PathParams<(String, String, String)>,
) -> ApiResult<Json<RoleView>> {
    let (scope, role) = role_in(&state, &caller, &org, act::ATTACH_ROLE_POLICY, &name).await?;
    attachable(&scope, &policy).await?;
    state.iam.in_org(&scope).attach_policy(&role, &policy).await?;
    Ok(Json(role_view(&scope, &role).await?))
}

/// Detaches a managed policy from a role.
///
/// Needs `iam:AttachRolePolicy` on `role/<name>` in the org.
#[utoipa::path(
    delete,
    path = "/orgs/{org}/roles/{role}/policies/{policy}",
    tag = "iam",
    params(
        ("role" = String, Path, description = "The role's name"),
        ("policy" = String, Path, description = "The managed policy's name")
    ),
    responses((status = 204, description = "Detached"))
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

/// Creates or replaces an inline policy of a role.
///
/// Needs `iam:PutRolePolicy` on `role/<name>` in the org. The document is
/// validated as a managed policy's is.
#[utoipa::path(
    put,
    path = "/orgs/{org}/roles/{role}/inline-policies/{policy}",
    tag = "iam",
    params(
        ("role" = String, Path, description = "The role's name"),
        ("policy" = String, Path, description = "The inline policy's name")
    ),
    request_body = PolicyDocument,
    responses((status = 200, description = "The role, with its policies", body = RoleView))
)]
pub(super) async fn put_inline_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name, policy)): PathParams<(String, String, String)>,
    JsonBody(body): JsonBody<PolicyDocument>,
) -> ApiResult<Json<RoleView>> {
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

/// Deletes an inline policy of a role.
///
/// Needs `iam:PutRolePolicy` on `role/<name>` in the org.
#[utoipa::path(
    delete,
    path = "/orgs/{org}/roles/{role}/inline-policies/{policy}",
    tag = "iam",
    params(
        ("role" = String, Path, description = "The role's name"),
        ("policy" = String, Path, description = "The inline policy's name")
    ),
    responses((status = 204, description = "Deleted"))
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
