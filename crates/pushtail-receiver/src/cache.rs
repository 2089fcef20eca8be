//! A bounded cache of per-stream work (label parsing, target labels,
//! tenant, relabeling), keyed by the incoming label bytes and the request's
//! header tenant.
//!
//! The lock is held only to look up or insert, never while computing and
//! never across an `.await`. When the cache grows past its bound (entries
//! or estimated bytes) it is cleared: streams repeat, so it refills with the
//! live ones at once. A request with more distinct streams than the cache
//! holds does not insert at all (it would only churn it).

use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::RandomState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Most cached results per target before the cache is cleared.
const MAX_ENTRIES: usize = 10_000;
/// Most bytes (estimated: keys, their results, map slots) per target
/// before the cache is cleared, so long label strings cannot make 10 000
/// entries cost hundreds of megabytes.
const MAX_BYTES: usize = 8 << 20;
/// What one entry costs besides its key: the map slot, the result (a label
/// set with its rendering, about the key's size again) and allocator
/// overhead. An estimate, on the high side.
const ENTRY_OVERHEAD: usize = 256;
/// Longer keys are computed every time rather than kept: a megabyte label
/// string should not be pinned in memory.
const MAX_KEY_LEN: usize = 4096;

/// Results of `compute` per (`scope`, key bytes).
pub(crate) struct Cache<S, V> {
    inner: Mutex<Inner<S, V>>,
    computed: AtomicU64,
}

struct Inner<S, V> {
    /// foldhash: per-process random seed like std's SipHash, but several
    /// times cheaper on the ~100-byte label strings hashed for every stream
    /// of every request.
    map: HashMap<S, HashMap<Box<[u8]>, V, RandomState>, RandomState>,
    len: usize,
    /// Estimated bytes held, see [`entry_cost`].
    bytes: usize,
}

/// The estimated cost of caching a result under `key`.
fn entry_cost(key: &[u8]) -> usize {
    2 * key.len() + ENTRY_OVERHEAD
}

impl<S, V> Cache<S, V> {
    /// Most entries held at once.
    pub(crate) const CAPACITY: usize = MAX_ENTRIES;
}

impl<S: Eq + Hash + Clone, V: Clone> Cache<S, V> {
    pub(crate) fn new() -> Self {
        Cache {
            inner: Mutex::new(Inner {
                map: HashMap::default(),
                len: 0,
                bytes: 0,
            }),
            computed: AtomicU64::new(0),
        }
    }

    /// The cached value for (`scope`, `key`), computing it on a miss and
    /// caching it if `insert`.
    pub(crate) fn get_or_compute(
        &self,
        scope: &S,
        key: &[u8],
        insert: bool,
        compute: impl FnOnce() -> V,
    ) -> V {
        if let Some(v) = self.lock().map.get(scope).and_then(|m| m.get(key)).cloned() {
            return v;
        }
        let value = compute();
        self.computed.fetch_add(1, Ordering::Relaxed);
        if insert && key.len() <= MAX_KEY_LEN {
            let cost = entry_cost(key);
            let mut inner = self.lock();
            if inner.len >= MAX_ENTRIES || inner.bytes + cost > MAX_BYTES {
                // Dropped, not kept empty: the maps' capacity goes too.
                inner.map = HashMap::default();
                inner.len = 0;
                inner.bytes = 0;
            }
            let map = inner.map.entry(scope.clone()).or_default();
            if map.insert(key.into(), value.clone()).is_none() {
                inner.len += 1;
                inner.bytes += cost;
            }
        }
        value
    }

    /// How many times a value was computed (misses), for tests.
    #[cfg(test)]
    pub(crate) fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<S, V>> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // (inserts are single calls), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_once_per_scope_and_key() {
        let cache: Cache<u8, usize> = Cache::new();
        for _ in 0..3 {
            assert_eq!(cache.get_or_compute(&0, b"a", true, || 1), 1);
            assert_eq!(cache.get_or_compute(&1, b"a", true, || 2), 2);
            assert_eq!(cache.get_or_compute(&0, b"b", true, || 3), 3);
        }
        assert_eq!(cache.computed(), 3);
        // Not inserting: computed every time, nothing kept.
        cache.get_or_compute(&0, b"c", false, || 4);
        cache.get_or_compute(&0, b"c", false, || 4);
        assert_eq!(cache.computed(), 5);
        assert_eq!(cache.lock().len, 3);
    }

    #[test]
    fn long_keys_are_not_kept_and_size_is_bounded() {
        let cache: Cache<u8, u8> = Cache::new();
        let long = vec![b'x'; MAX_KEY_LEN + 1];
        cache.get_or_compute(&0, &long, true, || 1);
        cache.get_or_compute(&0, &long, true, || 1);
        assert_eq!(cache.computed(), 2);
        for i in 0..(MAX_ENTRIES + 5) {
            cache.get_or_compute(&0, i.to_string().as_bytes(), true, || 0);
        }
        assert!(cache.lock().len <= MAX_ENTRIES);
    }

    #[test]
    fn size_is_bounded_by_bytes() {
        let cache: Cache<u8, u8> = Cache::new();
        let mut key = vec![b'x'; MAX_KEY_LEN];
        for i in 0..MAX_ENTRIES {
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.get_or_compute(&0, &key, true, || 0);
            let inner = cache.lock();
            assert!(inner.bytes <= MAX_BYTES);
            let held: usize = inner
                .map
                .values()
                .flat_map(|m| m.keys())
                .map(|k| entry_cost(k))
                .sum();
            assert_eq!(held, inner.bytes);
        }
        assert!(cache.lock().len < MAX_BYTES / MAX_KEY_LEN);
    }
}
