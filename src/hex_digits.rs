//! Hex digits by table: of SHA-256 hashes and signatures (sigv4), and of
//! percent-escapes (sigv4's canonical query and presigned parameters, s3's
//! key and parameter names), the one spelling of "a hex digit" both use.
//! Every request decodes a signature and a payload hash and encodes two
//! hashes; the `hex` crate's generic loops cost ~12 instructions a byte
//! there, a table load and a shift cost ~3.
//!
//! A leaf: depends on nothing. The `hex` crate stays the oracle in tests.

/// Set in [`DIGIT`] for an uppercase `A`–`F`.
const UPPER: u8 = 0x40;
/// Set in [`DIGIT`] for a byte that is no hex digit at all.
const INVALID: u8 = 0x80;

/// Each byte's digit value in the low nibble, with [`UPPER`] or [`INVALID`]
/// flagged above it. Flags are OR-ed across a whole input and checked once,
/// so decoding has no branch per byte.
static DIGIT: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = UPPER | (10 + i as u8);
        i += 1;
    }
    table
};

const LOWER_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Which spellings a decode accepts.
#[derive(Clone, Copy)]
pub enum Case {
    /// `0-9a-f` only: how SigV4 writes signatures, the one spelling AWS
    /// accepts for them.
    Lower,
    /// Either case, as a payload hash or a chunk's hash may be written.
    Either,
}

/// Each byte's two lowercase hex digits: one load a byte where two
/// nibble lookups and their shifts and masks took ~8 instructions.
static LOWER_PAIRS: [[u8; 2]; 256] = {
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [LOWER_DIGITS[b >> 4], LOWER_DIGITS[b & 0x0f]];
        b += 1;
    }
    table
};

/// 32 bytes as 64 lowercase hex digits, into a stack buffer.
pub fn encode32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    // Indexed over fixed sizes, so the bounds checks compile away (the
    // `chunks_exact_mut().zip()` spelling did not, and cost 3× as much).
    for i in 0..32 {
        let [high, low] = LOWER_PAIRS[usize::from(bytes[i])];
        out[2 * i] = high;
        out[2 * i + 1] = low;
    }
    out
}

/// Exactly 64 hex digits as 32 bytes; `None` for any other length, any
/// non-digit, or (with [`Case::Lower`]) an uppercase digit.
pub fn decode32(text: &[u8], case: Case) -> Option<[u8; 32]> {
    let text: &[u8; 64] = text.try_into().ok()?;
    let mut out = [0u8; 32];
    let mut flags = 0u8;
    for i in 0..32 {
        let (high, low) = (
            DIGIT[usize::from(text[2 * i])],
            DIGIT[usize::from(text[2 * i + 1])],
        );
        flags |= high | low;
        // The shift drops the high digit's flag bits; the mask the low one's.
        out[i] = (high << 4) | (low & 0x0f);
    }
    let refused = match case {
        Case::Lower => INVALID | UPPER,
        Case::Either => INVALID,
    };
    (flags & refused == 0).then_some(out)
}

/// One hex digit of either case (a percent-escape's).
pub fn digit(c: u8) -> Option<u8> {
    let d = DIGIT[usize::from(c)];
    (d & INVALID == 0).then_some(d & 0x0f)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 64 hex digits of mixed case, sometimes with one byte replaced by
    /// anything (often a neighbour a range test could get wrong: `/`, `:`,
    /// `@`, `G`, `` ` ``, `g`), sometimes a few digits short or long.
    fn hexish() -> impl Strategy<Value = Vec<u8>> {
        let digits: Vec<u8> = b"0123456789abcdefABCDEF".to_vec();
        let odd: Vec<u8> = b"/:@G`g \x00\xff".to_vec();
        (
            proptest::collection::vec(proptest::sample::select(digits), 60..=68),
            proptest::option::of((
                any::<prop::sample::Index>(),
                prop_oneof![proptest::sample::select(odd), any::<u8>(),],
            )),
        )
            .prop_map(|(mut text, swap)| {
                if let Some((at, byte)) = swap {
                    let i = at.index(text.len());
                    text[i] = byte;
                }
                text
            })
    }

    proptest! {
        #[test]
        fn encode_is_the_hex_crates(bytes in any::<[u8; 32]>()) {
            prop_assert_eq!(encode32(&bytes).to_vec(), hex::encode(bytes).into_bytes());
        }

        #[test]
        fn decode_is_the_hex_crates(text in hexish()) {
            let mut oracle = [0u8; 32];
            let either = hex::decode_to_slice(&text, &mut oracle).ok().map(|()| oracle);
            prop_assert_eq!(decode32(&text, Case::Either), either);
            let lower = either.filter(|_| !text.iter().any(u8::is_ascii_uppercase));
            prop_assert_eq!(decode32(&text, Case::Lower), lower);
        }
    }

    #[test]
    fn a_digit_is_read_in_either_case_and_nothing_else_is() {
        for c in 0..=255u8 {
            let expected = (c as char).to_digit(16).map(|d| d as u8);
            assert_eq!(digit(c), expected, "{c:#04x}");
        }
    }

    #[test]
    fn an_uppercase_signature_is_refused_but_an_uppercase_hash_is_read() {
        let lower = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let upper = lower.to_ascii_uppercase();
        let bytes = decode32(lower.as_bytes(), Case::Lower).unwrap();
        assert_eq!(decode32(upper.as_bytes(), Case::Either), Some(bytes));
        assert_eq!(decode32(upper.as_bytes(), Case::Lower), None);
        assert_eq!(encode32(&bytes), *lower.as_bytes());
    }
}
