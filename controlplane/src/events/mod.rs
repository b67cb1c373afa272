//! Events: the EventBridge-style rule language. So far the pattern
//! compiler and matcher ([`pattern`]); the router, rules and delivery
//! follow.

pub mod pattern;
