//! `deploy-approval`: the tasks of a release that goes live only after a
//! person approves it (`workflow.json` beside this crate).
//!
//! - `request` runs as a `.waitForTaskToken` task: it files the request
//!   with its task token in the bucket `approvals` under
//!   `pending/<execution name>.json`, where an approver finds it, and
//!   returns; the workflow waits until someone answers the token.
//! - `release` copies the approved build from `builds/<site>/<version>/`
//!   to `live/<site>/` (a static site's deploy) and takes the request off
//!   the pending list.
//! - `withdraw` takes a rejected or expired request off the list.
//!
//! Each step is safe to repeat: a workflow may run a task again after a
//! crash, and copying or deleting the same objects twice changes nothing.

use minicloud_sdk::storage::Bucket;
use minicloud_sdk::{Error, log};
use serde::Deserialize;
use serde_json::{Value, json};

/// The files of a site build that a release copies.
const SITE_FILES: &[&str] = &["index.html"];

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Step {
    Request {
        token: String,
        execution: String,
        site: String,
        version: String,
        requested_by: String,
    },
    Release {
        execution: String,
        site: String,
        version: String,
        approval: Value,
    },
    Withdraw {
        execution: String,
    },
}

fn pending_key(execution: &str) -> String {
    format!("pending/{execution}.json")
}

fn step(step: Step) -> Result<Value, Error> {
    match step {
        Step::Request {
            token,
            execution,
            site,
            version,
            requested_by,
        } => {
            // Nothing to release means nothing to approve: fail before a
            // person is asked.
            let build = format!("{site}/{version}/index.html");
            if Bucket::open("builds")?.head(&build).is_err() {
                return Err(Error::named(
                    "Deploy.BuildMissing",
                    &format!("no build at builds/{build}"),
                ));
            }
            let request = json!({
                "execution": execution, "site": site, "version": version,
                "requested_by": requested_by, "token": token,
            });
            Bucket::open("approvals")?.put(
                &pending_key(&execution),
                request.to_string().as_bytes(),
                Some("application/json"),
            )?;
            log::info(&format!("{requested_by} asks to release {site} {version}"));
            Ok(Value::Null)
        }
        Step::Release {
            execution,
            site,
            version,
            approval,
        } => {
            let (builds, live) = (Bucket::open("builds")?, Bucket::open("live")?);
            for file in SITE_FILES {
                let content = builds.get(&format!("{site}/{version}/{file}"))?;
                live.put_with(
                    &format!("{site}/{file}"),
                    &content,
                    Some("text/html"),
                    &[("version", &version)],
                )?;
            }
            Bucket::open("approvals")?.delete(&pending_key(&execution))?;
            let approver = approval["approved_by"].as_str().unwrap_or("someone");
            log::info(&format!("{site} {version} is live, approved by {approver}"));
            Ok(json!({ "site": site, "version": version, "files": SITE_FILES.len() }))
        }
        Step::Withdraw { execution } => {
            Bucket::open("approvals")?.delete(&pending_key(&execution))?;
            log::warn(&format!("request {execution} withdrawn"));
            Ok(Value::Null)
        }
    }
}

minicloud_sdk::json_handler!(step);
