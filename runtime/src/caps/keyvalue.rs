//! `wasi:keyvalue` store and atomics over the project's key-value backend.
//! Actions: `kv:GetItem`, `kv:PutItem`, `kv:DeleteItem`, `kv:ListKeys`,
//! `kv:Increment` on `mrn:kv:<org>:<project>:bucket/<bucket>/<key>` (the
//! bucket alone for `kv:ListKeys`).

use super::backend::KvBackend;
use super::bindings::{atomics, kv};
use super::{CapError, check_name};
use crate::names::check_key;
use crate::state::InstanceState;
use wasmtime::component::Resource;

/// An open bucket: only its name; every call is checked afresh.
#[derive(Debug)]
pub struct KvBucket {
    name: String,
}

/// A compare-and-swap handle: the key and the version it saw.
#[derive(Debug)]
pub struct KvCas {
    bucket: String,
    key: String,
    version: i64,
}

/// Keys per `list-keys` page.
const KEYS_PER_PAGE: u32 = 1000;

impl From<CapError> for kv::Error {
    fn from(e: CapError) -> Self {
        match e {
            CapError::Denied(_) => kv::Error::AccessDenied,
            CapError::Limit(m) => kv::Error::Other(m),
            CapError::Backend(b) => kv::Error::Other(b.to_string()),
        }
    }
}

type KvResult<T> = wasmtime::Result<Result<T, kv::Error>>;

impl InstanceState {
    fn kv_bucket(&self, bucket: &Resource<KvBucket>) -> wasmtime::Result<String> {
        Ok(self.table.get(bucket)?.name.clone())
    }

    /// Checks `action` on one key of `bucket`.
    fn kv_check(&mut self, action: &str, bucket: &str, key: &str) -> Result<(), CapError> {
        check_key(key)?;
        self.caps.check("kv", action, &format!("bucket/{bucket}/{key}"))
    }
}

impl kv::Host for InstanceState {
    async fn open(&mut self, identifier: String) -> KvResult<Resource<KvBucket>> {
        if let Err(e) = self
            .caps
            .count_call()
            .and_then(|()| check_name("bucket", &identifier))
        {
            return Ok(Err(e.into()));
        }
        if self.caps.backend::<dyn KvBackend>().is_err() {
            return Ok(Err(kv::Error::NoSuchStore));
        }
        Ok(Ok(self.table.push(KvBucket { name: identifier })?))
    }
}

impl kv::HostBucket for InstanceState {
    async fn get(&mut self, bucket: Resource<KvBucket>, key: String) -> KvResult<Option<Vec<u8>>> {
        let name = self.kv_bucket(&bucket)?;
        let run = async {
            self.kv_check("kv:GetItem", &name, &key)?;
            let got = self.caps.backend::<dyn KvBackend>()?.get(&name, &key).await?;
            self.caps
                .count_read(got.value.as_ref().map_or(0, |v| v.len() as u64))?;
            Ok::<_, CapError>(got.value)
        };
        Ok(run.await.map_err(Into::into))
    }

    async fn set(&mut self, bucket: Resource<KvBucket>, key: String, value: Vec<u8>) -> KvResult<()> {
        let name = self.kv_bucket(&bucket)?;
        let run = async {
            self.kv_check("kv:PutItem", &name, &key)?;
            self.caps.count_written(value.len() as u64)?;
            self.caps
                .backend::<dyn KvBackend>()?
                .set(&name, &key, &value)
                .await?;
            Ok::<_, CapError>(())
        };
        Ok(run.await.map_err(Into::into))
    }

    async fn delete(&mut self, bucket: Resource<KvBucket>, key: String) -> KvResult<()> {
        let name = self.kv_bucket(&bucket)?;
        let run = async {
            self.kv_check("kv:DeleteItem", &name, &key)?;
            self.caps.backend::<dyn KvBackend>()?.delete(&name, &key).await?;
            Ok::<_, CapError>(())
        };
        Ok(run.await.map_err(Into::into))
    }

    async fn exists(&mut self, bucket: Resource<KvBucket>, key: String) -> KvResult<bool> {
        let name = self.kv_bucket(&bucket)?;
        let run = async {
            self.kv_check("kv:GetItem", &name, &key)?;
            Ok::<_, CapError>(
                self.caps
                    .backend::<dyn KvBackend>()?
                    .get(&name, &key)
                    .await?
                    .version
                    != 0,
            )
        };
        Ok(run.await.map_err(Into::into))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<KvBucket>,
        cursor: Option<String>,
    ) -> KvResult<kv::KeyResponse> {
        let name = self.kv_bucket(&bucket)?;
        let run = async {
            self.caps.check("kv", "kv:ListKeys", &format!("bucket/{name}"))?;
            let page = self
                .caps
                .backend::<dyn KvBackend>()?
                .list_keys(&name, cursor.as_deref(), KEYS_PER_PAGE)
                .await?;
            self.caps
                .count_read(page.keys.iter().map(|k| k.len() as u64).sum())?;
            Ok::<_, CapError>(kv::KeyResponse {
                keys: page.keys,
                cursor: page.cursor,
            })
        };
        Ok(run.await.map_err(Into::into))
    }

    async fn drop(&mut self, bucket: Resource<KvBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for InstanceState {
    async fn increment(&mut self, bucket: Resource<KvBucket>, key: String, delta: i64) -> KvResult<i64> {
        let name = self.kv_bucket(&bucket)?;
        let run = async {
            self.kv_check("kv:Increment", &name, &key)?;
            Ok::<_, CapError>(
                self.caps
                    .backend::<dyn KvBackend>()?
                    .increment(&name, &key, delta)
                    .await?,
            )
        };
        Ok(run.await.map_err(Into::into))
    }

    async fn swap(
        &mut self,
        cas: Resource<KvCas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let KvCas { bucket, key, version } = self.table.delete(cas)?;
        let run = async {
            self.kv_check("kv:PutItem", &bucket, &key)?;
            self.caps.count_written(value.len() as u64)?;
            let kv = self.caps.backend::<dyn KvBackend>()?;
            if kv.swap(&bucket, &key, version, &value).await? {
                return Ok(None);
            }
            self.caps.count_call()?;
            Ok::<_, CapError>(Some(kv.get(&bucket, &key).await?))
        };
        match run.await {
            Ok(None) => Ok(Ok(())),
            Ok(Some(now)) => {
                let fresh = self.table.push(KvCas {
                    bucket,
                    key,
                    version: now.version,
                })?;
                Ok(Err(atomics::CasError::CasFailed((fresh, now.value))))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(e.into()))),
        }
    }
}

impl atomics::HostCas for InstanceState {
    async fn new(&mut self, bucket: Resource<KvBucket>, key: String) -> KvResult<Resource<KvCas>> {
        match self.cas_read(&bucket, key).await? {
            Ok((cas, _)) => Ok(Ok(cas)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn new_with_read(
        &mut self,
        bucket: Resource<KvBucket>,
        key: String,
    ) -> KvResult<(Resource<KvCas>, Option<Vec<u8>>)> {
        self.cas_read(&bucket, key).await
    }

    async fn drop(&mut self, cas: Resource<KvCas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl InstanceState {
    /// Reads a key with its version and makes a CAS handle for it.
    async fn cas_read(
        &mut self,
        bucket: &Resource<KvBucket>,
        key: String,
    ) -> KvResult<(Resource<KvCas>, Option<Vec<u8>>)> {
        let name = self.kv_bucket(bucket)?;
        let run = async {
            self.kv_check("kv:GetItem", &name, &key)?;
            let got = self.caps.backend::<dyn KvBackend>()?.get(&name, &key).await?;
            self.caps
                .count_read(got.value.as_ref().map_or(0, |v| v.len() as u64))?;
            Ok::<_, CapError>(got)
        };
        match run.await {
            Ok(got) => {
                let cas = self.table.push(KvCas {
                    bucket: name,
                    key,
                    version: got.version,
                })?;
                Ok(Ok((cas, got.value)))
            }
            Err(e) => Ok(Err(e.into())),
        }
    }
}
