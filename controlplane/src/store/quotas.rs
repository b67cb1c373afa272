//! Quotas of orgs and projects: the kinds, the server's defaults
//! (`--org-quota`, `--project-quota`), the platform administrator's
//! overrides per org and project, and refusals.
//!
//! - `rows`: overrides and usage in SQL.
//! - `refusal`: whose quota a request would pass, and the message.
//! - `book`: the effective quotas in memory, for the hot path, and the
//!   checks of counted kinds (functions, rules, stored bytes).
//!
//! Concurrency, memory and request rates are enforced by `gate`; this
//! module only knows the numbers.

mod book;
mod counted;
mod refusal;
mod rows;

pub use book::{QuotaBook, Room};
pub use counted::{CountLimit, CreateRefused};
pub use refusal::{Holder, QuotaError, QuotaExceeded};
pub use rows::{Overrides, Usage};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One kind of quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Instances running at once.
    Concurrency,
    /// MiB reserved by running instances (each its function's memory
    /// limit), and by live instances of functions that reuse them, idle or
    /// busy.
    MemoryMib,
    /// Requests a second on public HTTP triggers.
    Rps,
    /// Bytes of objects stored.
    StoredBytes,
    /// Live functions.
    Functions,
    /// Event rules.
    Rules,
}

impl Kind {
    /// Every kind, in the order views list them.
    pub const ALL: [Kind; 6] = [
        Kind::Concurrency,
        Kind::MemoryMib,
        Kind::Rps,
        Kind::StoredBytes,
        Kind::Functions,
        Kind::Rules,
    ];

    /// The name in flags and JSON.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Concurrency => "concurrency",
            Kind::MemoryMib => "memory_mib",
            Kind::Rps => "rps",
            Kind::StoredBytes => "stored_bytes",
            Kind::Functions => "functions",
            Kind::Rules => "rules",
        }
    }

    /// What the limit counts, for messages.
    fn unit(self) -> &'static str {
        match self {
            Kind::Concurrency => "running instances",
            Kind::MemoryMib => "MiB of running instances",
            Kind::Rps => "requests a second on public HTTP triggers",
            Kind::StoredBytes => "bytes of stored objects",
            Kind::Functions => "functions",
            Kind::Rules => "event rules",
        }
    }

    /// Whether the refusal passes with time alone (the client should
    /// retry), rather than when the tenant deletes something.
    pub fn is_transient(self) -> bool {
        matches!(self, Kind::Concurrency | Kind::MemoryMib | Kind::Rps)
    }

    fn parse(key: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.key() == key)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The largest value a quota takes: the database stores signed 64-bit
/// numbers.
pub const MAX_LIMIT: u64 = i64::MAX as u64;

/// A limit of every kind: what is in force for one org or project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Quotas {
    /// Instances running at once.
    pub concurrency: u64,
    /// MiB reserved by running instances.
    pub memory_mib: u64,
    /// Requests a second on public HTTP triggers.
    pub rps: u64,
    /// Bytes of stored objects.
    pub stored_bytes: u64,
    /// Live functions.
    pub functions: u64,
    /// Event rules.
    pub rules: u64,
}

const GIB: u64 = 1024 * 1024 * 1024;

impl Quotas {
    /// The limit of one kind.
    pub fn get(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Concurrency => self.concurrency,
            Kind::MemoryMib => self.memory_mib,
            Kind::Rps => self.rps,
            Kind::StoredBytes => self.stored_bytes,
            Kind::Functions => self.functions,
            Kind::Rules => self.rules,
        }
    }

    fn field(&mut self, kind: Kind) -> &mut u64 {
        match kind {
            Kind::Concurrency => &mut self.concurrency,
            Kind::MemoryMib => &mut self.memory_mib,
            Kind::Rps => &mut self.rps,
            Kind::StoredBytes => &mut self.stored_bytes,
            Kind::Functions => &mut self.functions,
            Kind::Rules => &mut self.rules,
        }
    }

    /// The built-in quota of a project on a server of `pool` instances:
    /// an eighth of the pool (at most 64), so that no one project can take
    /// it, and room for that many instances of the default 128 MiB. The
    /// rate is about half of what one core serves of the cheapest function.
    pub fn project_builtin(pool: u64) -> Self {
        Self {
            concurrency: (pool / 8).clamp(1, 64),
            memory_mib: 8192,
            rps: 5000,
            stored_bytes: 10 * GIB,
            functions: 100,
            rules: 100,
        }
    }

    /// The built-in quota of an org on a server of `pool` instances: half
    /// the pool (at most 256), so that no one org can take it.
    pub fn org_builtin(pool: u64) -> Self {
        Self {
            concurrency: (pool / 2).clamp(1, 256),
            memory_mib: 32768,
            rps: 20000,
            stored_bytes: 100 * GIB,
            functions: 1000,
            rules: 1000,
        }
    }

    /// These limits with the kinds `over` sets replaced.
    pub fn with(mut self, over: &QuotaOverride) -> Self {
        for kind in Kind::ALL {
            if let Some(v) = over.get(kind) {
                *self.field(kind) = v;
            }
        }
        self
    }
}

/// Limits set for one org or project, or by a flag; the kinds left unset
/// keep the default. In JSON, an absent or `null` field is unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverride {
    /// Instances running at once.
    pub concurrency: Option<u64>,
    /// MiB reserved by running instances.
    pub memory_mib: Option<u64>,
    /// Requests a second on public HTTP triggers.
    pub rps: Option<u64>,
    /// Bytes of stored objects.
    pub stored_bytes: Option<u64>,
    /// Live functions.
    pub functions: Option<u64>,
    /// Event rules.
    pub rules: Option<u64>,
}

impl QuotaOverride {
    /// The limit set for one kind, if any.
    pub fn get(&self, kind: Kind) -> Option<u64> {
        *self.field(kind)
    }

    fn field(&self, kind: Kind) -> &Option<u64> {
        match kind {
            Kind::Concurrency => &self.concurrency,
            Kind::MemoryMib => &self.memory_mib,
            Kind::Rps => &self.rps,
            Kind::StoredBytes => &self.stored_bytes,
            Kind::Functions => &self.functions,
            Kind::Rules => &self.rules,
        }
    }

    fn field_mut(&mut self, kind: Kind) -> &mut Option<u64> {
        match kind {
            Kind::Concurrency => &mut self.concurrency,
            Kind::MemoryMib => &mut self.memory_mib,
            Kind::Rps => &mut self.rps,
            Kind::StoredBytes => &mut self.stored_bytes,
            Kind::Functions => &mut self.functions,
            Kind::Rules => &mut self.rules,
        }
    }

    /// Refuses values the database cannot hold.
    pub fn check(&self) -> Result<(), QuotaParseError> {
        match Kind::ALL
            .into_iter()
            .find(|k| self.get(*k).is_some_and(|v| v > MAX_LIMIT))
        {
            Some(kind) => Err(QuotaParseError::TooLarge(kind.key())),
            None => Ok(()),
        }
    }
}

/// Why a quota flag does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaParseError {
    /// A part is not `kind=value`.
    #[error("{0:?} is not kind=value (such as concurrency=64)")]
    NotPair(String),
    /// The kind is not one we know.
    #[error(
        "unknown quota {0:?}; the quotas are concurrency, memory_mib, rps, stored_bytes, functions and rules"
    )]
    UnknownKind(String),
    /// The value is not a whole number.
    #[error("{kind}={value:?}: the value must be a whole number of 0 or more")]
    BadValue {
        /// The kind.
        kind: &'static str,
        /// What was given.
        value: String,
    },
    /// A value is too large to store.
    #[error("{0}: the value must be at most {MAX_LIMIT}")]
    TooLarge(&'static str),
    /// A kind is given twice.
    #[error("{0} is given twice")]
    Repeated(&'static str),
}

impl FromStr for QuotaOverride {
    type Err = QuotaParseError;

    /// `kind=value` pairs separated by commas, such as
    /// `concurrency=64,memory_mib=4096`; empty sets nothing.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut over = Self::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| QuotaParseError::NotPair(part.to_owned()))?;
            let kind =
                Kind::parse(key.trim()).ok_or_else(|| QuotaParseError::UnknownKind(key.trim().to_owned()))?;
            let value = value.trim();
            let n: u64 = value.parse().map_err(|_| QuotaParseError::BadValue {
                kind: kind.key(),
                value: value.to_owned(),
            })?;
            let slot = over.field_mut(kind);
            if slot.is_some() {
                return Err(QuotaParseError::Repeated(kind.key()));
            }
            *slot = Some(n);
        }
        over.check()?;
        Ok(over)
    }
}

/// The server's default quotas: the built-in ones with the flags'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// Of every project without an override.
    pub project: Quotas,
    /// Of every org without an override.
    pub org: Quotas,
}

impl Defaults {
    /// The built-in defaults for a pool of `pool` instances, with the kinds
    /// `project` and `org` (the flags) set replaced. Warns when a default
    /// lets one tenant take the whole pool.
    pub fn new(pool: u64, project: &QuotaOverride, org: &QuotaOverride) -> Self {
        let d = Self {
            project: Quotas::project_builtin(pool).with(project),
            org: Quotas::org_builtin(pool).with(org),
        };
        for (scope, q) in [("project", d.project), ("org", d.org)] {
            if q.concurrency >= pool {
                tracing::warn!(
                    scope,
                    concurrency = q.concurrency,
                    pool,
                    "the default concurrency quota lets one tenant take the whole instance pool"
                );
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_leaves_the_rest_unset() {
        let o: QuotaOverride =
            "concurrency=64, memory_mib=4096,rps=200,stored_bytes=10737418240,functions=100,rules=100"
                .parse()
                .expect("parses");
        assert_eq!(o.concurrency, Some(64));
        assert_eq!(o.stored_bytes, Some(10 * GIB));
        assert_eq!(o.rules, Some(100));
        let partial: QuotaOverride = "rps=5".parse().expect("parses");
        assert_eq!(partial.rps, Some(5));
        assert_eq!(partial.concurrency, None);
        assert_eq!("".parse::<QuotaOverride>(), Ok(QuotaOverride::default()));
    }

    #[test]
    fn refuses_bad_flags_with_the_reason() {
        let err = |s: &str| s.parse::<QuotaOverride>().expect_err(s);
        assert_eq!(err("cpu=2"), QuotaParseError::UnknownKind("cpu".into()));
        assert_eq!(err("concurrency"), QuotaParseError::NotPair("concurrency".into()));
        assert_eq!(
            err("rps=-1"),
            QuotaParseError::BadValue {
                kind: "rps",
                value: "-1".into()
            }
        );
        assert_eq!(err("rps=1,rps=2"), QuotaParseError::Repeated("rps"));
        assert_eq!(
            err("functions=18446744073709551615"),
            QuotaParseError::TooLarge("functions")
        );
        assert!(err("cpu=2").to_string().contains("memory_mib"), "names the kinds");
    }

    #[test]
    fn builtin_defaults_keep_every_tenant_below_the_pool() {
        for pool in [1, 2, 16, 512, 4096] {
            let d = Defaults::new(pool, &QuotaOverride::default(), &QuotaOverride::default());
            assert!(d.project.concurrency >= 1 && d.org.concurrency >= 1);
            if pool > 1 {
                assert!(d.project.concurrency < pool, "pool {pool}");
                assert!(d.org.concurrency < pool, "pool {pool}");
            }
        }
        let d = Defaults::new(
            512,
            &"concurrency=3".parse().expect("parses"),
            &QuotaOverride::default(),
        );
        assert_eq!(d.project.concurrency, 3);
        assert_eq!(d.project.functions, 100, "unset kinds keep the built-in value");
    }
}
