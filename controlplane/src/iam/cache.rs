//! Compiled IAM data kept for a short while. Changes on this node clear
//! their org's at once ([`super::Authorizer::invalidate_org`]); the time
//! to live bounds how long another node's change takes to be seen here.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before expired ones are swept on insertion.
const SWEEP_ABOVE: usize = 10_000;

/// Values by key, each trusted for `ttl` after it was put.
pub(super) struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<Entries<K, V>>,
}

/// The values, and how many times the cache was cleared: a value loaded
/// before a clear is not kept after it.
struct Entries<K, V> {
    values: HashMap<K, (Instant, V)>,
    generation: u64,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// An empty cache whose entries live `ttl`.
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(Entries {
                values: HashMap::new(),
                generation: 0,
            }),
        }
    }

    /// The cache's generation now: take it before loading a value, and
    /// give it to [`TtlCache::put`].
    pub(super) fn generation(&self) -> u64 {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).generation
    }

    /// The value of `key`, unless absent or expired.
    pub(super) fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .values
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Keeps `value`, loaded in generation `generation`, for `key` from
    /// now on; not when the cache was cleared since (the value may be
    /// what the clear was for).
    pub(super) fn put(&self, key: K, value: V, generation: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.generation != generation {
            return;
        }
        if entries.values.len() >= SWEEP_ABOVE {
            entries.values.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        entries.values.insert(key, (Instant::now(), value));
    }

    /// Forgets the entries whose keys `stale` picks, and whatever is being
    /// loaded (a load in flight does not say for which key, so none is
    /// kept: it is loaded again on its next use).
    pub(super) fn clear_where(&self, stale: impl Fn(&K) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.generation += 1;
        entries.values.retain(|k, _| !stale(k));
    }
}

#[cfg(test)]
mod tests {
    use super::TtlCache;
    use std::time::Duration;

    #[test]
    fn entries_expire_and_clear() {
        let cache = TtlCache::new(Duration::from_millis(30));
        cache.put("a", 1, cache.generation());
        assert_eq!(cache.get(&"a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"a"), None, "expired");
        cache.put("b", 2, cache.generation());
        cache.put("d", 4, cache.generation());
        cache.clear_where(|k| *k == "b");
        assert_eq!(cache.get(&"b"), None, "cleared");
        assert_eq!(cache.get(&"d"), Some(4), "not picked, kept");
        // A value loaded before a clear is not kept after it.
        let before = cache.generation();
        cache.clear_where(|k| *k == "b");
        cache.put("c", 3, before);
        assert_eq!(cache.get(&"c"), None, "stale");
    }
}
