//! Repositories and their upload tokens.
//!
//! A token reads `sgu_<public id>_<secret>`. Only the sha256 of the secret
//! is stored; the public id finds the row, then the hashes are compared in
//! constant time. The secret has 256 bits of entropy, so a plain sha256 is
//! the right hash (a slow password hash would protect nothing more).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use sizegate_core::is_hex;

use crate::{Error, RepoName, Store};

const PREFIX: &str = "sgu_";

/// A freshly created token: the clear text exists only here (its `Debug`
/// output leaves it out).
#[derive(Clone)]
pub struct NewToken {
    /// The full token to hand to the user, once.
    pub token: String,
    /// Its public id (for `sizegate token revoke`).
    pub public_id: String,
    /// The repository it uploads to.
    pub repository_id: i64,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("token", &"<redacted>")
            .field("public_id", &self.public_id)
            .field("repository_id", &self.repository_id)
            .finish()
    }
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// Row id of the token.
    pub token_id: i64,
    /// The repository the token may upload to.
    pub repository_id: i64,
    /// That repository's name.
    pub repository: RepoName,
}

/// A token as listed (never with its secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    /// Public id.
    pub public_id: String,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it was last used for an upload.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub(crate) fn random_hex(bytes: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::Random(e.to_string()))?;
    Ok(hex::encode(buf))
}

/// Split a token of ours into (public id, secret), or `None` if it is not
/// one: `prefix`, 16 hex digits, `_`, 64 hex digits. Upload tokens
/// (`sgu_`) and read tokens (`sgr_`, `access.rs`) have this shape.
pub(crate) fn split_token<'a>(token: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let rest = token.strip_prefix(prefix)?;
    let (public_id, secret) = rest.split_once('_')?;
    (is_hex(public_id, 16) && is_hex(secret, 64)).then_some((public_id, secret))
}

impl Store {
    /// Find or create the repository `name`; returns its id.
    pub async fn ensure_repository(&self, name: &RepoName) -> Result<i64, Error> {
        let id = sqlx::query_scalar(
            "INSERT INTO repositories (owner, name) VALUES ($1, $2)
             ON CONFLICT (owner, name) DO UPDATE SET owner = EXCLUDED.owner
             RETURNING id",
        )
        .bind(&name.owner)
        .bind(&name.name)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// Register the repository if needed and create a new upload token for it.
    pub async fn create_upload_token(&self, repository: &RepoName) -> Result<NewToken, Error> {
        let repository_id = self.ensure_repository(repository).await?;
        let public_id = random_hex(8)?;
        let secret = random_hex(32)?;
        sqlx::query(
            "INSERT INTO upload_tokens (public_id, repository_id, secret_sha256) VALUES ($1, $2, $3)",
        )
        .bind(&public_id)
        .bind(repository_id)
        .bind(Sha256::digest(secret.as_bytes()).to_vec())
        .execute(&self.pool)
        .await?;
        Ok(NewToken {
            token: format!("{PREFIX}{public_id}_{secret}"),
            public_id,
            repository_id,
        })
    }

    /// The owner of `token` if it is valid and not revoked.
    pub async fn authenticate_upload_token(
        &self,
        token: &str,
    ) -> Result<Option<TokenOwner>, Error> {
        let Some((public_id, secret)) = split_token(token, PREFIX) else {
            return Ok(None);
        };
        let row: Option<(i64, i64, Vec<u8>, String, String)> = sqlx::query_as(
            "SELECT t.id, t.repository_id, t.secret_sha256, r.owner, r.name
             FROM upload_tokens t JOIN repositories r ON r.id = t.repository_id
             WHERE t.public_id = $1 AND t.revoked_at IS NULL",
        )
        .bind(public_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some((token_id, repository_id, stored, owner, name)) = row else {
            return Ok(None);
        };
        let presented = Sha256::digest(secret.as_bytes());
        if !bool::from(presented.as_slice().ct_eq(stored.as_slice())) {
            return Ok(None);
        }
        sqlx::query("UPDATE upload_tokens SET last_used_at = now() WHERE id = $1")
            .bind(token_id)
            .execute(&self.pool)
            .await?;
        Ok(Some(TokenOwner {
            token_id,
            repository_id,
            repository: RepoName { owner, name },
        }))
    }

    /// Revoke a token given in full or by its public id. Returns whether a
    /// live token was revoked.
    pub async fn revoke_upload_token(&self, token_or_id: &str) -> Result<bool, Error> {
        let public_id = split_token(token_or_id, PREFIX).map_or(token_or_id, |(id, _)| id);
        let revoked = sqlx::query(
            "UPDATE upload_tokens SET revoked_at = now() WHERE public_id = $1 AND revoked_at IS NULL",
        )
        .bind(public_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(revoked > 0)
    }

    /// The tokens of a repository, newest first.
    pub async fn list_upload_tokens(&self, repository: &RepoName) -> Result<Vec<TokenInfo>, Error> {
        let tokens = sqlx::query_as(
            "SELECT t.public_id, t.created_at, t.last_used_at, t.revoked_at
             FROM upload_tokens t JOIN repositories r ON r.id = t.repository_id
             WHERE r.owner = $1 AND r.name = $2
             ORDER BY t.id DESC",
        )
        .bind(&repository.owner)
        .bind(&repository.name)
        .fetch_all(&self.pool)
        .await?;
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_syntax() {
        let ok = format!("sgu_{}_{}", "a".repeat(16), "b".repeat(64));
        assert!(split_token(&ok, PREFIX).is_some());
        assert!(split_token("sgu_x_y", PREFIX).is_none());
        assert!(split_token(&ok.replace("sgu_", "ghp_"), PREFIX).is_none());
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn create_authenticate_revoke(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let repo = RepoName::parse("acme/app").unwrap();
        let token = store.create_upload_token(&repo).await.unwrap();
        assert!(token.token.starts_with("sgu_"));
        let shown = format!("{token:?}");
        assert!(!shown.contains(&token.token[21..]), "{shown}");
        assert!(shown.contains(&token.public_id), "{shown}");
        let owner = store
            .authenticate_upload_token(&token.token)
            .await
            .unwrap()
            .expect("valid token");
        assert_eq!(owner.repository, repo);
        assert_eq!(owner.repository_id, token.repository_id);

        // Same public id, wrong secret.
        let forged = format!("sgu_{}_{}", token.public_id, "0".repeat(64));
        assert!(
            store
                .authenticate_upload_token(&forged)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .authenticate_upload_token("garbage")
                .await
                .unwrap()
                .is_none()
        );

        // The clear secret is not in the database.
        let secret = token.token.rsplit('_').next().unwrap();
        let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_sha256 FROM upload_tokens")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_ne!(stored, secret.as_bytes());

        let listed = store.list_upload_tokens(&repo).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some());

        // A second token for the same repository reuses the repository.
        let second = store.create_upload_token(&repo).await.unwrap();
        assert_eq!(second.repository_id, token.repository_id);

        assert!(store.revoke_upload_token(&token.public_id).await.unwrap());
        assert!(!store.revoke_upload_token(&token.public_id).await.unwrap());
        assert!(
            store
                .authenticate_upload_token(&token.token)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.revoke_upload_token(&second.token).await.unwrap());
        assert!(
            store.list_upload_tokens(&repo).await.unwrap()[0]
                .revoked_at
                .is_some()
        );
    }
}
