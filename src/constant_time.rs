//! Comparing secrets in constant time: signatures, tokens, keys. The
//! time depends on the lengths only (never secret here: a signature is
//! 32 bytes, a token's length is public), not on where the bytes differ.
//!
//! A leaf: depends on `subtle` only.

use subtle::ConstantTimeEq as _;

/// Whether `a` and `b` are the same bytes, in time that depends only on
/// their lengths. The differences of all the words are OR-ed together
/// with no branch, and only the total goes through `subtle`'s barrier:
/// `subtle`'s slice comparison takes one barrier per byte: ~230
/// instructions for a 32-byte signature, and for a session token about
/// what hashing the token cost.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_tail) = a.as_chunks::<8>();
    let (b_words, b_tail) = b.as_chunks::<8>();
    let mut diff = 0u64;
    for (x, y) in a_words.iter().zip(b_words) {
        diff |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
    }
    for (x, y) in a_tail.iter().zip(b_tail) {
        diff |= u64::from(x ^ y);
    }
    diff.ct_eq(&0).into()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::same_bytes;

    proptest! {
        /// The word-wise comparison says what `==` says, for every length
        /// and for a difference in any one byte (inside a word or in the
        /// tail).
        #[test]
        fn same_bytes_is_equality(
            a in proptest::collection::vec(any::<u8>(), 0..300),
            at in any::<prop::sample::Index>(),
            flip in 1u8..,
            other in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            prop_assert!(same_bytes(&a, &a.clone()));
            prop_assert_eq!(same_bytes(&a, &other), a == other);
            if !a.is_empty() {
                let mut b = a.clone();
                b[at.index(a.len())] ^= flip;
                prop_assert!(!same_bytes(&a, &b));
                prop_assert!(!same_bytes(&b, &a));
            }
            let mut longer = a.clone();
            longer.push(0);
            prop_assert!(!same_bytes(&a, &longer));
        }
    }
}
