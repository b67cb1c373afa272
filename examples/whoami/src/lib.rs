//! `whoami`: answers who called (deploy it with `http_auth=authenticated`
//! so callers present a token) and whether their own policies let them
//! delete this very function, judged by the platform's IAM engine.

use minicloud_sdk::http::{Request, Response};
use minicloud_sdk::identity::{self, PrincipalKind};
use serde_json::json;

fn whoami(req: Request) -> Response {
    let me = identity::caller();
    let kind = match me.kind {
        PrincipalKind::User => "user",
        PrincipalKind::ApiKey => "api-key",
        PrincipalKind::Anonymous => "anonymous",
    };
    let resource = req.query_param("resource").unwrap_or("");
    let may = if resource.is_empty() {
        None
    } else {
        identity::authorize("functions:DeleteFunction", resource).ok()
    };
    Response::json(
        200,
        &json!({
            "kind": kind,
            "id": me.id,
            "name": me.name,
            "org": me.org,
            "mrn": me.mrn,
            "may_delete": may,
        }),
    )
}

minicloud_sdk::http_handler!(whoami);
