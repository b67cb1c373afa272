//! MiniCloud's IAM policy engine: AWS policy documents, parsed once and
//! evaluated against requests. Pure logic, no I/O, so the API and the
//! runtime judge access with the same engine.
//!
//! - [`document`]: the grammar (`Version`, `Statement`, `Sid`, `Effect`,
//!   `Action`/`NotAction`, `Resource`/`NotResource`, `Condition`), validated
//!   into a [`Policy`] with errors that carry a JSON path.
//! - [`eval`]: the decision: explicit deny, then allow, else implicit deny.
//! - [`context`]: the request (action, resource) and its condition keys.
//! - `condition`: every operator family, `...IfExists`, `Null`, and the
//!   `ForAnyValue:`/`ForAllValues:` qualifiers.
//! - `template`: policy variables (`${mc:username}`, defaults, escapes).
//! - `glob`: `*` and `?`, across a string or within resource-name segments.
//! - [`mrn`]: resource names, `mrn:<service>:<org>:<project>:<type>/<path>`.
//!
//! ```
//! use minicloud_policy::{Context, Policy, Request, evaluate};
//!
//! let policy = Policy::parse(r#"{
//!     "Version": "2012-10-17",
//!     "Statement": {
//!         "Effect": "Allow",
//!         "Action": "functions:Get*",
//!         "Resource": "mrn:functions:acme:${mc:project}:function/*"
//!     }
//! }"#).unwrap();
//! let context = Context::new().with("mc:project", "web");
//! let request = Request {
//!     action: "functions:GetFunction",
//!     resource: "mrn:functions:acme:web:function/hello",
//!     context: &context,
//! };
//! assert!(evaluate([("read-web", &policy)], &request).is_allowed());
//! ```
#![deny(missing_docs)]

mod condition;
pub mod context;
pub mod document;
pub mod eval;
mod glob;
pub mod mrn;
mod template;

pub use context::{Context, Request};
pub use document::{Effect, Policy, PolicyError};
pub use eval::{Decision, Explanation, Reason, evaluate, explain};
pub use mrn::Mrn;
pub use template::TemplateError;
