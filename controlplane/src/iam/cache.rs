//! Compiled IAM data kept for a short while. Changes on this node clear
//! their org's at once ([`super::Authorizer::invalidate_org`]); the time
//! to live bounds how long another node's change takes to be seen here.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before expired ones are swept on insertion.
const SWEEP_ABOVE: usize = 10_000;

/// Values by org and key, each trusted for `ttl` after it was put.
pub(super) struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<Entries<K, V>>,
}

/// The values of each org, and how many there are in all.
struct Entries<K, V> {
    orgs: HashMap<String, OrgEntries<K, V>>,
    len: usize,
}

/// One org's values, and how many times they were cleared: a value loaded
/// before a clear is not kept after it. Another org's clears leave them,
/// and their loads, alone.
struct OrgEntries<K, V> {
    values: HashMap<K, (Instant, V)>,
    generation: u64,
}

impl<K, V> Entries<K, V> {
    /// `org`'s values, made empty (generation 0) the first time.
    fn org(&mut self, org: &str) -> &mut OrgEntries<K, V> {
        self.orgs.entry(org.to_owned()).or_insert_with(|| OrgEntries {
            values: HashMap::new(),
            generation: 0,
        })
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// An empty cache whose entries live `ttl`.
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(Entries {
                orgs: HashMap::new(),
                len: 0,
            }),
        }
    }

    /// The generation of `org`'s values now: take it before loading one,
    /// and give it to [`TtlCache::put`].
    pub(super) fn generation(&self, org: &str) -> u64 {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.orgs.get(org).map_or(0, |o| o.generation)
    }

    /// The value of `key` in `org`, unless absent or expired.
    pub(super) fn get(&self, org: &str, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .orgs
            .get(org)?
            .values
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Keeps `value`, loaded in generation `generation` of `org`, for
    /// `key` from now on; not when the org's values were cleared since
    /// (the value may be what the clear was for).
    pub(super) fn put(&self, org: &str, key: K, value: V, generation: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.orgs.get(org).map_or(0, |o| o.generation) != generation {
            return;
        }
        if entries.len >= SWEEP_ABOVE {
            let ttl = self.ttl;
            for o in entries.orgs.values_mut() {
                o.values.retain(|_, (at, _)| at.elapsed() < ttl);
            }
            entries.len = entries.orgs.values().map(|o| o.values.len()).sum();
        }
        if entries
            .org(org)
            .values
            .insert(key, (Instant::now(), value))
            .is_none()
        {
            entries.len += 1;
        }
    }

    /// Forgets `org`'s values, and whatever of it is being loaded.
    pub(super) fn clear_org(&self, org: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let o = entries.org(org);
        let cleared = o.values.len();
        o.values.clear();
        o.generation += 1;
        entries.len -= cleared;
    }
}

#[cfg(test)]
mod tests {
    use super::TtlCache;
    use std::time::Duration;

    #[test]
    fn entries_expire_and_clear_by_org() {
        let cache = TtlCache::new(Duration::from_millis(30));
        cache.put("o", "a", 1, cache.generation("o"));
        assert_eq!(cache.get("o", &"a"), Some(1));
        assert_eq!(cache.get("p", &"a"), None, "another org's");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get("o", &"a"), None, "expired");
        cache.put("o", "b", 2, cache.generation("o"));
        cache.put("p", "d", 4, cache.generation("p"));
        // A load of another org, in flight across the clear.
        let theirs = cache.generation("p");
        cache.clear_org("o");
        assert_eq!(cache.get("o", &"b"), None, "cleared");
        assert_eq!(cache.get("p", &"d"), Some(4), "another org's, kept");
        cache.put("p", "e", 5, theirs);
        assert_eq!(cache.get("p", &"e"), Some(5), "another org's load kept");
        // A value loaded before a clear of its org is not kept after it.
        let before = cache.generation("o");
        cache.clear_org("o");
        cache.put("o", "c", 3, before);
        assert_eq!(cache.get("o", &"c"), None, "stale");
    }
}
