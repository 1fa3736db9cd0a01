//! Counts of what is in flight per key (a principal's requests, a client
//! address's connections), so one caller cannot take every slot.
//!
//! A count lives in a map entry while anything holds it; the [`Held`]
//! guard gives it back on drop, and the last guard removes the entry, so
//! the map only ever holds keys that have something in flight. The map is
//! split in shards by the key's hash, so concurrent requests of different
//! callers rarely meet on one lock, and each lock is held for one hash-map
//! update.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex, PoisonError};

const SHARDS: usize = 16;

type Shard<K> = Arc<Mutex<HashMap<K, usize>>>;

/// Per-key counts with a limit.
pub struct InFlight<K: Hash + Eq + Clone> {
    limit: usize,
    hasher: RandomState,
    shards: [Shard<K>; SHARDS],
}

/// One slot of a key, given back on drop.
pub struct Held<K: Hash + Eq + Clone> {
    key: K,
    counts: Shard<K>,
}

impl<K: Hash + Eq + Clone> InFlight<K> {
    /// At most `limit` at once per key; 0 is no limit.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Arc::default()),
        }
    }

    /// A key for `name` in this map's own random hash, so a count can be
    /// kept per name without holding (or allocating) the name: two names
    /// meet on one count only by a 64-bit collision of a secret hash.
    pub fn key_of(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    fn shard(&self, key: &K) -> &Shard<K> {
        // The low bits pick the shard; truncation is the point.
        #[allow(clippy::cast_possible_truncation, reason = "a shard index")]
        let i = self.hasher.hash_one(key) as usize % SHARDS;
        &self.shards[i]
    }

    /// Takes a slot of `key`, or `None` when it already holds `limit`.
    /// With no limit, nothing is counted.
    pub fn enter(&self, key: &K) -> Option<Option<Held<K>>> {
        if self.limit == 0 {
            return Some(None);
        }
        let shard = self.shard(key);
        let mut counts = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(key.clone()).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Some(Held {
            key: key.clone(),
            counts: shard.clone(),
        }))
    }

    /// What `key` holds now.
    pub fn held(&self, key: &K) -> usize {
        let counts = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.get(key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq + Clone> Drop for Held<K> {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_its_limit_and_gets_slots_back_on_drop() {
        let f = InFlight::new(2);
        let a1 = f.enter(&"a").unwrap();
        let a2 = f.enter(&"a").unwrap();
        assert!(f.enter(&"a").is_none(), "a third slot for a");
        assert!(f.enter(&"b").is_some(), "b has its own count");
        drop(a1);
        let a3 = f.enter(&"a").unwrap();
        drop((a2, a3));
        assert_eq!(f.held(&"a"), 0);
        assert!(
            f.shards.iter().all(|s| s.lock().unwrap().is_empty()),
            "entries leave with their last slot"
        );
    }

    #[test]
    fn zero_is_no_limit() {
        let f = InFlight::new(0);
        let held: Vec<_> = (0..1000).map(|_| f.enter(&"a").unwrap()).collect();
        assert!(held.iter().all(Option::is_none));
    }
}
