//! `bad-import`: an HTTP function that imports an interface the platform
//! does not provide.

use minicloud_sdk::http::{Request, Response};

wit_bindgen::generate!({
    inline: "
        package test:guests;
        interface missing { get: func() -> u32; }
        world needs-missing { import missing; }
    ",
});

fn handle(_req: Request) -> Response {
    Response::text(200, test::guests::missing::get().to_string())
}

minicloud_sdk::http_handler!(handle);
