//! Bindings of principals to roles.

use super::*;

impl OrgScope {
    /// Gives a principal a role, in the org (`project_id` empty) or a
    /// project. Idempotent: an existing binding is returned.
    pub async fn bind(
        &self,
        principal_type: &str,
        principal_id: &str,
        role_id: &str,
        project_id: &str,
    ) -> Result<Binding> {
        let b = Binding {
            id: new_id(),
            principal_type: principal_type.to_owned(),
            principal_id: principal_id.to_owned(),
            role_id: role_id.to_owned(),
            project_id: project_id.to_owned(),
            created_ms: now_ms(),
        };
        let r = sqlx::query(
            "INSERT INTO bindings (id, org_id, project_id, principal_type, principal_id, role_id, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&b.id)
        .bind(&self.org_id)
        .bind(&b.project_id)
        .bind(&b.principal_type)
        .bind(&b.principal_id)
        .bind(&b.role_id)
        .bind(b.created_ms)
        .execute(self.pool())
        .await;
        match r {
            Ok(_) => Ok(b),
            Err(e) if is_unique_violation(&e) => {
                let row = sqlx::query(&format!(
                    "SELECT {BINDING_COLUMNS} FROM bindings \
                     WHERE org_id = $1 AND principal_type = $2 AND principal_id = $3 AND role_id = $4 \
                     AND project_id = $5"
                ))
                .bind(&self.org_id)
                .bind(principal_type)
                .bind(principal_id)
                .bind(role_id)
                .bind(project_id)
                .fetch_one(self.pool())
                .await?;
                Ok(binding(&row))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The org's bindings, by id, after `cursor`, with the names of their
    /// principal, role and project.
    pub async fn list_bindings(&self, cursor: &str, limit: i64) -> Result<Vec<NamedBinding>> {
        let rows = sqlx::query(
            "SELECT b.id, b.principal_type, b.principal_id, b.role_id, b.project_id, b.created_ms, \
                    u.name AS user_name, r.name AS role_name, p.name AS project_name \
             FROM bindings b \
             LEFT JOIN users u ON b.principal_type = 'user' AND u.id = b.principal_id AND u.org_id = b.org_id \
             LEFT JOIN roles r ON r.id = b.role_id AND r.org_id = b.org_id \
             LEFT JOIN projects p ON p.id = b.project_id AND p.org_id = b.org_id \
             WHERE b.org_id = $1 AND b.id > $2 ORDER BY b.id LIMIT $3",
        )
        .bind(&self.org_id)
        .bind(cursor)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let b = binding(r);
                let principal = match b.principal_type.as_str() {
                    "user" => r.get::<Option<String>, _>("user_name").unwrap_or_default(),
                    _ => format!("key:{}", b.principal_id),
                };
                let role = match b.role_id.strip_prefix("builtin:") {
                    Some(name) => name.to_owned(),
                    None => r.get::<Option<String>, _>("role_name").unwrap_or_default(),
                };
                let project = (!b.project_id.is_empty())
                    .then(|| r.get::<Option<String>, _>("project_name").unwrap_or_default());
                NamedBinding {
                    binding: b,
                    principal,
                    role,
                    project,
                }
            })
            .collect())
    }

    /// One binding of the org.
    pub async fn binding(&self, id: &str) -> Result<Option<Binding>> {
        let row = sqlx::query(&format!(
            "SELECT {BINDING_COLUMNS} FROM bindings \
             WHERE org_id = $1 AND id = $2"
        ))
        .bind(&self.org_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(binding))
    }

    /// Removes a binding; false when there was none.
    pub async fn unbind(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM bindings WHERE org_id = $1 AND id = $2")
            .bind(&self.org_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The bindings of one principal.
    pub async fn bindings_of(&self, principal_type: &str, principal_id: &str) -> Result<Vec<Binding>> {
        let rows = sqlx::query(&format!(
            "SELECT {BINDING_COLUMNS} FROM bindings \
             WHERE org_id = $1 AND principal_type = $2 AND principal_id = $3"
        ))
        .bind(&self.org_id)
        .bind(principal_type)
        .bind(principal_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(binding).collect())
    }
}
