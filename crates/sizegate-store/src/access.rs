//! Who may read what: the `private` flag of repositories, read tokens
//! (`sgr_<public id>_<secret>`, made with `sizegate token create --read`)
//! and the login sessions a read token opens in a browser. Secrets are
//! stored as sha256 only and compared in constant time.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::tokens::random_hex;
use sizegate_core::is_hex;

use crate::tokens::split_token;
use crate::{Error, RepoName, Store};

const READ_PREFIX: &str = "sgr_";

/// How long a login session lasts.
pub const SESSION_DAYS: i64 = 30;

/// A freshly created read token: the clear text exists only here (its
/// `Debug` output leaves it out).
#[derive(Clone)]
pub struct NewReadToken {
    /// The full token to hand to the user, once.
    pub token: String,
    /// Its public id.
    pub public_id: String,
}

impl std::fmt::Debug for NewReadToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewReadToken")
            .field("token", &"<redacted>")
            .field("public_id", &self.public_id)
            .finish()
    }
}

impl Store {
    /// Mark a repository private (or public again). `false` if it is unknown.
    pub async fn set_repository_private(
        &self,
        repository: &RepoName,
        private: bool,
    ) -> Result<bool, Error> {
        let done =
            sqlx::query("UPDATE repositories SET private = $3 WHERE owner = $1 AND name = $2")
                .bind(&repository.owner)
                .bind(&repository.name)
                .bind(private)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Create a read token, which opens every private repository.
    pub async fn create_read_token(&self) -> Result<NewReadToken, Error> {
        let public_id = random_hex(8)?;
        let secret = random_hex(32)?;
        sqlx::query("INSERT INTO read_tokens (public_id, secret_sha256) VALUES ($1, $2)")
            .bind(&public_id)
            .bind(Sha256::digest(secret.as_bytes()).to_vec())
            .execute(&self.pool)
            .await?;
        Ok(NewReadToken {
            token: format!("{READ_PREFIX}{public_id}_{secret}"),
            public_id,
        })
    }

    /// The row id of `token` if it is a valid, unrevoked read token.
    pub async fn authenticate_read_token(&self, token: &str) -> Result<Option<i64>, Error> {
        let Some((public_id, secret)) = split_token(token.trim(), READ_PREFIX) else {
            return Ok(None);
        };
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT id, secret_sha256 FROM read_tokens WHERE public_id = $1 AND revoked_at IS NULL",
        )
        .bind(public_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, stored)) = row else {
            return Ok(None);
        };
        let presented = Sha256::digest(secret.as_bytes());
        Ok(bool::from(presented.as_slice().ct_eq(stored.as_slice())).then_some(id))
    }

    /// Revoke a read token given in full or by its public id.
    pub async fn revoke_read_token(&self, token_or_id: &str) -> Result<bool, Error> {
        let public_id = split_token(token_or_id, READ_PREFIX)
            .map(|(id, _)| id)
            .unwrap_or(token_or_id);
        let done = sqlx::query(
            "UPDATE read_tokens SET revoked_at = now() WHERE public_id = $1 AND revoked_at IS NULL",
        )
        .bind(public_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Open a session for a read token; returns the secret for the cookie
    /// and when it expires.
    pub async fn create_session(
        &self,
        read_token_id: i64,
    ) -> Result<(String, DateTime<Utc>), Error> {
        let secret = random_hex(32)?;
        let expires_at: DateTime<Utc> = sqlx::query_scalar(
            "INSERT INTO sessions (secret_sha256, read_token_id, expires_at)
             VALUES ($1, $2, now() + make_interval(days => $3::int))
             RETURNING expires_at",
        )
        .bind(Sha256::digest(secret.as_bytes()).to_vec())
        .bind(read_token_id)
        .bind(i32::try_from(SESSION_DAYS).unwrap_or(30))
        .fetch_one(&self.pool)
        .await?;
        Ok((secret, expires_at))
    }

    /// Whether `secret` is a live session whose read token is not revoked.
    pub async fn session_is_valid(&self, secret: &str) -> Result<bool, Error> {
        if !is_hex(secret, 64) {
            return Ok(false);
        }
        // The secret has 256 bits of entropy: looking it up by its hash
        // leaks nothing a timing attack could use.
        let valid: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sessions s JOIN read_tokens t ON t.id = s.read_token_id
                 WHERE s.secret_sha256 = $1 AND s.expires_at > now() AND t.revoked_at IS NULL)",
        )
        .bind(Sha256::digest(secret.as_bytes()).to_vec())
        .fetch_one(&self.pool)
        .await?;
        Ok(valid)
    }

    /// The public id of the read token behind a valid session, if it is one
    /// (who changed an alert from the dashboard).
    pub async fn session_read_token(&self, secret: &str) -> Result<Option<String>, Error> {
        if !is_hex(secret, 64) {
            return Ok(None);
        }
        let public_id = sqlx::query_scalar(
            "SELECT t.public_id FROM sessions s JOIN read_tokens t ON t.id = s.read_token_id
             WHERE s.secret_sha256 = $1 AND s.expires_at > now() AND t.revoked_at IS NULL",
        )
        .bind(Sha256::digest(secret.as_bytes()).to_vec())
        .fetch_optional(&self.pool)
        .await?;
        Ok(public_id)
    }

    /// End a session (logout).
    pub async fn delete_session(&self, secret: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM sessions WHERE secret_sha256 = $1 OR expires_at < now()")
            .bind(Sha256::digest(secret.as_bytes()).to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test(migrations = "../../migrations")]
    async fn read_tokens_open_sessions(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let repo = RepoName::parse("acme/secret").unwrap();
        assert!(!store.set_repository_private(&repo, true).await.unwrap());
        store.ensure_repository(&repo).await.unwrap();
        assert!(store.set_repository_private(&repo, true).await.unwrap());
        let found = store
            .find_repository("acme", "secret")
            .await
            .unwrap()
            .unwrap();
        assert!(found.private);

        let token = store.create_read_token().await.unwrap();
        let shown = format!("{token:?}");
        assert!(!shown.contains(&token.token[21..]), "{shown}");
        let id = store
            .authenticate_read_token(&token.token)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.authenticate_read_token("sgr_nope").await.unwrap(),
            None
        );
        let forged = format!("{}0", &token.token[..token.token.len() - 1]);
        let forged = if forged == token.token {
            format!("{}1", &token.token[..token.token.len() - 1])
        } else {
            forged
        };
        assert_eq!(store.authenticate_read_token(&forged).await.unwrap(), None);

        let (secret, expires) = store.create_session(id).await.unwrap();
        assert!(expires > Utc::now());
        assert!(store.session_is_valid(&secret).await.unwrap());
        assert!(!store.session_is_valid(&"0".repeat(64)).await.unwrap());
        assert!(store.revoke_read_token(&token.public_id).await.unwrap());
        assert!(!store.session_is_valid(&secret).await.unwrap());
        store.delete_session(&secret).await.unwrap();
    }
}
