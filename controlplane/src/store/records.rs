//! Invocation records and log lines.

use super::projects::ProjectScope;
use super::{Result, Store, multi_row_insert};
use serde::Serialize;
use sqlx::Row;

/// One invocation, as written by the batch writer and listed by the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvocationRecord {
    /// Invocation id.
    pub id: String,
    /// Owning project's id.
    #[serde(skip)]
    pub project_id: String,
    /// Function id at the time.
    #[serde(skip)]
    pub function_id: String,
    /// Function name.
    pub function: String,
    /// Version that ran.
    pub version: i64,
    /// Trace id of the causing request.
    pub trace_id: String,
    /// Start time, epoch ms.
    pub started_ms: i64,
    /// Wall time, microseconds.
    pub duration_us: i64,
    /// Instantiation time, microseconds.
    pub instantiate_us: i64,
    /// Peak linear memory, bytes.
    pub peak_memory: i64,
    /// `ok` or an error code.
    pub outcome: String,
    /// HTTP status the guest answered, for HTTP functions.
    pub http_status: Option<i64>,
    /// Error message, when the invocation failed.
    pub error: Option<String>,
    /// Log bytes dropped past the cap.
    pub logs_dropped: i64,
}

/// One log line, as stored and listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogRecord {
    /// The invocation that wrote it.
    pub invocation_id: String,
    /// Position within the invocation's output.
    pub seq: i64,
    /// Owning project's id.
    #[serde(skip)]
    pub project_id: String,
    /// Function name.
    pub function: String,
    /// Trace id of the causing request.
    pub trace_id: String,
    /// Time, epoch ms.
    pub time_ms: i64,
    /// `stdout`, `stderr` or `log` (`wasi:logging`).
    pub stream: String,
    /// The level of a `log` line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The text.
    pub line: String,
}

/// Rows per multi-row INSERT: well under both SQLite's (32,766) and
/// PostgreSQL's (65,535) limits on bound parameters.
const ROWS_PER_INSERT: usize = 100;

/// Values a row of `invocation_packs` binds, and a row of `log_lines`.
const PACK_VALUES: usize = 5;
const LOG_VALUES: usize = 9;

/// The keys of `invocation_packs` and `log_lines` (migrations 29 and 26):
/// a batch inserts with `ON CONFLICT (key) DO NOTHING`, so a retry of a
/// batch whose commit went through though its answer was lost writes
/// nothing twice and succeeds. Every column of both is the platform's
/// (ids it made, the scope's project), never a guest's or a client's.
const PACK_KEY: &str = "project_id, function_name, started_s, first_id";
const LOG_KEY: &str = "project_id, function_name, time_ms, invocation_id, seq";

/// The invocations of one function that started in one second, from one
/// batch: one row of `invocation_packs` (migration 29).
struct Pack<'a> {
    /// The first of them, whose project, function and id key the row.
    first: &'a InvocationRecord,
    started_s: i64,
    /// Their fields, a JSON array of [`PackedRecord`]s.
    records: String,
}

/// An invocation's fields in a pack, in this order; its project and
/// function are the pack's.
type PackedRecord<S> = (
    S,           // id
    S,           // function_id
    i64,         // version
    S,           // trace_id
    i64,         // started_ms
    i64,         // duration_us
    i64,         // instantiate_us
    i64,         // peak_memory
    S,           // outcome
    Option<i64>, // http_status
    Option<S>,   // error
    i64,         // logs_dropped
);

/// The pack a record goes into: its project, function and second.
fn pack_key(r: &InvocationRecord) -> (&str, &str, i64) {
    (&r.project_id, &r.function, r.started_ms.div_euclid(1000))
}

/// A batch's records, grouped into packs by project, function and second
/// (a stable sort: in each pack, the batch's order).
fn packs(invocations: &[InvocationRecord]) -> Result<Vec<Pack<'_>>> {
    let mut sorted: Vec<&InvocationRecord> = invocations.iter().collect();
    sorted.sort_by(|a, b| pack_key(a).cmp(&pack_key(b)));
    sorted
        .chunk_by(|a, b| pack_key(a) == pack_key(b))
        .map(|group| {
            let packed: Vec<PackedRecord<&str>> = group
                .iter()
                .map(|r| {
                    (
                        r.id.as_str(),
                        r.function_id.as_str(),
                        r.version,
                        r.trace_id.as_str(),
                        r.started_ms,
                        r.duration_us,
                        r.instantiate_us,
                        r.peak_memory,
                        r.outcome.as_str(),
                        r.http_status,
                        r.error.as_deref(),
                        r.logs_dropped,
                    )
                })
                .collect();
            Ok(Pack {
                first: group[0],
                started_s: pack_key(group[0]).2,
                records: serde_json::to_string(&packed)
                    .map_err(|e| super::StoreError::Corrupt(format!("a pack of records: {e}")))?,
            })
        })
        .collect()
}

/// Invocations newest first: by start, then id (the listing's order and
/// its cursor's).
fn newest_first(a: &InvocationRecord, b: &InvocationRecord) -> std::cmp::Ordering {
    (b.started_ms, &b.id).cmp(&(a.started_ms, &a.id))
}

/// A pack's records, as written by [`packs`].
fn unpack(project_id: &str, function: &str, records: &str) -> Result<Vec<InvocationRecord>> {
    let packed: Vec<PackedRecord<String>> = serde_json::from_str(records)
        .map_err(|e| super::StoreError::Corrupt(format!("invocation_packs.records: {e}")))?;
    Ok(packed
        .into_iter()
        .map(|p| InvocationRecord {
            id: p.0,
            project_id: project_id.to_owned(),
            function_id: p.1,
            function: function.to_owned(),
            version: p.2,
            trace_id: p.3,
            started_ms: p.4,
            duration_us: p.5,
            instantiate_us: p.6,
            peak_memory: p.7,
            outcome: p.8,
            http_status: p.9,
            error: p.10,
            logs_dropped: p.11,
        })
        .collect())
}

/// The connection a writer of records keeps from batch to batch.
///
/// A SQLite connection's page cache is emptied at the start of each
/// transaction that finds the database changed by another connection, and
/// the pool hands out its idle connections in turn: a batch written on
/// whichever connection came next read every page it touched again (the
/// B-trees' right edges, the by-trace index), from the WAL by `pread`.
/// Kept, the connection finds its pages where its last batch left them.
/// A failed batch lets it go (the pool tests it on its way back and
/// closes a broken one); the next takes another.
#[derive(Debug, Default)]
pub struct RecordsConnection(Option<sqlx::pool::PoolConnection<sqlx::Any>>);

impl Store {
    /// Writes a batch of records, their log lines and the events they
    /// announce (into the outbox: failed invocations) in one transaction,
    /// many rows per statement, on the writer's kept connection.
    pub async fn write_records(
        &self,
        kept: &mut RecordsConnection,
        invocations: &[InvocationRecord],
        logs: &[LogRecord],
        events: &[super::outbox::OutboxRow],
    ) -> Result<()> {
        let mut conn = match kept.0.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        self.write_batch(&mut conn, invocations, logs, events).await?;
        kept.0 = Some(conn);
        Ok(())
    }

    async fn write_batch(
        &self,
        conn: &mut sqlx::AnyConnection,
        invocations: &[InvocationRecord],
        logs: &[LogRecord],
        events: &[super::outbox::OutboxRow],
    ) -> Result<()> {
        let mut tx = sqlx::Connection::begin(conn).await?;
        super::outbox::put_all(&mut tx, self.backend(), events).await?;
        let packs = packs(invocations)?;
        for chunk in packs.chunks(ROWS_PER_INSERT) {
            let sql = multi_row_insert(
                self.backend(),
                "INSERT INTO invocation_packs (project_id, function_name, started_s, first_id, \
                 records) VALUES ",
                PACK_VALUES,
                chunk.len(),
            ) + &format!(" ON CONFLICT ({PACK_KEY}) DO NOTHING");
            let mut query = sqlx::query_with(&sql, arguments(PACK_VALUES * chunk.len()));
            for p in chunk {
                query = query
                    .bind(&p.first.project_id)
                    .bind(&p.first.function)
                    .bind(p.started_s)
                    .bind(&p.first.id)
                    .bind(&p.records);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in logs.chunks(ROWS_PER_INSERT) {
            let sql = multi_row_insert(
                self.backend(),
                "INSERT INTO log_lines (invocation_id, seq, project_id, function_name, trace_id, \
                 time_ms, stream, level, line) VALUES ",
                LOG_VALUES,
                chunk.len(),
            ) + &format!(" ON CONFLICT ({LOG_KEY}) DO NOTHING");
            let mut query = sqlx::query_with(&sql, arguments(LOG_VALUES * chunk.len()));
            for l in chunk {
                query = query
                    .bind(&l.invocation_id)
                    .bind(l.seq)
                    .bind(&l.project_id)
                    .bind(&l.function)
                    .bind(&l.trace_id)
                    .bind(l.time_ms)
                    .bind(&l.stream)
                    .bind(&l.level)
                    .bind(&l.line);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// An empty argument list with room for `n` values: bound one by one into
/// a list grown from nothing, a statement of a hundred rows reallocated it
/// about ten times, each a larger block copied.
fn arguments<'q>(n: usize) -> sqlx::any::AnyArguments<'q> {
    let mut args = sqlx::any::AnyArguments::default();
    sqlx::Arguments::reserve(&mut args, n, 0);
    args
}

/// The tables of records, each with the time column that ages its rows,
/// the milliseconds in one of its units, and its key, which leads with
/// `(project_id, function_name, time)` (migrations 26 and 29): the key its
/// deletes name rows by. A pack goes when its whole second is past.
const RECORD_TABLES: [(&str, &str, i64, &str); 3] = [
    ("invocation_packs", "started_s", 1000, PACK_KEY),
    (
        "invocations",
        "started_ms",
        1,
        "project_id, function_name, started_ms, id",
    ),
    ("log_lines", "time_ms", 1, LOG_KEY),
];

impl Store {
    /// Deletes invocation records and log lines older than `before_ms`,
    /// function by function through the tables' keys (no index on time
    /// alone: the hot path writes every row), at most `batch` rows a
    /// statement, so no statement holds the database long. Returns how
    /// many rows went.
    pub async fn prune_records(&self, before_ms: i64, batch: i64) -> Result<u64> {
        let mut pruned = 0;
        for (table, time, unit_ms, key) in RECORD_TABLES {
            let before = before_ms.div_euclid(unit_ms);
            // Each (project, function) with rows, by seeking past the
            // previous one in the index: one lookup each, not a scan.
            let mut after = (String::new(), String::new());
            loop {
                let next: Option<(String, String)> = sqlx::query_as(&format!(
                    "SELECT project_id, function_name FROM {table} \
                     WHERE (project_id, function_name) > ($1, $2) \
                     ORDER BY project_id, function_name LIMIT 1"
                ))
                .bind(&after.0)
                .bind(&after.1)
                .fetch_optional(self.pool())
                .await?;
                let Some(function) = next else { break };
                loop {
                    let done = sqlx::query(&format!(
                        "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} \
                         WHERE project_id = $1 AND function_name = $2 AND {time} < $3 LIMIT $4)"
                    ))
                    .bind(&function.0)
                    .bind(&function.1)
                    .bind(before)
                    .bind(batch)
                    .execute(self.pool())
                    .await?;
                    pruned += done.rows_affected();
                    if done.rows_affected() < batch as u64 {
                        break;
                    }
                    tokio::time::sleep(super::PRUNE_PAUSE).await;
                }
                after = function;
            }
        }
        Ok(pruned)
    }
}

impl ProjectScope {
    /// Recent invocations of a function, newest first (by start, then
    /// id), after `before`, a start and an id (`""`: every invocation
    /// started before that millisecond): from its packs, and from the
    /// rows written before packs were (migration 29) while those last.
    pub async fn invocations(
        &self,
        function: &str,
        before: (i64, &str),
        limit: i64,
    ) -> Result<Vec<InvocationRecord>> {
        let mut found = self.packed_invocations(function, before, limit).await?;
        found.extend(self.unpacked_invocations(function, before, limit).await?);
        found.sort_by(newest_first);
        found.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(found)
    }

    /// The newest `limit` records before `before_ms` in the function's
    /// packs, newest first. Packs are read newest second first, one at a
    /// time from pages of at most 64 (a pack holds one record at a
    /// trickle, up to a batch's 2,048 under load), until every pack not
    /// read yet can only hold records older than the `limit` kept: a
    /// pack's records all started in its second. At most `limit` records
    /// and one pack's are held at once.
    async fn packed_invocations(
        &self,
        function: &str,
        before: (i64, &str),
        limit: i64,
    ) -> Result<Vec<InvocationRecord>> {
        use futures::TryStreamExt as _;
        let before_ms = before.0;
        let want = usize::try_from(limit).unwrap_or(0);
        if want == 0 {
            return Ok(Vec::new());
        }
        let mut found: Vec<InvocationRecord> = Vec::new();
        // Packs sort by (second, first id); the first page starts after
        // the last second that can hold a record before `before_ms`.
        let mut after = (before_ms.div_euclid(1000).saturating_add(1), String::new());
        let mut page: i64 = 4;
        loop {
            let mut rows = sqlx::query(
                "SELECT started_s, first_id, records FROM invocation_packs \
                 WHERE project_id = $1 AND function_name = $2 AND (started_s, first_id) < ($3, $4) \
                 ORDER BY started_s DESC, first_id DESC LIMIT $5",
            )
            .bind(&self.project_id)
            .bind(function)
            .bind(after.0)
            .bind(after.1.clone())
            .bind(page)
            .fetch(self.pool());
            let mut read = 0;
            while let Some(row) = rows.try_next().await? {
                read += 1;
                let records: String = row.try_get("records")?;
                found.extend(
                    unpack(&self.project_id, function, &records)?
                        .into_iter()
                        .filter(|r| (r.started_ms, r.id.as_str()) < before),
                );
                after = (row.try_get("started_s")?, row.try_get("first_id")?);
                if found.len() < want {
                    continue;
                }
                found.sort_by(newest_first);
                found.truncate(want);
                // The packs left started in `after.0` or before it.
                let later = after.0.saturating_add(1).saturating_mul(1000);
                if found.last().is_some_and(|r| r.started_ms >= later) {
                    return Ok(found);
                }
            }
            if read < page {
                break;
            }
            page = (page * 2).min(64);
        }
        Ok(found)
    }

    /// Records written one row each, before packs.
    async fn unpacked_invocations(
        &self,
        function: &str,
        before: (i64, &str),
        limit: i64,
    ) -> Result<Vec<InvocationRecord>> {
        let rows = sqlx::query(
            "SELECT id, project_id, function_id, function_name, version, trace_id, started_ms, \
             duration_us, instantiate_us, peak_memory, outcome, http_status, error, logs_dropped \
             FROM invocations WHERE project_id = $1 AND function_name = $2 \
             AND (started_ms, id) < ($3, $4) ORDER BY started_ms DESC, id DESC LIMIT $5",
        )
        .bind(&self.project_id)
        .bind(function)
        .bind(before.0)
        .bind(before.1)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(InvocationRecord {
                    id: r.try_get("id")?,
                    project_id: r.try_get("project_id")?,
                    function_id: r.try_get("function_id")?,
                    function: r.try_get("function_name")?,
                    version: r.try_get("version")?,
                    trace_id: r.try_get("trace_id")?,
                    started_ms: r.try_get("started_ms")?,
                    duration_us: r.try_get("duration_us")?,
                    instantiate_us: r.try_get("instantiate_us")?,
                    peak_memory: r.try_get("peak_memory")?,
                    outcome: r.try_get("outcome")?,
                    http_status: r.try_get("http_status")?,
                    error: r.try_get("error")?,
                    logs_dropped: r.try_get("logs_dropped")?,
                })
            })
            .collect()
    }

    /// Log lines of a function from `since` on, oldest first;
    /// optionally of one invocation, or of one trace (a workflow
    /// execution's tasks carry its id).
    pub async fn logs(
        &self,
        function: &str,
        since: LogsFrom<'_>,
        invocation_id: Option<&str>,
        trace_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LogRecord>> {
        let (after_invocation, after_seq) = since.after.unwrap_or(("", -1));
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM log_lines WHERE project_id = $1 AND function_name = $2 AND time_ms >= $3 \
             AND ($4 = '' OR invocation_id = $4) AND ($5 = '' OR trace_id = $5) \
             AND NOT (time_ms = $3 AND (invocation_id < $7 OR (invocation_id = $7 AND seq <= $8))) \
             ORDER BY time_ms, invocation_id, seq LIMIT $6"
        ))
        .bind(&self.project_id)
        .bind(function)
        .bind(since.time_ms)
        .bind(invocation_id.unwrap_or(""))
        .bind(trace_id.unwrap_or(""))
        .bind(limit)
        .bind(after_invocation)
        .bind(after_seq)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(log_record).collect()
    }

    /// Log lines of one trace across the project's functions (a workflow
    /// execution's story), at or after `since_ms`, oldest first.
    pub async fn trace_logs(&self, trace_id: &str, since_ms: i64, limit: i64) -> Result<Vec<LogRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM log_lines WHERE project_id = $1 AND trace_id = $2 AND time_ms >= $3 \
             ORDER BY time_ms, invocation_id, seq LIMIT $4"
        ))
        .bind(&self.project_id)
        .bind(trace_id)
        .bind(since_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(log_record).collect()
    }
}

/// Where a page of log lines starts: at `time_ms`, after the line
/// `(invocation_id, seq)` of that instant when one is given (lines are
/// ordered by time, invocation and sequence, so a page that ends inside
/// an instant of many lines goes on where it ended).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogsFrom<'a> {
    /// Epoch ms.
    pub time_ms: i64,
    /// The last line already read at `time_ms`.
    pub after: Option<(&'a str, i64)>,
}

const LOG_COLUMNS: &str =
    "invocation_id, seq, project_id, function_name, trace_id, time_ms, stream, level, line";

fn log_record(r: &sqlx::any::AnyRow) -> Result<LogRecord> {
    Ok(LogRecord {
        invocation_id: r.try_get("invocation_id")?,
        seq: r.try_get("seq")?,
        project_id: r.try_get("project_id")?,
        function: r.try_get("function_name")?,
        trace_id: r.try_get("trace_id")?,
        time_ms: r.try_get("time_ms")?,
        stream: r.try_get("stream")?,
        level: r.try_get("level")?,
        line: r.try_get("line")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More lines in one millisecond than a page holds: pages that go on
    /// after their last line (`LogsFrom::after`) read every line once, in
    /// order.
    #[tokio::test]
    async fn pages_go_on_inside_one_instant() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let project = store.ensure_project("p").await.expect("a project");
        let line = |invocation: &str, seq: i64, time_ms: i64| LogRecord {
            invocation_id: invocation.into(),
            seq,
            project_id: project.id.clone(),
            function: "f".into(),
            trace_id: "t".into(),
            time_ms,
            stream: "stdout".into(),
            level: None,
            line: format!("{invocation} {seq}"),
        };
        let mut lines: Vec<LogRecord> = (0..700).map(|i| line("a", i, 5)).collect();
        lines.extend((0..600).map(|i| line("b", i, 5)));
        lines.extend((0..3).map(|i| line("c", i, 6)));
        let mut kept = RecordsConnection::default();
        store
            .write_records(&mut kept, &[], &lines, &[])
            .await
            .expect("written");
        let scope = store.in_project(&project);
        let mut read = Vec::new();
        let mut cursor: Option<(i64, String, i64)> = None;
        loop {
            let from = match &cursor {
                Some((time_ms, invocation, seq)) => LogsFrom {
                    time_ms: *time_ms,
                    after: Some((invocation.as_str(), *seq)),
                },
                None => LogsFrom::default(),
            };
            let page = scope.logs("f", from, None, None, 500).await.expect("a page");
            read.extend(page.iter().map(|l| l.line.clone()));
            match page.last() {
                Some(end) if page.len() == 500 => {
                    cursor = Some((end.time_ms, end.invocation_id.clone(), end.seq))
                }
                _ => break,
            }
        }
        let want: Vec<String> = lines.iter().map(|l| l.line.clone()).collect();
        assert_eq!(read.len(), 1303, "every line once");
        assert_eq!(read, want, "in order of time, invocation and sequence");
    }

    /// Records packed by second in several batches (three packs in most
    /// seconds, twenty in one: more than a page of packs), beside rows
    /// from before packs, page by page through the
    /// API's cursor (the last start): every record of the function once,
    /// newest first; none of another function or project; and the
    /// prune takes a pack only when its whole second is past.
    #[tokio::test]
    async fn packed_records_page_newest_first() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let project = store.ensure_project("p").await.expect("a project");
        let other = store.ensure_project("q").await.expect("another project");
        let record =
            |project: &crate::store::projects::Project, function: &str, started_ms: i64| InvocationRecord {
                id: format!("{function}-{started_ms}"),
                project_id: project.id.clone(),
                function_id: "fid".into(),
                function: function.into(),
                version: 1,
                trace_id: "t".into(),
                started_ms,
                duration_us: started_ms % 7,
                instantiate_us: 1,
                peak_memory: 65536,
                outcome: "ok".into(),
                http_status: Some(200),
                error: (started_ms % 5 == 0).then(|| "boom".into()),
                logs_dropped: 0,
            };
        let mut kept = RecordsConnection::default();
        // What the listing of `f` in `p` should give: start, id, error.
        let mut written = Vec::new();
        let mut note = |records: &[InvocationRecord]| {
            written.extend(
                records
                    .iter()
                    .filter(|r| r.project_id == project.id && r.function == "f")
                    .map(|r| (r.started_ms, r.id.clone(), r.error.clone())),
            )
        };
        // Batch by batch, starts spread over seconds 1 to 4 and
        // interleaved between batches; the batch's order is not the
        // starts' order.
        for batch in 0..3_i64 {
            let mut records: Vec<InvocationRecord> = (0..40)
                .rev()
                .map(|i| record(&project, "f", 1_000 + i * 100 + batch * 20 + (i % 3)))
                .collect();
            records.push(record(&project, "g", 2_000 + batch));
            records.push(record(&other, "f", 2_000 + batch));
            note(&records);
            store
                .write_records(&mut kept, &records, &[], &[])
                .await
                .expect("written");
        }
        // Twenty batches of one record each, all in second 5: more packs
        // in one second than a listing reads in a page, their ids (which
        // order packs within a second) against their starts, two starts
        // in each millisecond (pages end between them).
        for k in 0..20 {
            let mut one = [record(&project, "f", 5_000 + k / 2 * 10)];
            one[0].id = format!("f-z{:02}", 19 - k);
            note(&one);
            store
                .write_records(&mut kept, &one, &[], &[])
                .await
                .expect("written");
        }
        let packs: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM invocation_packs WHERE project_id = $1 AND function_name = 'f'",
        )
        .bind(&project.id)
        .fetch_one(store.pool())
        .await
        .expect("counted");
        assert_eq!(packs, 12 + 20, "three batches in four seconds each, then twenty");
        // Two records from before packs, one between packed ones.
        for started_ms in [1_001, 9_000] {
            sqlx::query(
                "INSERT INTO invocations (id, project_id, function_id, function_name, version, \
                 trace_id, started_ms, duration_us, instantiate_us, peak_memory, outcome, \
                 logs_dropped) VALUES ($1, $2, 'fid', 'f', 1, 't', $3, 0, 0, 0, 'ok', 0)",
            )
            .bind(format!("f-{started_ms}"))
            .bind(&project.id)
            .bind(started_ms)
            .execute(store.pool())
            .await
            .expect("an unpacked row");
            written.push((started_ms, format!("f-{started_ms}"), None));
        }
        let scope = store.in_project(&project);
        let mut read = Vec::new();
        let mut cursor = (i64::MAX, String::new());
        loop {
            let page = scope
                .invocations("f", (cursor.0, &cursor.1), 7)
                .await
                .expect("a page");
            read.extend(page.iter().map(|r| (r.started_ms, r.id.clone(), r.error.clone())));
            match page.last() {
                Some(last) if page.len() == 7 => cursor = (last.started_ms, last.id.clone()),
                _ => break,
            }
        }
        let mut want = written;
        want.sort_by(|a, b| b.cmp(a));
        assert_eq!(read.len(), 142, "every record once");
        assert_eq!(read, want, "newest first, each with its fields");
        // Pruning before 3,500 ms takes the packs of seconds 1 and 2
        // (and the unpacked 1,001), not second 3's, whose records
        // started before 3,500 too.
        store.prune_records(3_500, 1000).await.expect("pruned");
        let left = scope.invocations("f", (i64::MAX, ""), 1000).await.expect("read");
        let oldest = left.iter().map(|r| r.started_ms).min();
        assert_eq!(oldest, Some(3_002), "{left:?}");
    }

    /// The writer's connection stays out of the pool from batch to batch
    /// (its page cache with it), and goes back when a batch fails.
    #[tokio::test]
    async fn the_writer_keeps_its_connection_until_a_batch_fails() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let project = store.ensure_project("p").await.expect("a project");
        let line = LogRecord {
            invocation_id: "a".into(),
            seq: 0,
            project_id: project.id.clone(),
            function: "f".into(),
            trace_id: "t".into(),
            time_ms: 5,
            stream: "stdout".into(),
            level: None,
            line: "hello".into(),
        };
        // Connections go back to the pool through a task sqlx spawns: the
        // count is awaited.
        let in_use_settles_to = async |n: usize| {
            let until = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                let in_use = store.pool.size() as usize - store.pool.num_idle();
                if in_use == n {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < until,
                    "{in_use} out of the pool, not {n}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        let mut kept = RecordsConnection::default();
        store
            .write_records(&mut kept, &[], std::slice::from_ref(&line), &[])
            .await
            .expect("written");
        assert!(kept.0.is_some(), "kept after its batch");
        // Other queries meanwhile take other connections.
        store.ensure_project("q").await.expect("another query");
        in_use_settles_to(1).await;
        // The database refuses the next line: the batch fails.
        sqlx::query(
            "CREATE TRIGGER refuse BEFORE INSERT ON log_lines BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(store.pool())
        .await
        .expect("a trigger");
        let failed = store.write_records(&mut kept, &[], &[line], &[]).await;
        assert!(failed.is_err(), "a refused line fails the batch");
        assert!(kept.0.is_none(), "let go after a failed batch");
        in_use_settles_to(0).await;
    }

    /// A batch written again (the writer's retry when a commit went
    /// through but its answer was lost) succeeds and stores nothing twice:
    /// its packs, lines and outbox rows are each there once.
    #[tokio::test]
    async fn a_batch_written_twice_is_stored_once() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let project = store.ensure_project("p").await.expect("a project");
        let record = |id: &str, started_ms: i64| InvocationRecord {
            id: id.into(),
            project_id: project.id.clone(),
            function_id: "fid".into(),
            function: "f".into(),
            version: 1,
            trace_id: "t".into(),
            started_ms,
            duration_us: 1,
            instantiate_us: 1,
            peak_memory: 65536,
            outcome: "error".into(),
            http_status: None,
            error: Some("boom".into()),
            logs_dropped: 0,
        };
        let records = [record("a", 1_000), record("b", 1_500), record("c", 2_000)];
        let lines: Vec<LogRecord> = (0..3)
            .map(|seq| LogRecord {
                invocation_id: "a".into(),
                seq,
                project_id: project.id.clone(),
                function: "f".into(),
                trace_id: "t".into(),
                time_ms: 1_000,
                stream: "stderr".into(),
                level: None,
                line: format!("line {seq}"),
            })
            .collect();
        let events: Vec<crate::store::outbox::OutboxRow> = ["a", "b", "c"]
            .map(|id| crate::store::outbox::OutboxRow {
                id: format!("event-{id}"),
                project_id: project.id.clone(),
                hops: 0,
                event_json: "{}".into(),
                created_ms: 2_000,
            })
            .into();
        let mut kept = RecordsConnection::default();
        for attempt in 1..=2 {
            store
                .write_records(&mut kept, &records, &lines, &events)
                .await
                .unwrap_or_else(|e| panic!("attempt {attempt} written: {e}"));
        }
        let count = async |sql: &str| -> i64 {
            sqlx::query_scalar(sql)
                .fetch_one(store.pool())
                .await
                .expect("counted")
        };
        assert_eq!(
            count("SELECT COUNT(*) FROM invocation_packs").await,
            2,
            "one pack a second"
        );
        assert_eq!(count("SELECT COUNT(*) FROM log_lines").await, 3, "each line once");
        assert_eq!(
            count("SELECT COUNT(*) FROM event_outbox").await,
            3,
            "each event once"
        );
        let scope = store.in_project(&project);
        let listed = scope.invocations("f", (i64::MAX, ""), 10).await.expect("listed");
        let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"], "each record once, newest first");
    }
}
