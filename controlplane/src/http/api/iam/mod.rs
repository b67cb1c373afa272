//! Identities and access of an org: users and their API keys, managed
//! policies, roles (managed and inline policies), and bindings of users
//! and keys to roles in the org or in one project.
//!
//! Every change invalidates the authorizer's compiled grants, so it takes
//! effect on the next request.
//!
//! - [`users`]: users of an org.
//! - [`keys`]: API keys of a user.
//! - [`policies`]: managed policies.
//! - [`roles`]: roles, with managed and inline policies.
//! - [`bindings`]: bindings of principals to roles.

mod bindings;
mod keys;
mod policies;
mod roles;
mod users;

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::openapi::ListPage;
use super::{Page, PathParams, check_name, list_page, next_cursor};
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::actions::iam as act;
use crate::iam::{Caller, Target, builtin, tokens};
use crate::store::iam::{ApiKey, Created, NamedBinding, OrgScope, Role, User};
use crate::store::orgs::Org;
use crate::util::{hash_token, now_ms};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use minicloud_policy::Policy;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use {bindings::*, keys::*, policies::*, roles::*, users::*};

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, tag_user, delete_user))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy, update_policy, delete_policy))
        .routes(routes!(list_roles, create_role))
        .routes(routes!(get_role, delete_role))
        .routes(routes!(attach_policy, detach_policy))
        .routes(routes!(put_inline_policy, delete_inline_policy))
        .routes(routes!(list_bindings, create_binding))
        .routes(routes!(delete_binding))
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
