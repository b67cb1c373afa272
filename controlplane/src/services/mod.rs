//! Services: the layer between HTTP and the store and runtime. Each owns
//! the invariants of its domain, so that a handler parses, authorizes,
//! calls one method and shapes the answer.
//!
//! - [`functions`]: deploy, change, delete; `invoke`, the one way every
//!   trigger runs a function.
//! - [`iam`]: every change to identities and permissions, each forgetting
//!   the grants compiled before it.

pub mod functions;
pub mod iam;
