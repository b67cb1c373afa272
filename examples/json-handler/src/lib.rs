//! `json-handler`: a JSON function for the invoke API, events and workflows.
//!
//! Input `{"name": "Ada"}` returns `{"greeting": "Hello, Ada!", "length": 3}`;
//! input `{"name": "Ada", "fail": "why"}` returns the error `why`.

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Input {
    name: String,
    #[serde(default)]
    fail: Option<String>,
}

fn greet(input: Input) -> Result<Value, String> {
    if let Some(reason) = input.fail {
        eprintln!("refusing {:?}: {reason}", input.name);
        return Err(reason);
    }
    println!("greeting {}", input.name);
    Ok(json!({
        "greeting": format!("Hello, {}!", input.name),
        "length": input.name.chars().count(),
    }))
}

minicloud_sdk::json_handler!(greet);
