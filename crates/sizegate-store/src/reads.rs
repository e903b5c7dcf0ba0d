//! Reads of what was measured, for the dashboard's pages and the API:
//! series of a target over a date or count range, the branches of a
//! repository, what was measured for each target of a commit (sections,
//! units, top symbols, toolchain, advice), the baseline to compare it
//! with, and the pushes of a pull request.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sizegate_analyze::{Advice, Metric, Sizes, Toolchain};
use sqlx::types::Json;

use crate::history::{HISTORY_SELECT, HistoryPoint, HistoryRow, SeriesBound};
use crate::{Error, Store, stored_bytes};

/// A target of a repository.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TargetRef {
    /// The target's id (`targets.id`), which builds and measurements refer to.
    pub id: i64,
    /// Target name.
    pub name: String,
}

/// One section, unit or symbol row of a measurement.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SectionRow {
    /// Section name.
    pub name: String,
    /// Kind (`code`, `rodata`, ...).
    pub kind: String,
    /// Bytes in the file.
    pub file_size: i64,
    /// Bytes in memory.
    pub vm_size: i64,
}

/// A unit (crate, Go package) of a measurement.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnitRow {
    /// Unit name.
    pub name: String,
    /// Kind (`crate`, `package`, ...).
    pub kind: String,
    /// Bytes attributed.
    pub size: i64,
    /// Symbols attributed.
    pub symbols: i64,
}

/// One of the largest symbols of a measurement.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SymbolRow {
    /// Demangled name.
    pub name: String,
    /// Unit it belongs to.
    pub unit: String,
    /// Section it lives in.
    pub section: String,
    /// Bytes.
    pub size: i64,
}

/// What was measured for one target of a commit.
#[derive(Debug, Clone)]
pub struct MeasuredTarget {
    /// Target id.
    pub target_id: i64,
    /// Target name.
    pub target: String,
    /// Container format.
    pub format: String,
    /// Architecture.
    pub arch: String,
    /// Dominant language.
    pub language: String,
    /// Whether the artifact was stripped.
    pub stripped: bool,
    /// Headline sizes.
    pub sizes: Sizes,
    /// Toolchain facts, as the report has them (decoded once, at the row
    /// mapping: a stored value that is not a toolchain is a decode error
    /// naming the column).
    pub toolchain: Toolchain,
    /// Advice, as the report has it (decoded the same way).
    pub advice: Vec<Advice>,
    /// Key of the full report in the blob store.
    pub report_key: String,
    /// Sections, in report order.
    pub sections: Vec<SectionRow>,
    /// Units, in report order.
    pub units: Vec<UnitRow>,
    /// Largest symbols, largest first.
    pub symbols: Vec<SymbolRow>,
}

#[derive(sqlx::FromRow)]
struct MeasurementRow {
    id: i64,
    target_id: i64,
    target: String,
    format: String,
    arch: String,
    language: String,
    stripped: bool,
    size_file: i64,
    size_vm: i64,
    size_shipped: i64,
    size_gzip: i64,
    size_zstd: i64,
    size_debug: i64,
    size_symbols: i64,
    size_compressed: Option<i64>,
    size_uncompressed: Option<i64>,
    size_pull: Option<i64>,
    toolchain: Json<Toolchain>,
    advice: Json<Vec<Advice>>,
    report_key: String,
}

/// A history row with the target it belongs to.
#[derive(sqlx::FromRow)]
struct TargetHistoryRow {
    target_id: i64,
    #[sqlx(flatten)]
    row: HistoryRow,
}

/// A commit of a pull request (one push).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PushRow {
    /// Commit sha.
    pub sha: String,
    /// Branch.
    pub branch: Option<String>,
    /// Base of the pull request at that push.
    pub base_sha: Option<String>,
    /// First-parent history of the base.
    pub ancestors: Vec<String>,
    /// When it was first uploaded.
    pub created_at: DateTime<Utc>,
}

/// One point of a target's series in one metric: what the trend chart
/// and the commit table need, and nothing more (10,000 of them are read
/// for a long history).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MetricPoint {
    /// Build id.
    pub build_id: i64,
    /// Commit sha.
    pub commit: String,
    /// When the artifact was uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// The size in the metric asked for.
    pub value: i64,
}

/// The measurements column of a metric (a fixed list: never user text).
pub(crate) fn metric_column(metric: Metric) -> &'static str {
    match metric {
        Metric::File => "size_file",
        Metric::Vm => "size_vm",
        Metric::Shipped => "size_shipped",
        Metric::Gzip => "size_gzip",
        Metric::Zstd => "size_zstd",
        Metric::Debug => "size_debug",
        Metric::Symbols => "size_symbols",
        Metric::Compressed => "size_compressed",
        Metric::Uncompressed => "size_uncompressed",
        Metric::Pull => "size_pull",
    }
}

/// Rows keyed by the measurement they belong to.
type ByMeasurement<T> = HashMap<i64, Vec<T>>;

/// A row of a measurement's part with the measurement it belongs to.
struct Keyed<T> {
    measurement_id: i64,
    row: T,
}

impl<'r, T> sqlx::FromRow<'r, sqlx::postgres::PgRow> for Keyed<T>
where
    T: sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        Ok(Keyed {
            measurement_id: sqlx::Row::try_get(row, "measurement_id")?,
            row: T::from_row(row)?,
        })
    }
}

/// The sections, units and top symbols of measurements, by measurement id.
struct MeasurementParts {
    sections: ByMeasurement<SectionRow>,
    units: ByMeasurement<UnitRow>,
    symbols: ByMeasurement<SymbolRow>,
}

impl MeasurementParts {
    /// The measured target of `row`, with its parts taken out of `self`.
    fn take(&mut self, row: MeasurementRow) -> MeasuredTarget {
        MeasuredTarget {
            sizes: row.sizes(),
            sections: self.sections.remove(&row.id).unwrap_or_default(),
            units: self.units.remove(&row.id).unwrap_or_default(),
            symbols: self.symbols.remove(&row.id).unwrap_or_default(),
            target_id: row.target_id,
            target: row.target,
            format: row.format,
            arch: row.arch,
            language: row.language,
            stripped: row.stripped,
            toolchain: row.toolchain.0,
            advice: row.advice.0,
            report_key: row.report_key,
        }
    }
}

impl MeasurementRow {
    /// The headline sizes (images alone have the image sizes; NULL is 0).
    fn sizes(&self) -> Sizes {
        Sizes {
            file: stored_bytes(self.size_file),
            vm: stored_bytes(self.size_vm),
            shipped: stored_bytes(self.size_shipped),
            gzip: stored_bytes(self.size_gzip),
            zstd: stored_bytes(self.size_zstd),
            debug: stored_bytes(self.size_debug),
            symbols: stored_bytes(self.size_symbols),
            compressed: self.size_compressed.map_or(0, stored_bytes),
            uncompressed: self.size_uncompressed.map_or(0, stored_bytes),
            pull: self.size_pull.map_or(0, stored_bytes),
            ..Default::default()
        }
    }
}

/// Most branches [`Store::branches`] lists.
pub const MAX_BRANCHES: i64 = 200;
/// How many of the newest commits [`Store::branches`] reads first.
const RECENT_COMMITS_FOR_BRANCHES: i64 = 5000;

impl Store {
    /// The targets of a repository, by name.
    pub async fn target_refs(&self, repository_id: i64) -> Result<Vec<TargetRef>, Error> {
        Ok(
            sqlx::query_as("SELECT id, name FROM targets WHERE repository_id = $1 ORDER BY name")
                .bind(repository_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The branches commits were uploaded on, most recently used first
    /// (at most [`MAX_BRANCHES`]).
    pub async fn branches(&self, repository_id: i64) -> Result<Vec<String>, Error> {
        // First the newest commits only: when they already hold
        // MAX_BRANCHES branches, those are the answer (a branch with no
        // commit among them was last used before all of them). On a long
        // history this reads a few thousand index entries instead of every
        // commit of the repository (benchmarks/service.md).
        let recent: Vec<String> = sqlx::query_scalar(
            "SELECT branch FROM (
                 SELECT branch, created_at FROM commits
                 WHERE repository_id = $1 AND branch IS NOT NULL
                 ORDER BY created_at DESC LIMIT $2) newest
             GROUP BY branch ORDER BY max(created_at) DESC LIMIT $3",
        )
        // Planned with its LIMITs known (see `Store::series_newest_first`): a generic
        // plan sorts every commit instead of reading the newest.
        .persistent(false)
        .bind(repository_id)
        .bind(RECENT_COMMITS_FOR_BRANCHES)
        .bind(MAX_BRANCHES)
        .fetch_all(&self.pool)
        .await?;
        if recent.len() as i64 == MAX_BRANCHES {
            return Ok(recent);
        }
        // Fewer branches than that lately: look at the whole history (an
        // index-only scan of `commits_branch_recent`).
        Ok(sqlx::query_scalar(
            "SELECT branch FROM commits WHERE repository_id = $1 AND branch IS NOT NULL
             GROUP BY branch ORDER BY max(created_at) DESC LIMIT $2",
        )
        .bind(repository_id)
        .bind(MAX_BRANCHES)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The measured points of a target, oldest first: the newest `limit`
    /// uploaded at or after `since`, optionally on one branch.
    pub async fn target_series(
        &self,
        target_id: i64,
        branch: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<HistoryPoint>, Error> {
        let bound = SeriesBound("($3::timestamptz IS NULL OR b.created_at >= $3)", since);
        let mut points = self
            .series_newest_first(target_id, branch, bound, limit)
            .await?;
        points.reverse();
        Ok(points)
    }

    /// [`Store::target_series`] of several targets in one query: target id
    /// → its points, oldest first (targets with none are absent).
    pub async fn target_series_each(
        &self,
        target_ids: &[i64],
        branch: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<HashMap<i64, Vec<HistoryPoint>>, Error> {
        let sql = format!(
            "SELECT k.target_id, p.* FROM unnest($1::bigint[]) AS k(target_id)
             CROSS JOIN LATERAL ({HISTORY_SELECT}
                 WHERE b.target_id = k.target_id AND b.superseded_at IS NULL
                   AND ($2::text IS NULL OR c.branch = $2)
                   AND ($3::timestamptz IS NULL OR b.created_at >= $3)
                 ORDER BY b.id DESC LIMIT $4) p"
        );
        // Planned for its parameters every time: see `Store::series_newest_first`.
        let rows: Vec<TargetHistoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(target_ids)
            .bind(branch)
            .bind(since)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut out: HashMap<i64, Vec<HistoryPoint>> = HashMap::new();
        for row in rows {
            if let Some(point) = row.row.into_point() {
                out.entry(row.target_id).or_default().push(point);
            }
        }
        for points in out.values_mut() {
            points.reverse();
        }
        Ok(out)
    }

    /// [`Store::target_point_at`] of several targets in one query: target
    /// id → its newest point uploaded at or before `at`.
    pub async fn target_point_at_each(
        &self,
        target_ids: &[i64],
        branch: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<HashMap<i64, HistoryPoint>, Error> {
        let sql = format!(
            "SELECT k.target_id, p.* FROM unnest($1::bigint[]) AS k(target_id)
             CROSS JOIN LATERAL ({HISTORY_SELECT}
                 WHERE b.target_id = k.target_id AND b.superseded_at IS NULL
                   AND ($2::text IS NULL OR c.branch = $2)
                   AND b.created_at <= $3
                 ORDER BY b.id DESC LIMIT 1) p"
        );
        // Planned for its parameters every time: see `Store::series_newest_first`.
        let rows: Vec<TargetHistoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(target_ids)
            .bind(branch)
            .bind(at)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| Some((row.target_id, row.row.into_point()?)))
            .collect())
    }

    /// Like [`Store::target_series`] but one metric only, oldest first:
    /// the newest `limit` points uploaded at or after `since`.
    pub async fn target_metric_series(
        &self,
        target_id: i64,
        branch: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: i64,
        metric: Metric,
    ) -> Result<Vec<MetricPoint>, Error> {
        let column = metric_column(metric);
        let sql = format!(
            "SELECT b.id AS build_id, c.sha AS commit, b.created_at AS uploaded_at, m.{column} AS value
             FROM builds b
             JOIN commits c ON c.id = b.commit_id
             JOIN measurements m ON m.artifact_id = b.artifact_id
             WHERE b.target_id = $1 AND b.superseded_at IS NULL
               AND m.{column} IS NOT NULL
               AND ($2::text IS NULL OR c.branch = $2)
               AND ($3::timestamptz IS NULL OR b.created_at >= $3)
             ORDER BY b.id DESC LIMIT $4"
        );
        // Planned for its parameters every time: see `Store::series_newest_first`.
        let mut points: Vec<MetricPoint> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(target_id)
            .bind(branch)
            .bind(since)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        points.reverse();
        Ok(points)
    }

    /// The newest measured point of a target uploaded at or before `at`.
    pub async fn target_point_at(
        &self,
        target_id: i64,
        branch: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Option<HistoryPoint>, Error> {
        let sql = format!(
            "{HISTORY_SELECT}
             WHERE b.target_id = $1 AND b.superseded_at IS NULL
               AND ($2::text IS NULL OR c.branch = $2)
               AND b.created_at <= $3
             ORDER BY b.id DESC LIMIT 1"
        );
        // Planned for its parameters every time: see `Store::series_newest_first`.
        let row: Option<HistoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(target_id)
            .bind(branch)
            .bind(at)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(HistoryRow::into_point))
    }

    /// The `sizegate.toml` sent with the newest commit (on `branch`) that had one.
    pub async fn latest_config(
        &self,
        repository_id: i64,
        branch: Option<&str>,
    ) -> Result<Option<String>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT config FROM commits
             WHERE repository_id = $1 AND config IS NOT NULL AND ($2::text IS NULL OR branch = $2)
               AND trust_rank >= 3
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        // Planned for its parameters every time: see `Store::series_newest_first`.
        .persistent(false)
        .bind(repository_id)
        .bind(branch)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every measured target of a commit with its sections, units and top symbols.
    pub async fn commit_measurements(
        &self,
        repository_id: i64,
        sha: &str,
    ) -> Result<Vec<MeasuredTarget>, Error> {
        let rows: Vec<MeasurementRow> = sqlx::query_as(
            "SELECT m.id, t.id AS target_id, t.name AS target, m.format, m.arch, m.language,
                    m.stripped, m.size_file, m.size_vm, m.size_shipped, m.size_gzip, m.size_zstd,
                    m.size_debug, m.size_symbols, m.size_compressed, m.size_uncompressed,
                    m.size_pull, m.toolchain, m.advice, m.report_key
             FROM commits c
             JOIN builds b ON b.commit_id = c.id AND b.superseded_at IS NULL
             JOIN targets t ON t.id = b.target_id
             JOIN measurements m ON m.artifact_id = b.artifact_id
             WHERE c.repository_id = $1 AND c.sha = $2
             ORDER BY t.name",
        )
        .bind(repository_id)
        .bind(sha)
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut parts = self.measurement_parts(&ids).await?;
        Ok(rows.into_iter().map(|row| parts.take(row)).collect())
    }

    /// The sections, units and top symbols of the measurements `ids`: one
    /// query per table for all of them (not three per target), as the pull
    /// request page reads this for every push.
    async fn measurement_parts(&self, ids: &[i64]) -> Result<MeasurementParts, Error> {
        Ok(MeasurementParts {
            sections: self
                .rows_by_measurement(
                    "name, kind, file_size, vm_size",
                    "measurement_sections",
                    "position",
                    ids,
                )
                .await?,
            units: self
                .rows_by_measurement(
                    "name, kind, size, symbols",
                    "measurement_units",
                    "position",
                    ids,
                )
                .await?,
            symbols: self
                .rows_by_measurement(
                    "name, unit, section, size",
                    "measurement_symbols",
                    "rank",
                    ids,
                )
                .await?,
        })
    }

    /// The `columns` of the rows of `table` that belong to the measurements
    /// `ids`, in `order` within each, grouped by measurement id. The names
    /// are fixed strings of this module, never user text.
    async fn rows_by_measurement<R>(
        &self,
        columns: &'static str,
        table: &'static str,
        order: &'static str,
        ids: &[i64],
    ) -> Result<ByMeasurement<R>, Error>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let sql = format!(
            "SELECT measurement_id, {columns} FROM {table}
             WHERE measurement_id = ANY($1) ORDER BY measurement_id, {order}"
        );
        let rows: Vec<Keyed<R>> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        let mut out: ByMeasurement<R> = HashMap::new();
        for Keyed {
            measurement_id,
            row,
        } in rows
        {
            out.entry(measurement_id).or_default().push(row);
        }
        Ok(out)
    }

    /// For each `(target id, candidate shas in order of preference)`, what
    /// [`Store::first_measured`] finds, in one query: target id → (sha,
    /// report key). Targets with no measured candidate are absent.
    pub async fn first_measured_each(
        &self,
        wanted: &[(i64, Vec<String>)],
    ) -> Result<HashMap<i64, (String, String)>, Error> {
        let (mut target_ids, mut shas, mut positions) = (vec![], vec![], vec![]);
        for (target_id, candidates) in wanted {
            for (position, sha) in candidates.iter().enumerate() {
                target_ids.push(*target_id);
                shas.push(sha.as_str());
                positions.push(i64::try_from(position).unwrap_or(i64::MAX));
            }
        }
        if target_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT DISTINCT ON (k.target_id) k.target_id, c.sha, m.report_key
             FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS k(target_id, sha, pos)
             JOIN commits c ON c.sha = k.sha
             JOIN builds b ON b.commit_id = c.id AND b.target_id = k.target_id
                              AND b.superseded_at IS NULL AND b.baseline_eligible
             JOIN measurements m ON m.artifact_id = b.artifact_id
             ORDER BY k.target_id, k.pos",
        )
        .bind(&target_ids)
        .bind(&shas)
        .bind(&positions)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(target_id, sha, key)| (target_id, (sha, key)))
            .collect())
    }

    /// The shipped size of every measured target of each of `shas` (commits
    /// of one repository), in one query: (sha, target name, shipped bytes),
    /// by sha, then target name.
    pub async fn shipped_sizes(
        &self,
        repository_id: i64,
        shas: &[String],
    ) -> Result<Vec<(String, String, u64)>, Error> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT c.sha, t.name, m.size_shipped
             FROM commits c
             JOIN builds b ON b.commit_id = c.id AND b.superseded_at IS NULL
             JOIN targets t ON t.id = b.target_id
             JOIN measurements m ON m.artifact_id = b.artifact_id
             WHERE c.repository_id = $1 AND c.sha = ANY($2)
             ORDER BY c.sha, t.name",
        )
        .bind(repository_id)
        .bind(shas)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(sha, target, shipped)| (sha, target, stored_bytes(shipped)))
            .collect())
    }

    /// The first of `candidates` (shas, in order of preference) with a
    /// measured baseline-eligible build of `target_id`: its sha and the key
    /// of its report. The builds the gate compares with, never a fork or
    /// pull request build of the same sha.
    pub async fn first_measured(
        &self,
        target_id: i64,
        candidates: &[String],
    ) -> Result<Option<(String, String)>, Error> {
        let mut found = self
            .first_measured_each(&[(target_id, candidates.to_vec())])
            .await?;
        Ok(found.remove(&target_id))
    }

    /// The commits uploaded for pull request `number`, oldest first.
    pub async fn pull_request_pushes(
        &self,
        repository_id: i64,
        number: i64,
    ) -> Result<Vec<PushRow>, Error> {
        Ok(sqlx::query_as(
            "SELECT sha, branch, base_sha, ancestors, created_at FROM commits
             WHERE repository_id = $1 AND pr_number = $2 ORDER BY created_at, id LIMIT 500",
        )
        .bind(repository_id)
        .bind(number)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measurements::tests::sample_report;
    use crate::uploads::{CommitMeta, NewArtifact};

    fn measurement_row(id: i64, image: bool) -> MeasurementRow {
        MeasurementRow {
            id,
            target_id: 7,
            target: "linux/app".into(),
            format: "elf".into(),
            arch: "x86_64".into(),
            language: "rust".into(),
            stripped: true,
            size_file: 1000,
            size_vm: 1200,
            size_shipped: 900,
            size_gzip: 500,
            size_zstd: 400,
            size_debug: 0,
            size_symbols: 50,
            size_compressed: image.then_some(300),
            size_uncompressed: image.then_some(2000),
            size_pull: image.then_some(310),
            toolchain: Json(Toolchain::default()),
            advice: Json(Vec::new()),
            report_key: format!("reports/{id}"),
        }
    }

    #[test]
    fn a_measured_target_takes_its_own_parts_and_sizes() {
        let section = |name: &str| SectionRow {
            name: name.into(),
            kind: "code".into(),
            file_size: 10,
            vm_size: 10,
        };
        let mut parts = MeasurementParts {
            sections: HashMap::from([(1, vec![section(".text")]), (2, vec![section(".data")])]),
            units: HashMap::new(),
            symbols: HashMap::new(),
        };
        let binary = parts.take(measurement_row(1, false));
        assert_eq!(binary.sections.len(), 1);
        assert_eq!(binary.sections[0].name, ".text");
        assert!(binary.units.is_empty() && binary.symbols.is_empty());
        assert_eq!((binary.sizes.file, binary.sizes.shipped), (1000, 900));
        assert_eq!(binary.sizes.compressed, 0, "a binary has no image sizes");
        let image = parts.take(measurement_row(2, true));
        assert_eq!(image.sections[0].name, ".data");
        assert_eq!((image.sizes.compressed, image.sizes.pull), (300, 310));
        assert_eq!(image.report_key, "reports/2");
        assert!(parts.sections.is_empty(), "each part is taken once");
    }

    /// With more branches than the menu shows among the newest commits,
    /// the quick answer must be the one the whole history gives.
    #[sqlx::test(migrations = "../../migrations")]
    async fn branch_menu_of_a_busy_repository(pool: sqlx::PgPool) {
        let (store, repo) = crate::test_support::store_with_repository(pool, "acme/busy").await;
        // 300 branches, several commits each, interleaved in time; `old`
        // was last used before all of them.
        sqlx::query(
            "INSERT INTO commits (repository_id, sha, branch, created_at)
             SELECT $1, lpad(to_hex(g), 40, '0'),
                    CASE WHEN g = 1 THEN 'old' ELSE 'b' || (g % 300) END,
                    now() - make_interval(secs => 5000 - g)
             FROM generate_series(1, 1500) g",
        )
        .bind(repo)
        .execute(store.pool())
        .await
        .unwrap();
        let menu = store.branches(repo).await.unwrap();
        let everything: Vec<String> = sqlx::query_scalar(
            "SELECT branch FROM commits WHERE repository_id = $1 AND branch IS NOT NULL
             GROUP BY branch ORDER BY max(created_at) DESC LIMIT 200",
        )
        .bind(repo)
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(menu.len(), 200);
        assert_eq!(menu, everything);
        assert_eq!(menu[0], "b0");
        assert!(!menu.contains(&"old".to_owned()));
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn series_measurements_baselines_and_pushes(pool: sqlx::PgPool) {
        let (store, repo) = crate::test_support::store_with_repository(pool, "acme/app").await;
        let shas: Vec<String> = (1..=4u32).map(|i| format!("{i:040x}")).collect();
        for (i, sha) in shas.iter().enumerate() {
            let meta = CommitMeta {
                sha: sha.clone(),
                branch: Some(if i < 3 { "main" } else { "feature" }.into()),
                pr_number: (i == 3).then_some(9),
                base_sha: (i == 3).then(|| shas[2].clone()),
                ancestors: shas[..i.min(3)].iter().rev().cloned().collect(),
                fork: false,
                provenance: Default::default(),
                config: (i == 1).then(|| "metric = \"file\"".to_owned()),
                tag: None,
            };
            let artifact = NewArtifact {
                target: "t/app".into(),
                sha256: format!("{:064x}", i + 1),
                size: 5_000 + i as u64,
                blob_key: "k".into(),
            };
            let recorded = store
                .record_upload(repo, &meta, &[artifact], 3)
                .await
                .unwrap();
            let report = sample_report(5_000 + i as u64 * 100);
            store
                .store_measurement(recorded[0].artifact_id, &report, &format!("r{i}"), 10)
                .await
                .unwrap();
        }
        let targets = store.target_refs(repo).await.unwrap();
        assert_eq!(targets.len(), 1);
        let target = targets[0].id;
        assert_eq!(store.branches(repo).await.unwrap(), ["feature", "main"]);

        let main = store
            .target_metric_series(target, Some("main"), None, 10, Metric::File)
            .await
            .unwrap();
        let values: Vec<i64> = main.iter().map(|p| p.value).collect();
        assert_eq!(values, [5_000, 5_100, 5_200], "oldest first");
        let last_two = store
            .target_metric_series(target, Some("main"), None, 2, Metric::Shipped)
            .await
            .unwrap();
        assert_eq!(
            last_two.iter().map(|p| p.value).collect::<Vec<_>>(),
            [5_000, 5_100]
        );
        let future = Utc::now() + chrono::Duration::days(1);
        assert!(
            store
                .target_metric_series(target, None, Some(future), 10, Metric::File)
                .await
                .unwrap()
                .is_empty()
        );
        let full = store.target_series(target, None, None, 10).await.unwrap();
        assert_eq!(full.len(), 4);
        let each = store
            .target_series_each(&[target, target + 1_000], Some("main"), None, 2)
            .await
            .unwrap();
        assert_eq!(each.len(), 1, "a target without points is absent");
        let commits: Vec<&str> = each[&target].iter().map(|p| p.commit.as_str()).collect();
        assert_eq!(
            commits,
            [shas[1].as_str(), shas[2].as_str()],
            "oldest first"
        );
        let at = store
            .target_point_at_each(&[target], Some("main"), Utc::now())
            .await
            .unwrap();
        assert_eq!(at[&target].commit, shas[2]);
        assert_eq!(
            store
                .target_point_at(target, Some("main"), Utc::now())
                .await
                .unwrap()
                .unwrap()
                .commit,
            shas[2]
        );
        assert_eq!(
            store.latest_config(repo, None).await.unwrap().as_deref(),
            Some("metric = \"file\"")
        );
        assert_eq!(
            store.latest_config(repo, Some("feature")).await.unwrap(),
            None
        );
        // A newer fork upload with its own config: not the budgets shown.
        let fork = CommitMeta {
            sha: "f".repeat(40),
            branch: Some("main".into()),
            config: Some("metric = \"zstd\"".into()),
            fork: true,
            provenance: crate::uploads::Provenance::Fork,
            ..Default::default()
        };
        let artifact = NewArtifact {
            target: "t/app".into(),
            sha256: "f".repeat(64),
            size: 1,
            blob_key: "k".into(),
        };
        store
            .record_upload(repo, &fork, &[artifact], 3)
            .await
            .unwrap();
        assert_eq!(
            store.latest_config(repo, None).await.unwrap().as_deref(),
            Some("metric = \"file\""),
            "only a baseline-eligible commit's budgets are shown"
        );

        let measured = store.commit_measurements(repo, &shas[3]).await.unwrap();
        assert_eq!(measured.len(), 1);
        assert_eq!(measured[0].sizes.file, 5_300);
        assert_eq!(measured[0].sections.len(), 2);
        assert_eq!(measured[0].units[0].name, "std");
        assert_eq!(measured[0].symbols[0].name, "big", "largest first");
        assert_eq!(measured[0].report_key, "r3");

        let candidates = vec!["f".repeat(40), shas[1].clone(), shas[0].clone()];
        assert_eq!(
            store.first_measured(target, &candidates).await.unwrap(),
            Some((shas[1].clone(), "r1".to_owned())),
            "the first candidate with a measurement, in the given order"
        );
        assert_eq!(store.first_measured(target, &[]).await.unwrap(), None);
        let each = store
            .first_measured_each(&[
                (target, candidates.clone()),
                (target + 1_000, vec![shas[0].clone()]),
            ])
            .await
            .unwrap();
        assert_eq!(each.len(), 1, "an unknown target finds nothing");
        assert_eq!(each[&target], (shas[1].clone(), "r1".to_owned()));
        assert_eq!(
            store.shipped_sizes(repo, &shas[..2]).await.unwrap(),
            [
                (shas[0].clone(), "t/app".to_owned(), 4_900),
                (shas[1].clone(), "t/app".to_owned(), 5_000),
            ]
        );

        let pushes = store.pull_request_pushes(repo, 9).await.unwrap();
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0].base_sha.as_deref(), Some(shas[2].as_str()));
        assert!(
            store
                .pull_request_pushes(repo, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
