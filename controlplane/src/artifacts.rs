//! Component bytes and compiled artifacts in the object store, with a local
//! cache of compiled artifacts to memory-map.
//!
//! Keys are content addressed: `components/<sha256>.wasm` for uploads and
//! `compiled/<engine fingerprint>/<sha256>.cwasm` for artifacts, so a restart
//! or another node with the same engine loads instead of compiling.

use bytes::Bytes;
use minicloud_runtime::Runtime;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors moving artifacts around.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// The local cache failed.
    #[error("artifact cache {path}: {source}")]
    Cache {
        /// The file involved.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// The artifact store.
#[derive(Clone)]
pub struct Artifacts {
    objects: Arc<dyn ObjectStore>,
    cache_dir: PathBuf,
    fingerprint: String,
}

impl std::fmt::Debug for Artifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifacts")
            .field("objects", &self.objects.to_string())
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

impl Artifacts {
    /// An artifact store over `objects`, caching compiled code in `cache_dir`.
    pub fn new(objects: Arc<dyn ObjectStore>, cache_dir: PathBuf, runtime: &Runtime) -> Self {
        Self {
            objects,
            cache_dir,
            fingerprint: runtime.fingerprint().to_owned(),
        }
    }

    fn component_key(sha: &str) -> ObjectPath {
        ObjectPath::from(format!("components/{sha}.wasm"))
    }

    fn compiled_key(&self, sha: &str) -> ObjectPath {
        ObjectPath::from(format!("compiled/{}/{sha}.cwasm", self.fingerprint))
    }

    /// Where the compiled artifact of `sha` lives on local disk.
    pub fn cache_path(&self, sha: &str) -> PathBuf {
        self.cache_dir
            .join(&self.fingerprint)
            .join(format!("{sha}.cwasm"))
    }

    /// Stores an upload and its compiled artifact.
    pub async fn put(&self, sha: &str, component: Bytes, compiled: Bytes) -> Result<(), ArtifactError> {
        self.objects
            .put(&Self::component_key(sha), PutPayload::from_bytes(component))
            .await?;
        self.objects
            .put(&self.compiled_key(sha), PutPayload::from_bytes(compiled.clone()))
            .await?;
        self.write_cache(sha, &compiled).await?;
        Ok(())
    }

    /// Makes sure the compiled artifact is in the local cache. Returns its
    /// path, or `None` when the object store has no artifact for this engine
    /// (then the original must be compiled again).
    pub async fn fetch_compiled(&self, sha: &str) -> Result<Option<PathBuf>, ArtifactError> {
        let path = self.cache_path(sha);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(Some(path));
        }
        match self.objects.get(&self.compiled_key(sha)).await {
            Ok(got) => {
                let bytes = got.bytes().await?;
                self.write_cache(sha, &bytes).await?;
                Ok(Some(path))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The uploaded component.
    pub async fn component(&self, sha: &str) -> Result<Bytes, ArtifactError> {
        Ok(self.objects.get(&Self::component_key(sha)).await?.bytes().await?)
    }

    /// Stores a compiled artifact made after a cache miss.
    pub async fn put_compiled(&self, sha: &str, compiled: Bytes) -> Result<(), ArtifactError> {
        self.objects
            .put(&self.compiled_key(sha), PutPayload::from_bytes(compiled.clone()))
            .await?;
        self.write_cache(sha, &compiled).await
    }

    /// Writes atomically: a reader never maps a half-written file.
    async fn write_cache(&self, sha: &str, bytes: &[u8]) -> Result<(), ArtifactError> {
        let path = self.cache_path(sha);
        let io = |source| ArtifactError::Cache {
            path: path.display().to_string(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
        let tmp = dir.join(format!("{sha}.{}.tmp", crate::util::new_id()));
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)?;
        Ok(())
    }
}
