//! `minicloud plan` and `minicloud apply`: a project described in
//! `minicloud.toml` (functions with their `.wasm` or a build command,
//! limits, env, config and instance reuse; execution roles with managed and inline
//! policies; routes; buckets; event rules; workflows; secrets by
//! reference only), compared with what the API says the project holds,
//! and the difference carried out through the same API. A second apply
//! changes nothing; `--prune` deletes what the manifest no longer names
//! in the project (never secrets, nor roles, which belong to the org and
//! other projects may use). An error names the manifest line of the entry
//! it came from.

use super::client::{CliError, Client, segment};
use super::{Format, Global, output};
use clap::Args;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// `minicloud plan` and `minicloud apply`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The manifest.
    #[arg(long, short = 'f', default_value = "minicloud.toml")]
    file: PathBuf,
    /// Also delete what the project holds and the manifest does not name
    /// (functions, routes, buckets, rules, workflows; never secrets).
    #[arg(long)]
    prune: bool,
    /// Skip the functions' build commands (their sources are built).
    #[arg(long)]
    no_build: bool,
}

/// The manifest's file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    /// The project (over the profile's; `--project` over both).
    project: Option<String>,
    /// The org of the roles (default: the signed-in principal's).
    org: Option<String>,
    #[serde(default)]
    roles: BTreeMap<String, Spanned<Role>>,
    #[serde(default)]
    functions: BTreeMap<String, Spanned<Function>>,
    #[serde(default)]
    routes: Vec<Spanned<Route>>,
    #[serde(default)]
    buckets: BTreeMap<String, Spanned<Bucket>>,
    #[serde(default)]
    rules: BTreeMap<String, Spanned<toml::Table>>,
    #[serde(default)]
    workflows: BTreeMap<String, Spanned<Workflow>>,
    /// Secrets the functions read: they must exist (values never live in
    /// a manifest; `minicloud secrets create` sets them).
    #[serde(default)]
    secrets: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Function {
    /// The component, relative to the manifest.
    source: PathBuf,
    /// A command that builds it (run with `sh -c` in the manifest's
    /// folder before the source is read).
    build: Option<String>,
    memory_mib: Option<u64>,
    timeout_ms: Option<u64>,
    concurrency: Option<u64>,
    max_request_bytes: Option<u64>,
    max_response_bytes: Option<u64>,
    /// `public` or `authenticated`.
    http_auth: Option<String>,
    /// The execution role.
    role: Option<String>,
    env: Option<BTreeMap<String, String>>,
    config: Option<BTreeMap<String, String>>,
    /// Instance reuse of a WASI 0.3 HTTP function: a table of
    /// `max_requests`, `max_concurrent` and `idle_timeout_ms`, or `"off"`;
    /// deployed with the code.
    reuse: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Route {
    method: String,
    path: String,
    function: String,
    auth: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bucket {}

/// An execution role of the org.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Role {
    /// Managed policies attached (built-in or the org's).
    #[serde(default)]
    policies: Vec<String>,
    /// Inline policy documents by name.
    #[serde(default)]
    inline: BTreeMap<String, toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Workflow {
    /// The definition's JSON file, relative to the manifest.
    definition: PathBuf,
    #[serde(default)]
    role: String,
    #[serde(default)]
    description: String,
}

/// One change of the plan.
#[derive(Debug)]
struct Change {
    /// `create`, `update` or `delete`.
    action: &'static str,
    /// `function`, `route`, `bucket`, `rule`, `workflow`.
    kind: &'static str,
    name: String,
    /// What differs, for people.
    details: Vec<String>,
    /// The manifest line it comes from (none for a deletion).
    line: Option<usize>,
    step: Step,
}

/// What carrying a change out calls.
#[derive(Debug)]
enum Step {
    Deploy {
        bytes: Vec<u8>,
        query: String,
    },
    Call {
        method: Method,
        path: String,
        body: Option<Value>,
    },
    /// A call of an API path outside the project (`/orgs/...`).
    Org {
        method: Method,
        path: String,
        body: Option<Value>,
    },
    Then(Box<Step>, Box<Step>),
    Nothing,
}

struct Plan {
    changes: Vec<Change>,
    unchanged: usize,
    /// Resources the project holds and the manifest does not name, kept
    /// (no `--prune`).
    kept: Vec<String>,
}

/// Runs `plan` (`apply == false`) or `apply`.
pub async fn run(global: &Global, args: ManifestArgs, apply: bool) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", args.file.display())))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| CliError::Usage(format!("{}: {e}", args.file.display())))?;
    let folder = args.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut c = Client::from_profile(global)?;
    if global.project.is_none()
        && let Some(p) = &manifest.project
    {
        c.project = p.clone();
    }
    let at =
        |span: std::ops::Range<usize>| Some(text[..span.start.min(text.len())].matches('\n').count() + 1);
    let plan = plan(&mut c, &manifest, &folder, &args, &at)
        .await
        .map_err(|e| located(&args.file, e))?;
    show(global.output, &plan, apply);
    if !apply {
        return Ok(());
    }
    for change in &plan.changes {
        carry_out(&mut c, &change.step)
            .await
            .map_err(|e| match change.line {
                Some(line) => located_at(&args.file, line, change, e),
                None => e,
            })?;
        output::done(&format!("{}d {} {}", change.action, change.kind, change.name));
    }
    output::done(&format!(
        "applied: {} changed, {} unchanged",
        plan.changes.len(),
        plan.unchanged
    ));
    Ok(())
}

fn located(file: &Path, e: (Option<usize>, CliError)) -> CliError {
    match e {
        (Some(line), CliError::Usage(m)) => CliError::Usage(format!("{}:{line}: {m}", file.display())),
        (Some(line), CliError::Failed(m)) => CliError::Failed(format!("{}:{line}: {m}", file.display())),
        (_, e) => e,
    }
}

fn located_at(file: &Path, line: usize, change: &Change, e: CliError) -> CliError {
    let place = format!("{}:{line}: {} {}", file.display(), change.kind, change.name);
    match e {
        CliError::Api {
            status,
            code,
            message,
            trace_id,
        } => CliError::Api {
            status,
            code,
            message: format!("{place}: {message}"),
            trace_id,
        },
        CliError::Usage(m) => CliError::Usage(format!("{place}: {m}")),
        CliError::Failed(m) => CliError::Failed(format!("{place}: {m}")),
    }
}

/// Whether `wanted` holds in `actual`: every key of an object with an
/// equal value (keys the server added are ignored), arrays of the same
/// length item by item, anything else equal.
fn holds(wanted: &Value, actual: &Value) -> bool {
    match (wanted, actual) {
        (Value::Object(w), Value::Object(a)) => {
            w.iter().all(|(k, v)| holds(v, a.get(k).unwrap_or(&Value::Null)))
        }
        (Value::Array(w), Value::Array(a)) => w.len() == a.len() && w.iter().zip(a).all(|(w, a)| holds(w, a)),
        (Value::Number(w), Value::Number(a)) => w.as_f64() == a.as_f64(),
        _ => wanted == actual,
    }
}

type Located<T> = Result<T, (Option<usize>, CliError)>;

async fn plan(
    c: &mut Client,
    m: &Manifest,
    folder: &Path,
    args: &ManifestArgs,
    at: &dyn Fn(std::ops::Range<usize>) -> Option<usize>,
) -> Located<Plan> {
    let api = |e: CliError| (None, e);
    let mut plan = Plan {
        changes: Vec::new(),
        unchanged: 0,
        kept: Vec::new(),
    };
    // Secrets are checked, never written.
    let secrets = c.all(&c.in_project("/secrets")).await.map_err(api)?;
    for s in &m.secrets {
        if !secrets.iter().any(|have| have["name"] == s.get_ref().as_str()) {
            return Err((
                at(s.span()),
                CliError::Usage(format!(
                    "secret {:?} does not exist in project {}: create it with `minicloud secrets create {}`",
                    s.get_ref(),
                    c.project,
                    s.get_ref()
                )),
            ));
        }
    }

    // Roles before the functions that run with them.
    if !m.roles.is_empty() {
        let org = match &m.org {
            Some(o) => o.clone(),
            None => {
                let me = c.call(Method::GET, &c.api("/auth/me"), None).await.map_err(api)?;
                output::text(&me["org"])
            }
        };
        for (name, spanned) in &m.roles {
            let line = at(spanned.span());
            let change = role_change(c, &org, name, spanned.get_ref())
                .await
                .map_err(|e| (line, e))?;
            match change {
                Some((action, details, step)) => plan.changes.push(Change {
                    action,
                    kind: "role",
                    name: name.clone(),
                    details,
                    line,
                    step,
                }),
                None => plan.unchanged += 1,
            }
        }
    }

    // Buckets first: functions may use them.
    let buckets = c.all(&c.in_project("/buckets")).await.map_err(api)?;
    for (name, b) in &m.buckets {
        if buckets.iter().any(|have| have["name"] == name.as_str()) {
            plan.unchanged += 1;
        } else {
            plan.changes.push(Change {
                action: "create",
                kind: "bucket",
                name: name.clone(),
                details: Vec::new(),
                line: at(b.span()),
                step: Step::Call {
                    method: Method::POST,
                    path: "/buckets".into(),
                    body: Some(json!({"name": name})),
                },
            });
        }
    }

    let functions = c.all(&c.in_project("/functions")).await.map_err(api)?;
    for (name, spanned) in &m.functions {
        let f = spanned.get_ref();
        let line = at(spanned.span());
        if let Some(command) = f.build.as_ref().filter(|_| !args.no_build) {
            build(folder, command).map_err(|e| (line, e))?;
        }
        let source = folder.join(&f.source);
        let bytes = std::fs::read(&source).map_err(|e| {
            (
                line,
                CliError::Usage(format!("functions.{name}: cannot read {}: {e}", source.display())),
            )
        })?;
        let sha = hex::encode(Sha256::digest(&bytes));
        let limits = json!({"memory_mib": f.memory_mib, "timeout_ms": f.timeout_ms, "concurrency": f.concurrency,
            "max_request_bytes": f.max_request_bytes, "max_response_bytes": f.max_response_bytes});
        let limits: serde_json::Map<String, Value> = limits
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut settings = json!({});
        if !limits.is_empty() {
            settings["limits"] = Value::Object(limits);
        }
        for (key, value) in [
            ("http_auth", json!(f.http_auth)),
            ("role", json!(f.role)),
            ("env", json!(f.env)),
            ("config", json!(f.config)),
            ("reuse", json!(f.reuse)),
        ] {
            if !value.is_null() {
                settings[key] = value;
            }
        }
        let path = format!("/functions/{}", segment(name));
        let deploy = deploy_path(&path, f.reuse.as_ref())
            .map_err(|e| (line, CliError::Usage(format!("functions.{name}.{e}"))))?;
        match functions.iter().find(|have| have["name"] == name.as_str()) {
            None => {
                let patch = match settings.as_object().is_some_and(|s| s.is_empty()) {
                    true => Step::Nothing,
                    false => Step::Call {
                        method: Method::PATCH,
                        path: path.clone(),
                        body: Some(settings),
                    },
                };
                let step = Step::Then(Box::new(Step::Deploy { bytes, query: deploy }), Box::new(patch));
                plan.changes.push(Change {
                    action: "create",
                    kind: "function",
                    name: name.clone(),
                    details: vec![format!(
                        "{} bytes from {}",
                        source_len(&source),
                        f.source.display()
                    )],
                    line,
                    step,
                });
            }
            Some(have) => {
                let mut details = Vec::new();
                let code_changed = have["sha256"] != sha.as_str();
                if code_changed {
                    details.push(format!("code {} -> {}", short(&have["sha256"]), &sha[..12]));
                }
                // `"off"` is what the server shows as no reuse (null).
                let mut wanted = settings.clone();
                if wanted["reuse"] == "off" {
                    wanted["reuse"] = Value::Null;
                }
                let settings_hold = holds(&wanted, have)
                    // env and config are replaced whole: keys the server has
                    // and the manifest lacks are a change.
                    && ["env", "config"].iter().all(|k| settings.get(k).is_none_or(|v| v == &have[*k]));
                if !settings_hold {
                    details.push(format!("settings {}", settings));
                }
                if details.is_empty() {
                    plan.unchanged += 1;
                    continue;
                }
                let patch = Step::Call {
                    method: Method::PATCH,
                    path: path.clone(),
                    body: Some(settings),
                };
                let step = if code_changed {
                    Step::Then(Box::new(Step::Deploy { bytes, query: deploy }), Box::new(patch))
                } else {
                    patch
                };
                plan.changes.push(Change {
                    action: "update",
                    kind: "function",
                    name: name.clone(),
                    details,
                    line,
                    step,
                });
            }
        }
    }

    let workflows = c.all(&c.in_project("/workflows")).await.map_err(api)?;
    for (name, spanned) in &m.workflows {
        let w = spanned.get_ref();
        let line = at(spanned.span());
        let file = folder.join(&w.definition);
        let definition: Value = std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            .map_err(|e| {
                (
                    line,
                    CliError::Usage(format!("workflows.{name}: {}: {e}", file.display())),
                )
            })?;
        let body = json!({"definition": definition, "role": w.role, "description": w.description});
        let path = format!("/workflows/{}", segment(name));
        let exists = workflows.iter().any(|have| have["name"] == name.as_str());
        if exists {
            let have = c
                .call(Method::GET, &c.in_project(&path), None)
                .await
                .map_err(api)?;
            if holds(&body, &have) {
                plan.unchanged += 1;
                continue;
            }
        }
        plan.changes.push(Change {
            action: if exists { "update" } else { "create" },
            kind: "workflow",
            name: name.clone(),
            details: vec![format!("from {}", w.definition.display())],
            line,
            step: Step::Call {
                method: Method::PUT,
                path,
                body: Some(body),
            },
        });
    }

    let rules = c.all(&c.in_project("/rules")).await.map_err(api)?;
    for (name, spanned) in &m.rules {
        let line = at(spanned.span());
        let mut body = serde_json::to_value(spanned.get_ref())
            .map_err(|e| (line, CliError::Usage(format!("rules.{name}: {e}"))))?;
        body["name"] = json!(name);
        match rules.iter().find(|have| have["name"] == name.as_str()) {
            Some(have) if holds(&body, have) => plan.unchanged += 1,
            Some(_) => {
                let mut fields = body.clone();
                if let Some(f) = fields.as_object_mut() {
                    f.remove("name");
                }
                plan.changes.push(Change {
                    action: "update",
                    kind: "rule",
                    name: name.clone(),
                    details: Vec::new(),
                    line,
                    step: Step::Call {
                        method: Method::PATCH,
                        path: format!("/rules/{}", segment(name)),
                        body: Some(fields),
                    },
                });
            }
            None => plan.changes.push(Change {
                action: "create",
                kind: "rule",
                name: name.clone(),
                details: Vec::new(),
                line,
                step: Step::Call {
                    method: Method::POST,
                    path: "/rules".into(),
                    body: Some(body),
                },
            }),
        }
    }

    let routes = c.all(&c.in_project("/routes")).await.map_err(api)?;
    let mut matched = Vec::new();
    for spanned in &m.routes {
        let r = spanned.get_ref();
        let line = at(spanned.span());
        let label = format!("{} {}", r.method, r.path);
        let mut body = json!({"method": r.method, "path": r.path, "function": r.function});
        if let Some(a) = &r.auth {
            body["auth"] = json!(a);
        }
        let same_place = routes
            .iter()
            .find(|have| have["method"] == r.method.as_str() && have["path"] == r.path.as_str());
        let create = Step::Call {
            method: Method::POST,
            path: "/routes".into(),
            body: Some(body.clone()),
        };
        match same_place {
            Some(have) if holds(&body, have) => {
                plan.unchanged += 1;
                matched.push(have["id"].clone());
            }
            Some(have) => {
                matched.push(have["id"].clone());
                let delete = Step::Call {
                    method: Method::DELETE,
                    path: format!("/routes/{}", segment(&output::text(&have["id"]))),
                    body: None,
                };
                plan.changes.push(Change {
                    action: "update",
                    kind: "route",
                    name: label,
                    details: vec![format!("to {}", r.function)],
                    line,
                    step: Step::Then(Box::new(delete), Box::new(create)),
                });
            }
            None => plan.changes.push(Change {
                action: "create",
                kind: "route",
                name: format!("{label} -> {}", r.function),
                details: Vec::new(),
                line,
                step: create,
            }),
        }
    }

    // What the manifest no longer names: deleted with --prune, routes
    // first (they point at functions), buckets last.
    let mut gone: Vec<(&'static str, String, String)> = Vec::new();
    for have in &routes {
        if !matched.contains(&have["id"]) {
            let label = format!(
                "{} {}",
                output::text(&have["method"]),
                output::text(&have["path"])
            );
            gone.push((
                "route",
                label,
                format!("/routes/{}", segment(&output::text(&have["id"]))),
            ));
        }
    }
    let unnamed = |list: &[Value], named: &dyn Fn(&str) -> bool, kind: &'static str, base: &str| {
        list.iter()
            .filter_map(|have| have["name"].as_str())
            .filter(|n| !named(n))
            .map(|n| (kind, n.to_owned(), format!("{base}/{}", segment(n))))
            .collect::<Vec<_>>()
    };
    gone.extend(unnamed(&rules, &|n| m.rules.contains_key(n), "rule", "/rules"));
    gone.extend(unnamed(
        &workflows,
        &|n| m.workflows.contains_key(n),
        "workflow",
        "/workflows",
    ));
    gone.extend(unnamed(
        &functions,
        &|n| m.functions.contains_key(n),
        "function",
        "/functions",
    ));
    gone.extend(unnamed(
        &buckets,
        &|n| m.buckets.contains_key(n),
        "bucket",
        "/buckets",
    ));
    for (kind, name, path) in gone {
        if args.prune {
            plan.changes.push(Change {
                action: "delete",
                kind,
                name,
                details: Vec::new(),
                line: None,
                step: Step::Call {
                    method: Method::DELETE,
                    path,
                    body: None,
                },
            });
        } else {
            plan.kept.push(format!("{kind} {name}"));
        }
    }
    Ok(plan)
}

/// What makes role `name` of `org` what the manifest says: none when it
/// already is.
async fn role_change(
    c: &mut Client,
    org: &str,
    name: &str,
    role: &Role,
) -> Result<Option<(&'static str, Vec<String>, Step)>, CliError> {
    let base = format!("/orgs/{}/roles/{}", segment(org), segment(name));
    let have = match c.call(Method::GET, &c.api(&base), None).await {
        Ok(v) => Some(v),
        Err(CliError::Api { status: 404, .. }) => None,
        Err(e) => return Err(e),
    };
    let mut steps = Vec::new();
    let mut details = Vec::new();
    let attached: Vec<String> = have
        .as_ref()
        .and_then(|h| h["policies"].as_array())
        .map(|list| list.iter().map(output::text).collect())
        .unwrap_or_default();
    if have.is_none() {
        steps.push(Step::Org {
            method: Method::POST,
            path: format!("/orgs/{}/roles", segment(org)),
            body: Some(json!({"name": name, "policies": role.policies})),
        });
    } else {
        for p in role.policies.iter().filter(|p| !attached.contains(p)) {
            details.push(format!("attach {p}"));
            steps.push(Step::Org {
                method: Method::PUT,
                path: format!("{base}/policies/{}", segment(p)),
                body: None,
            });
        }
        for p in attached.iter().filter(|p| !role.policies.contains(p)) {
            details.push(format!("detach {p}"));
            steps.push(Step::Org {
                method: Method::DELETE,
                path: format!("{base}/policies/{}", segment(p)),
                body: None,
            });
        }
    }
    let inline: Vec<Value> = have
        .as_ref()
        .and_then(|h| h["inline_policies"].as_array().cloned())
        .unwrap_or_default();
    for (policy, document) in &role.inline {
        let document = serde_json::to_value(document)
            .map_err(|e| CliError::Usage(format!("roles.{name}.inline.{policy}: {e}")))?;
        let same = inline
            .iter()
            .any(|i| i["name"] == policy.as_str() && i["document"] == document);
        if !same {
            if have.is_some() {
                details.push(format!("inline policy {policy}"));
            }
            steps.push(Step::Org {
                method: Method::PUT,
                path: format!("{base}/inline-policies/{}", segment(policy)),
                body: Some(json!({"document": document})),
            });
        }
    }
    for i in &inline {
        let policy = output::text(&i["name"]);
        if !role.inline.contains_key(&policy) {
            details.push(format!("remove inline policy {policy}"));
            steps.push(Step::Org {
                method: Method::DELETE,
                path: format!("{base}/inline-policies/{}", segment(&policy)),
                body: None,
            });
        }
    }
    if steps.is_empty() {
        return Ok(None);
    }
    let action = if have.is_none() { "create" } else { "update" };
    let step = steps
        .into_iter()
        .rev()
        .reduce(|then, first| Step::Then(Box::new(first), Box::new(then)))
        .unwrap_or(Step::Nothing);
    Ok(Some((action, details, step)))
}

/// The path a function's code is deployed to, with its reuse in the short
/// form: the setting goes with the code, so a component that cannot reuse
/// instances is refused before it lands.
fn deploy_path(path: &str, reuse: Option<&toml::Value>) -> Result<String, String> {
    let short = match reuse {
        None => return Ok(path.to_owned()),
        Some(toml::Value::String(off)) if off == "off" => off.clone(),
        Some(table @ toml::Value::Table(_)) => minicloud_runtime::Reuse::from_fields(table.clone())?.short(),
        Some(other) => {
            return Err(format!(
                "reuse must be \"off\" or a table of max_requests, max_concurrent and idle_timeout_ms; got {other}"
            ));
        }
    };
    Ok(format!("{path}?reuse={short}"))
}

fn source_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn short(v: &Value) -> String {
    output::text(v).chars().take(12).collect()
}

/// Runs a function's build command in the manifest's folder.
fn build(folder: &Path, command: &str) -> Result<(), CliError> {
    output::done(&format!("building: {command}"));
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(if folder.as_os_str().is_empty() {
            Path::new(".")
        } else {
            folder
        })
        .stdout(std::process::Stdio::inherit())
        .status()
        .map_err(|e| CliError::Failed(format!("cannot run the build {command:?}: {e}")))?;
    if !status.success() {
        return Err(CliError::Failed(format!(
            "the build {command:?} failed ({status})"
        )));
    }
    Ok(())
}

fn show(format: Format, plan: &Plan, apply: bool) {
    match format {
        Format::Json => {
            let changes: Vec<Value> = plan
                .changes
                .iter()
                .map(|c| json!({"action": c.action, "kind": c.kind, "name": c.name, "details": c.details, "line": c.line}))
                .collect();
            let doc = json!({"changes": changes, "unchanged": plan.unchanged, "not_in_manifest": plan.kept});
            // `apply -o json` prints the plan it carries out.
            output::print(format, &doc, &[]);
        }
        Format::Table => {
            for c in &plan.changes {
                let sign = match c.action {
                    "create" => "+",
                    "delete" => "-",
                    _ => "~",
                };
                let details = if c.details.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.details.join("; "))
                };
                anstream::println!("{sign} {} {}{details}", c.kind, c.name);
            }
            for k in &plan.kept {
                anstream::println!("! {k} is not in the manifest: kept (--prune deletes it)");
            }
            let verb = if apply { "to apply" } else { "planned" };
            output::done(&format!(
                "{} changes {verb}, {} unchanged",
                plan.changes.len(),
                plan.unchanged
            ));
        }
    }
}

async fn carry_out(c: &mut Client, step: &Step) -> Result<(), CliError> {
    let mut steps = vec![step];
    while let Some(step) = steps.pop() {
        match step {
            Step::Nothing => {}
            Step::Then(first, then) => {
                steps.push(then);
                steps.push(first);
            }
            Step::Deploy { bytes, query } => {
                let request = c
                    .request(Method::PUT, &c.in_project(query))
                    .await?
                    .header("content-type", "application/wasm")
                    .body(bytes.clone());
                c.send(request).await?;
            }
            Step::Call { method, path, body } => {
                c.call(method.clone(), &c.in_project(path), body.as_ref()).await?;
            }
            Step::Org { method, path, body } => {
                c.call(method.clone(), &c.api(path), body.as_ref()).await?;
            }
        }
    }
    Ok(())
}
