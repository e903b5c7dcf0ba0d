//! One async lock per key (a pull request, a commit's check run), so that
//! calls of this process on the same target run one after the other and a
//! find-then-create cannot race another. The worker also serializes across
//! processes with Postgres advisory locks; this covers one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;

/// Locks by key; entries are removed when nobody holds or waits for them.
#[derive(Debug, Default)]
pub(crate) struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while working on one key.
#[derive(Debug)]
pub(crate) struct KeyGuard<'a> {
    owner: &'a KeyedLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    /// Wait for and take the lock of `key`.
    pub async fn lock(&self, key: String) -> KeyGuard<'_> {
        let lock = Arc::clone(
            self.map()
                .entry(key.clone())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))),
        );
        let guard = lock.lock_owned().await;
        KeyGuard {
            owner: self,
            key,
            guard: Some(guard),
        }
    }

    /// How many keys have an entry (for tests of the clean-up).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        // Plain data: a panic elsewhere cannot leave it inconsistent.
        self.locks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.owner.map();
        // Release first; then, under the map's lock (where every clone of
        // the Arc is made), only the map holds it if nobody waits.
        self.guard = None;
        if map
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_key_waits_and_entries_are_cleaned_up() {
        let locks = KeyedLocks::default();
        let first = locks.lock("a".to_owned()).await;
        let other = locks.lock("b".to_owned()).await;
        assert_eq!(locks.len(), 2);
        let second = locks.lock("a".to_owned());
        tokio::pin!(second);
        // While `first` is held, the second lock on "a" cannot complete.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), &mut second)
                .await
                .is_err()
        );
        drop(first);
        let second = second.await;
        drop(second);
        drop(other);
        assert_eq!(locks.len(), 0);
    }
}
