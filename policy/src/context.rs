//! The request context: what is being done, to what, by whom, and the
//! condition keys that describe the request.

use std::collections::HashMap;

/// Condition keys and their values for one request. Key names compare
/// case-insensitively, as in AWS; values are kept as given.
#[derive(Debug, Clone, Default)]
pub struct Context {
    keys: HashMap<String, Vec<String>>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    /// Sets a multivalued key (such as `mc:TagKeys`).
    pub fn with_many<I, S>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keys.insert(
            key.to_ascii_lowercase(),
            values.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// Sets a single-valued key in place.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.keys.insert(key.to_ascii_lowercase(), vec![value.into()]);
    }

    /// All values of a key; `None` when it is absent or has no values.
    pub fn values(&self, key: &str) -> Option<&[String]> {
        self.lookup(key).filter(|v| !v.is_empty())
    }

    /// The value of a single-valued key: `None` when absent or multivalued.
    pub fn single(&self, key: &str) -> Option<&str> {
        match self.lookup(key) {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    fn lookup(&self, key: &str) -> Option<&[String]> {
        // Keys parsed from policies are already lower-case; avoid allocating.
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.keys.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
        } else {
            self.keys.get(key).map(Vec::as_slice)
        }
    }
}

/// One request to authorize: an action on a resource, in a context.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `service:Action`, such as `functions:InvokeFunction`.
    pub action: &'a str,
    /// The resource name, such as `mrn:functions:acme:web:function/hello`.
    pub resource: &'a str,
    /// The condition keys.
    pub context: &'a Context,
}
