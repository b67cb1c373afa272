//! Secrets and their versions. Values are stored sealed (see
//! `crate::secrets`); this module never sees plaintext.

use super::Result;
use super::projects::ProjectScope;
use crate::util::{new_id, now_ms};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A secret's metadata.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SecretRow {
    /// Stable id (part of each version's associated data).
    #[serde(skip)]
    pub id: String,
    /// Unique in the project.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last new version, epoch ms.
    pub updated_ms: i64,
}

/// One sealed version.
#[derive(Debug, Clone)]
pub struct SealedVersion {
    /// 1, 2, 3...
    pub version: i64,
    /// Base64 nonce.
    pub nonce: String,
    /// Base64 ciphertext with its tag.
    pub ciphertext: String,
    /// When it was added, epoch ms.
    pub created_ms: i64,
}

fn secret_row(r: &AnyRow) -> Result<SecretRow> {
    Ok(SecretRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

fn sealed(r: &AnyRow) -> Result<SealedVersion> {
    Ok(SealedVersion {
        version: r.try_get("version")?,
        nonce: r.try_get("nonce")?,
        ciphertext: r.try_get("ciphertext")?,
        created_ms: r.try_get("created_ms")?,
    })
}

const SECRET_COLUMNS: &str = "id, name, description, created_ms, updated_ms";

impl ProjectScope {
    /// Creates a secret's row (without versions); `None` if the name is
    /// taken.
    pub async fn create_secret(&self, name: &str, description: &str) -> Result<Option<SecretRow>> {
        let now = now_ms();
        let row = SecretRow {
            id: new_id(),
            name: name.to_owned(),
            description: description.to_owned(),
            created_ms: now,
            updated_ms: now,
        };
        let inserted = sqlx::query(
            "INSERT INTO secrets (id, project_id, name, description, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&row.id)
        .bind(&self.project_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(now)
        .execute(self.pool())
        .await;
        Ok(super::inserted(inserted)?.then_some(row))
    }

    /// A secret by name.
    pub async fn secret(&self, name: &str) -> Result<Option<SecretRow>> {
        let row = sqlx::query(&format!(
            "SELECT {SECRET_COLUMNS} FROM secrets WHERE project_id = $1 AND name = $2"
        ))
        .bind(&self.project_id)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(secret_row).transpose()
    }

    /// Secrets after `after`, by name, at most `limit`.
    pub async fn secrets(&self, after: &str, limit: i64) -> Result<Vec<SecretRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {SECRET_COLUMNS} FROM secrets WHERE project_id = $1 AND name > $2 ORDER BY name LIMIT $3"
        ))
        .bind(&self.project_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(secret_row).collect()
    }

    /// The next version number of a secret.
    pub async fn next_secret_version(&self, secret: &SecretRow) -> Result<i64> {
        let row = sqlx::query("SELECT MAX(version) AS v FROM secret_versions WHERE secret_id = $1")
            .bind(&secret.id)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<Option<i64>, _>("v")?.unwrap_or(0) + 1)
    }

    /// Stores a sealed version; false if that version number was taken by a
    /// concurrent writer.
    pub async fn add_secret_version(&self, secret: &SecretRow, v: &SealedVersion) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO secret_versions (secret_id, version, nonce, ciphertext, created_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&secret.id)
        .bind(v.version)
        .bind(&v.nonce)
        .bind(&v.ciphertext)
        .bind(v.created_ms)
        .execute(self.pool())
        .await;
        if !super::inserted(inserted)? {
            return Ok(false);
        }
        sqlx::query("UPDATE secrets SET updated_ms = $1 WHERE id = $2 AND project_id = $3")
            .bind(v.created_ms)
            .bind(&secret.id)
            .bind(&self.project_id)
            .execute(self.pool())
            .await?;
        Ok(true)
    }

    /// A sealed version, or the newest with `None`.
    pub async fn secret_version(
        &self,
        secret: &SecretRow,
        version: Option<i64>,
    ) -> Result<Option<SealedVersion>> {
        let row = match version {
            Some(v) => {
                sqlx::query(
                    "SELECT version, nonce, ciphertext, created_ms FROM secret_versions \
                     WHERE secret_id = $1 AND version = $2",
                )
                .bind(&secret.id)
                .bind(v)
                .fetch_optional(self.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT version, nonce, ciphertext, created_ms FROM secret_versions \
                     WHERE secret_id = $1 ORDER BY version DESC LIMIT 1",
                )
                .bind(&secret.id)
                .fetch_optional(self.pool())
                .await?
            }
        };
        row.as_ref().map(sealed).transpose()
    }

    /// The versions of a secret (numbers and times), newest first.
    pub async fn secret_versions(&self, secret: &SecretRow) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT version, created_ms FROM secret_versions WHERE secret_id = $1 ORDER BY version DESC",
        )
        .bind(&secret.id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("created_ms")?)))
            .collect()
    }

    /// Removes one version; false if there was none.
    pub async fn remove_secret_version(&self, secret: &SecretRow, version: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM secret_versions WHERE secret_id = $1 AND version = $2")
            .bind(&secret.id)
            .bind(version)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a secret and all its versions.
    pub async fn delete_secret(&self, secret: &SecretRow) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM secret_versions WHERE secret_id = $1")
            .bind(&secret.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM secrets WHERE id = $1 AND project_id = $2")
            .bind(&secret.id)
            .bind(&self.project_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
