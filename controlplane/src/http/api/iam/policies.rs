//! Managed policies of an org, validated when written.

use super::*;

/// A new managed policy.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewPolicy {
    /// The policy's name, unique in the org (names of deleted policies stay
    /// reserved, and built-in names are taken).
    name: String,
    /// An IAM policy document (`Version`, `Statement`: `Effect`, `Action`,
    /// `Resource`, `Condition` ...), at most 16 KiB of JSON. Resources are
    /// MiniCloud names, `mrn:<service>:<org>:<project>:<type>/<path>`
    /// (wildcards and `${...}` variables allowed) or `*`; never AWS ARNs.
    #[schema(value_type = Object)]
    document: Value,
}

/// A policy document, replacing the one stored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyDocument {
    /// An IAM policy document (`Version`, `Statement`: `Effect`, `Action`,
    /// `Resource`, `Condition` ...), at most 16 KiB of JSON. Resources are
    /// MiniCloud names, `mrn:<service>:<org>:<project>:<type>/<path>`
    /// (wildcards and `${...}` variables allowed) or `*`; never AWS ARNs.
    #[schema(value_type = Object)]
    pub(super) document: Value,
}

/// A managed policy: built-in, or the org's own.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct PolicyView {
    /// The policy's name.
    name: String,
    /// Whether it is one of the platform's built-in policies (which cannot
    /// change).
    builtin: bool,
    /// The IAM policy document (`Version`, `Statement` ...).
    #[schema(value_type = Object)]
    document: Value,
}

/// A page of the org's managed policies, and the names of the built-in
/// ones.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct PolicyPage {
    /// The org's own policies, by name.
    items: Vec<PolicyView>,
    /// Where the next page starts (pass it as `cursor`); `null` on the
    /// last page.
    next_cursor: Option<String>,
    /// The built-in policies any role may attach (`GET .../policies/<name>`
    /// shows their documents).
    builtin: Vec<&'static str>,
}

/// Validates a document before it is stored: 400 with the JSON path. A
/// stored policy names MiniCloud resources: `*` or `mrn:<service>:...`
/// patterns (wildcards and variables allowed), never AWS ARNs.
pub(super) fn validated(document: &Value) -> ApiResult<String> {
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

pub(super) fn policy_view(name: &str, document: &str, builtin: bool) -> PolicyView {
    PolicyView {
        name: name.to_owned(),
        builtin,
        document: serde_json::from_str::<Value>(document).unwrap_or(Value::Null),
    }
}

/// Creates a managed policy.
///
/// Needs `iam:CreatePolicy` on `policy/<name>` in the org. The document is
/// validated first: a problem answers 400 `invalid_policy` with its JSON
/// path.
#[utoipa::path(
    post,
    path = "/orgs/{org}/policies",
    tag = "iam",
    request_body = NewPolicy,
    responses((status = 201, description = "The policy, created", body = PolicyView))
)]
pub(super) async fn create_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    JsonBody(new): JsonBody<NewPolicy>,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
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
    match state.iam.in_org(&scope).create_policy(&new.name, &text).await? {
        Created::New(p) => Ok((
            StatusCode::CREATED,
            Json(policy_view(&p.name, &p.document, false)),
        )),
        Created::Taken => Err(taken("policy", &new.name)),
    }
}

/// Lists the org's managed policies, by name, and names the built-in ones.
///
/// Needs `iam:ListPolicies` on `policy/*` in the org. The cursor is the
/// last name of the page before.
#[utoipa::path(
    get,
    path = "/orgs/{org}/policies",
    tag = "iam",
    params(Page),
    responses((status = 200, description = "A page of policies, and the built-in names", body = PolicyPage))
)]
pub(super) async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    QueryParams(p): QueryParams<Page>,
) -> ApiResult<Json<PolicyPage>> {
    let (_, scope) = scoped(&state, &caller, &org, act::LIST_POLICIES, "policy/*").await?;
    let limit = p.limit()?;
    let rows = scope
        .list_policies(p.cursor.as_deref().unwrap_or(""), limit)
        .await?;
    let next = next_cursor(&rows, limit, |p| p.name.clone());
    let items: Vec<PolicyView> = rows
        .iter()
        .map(|p| policy_view(&p.name, &p.document, false))
        .collect();
    let builtins: Vec<&str> = builtin::names()
        .filter(|n| *n != builtin::ADMINISTRATOR)
        .collect();
    Ok(Json(PolicyPage {
        items,
        next_cursor: next,
        builtin: builtins,
    }))
}

/// A managed policy, built-in or the org's.
///
/// Needs `iam:GetPolicy` on `policy/<name>` in the org.
#[utoipa::path(
    get,
    path = "/orgs/{org}/policies/{policy}",
    tag = "iam",
    params(("policy" = String, Path, description = "The policy's name")),
    responses((status = 200, description = "The policy", body = PolicyView))
)]
pub(super) async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
) -> ApiResult<Json<PolicyView>> {
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

/// Replaces the document of one of the org's policies.
///
/// Needs `iam:UpdatePolicy` on `policy/<name>` in the org. The document is
/// validated as at creation; built-in policies cannot change. Every role
/// with the policy attached has the new document on the next request.
#[utoipa::path(
    put,
    path = "/orgs/{org}/policies/{policy}",
    tag = "iam",
    params(("policy" = String, Path, description = "The policy's name")),
    request_body = PolicyDocument,
    responses((status = 200, description = "The policy, with its new document", body = PolicyView))
)]
pub(super) async fn update_policy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org, name)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<PolicyDocument>,
) -> ApiResult<Json<PolicyView>> {
    let (_, scope) = scoped(
        &state,
        &caller,
        &org,
        act::UPDATE_POLICY,
        &format!("policy/{name}"),
    )
    .await?;
    let text = validated(&body.document)?;
    if !state.iam.in_org(&scope).update_policy(&name, &text).await? {
        return Err(ApiError::not_found(format!(
            "policy {name:?} does not exist (built-in policies cannot change)"
        )));
    }
    Ok(Json(policy_view(&name, &text, false)))
}

/// Deletes one of the org's policies.
///
/// Needs `iam:DeletePolicy` on `policy/<name>` in the org. The policy is
/// detached from every role; its name stays reserved.
#[utoipa::path(
    delete,
    path = "/orgs/{org}/policies/{policy}",
    tag = "iam",
    params(("policy" = String, Path, description = "The policy's name")),
    responses((status = 204, description = "Deleted"))
)]
pub(super) async fn delete_policy(
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
    if !state.iam.in_org(&scope).delete_policy(&name).await? {
        return Err(ApiError::not_found(format!("policy {name:?} does not exist")));
    }
    Ok(StatusCode::NO_CONTENT)
}
