//! `webhook-relay`: forwards each request's body to the URL in the
//! setting `target_url`, signed with the project's secret `webhook-token`
//! as a bearer token, and answers with the target's status. The role must
//! grant `secrets:GetSecretValue` on the secret and `http:Fetch` on the
//! target's host.

use minicloud_sdk::http::{Request, Response};
use minicloud_sdk::{Error, config, fetch, secrets};

fn relay(req: Request) -> Result<Response, Error> {
    let target = config::get("target_url")
        .ok_or_else(|| Error::Invalid("set `target_url` in the function's config".into()))?;
    let token = secrets::get("webhook-token")?;
    let content_type = req.header("content-type").unwrap_or("application/octet-stream");
    let auth = format!("Bearer {token}");
    let resp = fetch::send(
        "POST",
        &target,
        &[("content-type", content_type), ("authorization", &auth)],
        req.body(),
    )?;
    minicloud_sdk::log::info(&format!("relayed {} bytes: {}", req.body().len(), resp.status));
    Ok(Response::new(resp.status, resp.body))
}

fn handle(req: Request) -> Response {
    relay(req).unwrap_or_else(|e| {
        let status = match e {
            Error::AccessDenied(_) => 403,
            Error::Invalid(_) | Error::NotFound(_) => 500,
            _ => 502,
        };
        Response::text(status, format!("{e}\n"))
    })
}

minicloud_sdk::http_handler!(handle);
