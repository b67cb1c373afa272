//! Component bytes and compiled artifacts in the object store, with a local
//! cache of compiled artifacts to memory-map.
//!
//! Keys are content addressed: `components/<sha256>.wasm` for uploads and
//! `compiled/<engine fingerprint>/<sha256>.cwasm` for artifacts, so a restart
//! or another node with the same engine loads instead of compiling. A node
//! has two engines (with and without the component model's async ABI); an
//! artifact is found under the fingerprint of the one it was compiled for.
//!
//! A compiled artifact is machine code, loaded without further checks, so
//! it is trusted only when its SHA-256 matches the digest the database
//! recorded when the platform compiled it: a copy changed in the object
//! store (a shared bucket) or in the cache directory is never loaded, and
//! the function is compiled again from its original, whose name is its
//! own digest and is checked as well.

use crate::store::artifacts::RecordedArtifact;
use crate::store::{Store, StoreError};
use bytes::Bytes;
use futures::StreamExt;
use minicloud_runtime::Runtime;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Errors moving artifacts around.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// The database of digests failed.
    #[error("artifact digests: {0}")]
    Digests(#[from] StoreError),
    /// A stored original does not hash to its name.
    #[error("the stored component {0} does not match its digest")]
    Tampered(String),
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
    store: Store,
    cache_dir: PathBuf,
    /// Its engines: their fingerprints name the artifacts.
    runtime: Runtime,
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
    /// An artifact store over `objects`, caching compiled code in
    /// `cache_dir`, with the digests of what it compiled in `store`.
    pub fn new(objects: Arc<dyn ObjectStore>, store: Store, cache_dir: PathBuf, runtime: &Runtime) -> Self {
        Self {
            objects,
            store,
            cache_dir,
            runtime: runtime.clone(),
        }
    }

    /// Claims compiling `sha` for `org_id` and this node's engines for
    /// `for_ms` on behalf of this process: false while another node's claim
    /// is live. (Named by the first engine's fingerprint: the bytes decide
    /// which engine compiles them.)
    pub async fn claim_compile(&self, org_id: &str, sha: &str, for_ms: i64) -> Result<bool, ArtifactError> {
        let until = crate::util::now_ms().saturating_add(for_ms);
        Ok(self
            .store
            .claim_compile(org_id, sha, self.runtime.fingerprint(), node_id(), until)
            .await?)
    }

    /// Ends this process's claim on compiling `sha` for `org_id`.
    pub async fn release_compile(&self, org_id: &str, sha: &str) -> Result<(), ArtifactError> {
        Ok(self
            .store
            .release_compile(org_id, sha, self.runtime.fingerprint(), node_id())
            .await?)
    }

    fn component_key(sha: &str) -> ObjectPath {
        ObjectPath::from(format!("components/{sha}.wasm"))
    }

    fn compiled_key(sha: &str, fingerprint: &str) -> ObjectPath {
        ObjectPath::from(format!("compiled/{fingerprint}/{sha}.cwasm"))
    }

    /// Where the compiled artifact of `sha` for the engine of `fingerprint`
    /// lives on local disk.
    pub fn cache_path(&self, sha: &str, fingerprint: &str) -> PathBuf {
        self.cache_dir.join(fingerprint).join(format!("{sha}.cwasm"))
    }

    /// Stores an upload and its compiled artifact.
    pub async fn put(
        &self,
        sha: &str,
        fingerprint: &str,
        component: Bytes,
        compiled: Bytes,
    ) -> Result<(), ArtifactError> {
        self.put_component(sha, component).await?;
        self.put_compiled(sha, fingerprint, compiled).await
    }

    /// Stores an upload (named by its SHA-256, `sha`).
    pub async fn put_component(&self, sha: &str, component: Bytes) -> Result<(), ArtifactError> {
        self.objects
            .put(&Self::component_key(sha), PutPayload::from_bytes(component))
            .await?;
        Ok(())
    }

    /// Makes sure the compiled artifact is in the local cache and is the
    /// one the platform compiled. Returns its path and the fingerprint of
    /// the engine it is for, or `None` when there is no trustworthy
    /// artifact for either engine (then the original must be compiled
    /// again).
    pub async fn fetch_compiled(&self, sha: &str) -> Result<Option<(PathBuf, String)>, ArtifactError> {
        // The engine most components use first; the one with the async ABI
        // (built for the lookup if need be) only for what the first lacks.
        let mut fingerprint = self.runtime.fingerprint().to_owned();
        let mut recorded = self.store.recorded_artifact(sha, &fingerprint).await?;
        if recorded.is_none()
            && let Some(other) = self.async_fingerprint().await
        {
            fingerprint = other;
            recorded = self.store.recorded_artifact(sha, &fingerprint).await?;
        }
        let Some(recorded) = recorded else {
            return Ok(None);
        };
        let found = self.fetch_checked(sha, &fingerprint, &recorded).await?;
        Ok(found.map(|path| (path, fingerprint)))
    }

    /// The fingerprint of the engine with the async ABI, `None` if it
    /// cannot be built. The first call builds that engine (a few ms of pool
    /// reservations and linking) on a blocking thread, not a worker.
    async fn async_fingerprint(&self) -> Option<String> {
        if let Some(built) = self.runtime.async_fingerprint_if_built() {
            return Some(built.to_owned());
        }
        let runtime = self.runtime.clone();
        tokio::task::spawn_blocking(move || runtime.async_fingerprint().map(str::to_owned))
            .await
            .ok()?
            .ok()
    }

    /// The artifact of `sha` for `fingerprint` in the local cache, if a
    /// copy (cached, else in the object store) has the recorded size and
    /// digest. A copy of another size is refused unread; one whose size
    /// was not recorded yet records it once its digest matches.
    async fn fetch_checked(
        &self,
        sha: &str,
        fingerprint: &str,
        recorded: &RecordedArtifact,
    ) -> Result<Option<PathBuf>, ArtifactError> {
        let path = self.cache_path(sha, fingerprint);
        let size = match cached_size(&path, sha, recorded).await {
            Some(size) => size,
            None => match self.download(sha, fingerprint, &path, recorded).await? {
                Some(size) => size,
                None => return Ok(None),
            },
        };
        if recorded.size.is_none()
            && let Err(error) = self
                .store
                .record_artifact_size(sha, fingerprint, &recorded.digest, size)
                .await
        {
            // The copy is trusted by its digest: the size is recorded on
            // a later load instead.
            tracing::warn!(component = %sha, %error, "cannot record a compiled artifact's size");
        }
        Ok(Some(path))
    }

    /// The object store's copy of `sha` for `fingerprint` into the cache at
    /// `path`, if it has the recorded size and digest: its size, `None`
    /// when there is none or it was refused.
    async fn download(
        &self,
        sha: &str,
        fingerprint: &str,
        path: &Path,
        recorded: &RecordedArtifact,
    ) -> Result<Option<u64>, ArtifactError> {
        let got = match self.objects.get(&Self::compiled_key(sha, fingerprint)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = got.meta.size;
        if !fits(size, recorded)
            || !download_checked(got.into_stream(), path, sha, &recorded.digest, limit(recorded)).await?
        {
            refused(sha, "object_store");
            return Ok(None);
        }
        Ok(Some(size))
    }

    /// The uploaded component, checked against its name. A copy whose size
    /// is not the one its versions recorded is refused before it is read
    /// (a planted original of gigabytes would be read into memory whole).
    pub async fn component(&self, sha: &str) -> Result<Bytes, ArtifactError> {
        let got = self.objects.get(&Self::component_key(sha)).await?;
        if self
            .store
            .component_size(sha)
            .await?
            .is_some_and(|size| size != got.meta.size)
        {
            return Err(ArtifactError::Tampered(sha.to_owned()));
        }
        let bytes = got.bytes().await?;
        if sha256_of(bytes.clone()).await != sha {
            return Err(ArtifactError::Tampered(sha.to_owned()));
        }
        Ok(bytes)
    }

    /// Stores a compiled artifact and records its digest, the only proof
    /// that a copy of it may be loaded. `fingerprint` names the engine
    /// it was compiled for.
    pub async fn put_compiled(
        &self,
        sha: &str,
        fingerprint: &str,
        artifact: Bytes,
    ) -> Result<(), ArtifactError> {
        let digest = sha256_of(artifact.clone()).await;
        self.objects
            .put(
                &Self::compiled_key(sha, fingerprint),
                PutPayload::from_bytes(artifact.clone()),
            )
            .await?;
        self.write_cache(&self.cache_path(sha, fingerprint), sha, &artifact)
            .await?;
        self.store
            .record_artifact(sha, fingerprint, &digest, artifact.len() as u64)
            .await?;
        Ok(())
    }

    /// Writes atomically: a reader never maps a half-written file.
    async fn write_cache(&self, path: &Path, sha: &str, bytes: &[u8]) -> Result<(), ArtifactError> {
        let io = cache_error(path);
        let tmp = temporary_beside(path, sha).await?;
        let mut stray = Stray(Some(tmp.clone()));
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, path).await.map_err(io)?;
        stray.0 = None;
        Ok(())
    }
}

/// The largest copy taken of an artifact whose size was not recorded
/// (recorded before sizes were): a bound on what a planted copy can write
/// to the cache's disk, far above any artifact of a 50 MiB upload.
const UNRECORDED_SIZE_LIMIT: u64 = 1 << 30;

/// The most bytes a copy of the recorded artifact can have.
fn limit(recorded: &RecordedArtifact) -> u64 {
    recorded.size.unwrap_or(UNRECORDED_SIZE_LIMIT)
}

/// Whether a copy of `size` bytes can be the recorded artifact.
fn fits(size: u64, recorded: &RecordedArtifact) -> bool {
    recorded
        .size
        .map_or(size <= UNRECORDED_SIZE_LIMIT, |want| size == want)
}

/// The size of the cached copy at `path` if it has the recorded size and
/// digest (hashed only when the size fits); `None` if it is missing or
/// refused.
async fn cached_size(path: &Path, sha: &str, recorded: &RecordedArtifact) -> Option<u64> {
    let size = tokio::fs::metadata(path).await.ok()?.len();
    let matches = fits(size, recorded) && sha256_of_file(path.to_owned()).await? == recorded.digest;
    if !matches {
        refused(sha, "cache");
        return None;
    }
    Some(size)
}

/// Streams an object store copy into a temporary file beside `path`,
/// hashing it on the way (an artifact runs to tens of MB), and moves it to
/// `path` only if its digest is `digest`; whether it did. It stops at the
/// first chunk past `limit` bytes (the recorded size: a copy that grows
/// while read is refused without being read whole). The digest is taken on
/// the worker, a chunk of the stream at a time (each a few microseconds),
/// not on a blocking thread as [`sha256_of`] does with bytes in memory.
async fn download_checked(
    mut chunks: impl futures::Stream<Item = object_store::Result<Bytes>> + Unpin,
    path: &Path,
    sha: &str,
    digest: &str,
    limit: u64,
) -> Result<bool, ArtifactError> {
    let io = cache_error(path);
    let tmp = temporary_beside(path, sha).await?;
    // Removed however this ends short of the move: a mismatch, an error,
    // or the load that wanted it going away mid-download.
    let mut stray = Stray(Some(tmp.clone()));
    let mut hasher = Sha256::new();
    let copied = async {
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(&tmp).await.map_err(io)?);
        let mut total = 0_u64;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            total += chunk.len() as u64;
            if total > limit {
                return Ok(false);
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        Ok::<_, ArtifactError>(true)
    }
    .await?;
    if !copied || hex::encode(hasher.finalize()) != digest {
        return Ok(false);
    }
    tokio::fs::rename(&tmp, path).await.map_err(io)?;
    stray.0 = None;
    Ok(true)
}

/// A temporary file removed when dropped, unless taken out first.
struct Stray(Option<PathBuf>);

impl Drop for Stray {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An error of the cache file at `path`.
fn cache_error(path: &Path) -> impl Fn(std::io::Error) -> ArtifactError + Copy + '_ {
    move |source| ArtifactError::Cache {
        path: path.display().to_string(),
        source,
    }
}

/// A new temporary file's name in the folder of `path` (made if need be),
/// for a copy of `sha` that is moved to `path` once whole.
async fn temporary_beside(path: &Path, sha: &str) -> Result<PathBuf, ArtifactError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir).await.map_err(cache_error(path))?;
    Ok(dir.join(format!("{sha}.{}.tmp", crate::util::new_id())))
}

/// SHA-256 in hex, off the async workers (artifacts run to megabytes).
async fn sha256_of(bytes: Bytes) -> String {
    let hash = move || hex::encode(Sha256::digest(&bytes));
    // A failed task gives a digest that matches nothing: the caller
    // compiles again.
    tokio::task::spawn_blocking(hash).await.unwrap_or_default()
}

/// SHA-256 in hex of the file at `path`, read a MiB at a time on a
/// blocking thread; `None` if it cannot be read (not cached). Reading a
/// compiled artifact whole first (35.5 MB for the Python example) cost a
/// buffer as large, faulted in, for nothing but its digest: 48-52 ms
/// against 25-26 read in chunks (BENCHMARKS, 2026-12-06 midday).
async fn sha256_of_file(path: PathBuf) -> Option<String> {
    let hash = move || -> std::io::Result<String> {
        use std::io::Read;
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut chunk = vec![0; 1 << 20];
        loop {
            match file.read(&mut chunk) {
                Ok(0) => return Ok(hex::encode(hasher.finalize())),
                Ok(n) => hasher.update(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    };
    tokio::task::spawn_blocking(hash).await.ok()?.ok()
}

/// Notes an artifact copy that did not match its recorded digest (or
/// size: a copy of another size cannot have the digest either).
fn refused(sha: &str, copy: &'static str) {
    metrics::counter!("minicloud_artifact_digest_mismatches_total", "copy" => copy).increment(1);
    tracing::warn!(component = %sha, copy, "a compiled artifact does not match its recorded digest; compiling again");
}

/// This process's name in compile claims.
fn node_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(crate::util::new_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A stream of `n` chunks of 1 KiB that counts the chunks taken.
    fn counted(
        n: usize,
        taken: &AtomicUsize,
    ) -> impl futures::Stream<Item = object_store::Result<Bytes>> + Unpin {
        futures::stream::iter((0..n).map(move |_| {
            taken.fetch_add(1, Ordering::Relaxed);
            Ok(Bytes::from(vec![7; 1024]))
        }))
    }

    fn digest_of(n: usize) -> String {
        hex::encode(Sha256::digest(vec![7; 1024 * n]))
    }

    /// A copy longer than the recorded size is given up at the first chunk
    /// past it, not read whole, and leaves no file behind.
    #[tokio::test]
    async fn a_copy_past_its_size_is_not_read_whole() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("a.cwasm");
        let taken = AtomicUsize::new(0);
        let kept = download_checked(counted(1000, &taken), &path, "a", &digest_of(1000), 4 * 1024)
            .await
            .expect("no error");
        assert!(!kept, "refused");
        assert_eq!(
            taken.load(Ordering::Relaxed),
            5,
            "read up to the chunk past the size"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("the folder").count(),
            0,
            "nothing left"
        );
    }

    /// A copy of the recorded size and digest is moved into place whole.
    #[tokio::test]
    async fn a_copy_of_its_size_and_digest_is_kept() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("a.cwasm");
        let taken = AtomicUsize::new(0);
        let kept = download_checked(counted(4, &taken), &path, "a", &digest_of(4), 4 * 1024)
            .await
            .expect("no error");
        assert!(kept);
        assert_eq!(std::fs::read(&path).expect("in place"), vec![7; 4096]);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("the folder").count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn sizes_fit_as_recorded() {
        let recorded = |size| RecordedArtifact {
            digest: String::new(),
            size,
        };
        assert!(fits(10, &recorded(Some(10))));
        assert!(!fits(11, &recorded(Some(10))));
        assert!(!fits(9, &recorded(Some(10))));
        assert!(fits(UNRECORDED_SIZE_LIMIT, &recorded(None)));
        assert!(!fits(UNRECORDED_SIZE_LIMIT + 1, &recorded(None)));
    }
}
