//! Remembering used token ids, so a token captured from a log or a proxy
//! cannot be used twice. A token id needs remembering only until the token
//! expires; after that the expiry check refuses it anyway.

use std::collections::HashMap;
use std::sync::Mutex;

/// The replay store could not answer (the verifier then refuses the token:
/// it fails closed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReplayCacheError(pub String);

/// Where used token ids live. The in-memory [`MemoryReplayCache`] suits one
/// server process; with several replicas, implement this over Postgres
/// (`INSERT ... ON CONFLICT DO NOTHING` on the `jti`, rows deleted after
/// `expires_at`) so a token used on one replica is refused by the others.
#[async_trait::async_trait]
pub trait ReplayCache: Send + Sync + std::fmt::Debug {
    /// Record `jti` as used until `expires_at` (Unix seconds; `now` is the
    /// verifier's clock). `Ok(true)` if it was new, `Ok(false)` if it was
    /// already recorded and not yet expired.
    async fn remember(
        &self,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, ReplayCacheError>;
}

/// Used token ids in memory, with their expiry.
#[derive(Debug)]
pub struct MemoryReplayCache {
    seen: Mutex<HashMap<String, u64>>,
    capacity: usize,
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        MemoryReplayCache::with_capacity(100_000)
    }
}

impl MemoryReplayCache {
    /// A cache holding at most `capacity` live ids. Only verified tokens
    /// reach it, so filling it takes that many valid tokens within their
    /// lifetime; when full it refuses new tokens rather than forget.
    pub fn with_capacity(capacity: usize) -> MemoryReplayCache {
        MemoryReplayCache {
            seen: Mutex::new(HashMap::new()),
            capacity,
        }
    }
}

#[async_trait::async_trait]
impl ReplayCache for MemoryReplayCache {
    async fn remember(
        &self,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, ReplayCacheError> {
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| ReplayCacheError("replay cache lock poisoned".into()))?;
        if let Some(&until) = seen.get(jti)
            && until >= now
        {
            return Ok(false);
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, until| *until >= now);
            if seen.len() >= self.capacity {
                return Err(ReplayCacheError(format!(
                    "{} unexpired token ids are remembered, the most this cache holds",
                    self.capacity
                )));
            }
        }
        seen.insert(jti.to_owned(), expires_at);
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ids_are_remembered_until_expiry_and_capacity_is_bounded() {
        let cache = MemoryReplayCache::with_capacity(2);
        assert!(cache.remember("a", 100, 10).await.unwrap());
        assert!(!cache.remember("a", 100, 50).await.unwrap());
        assert!(cache.remember("b", 20, 10).await.unwrap());
        // Full with live ids: fail closed.
        assert!(cache.remember("c", 100, 15).await.is_err());
        // Once `b` expired it makes room.
        assert!(cache.remember("c", 100, 30).await.unwrap());
        // An expired id is forgotten (its token is refused as expired anyway).
        let roomy = MemoryReplayCache::with_capacity(10);
        assert!(roomy.remember("x", 20, 10).await.unwrap());
        assert!(!roomy.remember("x", 20, 20).await.unwrap());
        assert!(roomy.remember("x", 90, 21).await.unwrap());
    }
}
