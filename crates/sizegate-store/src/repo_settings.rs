//! Per-repository trust settings: the protected branches (the default
//! branch plus a list) whose trusted builds become baselines, GitHub's
//! numeric ids (every OIDC upload must carry them) and whether GitHub OIDC
//! uploads are accepted at all. Set by `sizegate repo`, and learned from
//! the GitHub App's webhook payloads.

use crate::{Error, RepoName, Store};

/// The trust settings of one repository.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RepoSettings {
    /// The repository's id (`repositories.id`).
    pub id: i64,
    /// Owner.
    pub owner: String,
    /// Name.
    pub name: String,
    /// Visible only to logged-in readers.
    pub private: bool,
    /// The default branch (protected).
    pub default_branch: String,
    /// More protected branches.
    pub protected_branches: Vec<String>,
    /// GitHub's numeric repository id, once known.
    pub github_id: Option<i64>,
    /// GitHub's numeric id of the owner, once known.
    pub github_owner_id: Option<i64>,
    /// Whether GitHub OIDC uploads are accepted.
    pub oidc_enabled: bool,
}

impl RepoSettings {
    /// Whether trusted uploads for `branch` are baseline-eligible.
    pub fn is_protected(&self, branch: &str) -> bool {
        branch == self.default_branch || self.protected_branches.iter().any(|b| b == branch)
    }
}

/// What a GitHub payload (installation events, pull request events) says
/// of a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GithubRepositoryFacts {
    /// `full_name`.
    pub full_name: String,
    /// `id`.
    pub id: Option<i64>,
    /// `owner.id` (or the installation's account id).
    pub owner_id: Option<i64>,
    /// `private`.
    pub private: Option<bool>,
    /// `default_branch` (pull request and push payloads carry it).
    pub default_branch: Option<String>,
}

const SETTINGS_COLUMNS: &str = "id, owner, name, private, default_branch, protected_branches,
     github_id, github_owner_id, oidc_enabled";

impl Store {
    /// The settings of repository `name` (exact owner and name).
    pub async fn repository_settings(
        &self,
        name: &RepoName,
    ) -> Result<Option<RepoSettings>, Error> {
        let settings = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SETTINGS_COLUMNS} FROM repositories WHERE owner = $1 AND name = $2"
        )))
        .bind(&name.owner)
        .bind(&name.name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(settings)
    }

    /// Turn GitHub OIDC uploads on or off for `name`, recording GitHub's
    /// ids when given. `None` if the repository is unknown.
    pub async fn set_repository_oidc(
        &self,
        name: &RepoName,
        enabled: bool,
        github_id: Option<i64>,
        github_owner_id: Option<i64>,
    ) -> Result<Option<RepoSettings>, Error> {
        let settings = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE repositories SET oidc_enabled = $3,
                 github_id = COALESCE($4, github_id),
                 github_owner_id = COALESCE($5, github_owner_id)
             WHERE owner = $1 AND name = $2
             RETURNING {SETTINGS_COLUMNS}"
        )))
        .bind(&name.owner)
        .bind(&name.name)
        .bind(enabled)
        .bind(github_id)
        .bind(github_owner_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(settings)
    }

    /// Set the default branch and the other protected branches of `name`.
    /// Builds uploaded afterwards are judged eligible by these; builds
    /// already stored keep the eligibility they were uploaded with.
    /// `None` if the repository is unknown.
    pub async fn set_repository_branches(
        &self,
        name: &RepoName,
        default_branch: &str,
        protected: &[String],
    ) -> Result<Option<RepoSettings>, Error> {
        let settings = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE repositories SET default_branch = $3, protected_branches = $4
             WHERE owner = $1 AND name = $2
             RETURNING {SETTINGS_COLUMNS}"
        )))
        .bind(&name.owner)
        .bind(&name.name)
        .bind(default_branch)
        .bind(protected)
        .fetch_optional(&self.pool)
        .await?;
        Ok(settings)
    }

    /// Apply what a GitHub App payload says of a registered repository:
    /// its ids (recorded once; a different id later means a deleted and
    /// re-created repository and is not taken, so its OIDC uploads stay
    /// refused until an admin runs `sizegate repo set-oidc`), that it is
    /// private (never made public by a payload), and its default branch.
    /// Returns whether a registered repository matched.
    pub async fn learn_github_repository(
        &self,
        facts: &GithubRepositoryFacts,
    ) -> Result<bool, Error> {
        let Ok(name) = RepoName::parse(&facts.full_name) else {
            return Ok(false);
        };
        let updated = sqlx::query(
            "UPDATE repositories SET
                 github_id = COALESCE(github_id, $3),
                 github_owner_id = CASE WHEN github_id IS NULL OR github_id = $3
                                        THEN COALESCE($4, github_owner_id)
                                        ELSE github_owner_id END,
                 private = private OR COALESCE($5, false),
                 default_branch = CASE WHEN github_id IS NULL OR github_id = $3
                                       THEN COALESCE($6, default_branch)
                                       ELSE default_branch END
             WHERE owner = $1 AND name = $2",
        )
        .bind(&name.owner)
        .bind(&name.name)
        .bind(facts.id)
        .bind(facts.owner_id)
        .bind(facts.private)
        .bind(facts.default_branch.as_deref().filter(|b| !b.is_empty()))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test(migrations = "../../migrations")]
    async fn ids_are_learned_once_and_private_is_sticky(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let name = RepoName::parse("acme/app").unwrap();
        store.ensure_repository(&name).await.unwrap();
        let fresh = store.repository_settings(&name).await.unwrap().unwrap();
        assert!(!fresh.oidc_enabled, "OIDC is off until enabled");
        assert_eq!(fresh.github_id, None);
        assert!(fresh.is_protected("main"));
        assert!(!fresh.is_protected("feature"));

        let facts = GithubRepositoryFacts {
            full_name: "acme/app".into(),
            id: Some(42),
            owner_id: Some(7),
            private: Some(true),
            default_branch: Some("trunk".into()),
        };
        assert!(store.learn_github_repository(&facts).await.unwrap());
        let learned = store.repository_settings(&name).await.unwrap().unwrap();
        assert_eq!(
            (learned.github_id, learned.github_owner_id),
            (Some(42), Some(7))
        );
        assert!(learned.private);
        assert_eq!(learned.default_branch, "trunk");

        // A re-created repository (new id) does not overwrite, and a public
        // payload does not make it public.
        let recreated = GithubRepositoryFacts {
            id: Some(43),
            owner_id: Some(8),
            private: Some(false),
            default_branch: Some("evil".into()),
            ..facts.clone()
        };
        store.learn_github_repository(&recreated).await.unwrap();
        let kept = store.repository_settings(&name).await.unwrap().unwrap();
        assert_eq!((kept.github_id, kept.github_owner_id), (Some(42), Some(7)));
        assert!(kept.private);
        assert_eq!(kept.default_branch, "trunk");

        let on = store
            .set_repository_oidc(&name, true, None, None)
            .await
            .unwrap()
            .unwrap();
        assert!(on.oidc_enabled);
        assert_eq!(on.github_id, Some(42));
        let branches = store
            .set_repository_branches(&name, "main", &["release".to_owned()])
            .await
            .unwrap()
            .unwrap();
        assert!(branches.is_protected("release") && branches.is_protected("main"));
        assert!(
            store
                .set_repository_oidc(&RepoName::parse("acme/none").unwrap(), true, None, None)
                .await
                .unwrap()
                .is_none()
        );
    }
}
