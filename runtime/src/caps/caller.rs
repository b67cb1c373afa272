//! Who called an invocation, and how to judge what they may do.

use super::backend::CallerAuthority;
use std::sync::Arc;

/// The kind of principal behind an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallerKind {
    /// A user.
    User,
    /// An API key.
    ApiKey,
    /// Nobody authenticated.
    #[default]
    Anonymous,
}

/// Who called an invocation, and how to judge what they may do.
#[derive(Clone, Default)]
pub struct Caller {
    /// The kind.
    pub kind: CallerKind,
    /// User or key id.
    pub id: String,
    /// The user's name (the key's owner, for an API key).
    pub name: String,
    /// The principal's org, by name.
    pub org: String,
    /// The principal's resource name.
    pub mrn: String,
    /// Judges with the caller's policies; `None` allows nothing.
    pub authority: Option<Arc<dyn CallerAuthority>>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// Nobody (one shared value: the HTTP hot path makes no allocation).
    pub fn anonymous() -> Arc<Self> {
        static ANONYMOUS: std::sync::OnceLock<Arc<Caller>> = std::sync::OnceLock::new();
        ANONYMOUS.get_or_init(|| Arc::new(Self::default())).clone()
    }
}
