//! The OIDC replay cache over Postgres: used token ids live in the shared
//! database, so with several server replicas a token is accepted once in
//! all, not once per replica.

use sizegate_github::oidc::{ReplayCache, ReplayCacheError};
use sizegate_store::Store;

/// A [`ReplayCache`] kept in the store's `oidc_token_ids` table.
#[derive(Debug, Clone)]
pub struct PgReplayCache {
    store: Store,
}

impl PgReplayCache {
    /// A replay cache in `store`'s database.
    pub fn new(store: Store) -> PgReplayCache {
        PgReplayCache { store }
    }
}

#[async_trait::async_trait]
impl ReplayCache for PgReplayCache {
    async fn remember(
        &self,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, ReplayCacheError> {
        self.store
            .remember_token_id(jti, expires_at, now)
            .await
            .map_err(|e| ReplayCacheError(format!("remembering the token id: {e}")))
    }
}
