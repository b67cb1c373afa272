//! What the capabilities need from outside the runtime, as small traits the
//! control plane implements. Each backend is already scoped to one project:
//! a function cannot name another tenant's data.
//!
//! The control plane offers a function's backends as one [`Backends`] set,
//! keyed by their trait ([`Backends::with`]); a capability finds its own by
//! its trait, so adding a capability adds no field anywhere. A backend the
//! platform does not offer is the guest's `unavailable` error, never a
//! trap.

use super::CapError;
use bytes::Bytes;
use futures::stream::BoxStream;
use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A backend's failure, as the guest will see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The bucket, object or secret does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The arguments are not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A quota of the function's project or org is used up (stored bytes,
    /// say); the guest sees `limit-exceeded`.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The service failed.
    #[error("{0}")]
    Unavailable(String),
}

/// Decides whether the function's execution role allows an action on a
/// resource. Built once per deployment or policy change; called on every
/// host call, so it must be cheap and must not block.
pub trait Grants: Send + Sync {
    /// Whether `action` on `resource` (an `mrn:`) is allowed.
    fn allows(&self, action: &str, resource: &str) -> bool;
}

/// Grants nothing: the default for a function without an execution role.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGrants;

impl Grants for NoGrants {
    fn allows(&self, _action: &str, _resource: &str) -> bool {
        false
    }
}

/// Where denied host calls are reported (metrics and audit). Must not block.
pub trait DenialSink: Send + Sync {
    /// One refused call, with the invocation's trace id.
    fn denied(&self, action: &str, resource: &str, trace_id: &str);
}

/// Discards denials.
#[derive(Debug, Clone, Copy, Default)]
pub struct IgnoreDenials;

impl DenialSink for IgnoreDenials {
    fn denied(&self, _action: &str, _resource: &str, _trace_id: &str) {}
}

/// What is known of a stored object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectMeta {
    /// The object's key in its bucket.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// A quoted hash of the content.
    pub etag: String,
    /// Its content type, if given.
    pub content_type: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

/// Settings of a new object.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Its content type.
    pub content_type: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// How deep in a chain of event deliveries the write is (see
    /// [`Cause::hops`]): the object's event continues that chain.
    pub cause: Cause,
}

/// What led to a write, for the events it causes: a function handling an
/// event that writes an object whose event runs the function again is a
/// loop like one that publishes, and must be stopped like one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cause {
    /// The hops the write's events get: the handled delivery's plus one,
    /// or 0 when no delivery is being handled (an HTTP call, the API).
    pub hops: u32,
}

impl Cause {
    /// The cause of a write made while handling `delivery`, if any.
    pub fn of(delivery: Option<&DeliveryInfo>) -> Self {
        Self {
            hops: delivery.map_or(0, |d| d.hops.saturating_add(1)),
        }
    }
}

/// A listing request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up at the first occurrence of this after the prefix.
    pub delimiter: Option<String>,
    /// Continue after this point (from a previous page).
    pub cursor: Option<String>,
    /// At most this many entries.
    pub limit: u32,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ObjectPage {
    /// Objects, in key order.
    pub objects: Vec<ObjectMeta>,
    /// Prefixes rolled up by the delimiter.
    pub common_prefixes: Vec<String>,
    /// Where the next page starts, if there is one.
    pub cursor: Option<String>,
}

/// Content, streamed.
pub type ByteStream = BoxStream<'static, Result<Bytes, BackendError>>;

/// The object storage of one project.
#[async_trait::async_trait]
pub trait StorageBackend: Send + Sync {
    /// Whether the bucket exists.
    async fn bucket_exists(&self, bucket: &str) -> Result<bool, BackendError>;
    /// An object's metadata.
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, BackendError>;
    /// An object's metadata and content.
    async fn get(&self, bucket: &str, key: &str) -> Result<(ObjectMeta, ByteStream), BackendError>;
    /// Stores an object from a stream; it becomes visible when complete.
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        options: PutOptions,
        body: ByteStream,
    ) -> Result<ObjectMeta, BackendError>;
    /// Removes an object; `false` when there was none.
    async fn delete(&self, bucket: &str, key: &str, cause: Cause) -> Result<bool, BackendError>;
    /// Lists a bucket.
    async fn list(&self, bucket: &str, query: ListQuery) -> Result<ObjectPage, BackendError>;
}

impl Backend for dyn StorageBackend {
    const WHAT: &'static str = "object storage is";
}

/// A value and the version it was read at, for compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The value, if the key exists.
    pub value: Option<Vec<u8>>,
    /// The version: 0 when the key does not exist.
    pub version: i64,
}

/// One page of keys.
#[derive(Debug, Clone, Default)]
pub struct KeyPage {
    /// Keys in order.
    pub keys: Vec<String>,
    /// The cursor of the next page, if any.
    pub cursor: Option<String>,
}

/// The key-value store of one project.
#[async_trait::async_trait]
pub trait KvBackend: Send + Sync {
    /// The value and version of a key.
    async fn get(&self, bucket: &str, key: &str) -> Result<Versioned, BackendError>;
    /// Sets a key.
    async fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<(), BackendError>;
    /// Removes a key.
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), BackendError>;
    /// Keys after `cursor`, in order, at most `limit`.
    async fn list_keys(
        &self,
        bucket: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, BackendError>;
    /// Adds `delta` to the decimal number stored at the key and returns it.
    async fn increment(&self, bucket: &str, key: &str, delta: i64) -> Result<i64, BackendError>;
    /// Writes `value` if the key is still at `version` (0: still absent);
    /// `false` when it changed.
    async fn swap(&self, bucket: &str, key: &str, version: i64, value: &[u8]) -> Result<bool, BackendError>;
}

impl Backend for dyn KvBackend {
    const WHAT: &'static str = "the key-value store is";
}

/// The secrets of one project.
#[async_trait::async_trait]
pub trait SecretsBackend: Send + Sync {
    /// The current plaintext of a secret.
    async fn reveal(&self, name: &str) -> Result<String, BackendError>;
}

impl Backend for dyn SecretsBackend {
    const WHAT: &'static str = "secrets are";
}

/// An event a function publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEvent {
    /// Who emits it.
    pub source: String,
    /// What kind of event.
    pub detail_type: String,
    /// The text of a JSON object.
    pub detail: String,
    /// Resources it concerns.
    pub resources: Vec<String>,
}

/// Why the bus did not take a function's events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The bus failed or refused the events.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The events would have continued a chain of deliveries (an event
    /// runs a function that publishes an event that runs a function ...)
    /// past the platform's depth: they were not stored.
    #[error(
        "event loop detected: these events would be {hops} deliveries deep, past the limit of {max}; they were not published"
    )]
    LoopDetected {
        /// The depth the events would have had.
        hops: u32,
        /// The platform's limit.
        max: u32,
    },
}

/// The event bus of one project.
#[async_trait::async_trait]
pub trait EventsBackend: Send + Sync {
    /// Stores the events (all or none) for every rule they match; returns
    /// their ids. `cause` is the delivery the publishing invocation is
    /// handling, if any: the events are one hop further down its chain.
    async fn publish(
        &self,
        events: Vec<OutgoingEvent>,
        cause: Option<&DeliveryInfo>,
    ) -> Result<Vec<String>, PublishError>;
}

impl Backend for dyn EventsBackend {
    const WHAT: &'static str = "events are";
}

/// The delivery an event rule made an invocation for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryInfo {
    /// The event's id.
    pub event_id: String,
    /// The rule's name.
    pub rule: String,
    /// The target's id.
    pub target: String,
    /// Stable across attempts and replays.
    pub idempotency_key: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// The event's source (not shown to the guest; the platform uses it to
    /// keep failure events from feeding on themselves).
    pub source: String,
    /// The function the delivery runs (for the platform's reports).
    pub function: String,
    /// How many deliveries led to this event: 0 for events from the API,
    /// NATS and the platform, one more than the delivery a function was
    /// handling when it published. Not shown to the guest; the platform
    /// stops chains that grow too deep.
    pub hops: u32,
}

/// The workflow task a Task state made an invocation for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The execution's id.
    pub execution_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The Task state's name.
    pub state: String,
    /// 0 on the first attempt: `$$.State.RetryCount`.
    pub retry_count: u32,
    /// The task token, for `.waitForTaskToken` tasks only.
    pub token: Option<String>,
    /// Stable across the retries of one state entry and across a run
    /// repeated after a crash.
    pub idempotency_key: String,
}

/// The workflows of one project.
#[async_trait::async_trait]
pub trait WorkflowsBackend: Send + Sync {
    /// Stores a new execution of `workflow` with `input` (JSON text; empty:
    /// `{}`), named `name` (a fresh name when none), and returns its id;
    /// the same name and input answer the execution that exists. `cause`
    /// is the delivery the calling invocation is handling, if any: the
    /// execution continues its chain.
    async fn start_execution(
        &self,
        workflow: &str,
        input: &str,
        name: Option<&str>,
        cause: Option<&DeliveryInfo>,
    ) -> Result<String, BackendError>;
}

impl Backend for dyn WorkflowsBackend {
    const WHAT: &'static str = "workflows are";
}

/// Judges actions with the caller's own policies, for `identity.authorize`.
#[async_trait::async_trait]
pub trait CallerAuthority: Send + Sync {
    /// Whether the caller may do `action` on `resource`.
    async fn authorize(&self, action: &str, resource: &str) -> Result<bool, BackendError>;
}

/// A backend trait a capability reaches through [`Backends`].
pub trait Backend: Send + Sync + 'static {
    /// What the backend provides, as a refusal names it ("secrets are").
    const WHAT: &'static str;
}

/// The backends of one loaded function, by their trait; cheap to clone.
#[derive(Clone, Default)]
pub struct Backends(Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("offered", &self.0.len())
            .finish()
    }
}

impl Backends {
    /// These backends and `backend` (replacing one of the same trait).
    #[must_use]
    pub fn with<B: Backend + ?Sized>(mut self, backend: Arc<B>) -> Self {
        Arc::make_mut(&mut self.0).insert(TypeId::of::<B>(), Arc::new(backend));
        self
    }

    /// The backend of trait `B`, or the refusal a guest sees when the
    /// platform offers none.
    pub(crate) fn get<B: Backend + ?Sized>(&self) -> Result<Arc<B>, CapError> {
        self.0
            .get(&TypeId::of::<B>())
            .and_then(|any| any.downcast_ref::<Arc<B>>())
            .cloned()
            .ok_or_else(|| {
                CapError::Backend(BackendError::Unavailable(format!(
                    "{} not configured on this platform",
                    B::WHAT
                )))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str);

    #[async_trait::async_trait]
    impl SecretsBackend for Fixed {
        async fn reveal(&self, _name: &str) -> Result<String, BackendError> {
            Ok(self.0.to_owned())
        }
    }

    #[tokio::test]
    async fn a_capability_finds_its_backend_by_trait_and_unavailable_otherwise() {
        let none = Backends::default();
        match none.get::<dyn SecretsBackend>() {
            Err(CapError::Backend(BackendError::Unavailable(m))) => {
                assert_eq!(m, "secrets are not configured on this platform")
            }
            Err(_) => panic!("an absent backend is unavailable"),
            Ok(_) => panic!("nothing was offered"),
        }
        let offered = none
            .with::<dyn SecretsBackend>(Arc::new(Fixed("one")))
            .with::<dyn SecretsBackend>(Arc::new(Fixed("two")));
        let Ok(found) = offered.get::<dyn SecretsBackend>() else {
            panic!("an offered backend is found");
        };
        assert_eq!(
            found.reveal("x").await,
            Ok("two".to_owned()),
            "the last offer wins"
        );
        assert!(
            offered.get::<dyn KvBackend>().is_err(),
            "another trait finds nothing"
        );
    }
}
