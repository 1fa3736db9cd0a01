//! The run of bytes a test keeps at the start of a slice, found sixteen
//! bytes at a time: the inner loop of the query's split into pairs, and
//! of the decoders and encoders that copy runs whole (a presigned URL's
//! parameters, the canonical query and URI, the store's key path).
//!
//! A byte loop with an exit at the first miss costs ~5 instructions a byte,
//! and a presigned URL's session token is hundreds of bytes with an escape
//! every few dozen. A whole block tested with the compares folded, without
//! an early exit, compiles to a few vector instructions.
//!
//! [`all`] is the same fold for a whole slice.
//!
//! A leaf: depends on nothing. A byte-at-a-time `position` is the oracle in
//! tests.

/// How many bytes `bytes` starts with that the test keeps.
///
/// The test comes in two spellings that must agree on every byte:
/// `block_keep`, made of arithmetic compares that vectorize, tests whole
/// 16-byte blocks; `byte_keep`, which may be a table lookup, finishes the
/// block that ends the run a byte at a time.
#[inline]
pub fn kept(
    bytes: &[u8],
    block_keep: impl Fn(u8) -> bool,
    byte_keep: impl Fn(u8) -> bool,
) -> usize {
    let (blocks, _) = bytes.as_chunks::<16>();
    let mut n = 0;
    for block in blocks {
        if !block.iter().fold(true, |all, &c| all & block_keep(c)) {
            break;
        }
        n += 16;
    }
    n + bytes[n..]
        .iter()
        .position(|&c| !byte_keep(c))
        .unwrap_or(bytes.len() - n)
}

/// Whether the test keeps every byte of `bytes`: folded without an early
/// exit, so that it compiles to a vector loop. For slices that nearly
/// always pass whole (a session token is visible ASCII, a date holds no
/// space), where a byte loop with an exit costs ~4 instructions a byte.
#[inline]
pub fn all(bytes: &[u8], keep: impl Fn(u8) -> bool) -> bool {
    bytes.iter().fold(true, |every, &c| every & keep(c))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The oracle: the first byte the test refuses, found a byte at a time.
    fn kept_bytewise(bytes: &[u8], keep: impl Fn(u8) -> bool) -> usize {
        bytes.iter().position(|&c| !keep(c)).unwrap_or(bytes.len())
    }

    fn not_escape(c: u8) -> bool {
        (c != b'%') & (c != b'+')
    }

    proptest! {
        /// Runs of every length around the block size, ended anywhere
        /// (or not at all).
        #[test]
        fn the_run_is_the_one_a_byte_loop_finds(
            bytes in proptest::collection::vec(
                prop_oneof![
                    30 => proptest::sample::select(b"abcXYZ019-_.~/".to_vec()),
                    1 => proptest::sample::select(b"%+".to_vec()),
                ],
                0..80,
            ),
        ) {
            prop_assert_eq!(
                kept(&bytes, not_escape, not_escape),
                kept_bytewise(&bytes, not_escape)
            );
        }
    }

    #[test]
    fn all_is_false_for_a_refused_byte_in_every_place() {
        for len in 0..50 {
            assert!(all(&vec![b'a'; len], not_escape), "{len}");
            for at in 0..len {
                let mut bytes = vec![b'a'; len];
                bytes[at] = b'+';
                assert!(!all(&bytes, not_escape), "{len} {at}");
            }
        }
    }

    #[test]
    fn every_end_of_a_run_is_found_in_every_place() {
        for len in 0..50 {
            for at in 0..=len {
                let mut bytes = vec![b'a'; len];
                if let Some(b) = bytes.get_mut(at) {
                    *b = b'%';
                }
                assert_eq!(kept(&bytes, not_escape, not_escape), at, "{len} {at}");
            }
        }
    }
}
