//! Users of an org: create, list, read, tag, delete.

use super::*;

/// A new user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    /// The user's name, unique in the org (names of deleted users stay
    /// reserved).
    name: String,
    /// 12 to 1024 characters, for `POST /auth/login`. Optional: users
    /// without a password sign in with API keys only.
    password: Option<String>,
    /// Optional tags (`mc:PrincipalTag/<key>` in policies): at most 50,
    /// keys of 1 to 128 and values of up to 256 letters, digits, spaces and
    /// `_ . : / = + - @`.
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    tags: crate::store::iam::Tags,
}

/// A user's new tags.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UserChange {
    /// The tags, replacing all the user's tags (the same limits as at
    /// creation).
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    tags: crate::store::iam::Tags,
}

pub(super) async fn user_named(scope: &OrgScope, name: &str) -> ApiResult<User> {
    scope.user(name).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "user {name:?} does not exist in org {:?}",
            scope.org_name
        ))
    })
}

/// Creates a user.
///
/// Needs `iam:CreateUser` on `user/<name>` in the org. The password is
/// stored as an argon2id hash, and the audit record shows it redacted.
#[utoipa::path(
    post,
    path = "/orgs/{org}/users",
    tag = "iam",
    request_body = NewUser,
    responses((status = 201, description = "The user, created", body = User))
)]
pub(super) async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    JsonBody(new): JsonBody<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    check_name("user", &new.name)?;
    crate::http::api::check_tags(&new.tags)?;
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
    match state
        .iam
        .in_org(&scope)
        .create_user(&new.name, hash.as_deref(), new.tags)
        .await?
    {
        Created::New(u) => Ok((StatusCode::CREATED, Json(u))),
        Created::Taken => Err(taken("user", &new.name)),
    }
}

/// Lists the org's users, by name.
///
/// Needs `iam:ListUsers` on `user/*` in the org. The cursor is the last
/// name of the page before.
#[utoipa::path(
    get,
    path = "/orgs/{org}/users",
    tag = "iam",
    params(Page),
    responses((status = 200, description = "A page of users, by name", body = ListPage<User>))
)]
pub(super) async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    QueryParams(p): QueryParams<Page>,
) -> ApiResult<Json<Value>> {
    let (_, scope) = scoped(&state, &caller, &org, act::LIST_USERS, "user/*").await?;
    let limit = p.limit()?;
    let rows = scope.list_users(p.cursor.as_deref().unwrap_or(""), limit).await?;
    Ok(list_page(&rows, limit, |u| u.name.clone()))
}

/// A user.
///
/// Needs `iam:GetUser` on `user/<name>` in the org.
#[utoipa::path(
    get,
    path = "/orgs/{org}/users/{user}",
    tag = "iam",
    params(("user" = String, Path, description = "The user's name")),
    responses((status = 200, description = "The user", body = User))
)]
pub(super) async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<Json<User>> {
    let (_, user) = user_in(&state, &caller, &org, act::GET_USER, &name).await?;
    Ok(Json(user))
}

/// Replaces a user's tags.
///
/// Needs `iam:TagUser` on `user/<name>` in the org, judged with the user's
/// current tags as resource tags and the new ones as `mc:RequestTag/<key>`
/// and `mc:TagKeys`. Only a platform administrator may tag a user who
/// holds the platform Administrator role.
#[utoipa::path(
    patch,
    path = "/orgs/{org}/users/{user}",
    tag = "iam",
    params(("user" = String, Path, description = "The user's name")),
    request_body = UserChange,
    responses((status = 200, description = "The user, with the new tags", body = User))
)]
pub(super) async fn tag_user(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org_name, name)): PathParams<(String, String)>,
    JsonBody(change): JsonBody<UserChange>,
) -> ApiResult<Json<User>> {
    crate::http::api::check_tags(&change.tags)?;
    let org = state
        .store
        .org(&org_name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("org {org_name:?} does not exist")))?;
    let scope = state.store.in_org(&org);
    // Authorized first (with the user's tags when there is one): a caller
    // who may not tag learns neither whether the user exists nor whether
    // it holds Administrator.
    let found = scope.user(&name).await?;
    let tags = found.as_ref().map(|u| u.tags.clone()).unwrap_or_default();
    let target = Target::in_org("iam", &org, &format!("user/{name}")).with_tags(tags);
    state
        .authorize_with(
            &caller,
            act::TAG_USER,
            &target,
            &crate::iam::request_tags(&change.tags),
        )
        .await?;
    let mut user = match found {
        Some(u) => u,
        None => user_named(&scope, &name).await?,
    };
    guard_administrator(&state, &scope, &caller, &user).await?;
    state
        .iam
        .in_org(&scope)
        .set_user_tags(&user.id, &change.tags)
        .await?;
    user.tags = change.tags;
    Ok(Json(user))
}

/// Deletes a user.
///
/// Needs `iam:DeleteUser` on `user/<name>` in the org. The user's keys and
/// sessions are revoked and their bindings removed at once; the name stays
/// reserved. Nobody can delete themselves, and only a platform
/// administrator may delete a user who holds the platform Administrator
/// role.
#[utoipa::path(
    delete,
    path = "/orgs/{org}/users/{user}",
    tag = "iam",
    params(("user" = String, Path, description = "The user's name")),
    responses((status = 204, description = "Deleted"))
)]
pub(super) async fn delete_user(
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
    state.iam.in_org(&scope).delete_user(&user).await?;
    Ok(StatusCode::NO_CONTENT)
}
