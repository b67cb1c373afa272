//! `hello`: the smallest HTTP function. Answers every request with a
//! greeting, and logs one line per request.

use minicloud_sdk::http::{Request, Response};

fn hello(req: Request) -> Response {
    // `?name=` on /fn/..., or `{name}` of a custom route such as /hello/{name}.
    let name = req
        .query_param("name")
        .or_else(|| req.header("x-minicloud-param-name"))
        .unwrap_or("world");
    println!("hello: {} {}", req.method(), req.path());
    Response::text(200, format!("Hello, {name}! (from MiniCloud)\n"))
}

minicloud_sdk::http_handler!(hello);
