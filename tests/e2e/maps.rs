//! The maps are true: every module a crate (or a folder's `mod.rs`)
//! declares is named in its top doc comment (``[`name`]``, or `` `name` ``
//! for a private one, which rustdoc cannot link), so a newcomer reading the
//! map finds every floor of the house. A module added without its line
//! fails here.

use std::path::Path;

/// The files whose top doc comment is a map of their modules.
const MAPS: &[&str] = &[
    "controlplane/src/lib.rs",
    "controlplane/src/http/mod.rs",
    "controlplane/src/http/api/mod.rs",
    "controlplane/src/http/api/iam/mod.rs",
    "controlplane/src/http/api/auth/mod.rs",
    "controlplane/src/http/api/functions/mod.rs",
    "controlplane/src/services/mod.rs",
    "controlplane/src/services/routes/mod.rs",
    "controlplane/src/registry/mod.rs",
    "controlplane/src/events/bus/mod.rs",
    "controlplane/src/events/nats/mod.rs",
    "controlplane/src/events/rules/mod.rs",
    "controlplane/src/store/mod.rs",
    "controlplane/src/store/iam/mod.rs",
    "controlplane/src/events/mod.rs",
    "controlplane/src/http/gateway/mod.rs",
    "controlplane/src/capabilities/mod.rs",
    "controlplane/src/capabilities/objects/mod.rs",
    "controlplane/src/app/mod.rs",
    "controlplane/src/iam/mod.rs",
    "controlplane/src/workflows/mod.rs",
    "controlplane/src/workflows/jsonata/mod.rs",
    "controlplane/src/cli/mod.rs",
    "runtime/src/lib.rs",
    "runtime/src/caps/mod.rs",
    "runtime/src/caps/storage/mod.rs",
    "asl/src/lib.rs",
    "asl/src/choice/mod.rs",
    "asl/src/definition/mod.rs",
    "asl/src/intrinsics/mod.rs",
    "asl/src/jsonata/mod.rs",
    "asl/src/machine/mod.rs",
    "policy/src/lib.rs",
    "policy/src/condition/mod.rs",
    "sdk/src/lib.rs",
];

/// Modules `text` declares (`mod x;` or `pub mod x;`), leaving out test
/// modules.
fn declared(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        let decl = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("pub(crate) mod "))
            .or_else(|| line.strip_prefix("mod "));
        let Some(name) = decl.and_then(|d| d.strip_suffix(';')) else {
            continue;
        };
        let test_only = i > 0 && lines[i - 1].trim() == "#[cfg(test)]";
        if !test_only {
            out.push(name.trim().to_owned());
        }
    }
    out
}

#[test]
fn every_module_is_on_its_crates_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut missing = Vec::new();
    for file in MAPS {
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let map: String = text
            .lines()
            .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        for name in declared(&text) {
            if !map.contains(&format!("`{name}`")) {
                missing.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "modules missing from their map (add a line \"- [`name`]: what it is\"): {missing:#?}"
    );
}
