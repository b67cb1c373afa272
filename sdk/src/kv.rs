//! The key-value store (`wasi:keyvalue`): one namespace per project and
//! bucket, byte values, typed JSON helpers, atomic counters and
//! compare-and-swap.
//!
//! ```no_run
//! use minicloud_sdk::kv::Store;
//!
//! # fn f() -> minicloud_sdk::Result<()> {
//! let links = Store::open("links")?;
//! links.set_json("abc", &"https://example.com")?;
//! let url: Option<String> = links.get_json("abc")?;
//! let hits = links.increment("hits/abc", 1)?;
//! # Ok(()) }
//! ```

use crate::Result;
use crate::bindings::wasi::keyvalue::{atomics, store};
use crate::error::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An open bucket of the key-value store.
#[derive(Debug)]
pub struct Store {
    bucket: store::Bucket,
}

impl Store {
    /// Opens the bucket `name` of the function's project.
    pub fn open(name: &str) -> Result<Self> {
        Ok(Self {
            bucket: store::open(name)?,
        })
    }

    /// The value at `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.bucket.get(key)?)
    }

    /// Sets `key`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.bucket.set(key, value)?)
    }

    /// Removes `key`; a missing key is not an error.
    pub fn delete(&self, key: &str) -> Result<()> {
        Ok(self.bucket.delete(key)?)
    }

    /// Whether `key` exists.
    pub fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.bucket.exists(key)?)
    }

    /// Every key, page by page.
    pub fn keys(&self) -> Result<Vec<String>> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.bucket.list_keys(cursor.as_deref())?;
            all.extend(page.keys);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// The JSON value at `key`, decoded.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Invalid(format!("the value at {key:?} is not the expected JSON: {e}"))),
            None => Ok(None),
        }
    }

    /// Stores `value` as JSON at `key`.
    pub fn set_json<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::Invalid(e.to_string()))?;
        self.set(key, &bytes)
    }

    /// Adds `delta` to the counter at `key` (missing counts as zero) and
    /// returns the new value, atomically.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        Ok(atomics::increment(&self.bucket, key, delta)?)
    }

    /// Sets `key` to `f(current)` atomically: retries while other writers
    /// get there first. Returns the value written.
    pub fn update(&self, key: &str, mut f: impl FnMut(Option<&[u8]>) -> Vec<u8>) -> Result<Vec<u8>> {
        let (mut cas, mut current) = atomics::Cas::new_with_read(&self.bucket, key)?;
        loop {
            let next = f(current.as_deref());
            match atomics::swap(cas, &next) {
                Ok(()) => return Ok(next),
                Err(atomics::CasError::CasFailed((fresh, value))) => {
                    cas = fresh;
                    current = value;
                }
                Err(atomics::CasError::StoreError(e)) => return Err(e.into()),
            }
        }
    }
}
