//! Validates published Step Functions definitions: reads a conformance
//! file (`cases.json`: a list of `{name, definition, ...}`, as in
//! `../shared/asl-real/`), names each task's function by the last part of
//! its ARN, and prints the problems the validator finds in each.
//!
//! `cargo run -p minicloud-asl --example asl_real -- ../shared/asl-real/cases.json`

use minicloud_asl::definition::Definition;
use serde_json::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: asl_real <cases.json>")?;
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let mut refused = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let mut definition = case["definition"].clone();
        rename_resources(&mut definition);
        match Definition::parse(&definition) {
            Ok(d) => println!(
                "ok       {name} ({} states, tasks {:?})",
                d.states.len(),
                d.resources()
            ),
            Err(problems) => {
                refused += 1;
                println!("REFUSED  {name}");
                for p in problems {
                    println!("         {p}");
                }
            }
        }
    }
    println!("{} of {} definitions valid", cases.len() - refused, cases.len());
    if refused > 0 {
        return Err(format!("{refused} definitions refused").into());
    }
    Ok(())
}

/// Every `Resource` that is a Lambda ARN becomes the function's name.
fn rename_resources(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "Resource"
                    && let Some(arn) = v.as_str()
                    && let Some((_, name)) = arn.rsplit_once(":function:")
                {
                    *v = Value::String(name.to_owned());
                } else {
                    rename_resources(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rename_resources),
        _ => {}
    }
}
