//! Refusals: whose quota a request would pass, and how the client hears
//! of it (the message names the quota, its limit and how to raise it).

use super::Kind;
use std::fmt;

/// Whose quota: an org or a project, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// An org.
    Org(String),
    /// A project.
    Project(String),
}

impl Holder {
    /// Where the platform administrator changes this quota.
    pub fn api_path(&self) -> String {
        match self {
            Holder::Org(name) => format!("/api/v1/orgs/{name}/quota"),
            Holder::Project(name) => format!("/api/v1/projects/{name}/quota"),
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Org(name) => write!(f, "org {name:?}"),
            Holder::Project(name) => write!(f, "project {name:?}"),
        }
    }
}

/// A refusal: the request would take a tenant past one of its quotas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// Whose quota.
    pub holder: Holder,
    /// Which one.
    pub kind: Kind,
    /// Its limit.
    pub limit: u64,
    /// For transient kinds, seconds until a retry may pass.
    pub retry_after_secs: Option<u64>,
}

impl QuotaExceeded {
    /// A refusal of a kind that passes with time: retry after a second.
    pub fn transient(holder: Holder, kind: Kind, limit: u64) -> Self {
        Self {
            holder,
            kind,
            limit,
            retry_after_secs: Some(1),
        }
    }
}

impl fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} would pass its {} quota of {} {}; ",
            self.holder,
            self.kind,
            self.limit,
            self.kind.unit()
        )?;
        match self.retry_after_secs {
            Some(secs) => write!(f, "retry after {secs} s")?,
            None => f.write_str("delete some first")?,
        }
        write!(
            f,
            ", or ask the platform administrator to raise it (PUT {})",
            self.holder.api_path()
        )
    }
}

impl std::error::Error for QuotaExceeded {}

/// A quota check that refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// Over a quota.
    #[error(transparent)]
    Exceeded(#[from] QuotaExceeded),
    /// The store failed while counting.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_quota_its_limit_and_the_way_to_raise_it() {
        let e = QuotaExceeded::transient(Holder::Project("shop".into()), Kind::Rps, 2);
        let text = e.to_string();
        for part in [
            "project \"shop\"",
            "rps quota of 2",
            "retry after 1 s",
            "PUT /api/v1/projects/shop/quota",
        ] {
            assert!(text.contains(part), "{text:?} lacks {part:?}");
        }
        let counted = QuotaExceeded {
            holder: Holder::Org("acme".into()),
            kind: Kind::Functions,
            limit: 2,
            retry_after_secs: None,
        };
        assert!(counted.to_string().contains("delete some first"));
        assert!(Kind::Concurrency.is_transient() && !Kind::StoredBytes.is_transient());
    }
}
