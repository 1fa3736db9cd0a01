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
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

/// A power of two: a key's top bits pick its shard.
const SHARDS: usize = 16;

/// A key's count, by the key's secret 64-bit hash ([`InFlight::enter`]).
type Shard = Arc<Mutex<HashMap<u64, usize, BuildHasherDefault<Hashed>>>>;

/// Per-key counts with a limit.
///
/// A key is counted under its hash in this map's own secret `RandomState`,
/// hashed once: the shard is picked by it and the shard's map is keyed by
/// it, without hashing it again. So no key is held (or allocated) per
/// count, and two keys meet on one count only by a 64-bit collision of a
/// secret hash. Hashing the name, then that hash for the shard, then again
/// for the map on taking and on giving back a slot was four SipHashes a
/// request.
pub struct InFlight {
    limit: usize,
    hasher: RandomState,
    shards: [Shard; SHARDS],
}

/// One slot of a key, given back on drop.
pub struct Held {
    key: u64,
    counts: Shard,
}

impl InFlight {
    /// At most `limit` at once per key; 0 is no limit.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Arc::default()),
        }
    }

    /// `key`'s secret hash, and the shard it is counted in.
    fn slot<K: Hash + ?Sized>(&self, key: &K) -> (u64, &Shard) {
        let hash = self.hasher.hash_one(key);
        // The top bits pick the shard, so the low bits the shard's map
        // places a key by still differ between the keys of one shard.
        #[allow(clippy::cast_possible_truncation, reason = "four bits")]
        let i = (hash >> (u64::BITS - SHARDS.ilog2())) as usize;
        (hash, &self.shards[i])
    }

    /// Takes a slot of `key`, or `None` when it already holds `limit`.
    /// With no limit, nothing is counted.
    pub fn enter<K: Hash + ?Sized>(&self, key: &K) -> Option<Option<Held>> {
        if self.limit == 0 {
            return Some(None);
        }
        let (key, shard) = self.slot(key);
        let mut counts = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(key).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Some(Held {
            key,
            counts: shard.clone(),
        }))
    }

    /// What `key` holds now.
    pub fn held<K: Hash + ?Sized>(&self, key: &K) -> usize {
        let (key, shard) = self.slot(key);
        let counts = shard.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&key).copied().unwrap_or(0)
    }
}

impl Drop for Held {
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

/// The hasher of a map whose keys are already secret 64-bit hashes: it
/// passes the key through.
#[derive(Default)]
struct Hashed(u64);

impl Hasher for Hashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; should anything else be, fold
        // it in rather than drop it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_its_limit_and_gets_slots_back_on_drop() {
        let f = InFlight::new(2);
        let a1 = f.enter("a").unwrap();
        let a2 = f.enter("a").unwrap();
        assert_eq!(f.held("a"), 2);
        assert!(f.enter("a").is_none(), "a third slot for a");
        assert!(f.enter("b").is_some(), "b has its own count");
        drop(a1);
        assert_eq!(f.held("a"), 1);
        let a3 = f.enter("a").unwrap();
        drop((a2, a3));
        assert_eq!(f.held("a"), 0);
        assert!(
            f.shards.iter().all(|s| s.lock().unwrap().is_empty()),
            "entries leave with their last slot"
        );
    }

    #[test]
    fn many_keys_count_apart_across_the_shards() {
        let f = InFlight::new(1);
        let held: Vec<_> = (0..1000)
            .map(|i| f.enter(&format!("principal-{i}")).unwrap())
            .collect();
        assert!(f.enter("principal-7").is_none(), "its one slot is taken");
        let used = f.shards.iter().filter(|s| !s.lock().unwrap().is_empty());
        assert_eq!(used.count(), SHARDS, "1,000 keys reach every shard");
        drop(held);
        assert!(f.shards.iter().all(|s| s.lock().unwrap().is_empty()));
    }

    #[test]
    fn zero_is_no_limit() {
        let f = InFlight::new(0);
        let held: Vec<_> = (0..1000).map(|_| f.enter("a").unwrap()).collect();
        assert!(held.iter().all(Option::is_none));
    }
}
