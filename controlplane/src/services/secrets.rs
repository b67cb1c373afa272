//! The secrets service: values are sealed with the master key before they
//! are stored, versions only grow, the current version cannot be removed,
//! and a value comes out only through [`SecretService::reveal`].

use crate::capabilities::secrets::{Keyring, MAX_SECRET_BYTES, ProjectSecrets};
use crate::store::projects::{Project, ProjectScope};
use crate::store::secrets::{SealedVersion, SecretRow};
use crate::store::{Store, StoreError};
use crate::util::now_ms;
use minicloud_runtime::caps::backend::BackendError;

/// Why the secrets service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A value of the wrong size.
    #[error("secret_string must be 1 to {MAX_SECRET_BYTES} bytes")]
    InvalidValue,
    /// No such secret in the project.
    #[error("no secret {name:?} in project {project:?}")]
    NoSecret {
        /// The project's name.
        project: String,
        /// The secret's name.
        name: String,
    },
    /// A secret of that name exists.
    #[error("secret {0:?} exists; PUT .../value to rotate it")]
    Exists(String),
    /// No such version (or, for `None`, no version at all).
    #[error("{}", no_version(.name, *.version))]
    NoVersion {
        /// The secret's name.
        name: String,
        /// The version asked for.
        version: Option<i64>,
    },
    /// The version asked to be removed is the current value.
    #[error("version {version} is the current value of {name:?}; rotate first, or delete the secret")]
    CurrentVersion {
        /// The secret's name.
        name: String,
        /// The version.
        version: i64,
    },
    /// Other writers kept winning the next version number.
    #[error("the secret is being changed concurrently; retry")]
    Busy,
    /// A stored value could not be opened.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn no_version(name: &str, version: Option<i64>) -> String {
    match version {
        Some(v) => format!("secret {name:?} has no version {v}"),
        None => format!("secret {name:?} has no versions"),
    }
}

type Result<T, E = SecretsError> = std::result::Result<T, E>;

/// A value revealed.
#[derive(Debug)]
pub struct Revealed {
    /// Its version.
    pub version: i64,
    /// The plain value.
    pub value: String,
}

/// Secrets of projects.
#[derive(Debug, Clone)]
pub struct SecretService {
    store: Store,
    keyring: Keyring,
}

impl SecretService {
    /// The service sealing with `keyring`.
    pub fn new(store: Store, keyring: Keyring) -> Self {
        Self { store, keyring }
    }

    /// Refuses a value that is empty or too large.
    pub fn check_value(value: &str) -> Result<()> {
        if value.is_empty() || value.len() > MAX_SECRET_BYTES {
            return Err(SecretsError::InvalidValue);
        }
        Ok(())
    }

    /// The secret `name` of `project`.
    pub async fn secret(&self, project: &Project, name: &str) -> Result<SecretRow> {
        self.store
            .in_project(project)
            .secret(name)
            .await?
            .ok_or_else(|| SecretsError::NoSecret {
                project: project.name.clone(),
                name: name.to_owned(),
            })
    }

    /// Creates secret `name` with `value` as its version 1.
    pub async fn create(
        &self,
        project: &Project,
        name: &str,
        description: &str,
        value: &str,
    ) -> Result<(SecretRow, i64)> {
        Self::check_value(value)?;
        let scope = self.store.in_project(project);
        let secret = scope
            .create_secret(name, description)
            .await?
            .ok_or_else(|| SecretsError::Exists(name.to_owned()))?;
        let version = self.add_version(&scope, &secret, value).await?;
        Ok((secret, version))
    }

    /// Makes `value` the current version of secret `name`.
    pub async fn rotate(&self, project: &Project, name: &str, value: &str) -> Result<i64> {
        Self::check_value(value)?;
        let secret = self.secret(project, name).await?;
        self.add_version(&self.store.in_project(project), &secret, value)
            .await
    }

    /// The value of `version` of secret `name`, or of its current one.
    pub async fn reveal(&self, project: &Project, name: &str, version: Option<i64>) -> Result<Revealed> {
        let secret = self.secret(project, name).await?;
        let scope = self.store.in_project(project);
        match ProjectSecrets::new(scope, self.keyring.clone())
            .reveal_version(&secret, version)
            .await?
        {
            Some((version, value)) => Ok(Revealed { version, value }),
            None => Err(SecretsError::NoVersion {
                name: name.to_owned(),
                version,
            }),
        }
    }

    /// The versions of secret `name`, newest first, with when each was
    /// made.
    pub async fn versions(&self, project: &Project, name: &str) -> Result<(SecretRow, Vec<(i64, i64)>)> {
        let secret = self.secret(project, name).await?;
        let versions = self.store.in_project(project).secret_versions(&secret).await?;
        Ok((secret, versions))
    }

    /// Removes an old version; the current one stays until a rotation.
    pub async fn remove_version(&self, project: &Project, name: &str, version: i64) -> Result<()> {
        let (secret, versions) = self.versions(project, name).await?;
        if versions.first().map(|(v, _)| *v) == Some(version) {
            return Err(SecretsError::CurrentVersion {
                name: name.to_owned(),
                version,
            });
        }
        if !self
            .store
            .in_project(project)
            .remove_secret_version(&secret, version)
            .await?
        {
            return Err(SecretsError::NoVersion {
                name: name.to_owned(),
                version: Some(version),
            });
        }
        Ok(())
    }

    /// Deletes secret `name` with every version.
    pub async fn delete(&self, project: &Project, name: &str) -> Result<()> {
        let secret = self.secret(project, name).await?;
        self.store.in_project(project).delete_secret(&secret).await?;
        Ok(())
    }

    /// Seals and stores the next version of `secret`.
    async fn add_version(&self, scope: &ProjectScope, secret: &SecretRow, value: &str) -> Result<i64> {
        for _ in 0..8 {
            let version = scope.next_secret_version(secret).await?;
            let (nonce, ciphertext) = self.keyring.seal(&secret.id, version, value.as_bytes());
            let sealed = SealedVersion {
                version,
                nonce,
                ciphertext,
                created_ms: now_ms(),
            };
            if scope.add_secret_version(secret, &sealed).await? {
                return Ok(version);
            }
        }
        Err(SecretsError::Busy)
    }
}
