//! `url-shortener`: `POST /` with a URL as the body answers a short code;
//! `GET /<code>` redirects to the URL and counts the visit; `GET /<code>/stats`
//! shows the count. Links and counters live in the key-value bucket
//! `links`.

use minicloud_sdk::http::{Request, Response};
use minicloud_sdk::kv::Store;
use serde_json::json;

const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";

/// A short code from a counter: the counter is atomic, so codes never
/// collide, even with many instances at once.
fn code(n: i64) -> String {
    let mut n = n as u64;
    let mut out = Vec::new();
    while {
        out.push(ALPHABET[(n % ALPHABET.len() as u64) as usize]);
        n /= ALPHABET.len() as u64;
        n > 0
    } {}
    String::from_utf8(out).unwrap_or_default()
}

fn handle(req: Request) -> Result<Response, minicloud_sdk::Error> {
    let links = Store::open("links")?;
    let path = req.path().trim_start_matches('/');
    // Behind a custom route such as /s/{*rest}, the route's rest is the path.
    let path = req.header("x-minicloud-param-rest").unwrap_or(path).to_owned();
    Ok(match (req.method(), path.split_once('/')) {
        ("POST", _) if path.is_empty() => {
            let url = String::from_utf8_lossy(req.body()).trim().to_owned();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Ok(Response::text(
                    400,
                    "send an http:// or https:// URL as the body\n",
                ));
            }
            let code = code(links.increment("next-id", 1)?);
            links.set_json(&format!("link/{code}"), &url)?;
            Response::json(201, &json!({ "code": code, "url": url }))
        }
        ("GET", Some((code, "stats"))) => match links.get_json::<String>(&format!("link/{code}"))? {
            Some(url) => {
                let visits = links.get_json::<i64>(&format!("visits/{code}"))?.unwrap_or(0);
                Response::json(200, &json!({ "code": code, "url": url, "visits": visits }))
            }
            None => Response::text(404, "no such link\n"),
        },
        ("GET", None) if !path.is_empty() => match links.get_json::<String>(&format!("link/{path}"))? {
            Some(url) => {
                links.increment(&format!("visits/{path}"), 1)?;
                Response::new(302, Vec::new()).header("location", url)
            }
            None => Response::text(404, "no such link\n"),
        },
        _ => Response::text(404, "POST / with a URL, or GET /<code>\n"),
    })
}

fn shortener(req: Request) -> Response {
    handle(req).unwrap_or_else(|e| {
        let status = if matches!(e, minicloud_sdk::Error::AccessDenied(_)) {
            403
        } else {
            500
        };
        Response::text(status, format!("{e}\n"))
    })
}

minicloud_sdk::http_handler!(shortener);
