//! The input mutator every fuzz target shares: a valid input with a few
//! bytes replaced, inserted or removed, so a target spends its cases near
//! the inputs a parser accepts rather than on noise it refuses at the first
//! byte. Test-only; depends on nothing of the crate, so any stage's own
//! fuzz targets may use it.

use proptest::prelude::*;

/// A valid input with a few bytes replaced, inserted or removed.
pub fn mutated(seed: &str) -> impl Strategy<Value = Vec<u8>> + use<> {
    let seed = seed.as_bytes().to_vec();
    prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 0..8).prop_map(
        move |edits| {
            let mut v = seed.clone();
            for (at, kind, byte) in edits {
                if v.is_empty() {
                    v.push(byte);
                    continue;
                }
                let i = at.index(v.len());
                match kind {
                    0 => v[i] = byte,
                    1 => v.insert(i, byte),
                    _ => {
                        v.remove(i);
                    }
                }
            }
            v
        },
    )
}
