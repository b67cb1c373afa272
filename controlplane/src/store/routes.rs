//! Custom HTTP routes: method and path pattern to a function.

use super::functions::HttpAuth;
use super::projects::ProjectScope;
use super::{Result, Store, is_unique_violation};
use crate::util::{new_id, now_ms};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored route.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RouteRow {
    /// Stable id.
    pub id: String,
    /// Owning project's id.
    #[serde(skip)]
    pub project_id: String,
    /// Owning project's name.
    pub project: String,
    /// HTTP method, upper case, or `ANY`.
    pub method: String,
    /// Path pattern such as `/hello/{name}`.
    pub path: String,
    /// The function it calls, in the same project.
    pub function: String,
    /// Who may call it; none: as its function says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<HttpAuth>,
    /// Creation time, epoch ms.
    pub created_ms: i64,
}

fn route_row(r: &AnyRow) -> Result<RouteRow> {
    Ok(RouteRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        project: r.try_get("project_name")?,
        method: r.try_get("method")?,
        path: r.try_get("path")?,
        function: r.try_get("function_name")?,
        auth: HttpAuth::parse(&r.try_get::<String, _>("auth")?),
        created_ms: r.try_get("created_ms")?,
    })
}

const COLUMNS: &str =
    "r.id, r.project_id, p.name AS project_name, r.method, r.path, r.function_name, r.auth, r.created_ms";
const FROM: &str = "routes r JOIN projects p ON p.id = r.project_id";

impl ProjectScope {
    /// Stores a route of the project (its id and creation time are
    /// assigned here); `None` when the method and path are taken.
    pub async fn insert_route(&self, mut row: RouteRow) -> Result<Option<RouteRow>> {
        row.project_id = self.project_id.clone();
        row.id = new_id();
        row.created_ms = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO routes (id, project_id, method, path, function_name, auth, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.id)
        .bind(&row.project_id)
        .bind(&row.method)
        .bind(&row.path)
        .bind(&row.function)
        .bind(row.auth.map_or("", HttpAuth::as_str))
        .bind(row.created_ms)
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => Ok(Some(row)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Routes of the project, oldest first.
    pub async fn routes(&self) -> Result<Vec<RouteRow>> {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE r.project_id = $1 ORDER BY r.created_ms, r.id");
        let rows = sqlx::query(&sql)
            .bind(&self.project_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(route_row).collect()
    }

    /// Deletes a route of the project.
    pub async fn delete_route(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM routes WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(&self.project_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// Every route of every project, for the gateway's table.
    pub async fn all_routes(&self) -> Result<Vec<RouteRow>> {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} ORDER BY r.created_ms, r.id");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(route_row).collect()
    }
}
