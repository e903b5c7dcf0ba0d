//! The read side of release-to-release comparison, and the tags it names
//! commits by: recording a tag sent with an upload, resolving a revision
//! (full sha, unique sha prefix, tag) to a commit, the measured builds of
//! two commits, and each target's measured series between them.

use std::collections::HashMap;

use sizegate_analyze::{Metric, Sizes};

use crate::reads::MetricPoint;
use crate::{Error, Store, stored_bytes};

/// Longest tag accepted, in bytes (git allows more; release tags are short).
pub const MAX_TAG_BYTES: usize = 200;
/// Shortest sha prefix a revision may use (as `git log --oneline` prints).
pub const MIN_SHA_PREFIX: usize = 7;

/// Why `name` is not a tag sizegate records, or `None` when it is one: a
/// git ref name (the rules of `git check-ref-format`) of at most
/// [`MAX_TAG_BYTES`] bytes. Those rules forbid `..`, so a tag never holds
/// the `...` that separates the two sides of a compare range.
pub fn tag_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_TAG_BYTES {
        Some("is longer than 200 bytes")
    } else if name
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
    {
        Some("contains a space, a control character or one of ~ ^ : ? * [ \\")
    } else if name.contains("..") {
        Some("contains `..`")
    } else if name.contains("@{") || name == "@" {
        Some("contains `@{` or is `@`")
    } else if name.ends_with('.') || name.ends_with('/') {
        Some("ends with `.` or `/`")
    } else if name
        .split('/')
        .any(|part| part.is_empty() || part.starts_with('.') || part.ends_with(".lock"))
    {
        Some("has an empty component, or one that starts with `.` or ends with `.lock`")
    } else {
        None
    }
}

/// Point `tag` at commit `commit_id`, moving it if another commit had it.
pub(crate) async fn tag_commit(
    tx: &mut sqlx::PgConnection,
    repository_id: i64,
    commit_id: i64,
    tag: &str,
) -> Result<(), Error> {
    if let Some(problem) = tag_name_problem(tag) {
        return Err(Error::Invalid(format!("tag `{tag}` {problem}")));
    }
    sqlx::query(
        "INSERT INTO commit_tags (repository_id, name, commit_id) VALUES ($1, $2, $3)
         ON CONFLICT (repository_id, name) DO UPDATE SET
             commit_id = EXCLUDED.commit_id,
             moved_at = CASE WHEN commit_tags.commit_id = EXCLUDED.commit_id
                             THEN commit_tags.moved_at ELSE now() END",
    )
    .bind(repository_id)
    .bind(tag)
    .bind(commit_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A commit a revision resolved to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ResolvedCommit {
    /// `commits.id`.
    pub id: i64,
    /// Full sha.
    pub sha: String,
    /// The branch it was built on.
    pub branch: Option<String>,
    /// Every tag naming it, by name.
    pub tags: Vec<String>,
}

/// What a revision names in a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Exactly one commit.
    Found(ResolvedCommit),
    /// No uploaded commit and no tag.
    Unknown,
    /// A sha prefix that several uploaded commits share (some of them).
    Ambiguous(Vec<String>),
}

/// The measured current build of one target of one commit.
#[derive(Debug, Clone)]
pub struct CompareBuild {
    /// `commits.id`.
    pub commit_id: i64,
    /// Target id.
    pub target_id: i64,
    /// Target name.
    pub target: String,
    /// Build id.
    pub build_id: i64,
    /// Key of the full report in the blob store.
    pub report_key: String,
    /// Bytes of the artifact (bounds the report's decoding: see
    /// [`crate::measurements::decode_report`]).
    pub artifact_size: u64,
    /// Headline sizes.
    pub sizes: Sizes,
}

#[derive(sqlx::FromRow)]
struct CompareBuildRow {
    commit_id: i64,
    target_id: i64,
    target: String,
    build_id: i64,
    report_key: String,
    artifact_size: i64,
    size_file: i64,
    size_vm: i64,
    size_shipped: i64,
    size_gzip: i64,
    size_zstd: i64,
    size_debug: i64,
    size_symbols: i64,
}

/// The stretch of one target's series to read: builds `from_build` to
/// `to_build`, both included, whatever their order.
#[derive(Debug, Clone, Copy)]
pub struct SeriesRange {
    /// Target id.
    pub target_id: i64,
    /// One end (the base's build).
    pub from_build: i64,
    /// The other end (the head's build).
    pub to_build: i64,
}

#[derive(sqlx::FromRow)]
struct SeriesRow {
    target_id: i64,
    #[sqlx(flatten)]
    point: MetricPoint,
}

impl Store {
    /// Resolve `revision` in a repository, the way git does: a full sha
    /// first, then a tag, then a unique sha prefix of at least
    /// [`MIN_SHA_PREFIX`] hex digits. Only uploaded commits are known.
    pub async fn resolve_commit(
        &self,
        repository_id: i64,
        revision: &str,
    ) -> Result<Resolution, Error> {
        let lower = revision.to_ascii_lowercase();
        if sizegate_core::is_hex(&lower, sizegate_core::Sha::LEN) {
            let found = self.commit_by_sha(repository_id, &lower).await?;
            return Ok(found.map_or(Resolution::Unknown, Resolution::Found));
        }
        if tag_name_problem(revision).is_none() {
            let by_tag: Option<String> = sqlx::query_scalar(
                "SELECT c.sha FROM commit_tags t JOIN commits c ON c.id = t.commit_id
                 WHERE t.repository_id = $1 AND t.name = $2",
            )
            .bind(repository_id)
            .bind(revision)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(sha) = by_tag {
                let found = self.commit_by_sha(repository_id, &sha).await?;
                return Ok(found.map_or(Resolution::Unknown, Resolution::Found));
            }
        }
        if (MIN_SHA_PREFIX..sizegate_core::Sha::LEN).contains(&lower.len())
            && sizegate_core::is_hex(&lower, lower.len())
        {
            // A range scan of the (repository_id, sha) index; LIKE keeps it
            // exact whatever the collation.
            let low = format!("{lower:0<40}");
            let high = format!("{lower:f<40}");
            let shas: Vec<String> = sqlx::query_scalar(
                "SELECT sha FROM commits
                 WHERE repository_id = $1 AND sha BETWEEN $2 AND $3 AND sha LIKE $4
                 ORDER BY sha LIMIT 5",
            )
            .bind(repository_id)
            .bind(&low)
            .bind(&high)
            .bind(format!("{lower}%"))
            .fetch_all(&self.pool)
            .await?;
            return Ok(match shas.as_slice() {
                [] => Resolution::Unknown,
                [sha] => self
                    .commit_by_sha(repository_id, sha)
                    .await?
                    .map_or(Resolution::Unknown, Resolution::Found),
                _ => Resolution::Ambiguous(shas),
            });
        }
        Ok(Resolution::Unknown)
    }

    async fn commit_by_sha(
        &self,
        repository_id: i64,
        sha: &str,
    ) -> Result<Option<ResolvedCommit>, Error> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.sha, c.branch,
                    COALESCE(ARRAY(SELECT t.name FROM commit_tags t
                                   WHERE t.commit_id = c.id ORDER BY t.name), '{}') AS tags
             FROM commits c WHERE c.repository_id = $1 AND c.sha = $2",
        )
        .bind(repository_id)
        .bind(sha)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The newest `limit` tags of a repository (most recently moved
    /// first), each with its commit's sha.
    pub async fn repository_tags(
        &self,
        repository_id: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>, Error> {
        Ok(sqlx::query_as(
            "SELECT t.name, c.sha FROM commit_tags t JOIN commits c ON c.id = t.commit_id
             WHERE t.repository_id = $1 ORDER BY t.moved_at DESC, t.name LIMIT $2",
        )
        .bind(repository_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The measured current build of every target of the commits
    /// `commit_ids`, in one query, by target name.
    pub async fn compare_builds(&self, commit_ids: &[i64]) -> Result<Vec<CompareBuild>, Error> {
        let rows: Vec<CompareBuildRow> = sqlx::query_as(
            "SELECT b.commit_id, t.id AS target_id, t.name AS target, b.id AS build_id,
                    m.report_key, a.size AS artifact_size, m.size_file, m.size_vm, m.size_shipped, m.size_gzip,
                    m.size_zstd, m.size_debug, m.size_symbols
             FROM builds b
             JOIN targets t ON t.id = b.target_id
             JOIN artifacts a ON a.id = b.artifact_id
             JOIN measurements m ON m.artifact_id = b.artifact_id
             WHERE b.commit_id = ANY($1) AND b.superseded_at IS NULL
             ORDER BY t.name, b.commit_id",
        )
        .bind(commit_ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| CompareBuild {
                commit_id: r.commit_id,
                target_id: r.target_id,
                target: r.target,
                build_id: r.build_id,
                report_key: r.report_key,
                artifact_size: stored_bytes(r.artifact_size),
                sizes: Sizes {
                    file: stored_bytes(r.size_file),
                    vm: stored_bytes(r.size_vm),
                    shipped: stored_bytes(r.size_shipped),
                    gzip: stored_bytes(r.size_gzip),
                    zstd: stored_bytes(r.size_zstd),
                    debug: stored_bytes(r.size_debug),
                    symbols: stored_bytes(r.size_symbols),
                    ..Default::default()
                },
            })
            .collect())
    }

    /// Each range's measured series in `metric`, in upload order from
    /// `from_build` to `to_build` (both ends always included), in one
    /// query. Between the ends only pushed builds count: trusted, not for
    /// a pull request, and on `branch` when one is given. At most `limit`
    /// points per range, from the `from_build` end.
    pub async fn compare_series(
        &self,
        ranges: &[SeriesRange],
        branch: Option<&str>,
        metric: Metric,
        limit: i64,
    ) -> Result<HashMap<i64, Vec<MetricPoint>>, Error> {
        let column = crate::reads::metric_column(metric);
        let targets: Vec<i64> = ranges.iter().map(|r| r.target_id).collect();
        let lows: Vec<i64> = ranges
            .iter()
            .map(|r| r.from_build.min(r.to_build))
            .collect();
        let highs: Vec<i64> = ranges
            .iter()
            .map(|r| r.from_build.max(r.to_build))
            .collect();
        let forward: Vec<bool> = ranges.iter().map(|r| r.from_build <= r.to_build).collect();
        let sql = format!(
            "SELECT k.target_id, s.build_id, s.commit, s.uploaded_at, s.value
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bool[])
                  AS k(target_id, lo, hi, forward)
             CROSS JOIN LATERAL (
                 SELECT b.id AS build_id, c.sha AS commit, b.created_at AS uploaded_at,
                        m.{column} AS value
                 FROM builds b
                 JOIN commits c ON c.id = b.commit_id
                 JOIN measurements m ON m.artifact_id = b.artifact_id
                 WHERE b.target_id = k.target_id AND b.superseded_at IS NULL
                   AND b.id BETWEEN k.lo AND k.hi
                   AND (b.id = k.lo OR b.id = k.hi
                        OR (b.trust_rank >= 2 AND c.pr_number IS NULL
                            AND ($5::text IS NULL OR c.branch = $5)))
                 ORDER BY CASE WHEN k.forward THEN b.id ELSE -b.id END
                 LIMIT $6
             ) s"
        );
        let rows: Vec<SeriesRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(&targets)
            .bind(&lows)
            .bind(&highs)
            .bind(&forward)
            .bind(branch)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut series: HashMap<i64, Vec<MetricPoint>> = HashMap::new();
        for row in rows {
            series.entry(row.target_id).or_default().push(row.point);
        }
        for range in ranges {
            if let Some(points) = series.get_mut(&range.target_id) {
                points.sort_by_key(|p| p.build_id);
                if range.from_build > range.to_build {
                    points.reverse();
                }
            }
        }
        Ok(series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_git_ref_name_rules() {
        for good in ["v1.0", "v1.2.3-rc.1", "release/2026-12", "1.0+build", "@x"] {
            assert_eq!(tag_name_problem(good), None, "{good}");
        }
        let too_long = "v".repeat(MAX_TAG_BYTES + 1);
        for bad in [
            "",
            "v1..2",
            "a...b",
            "v 1",
            "v1~1",
            "v1^",
            "a:b",
            "a?",
            "a*",
            "a[",
            "a\\b",
            "a\u{7f}",
            ".hidden",
            "a/.b",
            "a//b",
            "a/",
            "a.",
            "x.lock",
            "a/b.lock/c",
            "a@{1}",
            "@",
            &too_long,
        ] {
            assert!(tag_name_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(tag_name_problem(&"v".repeat(MAX_TAG_BYTES)), None);
    }
}
