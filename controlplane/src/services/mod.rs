//! Services: the layer between HTTP and the store and runtime. Each owns
//! the invariants of its domain, so that a handler parses, authorizes,
//! calls one method and shapes the answer.
//!
//! - [`events`]: events accepted onto the bus, rules put in force at once
//!   (with NATS), dead letters replayed.
//! - [`functions`]: deploy, change, delete; `invoke`, the one way every
//!   trigger runs a function.
//! - [`iam`]: every change to identities and permissions, each forgetting
//!   the grants compiled before it.
//! - [`routes`]: custom routes and domains, and the gateway's table of
//!   them, swapped after every change.
//! - [`secrets`]: values sealed before they are stored, versions, reveal.
//! - [`tenancy`]: orgs and projects, deleted only when empty (the default
//!   org never), with the domains of a deleted project released at once.
//! - [`workflows`]: definitions validated and versioned, executions
//!   started, read and stopped, task tokens sent back.

pub mod events;
pub mod functions;
pub mod iam;
pub mod routes;
pub mod secrets;
pub mod tenancy;
pub mod workflows;
