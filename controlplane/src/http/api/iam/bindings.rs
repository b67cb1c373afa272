//! Bindings of users and keys to roles, in the org or one project.

use super::*;

/// A new binding: a principal given a role, in the org or one project.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewBinding {
    /// A user name, or `key:<key id>` for an API key.
    principal: String,
    /// A role of the org, or a built-in one: OrgAdmin, ProjectAdmin,
    /// Developer, ReadOnly.
    role: String,
    /// A project of the org; none: the whole org.
    project: Option<String>,
}

/// A binding, as created.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct CreatedBinding {
    /// The binding's id (for `DELETE .../bindings/<id>`).
    id: String,
    /// The principal, as the request named it: a user name, or
    /// `key:<key id>`.
    principal: String,
    /// The role, as the request named it.
    role: String,
    /// The project, as the request named it; `null`: the whole org.
    project: Option<String>,
    /// Creation time, epoch ms.
    created_ms: i64,
}

/// Gives a user or an API key a role, in the org or one of its projects.
///
/// Needs `iam:CreateBinding` on `binding/*` in the org. The principal, the
/// role and the project must be the org's (a role may also be built-in);
/// the platform Administrator role cannot be given. Binding what is bound
/// already answers the existing binding. An API key with bindings of its
/// own is limited to them; without, it acts with its user's roles.
#[utoipa::path(
    post,
    path = "/orgs/{org}/bindings",
    tag = "iam",
    request_body = NewBinding,
    responses((status = 201, description = "The binding (the existing one when it was bound already)", body = CreatedBinding))
)]
pub(super) async fn create_binding(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org_name): PathParams<String>,
    JsonBody(new): JsonBody<NewBinding>,
) -> ApiResult<(StatusCode, Json<CreatedBinding>)> {
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
    let b = state
        .iam
        .in_org(&scope)
        .bind(principal_type, &principal_id, &role_id, &project_id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedBinding {
            id: b.id,
            principal: new.principal,
            role: new.role,
            project: new.project,
            created_ms: b.created_ms,
        }),
    ))
}

/// Lists the org's bindings, by id.
///
/// Needs `iam:ListBindings` on `binding/*` in the org. Each binding has
/// the fields `POST` answers (`principal`, `role`, `project` by name) and
/// the stored ids: the principal's, the role's (`builtin:<Name>` for a
/// built-in role) and the project's (empty for the whole org). The cursor
/// is the last id of the page before.
#[utoipa::path(
    get,
    path = "/orgs/{org}/bindings",
    tag = "iam",
    params(Page),
    responses((status = 200, description = "A page of bindings, by id", body = ListPage<NamedBinding>))
)]
pub(super) async fn list_bindings(
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
    Ok(list_page(&rows, limit, |b| b.binding.id.clone()))
}

/// Removes a binding.
///
/// Needs `iam:DeleteBinding` on `binding/<id>` in the org. The binding of
/// the platform Administrator role is never removed (the role cannot be
/// given again): 403 for others, 409 `last_administrator` for the
/// administrator itself.
#[utoipa::path(
    delete,
    path = "/orgs/{org}/bindings/{id}",
    tag = "iam",
    params(("id" = String, Path, description = "The binding's id")),
    responses((status = 204, description = "Removed"))
)]
pub(super) async fn delete_binding(
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
    if binding.role_id == builtin::role_id(builtin::ADMINISTRATOR) {
        if !is_administrator(&state, &caller).await? {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "only a platform administrator may remove the platform Administrator role",
            ));
        }
        // The role can be given to no one (it is the bootstrap
        // administrator's): removing its binding would leave the platform
        // without an administrator, for good.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "last_administrator",
            "the platform Administrator role cannot be given again, so its binding stays: \
             the platform would be left without an administrator",
        ));
    }
    if !state.iam.in_org(&scope).unbind(&id).await? {
        return Err(ApiError::not_found(format!("binding {id:?} does not exist")));
    }
    Ok(StatusCode::NO_CONTENT)
}
