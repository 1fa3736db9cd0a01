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
//! [`all`] is the same fold for a whole slice, and [`all_by_words`] its
//! form for short slices, eight bytes a step.
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

/// Like [`all`], for slices that are mostly short: from 8 to 31 bytes
/// they are tested eight bytes a step, the last step overlapping the one
/// before, where a vector loop would go over a slice shorter than its
/// width a byte at a time (~6 instructions a byte). The test is spelled
/// twice and both must agree: `keep` for a byte, and `refused_in` for a
/// little-endian word of eight, not zero when it holds a byte `keep`
/// refuses (built from [`below_in`] and [`equal_in`]).
#[inline]
pub fn all_by_words(
    bytes: &[u8],
    keep: impl Fn(u8) -> bool,
    refused_in: impl Fn(u64) -> u64,
) -> bool {
    if !(8..32).contains(&bytes.len()) {
        return all(bytes, keep);
    }
    let (words, _) = bytes.as_chunks::<8>();
    let mut last = [0u8; 8];
    last.copy_from_slice(&bytes[bytes.len() - 8..]);
    let refused = words
        .iter()
        .fold(refused_in(u64::from_le_bytes(last)), |found, word| {
            found | refused_in(u64::from_le_bytes(*word))
        });
    refused == 0
}

const ONES: u64 = 0x0101_0101_0101_0101;
const TOPS: u64 = 0x8080_8080_8080_8080;

/// Not zero exactly when a byte of `word` is below `n` (`n` at most 0x80).
/// `(x - 0x01…01·n) & !x & 0x80…80`: a borrow only starts at a byte below
/// `n`, so without one every byte is tested alone, and a byte of 0x80 or
/// more never sets its top bit here; the lowest byte below `n` always does.
#[inline]
pub const fn below_in(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * n as u64) & !word & TOPS
}

/// Not zero exactly when a byte of `word` is `b`.
#[inline]
pub const fn equal_in(word: u64, b: u8) -> u64 {
    below_in(word ^ (ONES * b as u64), 1)
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

    /// `all_by_words` against the byte test, for slices of every length
    /// around its steps with one byte anywhere, that byte anything: two
    /// tests of the shapes its callers use (a range and two bytes; one or
    /// two bytes).
    #[test]
    fn all_by_words_is_the_byte_test_for_every_byte_in_every_place() {
        let json = |c: u8| (c >= 0x20) & (c != b'"') & (c != b'\\');
        let json_word = |w: u64| below_in(w, 0x20) | equal_in(w, b'"') | equal_in(w, b'\\');
        let escape = |c: u8| (c != b'%') & (c != b'+');
        let escape_word = |w: u64| equal_in(w, b'%') | equal_in(w, b'+');
        for len in 0..40 {
            for at in 0..len.max(1) {
                for b in 0..=u8::MAX {
                    let mut bytes = vec![b'a'; len];
                    if let Some(c) = bytes.get_mut(at) {
                        *c = b;
                    }
                    assert_eq!(
                        all_by_words(&bytes, json, json_word),
                        bytes.iter().all(|&c| json(c)),
                        "json: len {len}, {b:#04x} at {at}"
                    );
                    assert_eq!(
                        all_by_words(&bytes, escape, escape_word),
                        bytes.iter().all(|&c| escape(c)),
                        "escape: len {len}, {b:#04x} at {at}"
                    );
                }
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
