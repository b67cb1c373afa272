//! Managed policies of an org, validated when written.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewPolicy {
    name: String,
    document: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyDocument {
    pub(super) document: Value,
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

pub(super) fn policy_view(name: &str, document: &str, builtin: bool) -> Value {
    json!({
        "name": name,
        "builtin": builtin,
        "document": serde_json::from_str::<Value>(document).unwrap_or(Value::Null),
    })
}

#[utoipa::path(
    post,
    path = "/orgs/{org}/policies",
    tag = "iam",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, description = "Done", body = Object))
)]
pub(super) async fn create_policy(
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
    match state.iam.in_org(&scope).create_policy(&new.name, &text).await? {
        Created::New(p) => Ok((
            StatusCode::CREATED,
            Json(policy_view(&p.name, &p.document, false)),
        )),
        Created::Taken => Err(taken("policy", &new.name)),
    }
}

#[utoipa::path(
    get,
    path = "/orgs/{org}/policies",
    tag = "iam",
    params(Page),
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn list_policies(
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

#[utoipa::path(
    get,
    path = "/orgs/{org}/policies/{policy}",
    tag = "iam",
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn get_policy(
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

#[utoipa::path(
    put,
    path = "/orgs/{org}/policies/{policy}",
    tag = "iam",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn update_policy(
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
    if !state.iam.in_org(&scope).update_policy(&name, &text).await? {
        return Err(ApiError::not_found(format!(
            "policy {name:?} does not exist (built-in policies cannot change)"
        )));
    }
    Ok(Json(policy_view(&name, &text, false)))
}

#[utoipa::path(
    delete,
    path = "/orgs/{org}/policies/{policy}",
    tag = "iam",
    responses((status = 204, description = "Done"))
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
