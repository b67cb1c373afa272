//! JSON functions: the `minicloud:platform/handler` world.
//!
//! ```no_run
//! #[derive(serde::Deserialize)]
//! struct Input { name: String }
//!
//! fn greet(input: Input) -> Result<serde_json::Value, String> {
//!     Ok(serde_json::json!({ "greeting": format!("Hello, {}!", input.name) }))
//! }
//!
//! minicloud_sdk::json_handler!(greet);
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Display;

/// Decodes the input, calls `f`, encodes its output; a decode failure or an
/// `Err` from `f` becomes the error message the caller sees.
pub fn run<I, O, E>(input: String, f: impl FnOnce(I) -> Result<O, E>) -> Result<String, String>
where
    I: DeserializeOwned,
    O: Serialize,
    E: Display,
{
    let input: I = serde_json::from_str(&input).map_err(|e| format!("invalid input: {e}"))?;
    // The error's text as it is, with nothing around it: the platform reads
    // an `Error::named` text as an error name and cause.
    let output = f(input).map_err(|e| e.to_string())?;
    serde_json::to_string(&output).map_err(|e| format!("cannot encode the output: {e}"))
}

/// Exports a function `fn(I) -> Result<O, E>` as the JSON handler, where `I`
/// is `Deserialize`, `O` is `Serialize` and `E` is `Display`.
#[macro_export]
macro_rules! json_handler {
    ($f:path) => {
        struct __MinicloudJsonHandler;

        impl $crate::bindings::exports::minicloud::platform::json_handler::Guest for __MinicloudJsonHandler {
            fn handle(input: String) -> Result<String, String> {
                $crate::handler::run(input, $f)
            }
        }

        $crate::bindings::__export_handler_world!(__MinicloudJsonHandler with_types_in $crate::bindings);
    };
}
