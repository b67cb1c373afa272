//! Invoking a function through the JSON API.

use crate::http::AppState;
use crate::http::api::error::{ApiError, ApiResult, trace_id};
use crate::http::api::{PathParams, authorized_function, declared_length};
use crate::iam::Caller;
use crate::iam::actions::functions;
use crate::services::functions::{FunctionError, Input, Output, Trigger};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Invokes a function with a JSON input, and answers its JSON output.
///
/// For functions of the `handler` world (an `http` function is called at
/// `/fn/<project>/<name>/...` instead). The body is the input, any JSON
/// value, at most the function's `max_request_bytes`; it reaches the
/// function as sent. The caller is the function's caller (what it sees
/// through the identity interface). Needs `functions:InvokeFunction` on
/// `function/<name>`, whatever the function's `http_auth`; audited. The
/// invocation's record and logs are under `GET .../invocations` and
/// `GET .../logs`.
#[utoipa::path(
    post,
    path = "/projects/{project}/functions/{name}/invoke",
    tag = "functions",
    request_body(
        description = "The function's input: any JSON value",
        content((serde_json::Value = "application/json"))
    ),
    responses(
        (status = 200, description = "The function's output, any JSON value", body = serde_json::Value,
            headers(("x-minicloud-invocation-id" = String, description = "The invocation's id")))
    )
)]
pub(super) async fn invoke(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (project, _) =
        authorized_function(&state, &caller, &project_name, functions::INVOKE_FUNCTION, &name).await?;
    let target = state.functions.target(&project, &name).await?;
    let max = target.function.limits().max_request_bytes;
    if declared_length(&headers).is_some_and(|n| n > max) {
        return Err(FunctionError::InputTooLarge(max).into());
    }
    let trigger = Trigger {
        caller: Some(caller),
        trace_id: trace_id(),
        delivery: None,
        task: None,
    };
    let invoked = state
        .functions
        .invoke(&target, Input::JsonBody(body), trigger)
        .await?;
    let Output::Json(output) = invoked.output else {
        return Err(ApiError::internal("a JSON call answered HTTP"));
    };
    let invocation_id = invoked.invocation_id;
    let output: serde_json::Value = serde_json::from_str(&output).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "invalid_output",
            format!("the function returned text that is not JSON: {e}"),
        )
    })?;
    let mut resp = Json(output).into_response();
    if let Ok(v) = HeaderValue::from_str(&invocation_id) {
        resp.headers_mut().insert(crate::http::gateway::INVOCATION_ID, v);
    }
    Ok(resp)
}
