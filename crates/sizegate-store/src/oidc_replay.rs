//! Used GitHub OIDC token ids, shared by every server process: a token
//! accepted by one replica is refused by all the others.

use crate::{Error, Store};

fn seconds(field: &str, value: u64) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| Error::Invalid(format!("{field} {value} is out of range")))
}

impl Store {
    /// Record the token id `jti` as used until `expires_at` (Unix seconds).
    /// `Ok(true)` when it was new (or its previous use has expired),
    /// `Ok(false)` when it is already recorded and still live: a replay.
    /// Rows expired at `now` are purged on the way.
    pub async fn remember_token_id(
        &self,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, Error> {
        let expires_at = seconds("expires_at", expires_at)?;
        let now = seconds("now", now)?;
        sqlx::query("DELETE FROM oidc_token_ids WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        // One statement: of two concurrent inserts of one id, exactly one
        // gets a row back.
        let inserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO oidc_token_ids (jti, expires_at) VALUES ($1, $2)
             ON CONFLICT (jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
                 WHERE oidc_token_ids.expires_at < $3
             RETURNING jti",
        )
        .bind(jti)
        .bind(expires_at)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(inserted.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two stores (two pools, as two server processes would have) share
    /// the ids; expired ids are purged and may be used again.
    #[sqlx::test(migrations = "../../migrations")]
    async fn token_ids_are_shared_and_expire(
        _opts: sqlx::postgres::PgPoolOptions,
        connect: sqlx::postgres::PgConnectOptions,
    ) {
        let one = Store::new(sqlx::PgPool::connect_with(connect.clone()).await.unwrap());
        let two = Store::new(sqlx::PgPool::connect_with(connect).await.unwrap());
        assert!(one.remember_token_id("jti-1", 1_000, 900).await.unwrap());
        assert!(!two.remember_token_id("jti-1", 1_000, 950).await.unwrap());
        assert!(!one.remember_token_id("jti-1", 1_000, 1_000).await.unwrap());
        assert!(two.remember_token_id("jti-2", 1_100, 950).await.unwrap());

        // At 1_001 jti-1 has expired: purged, and usable again.
        assert!(two.remember_token_id("jti-3", 2_000, 1_001).await.unwrap());
        let left: Vec<String> = sqlx::query_scalar("SELECT jti FROM oidc_token_ids ORDER BY jti")
            .fetch_all(one.pool())
            .await
            .unwrap();
        assert_eq!(left, ["jti-2", "jti-3"]);
        assert!(one.remember_token_id("jti-1", 3_000, 1_001).await.unwrap());
        assert!(!two.remember_token_id("jti-1", 3_000, 1_002).await.unwrap());

        let err = one
            .remember_token_id("jti-4", u64::MAX, 1)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }
}
