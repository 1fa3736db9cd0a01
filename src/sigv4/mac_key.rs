//! HMAC-SHA256 under a key that signs many messages: the key's inner and
//! outer pads are absorbed into two SHA-256 states once, when the key is
//! made, and every MAC starts from those states.
//!
//! HMAC hashes `key ⊕ ipad` and `key ⊕ opad`, one block each, before and
//! after the message. A signing key signs every request of its session for
//! a day, so those two blocks were the same work on every request, twice a
//! request (the caller's signature and the store's): 4 of the ~30 SHA-256
//! blocks a request costs. The `hmac` crate has no way to keep them, and its
//! state cannot be zeroized; these states are key material, so every value
//! here is zeroized on drop.
//!
//! Pure. Depends on `sha2`'s block function (which picks the CPU's SHA
//! instructions when it has them) and nothing else of ours. The `hmac`
//! crate is the oracle in tests.

use sha2::compress256;
use sha2::digest::generic_array::GenericArray;
use zeroize::Zeroize;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];
const BLOCK: usize = 64;

fn compress(state: &mut [u32; 8], block: &[u8]) {
    compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
}

/// A 32-byte HMAC-SHA256 key, as the two SHA-256 states its pads leave.
#[derive(Clone)]
pub struct MacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl Drop for MacKey {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

impl MacKey {
    pub fn new(key: &[u8; 32]) -> MacKey {
        // RFC 2104: the key zero-padded to a block, XOR-ed with each pad.
        let mut pad = [0x36u8; BLOCK];
        for (p, k) in pad.iter_mut().zip(key) {
            *p ^= k;
        }
        let mut inner = IV;
        compress(&mut inner, &pad);
        for p in &mut pad {
            *p ^= 0x36 ^ 0x5c;
        }
        let mut outer = IV;
        compress(&mut outer, &pad);
        pad.zeroize();
        MacKey { inner, outer }
    }

    /// A MAC under this key, its message still to come.
    pub fn begin(&self) -> Mac {
        Mac {
            state: self.inner,
            outer: self.outer,
            block: [0; BLOCK],
            filled: 0,
            // The inner pad's block is already in `state`.
            total: BLOCK as u64,
        }
    }
}

/// One MAC being computed: the inner hash's running state and the outer
/// pad's state that will finish it.
pub struct Mac {
    state: [u32; 8],
    outer: [u32; 8],
    /// The message bytes not yet hashed (fewer than a block).
    block: [u8; BLOCK],
    filled: usize,
    /// Bytes hashed by the inner hash so far, the pad's block included.
    total: u64,
}

impl Drop for Mac {
    fn drop(&mut self) {
        self.state.zeroize();
        self.outer.zeroize();
        self.block.zeroize();
    }
}

impl Mac {
    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.filled > 0 {
            let take = data.len().min(BLOCK - self.filled);
            let (head, rest) = data.split_at(take);
            self.block[self.filled..self.filled + take].copy_from_slice(head);
            self.filled += take;
            data = rest;
            if self.filled < BLOCK {
                return;
            }
            compress(&mut self.state, &self.block);
            self.filled = 0;
        }
        let mut blocks = data.chunks_exact(BLOCK);
        for block in &mut blocks {
            compress(&mut self.state, block);
        }
        let rest = blocks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    pub fn finalize(mut self) -> [u8; 32] {
        let mut inner_hash = [0u8; BLOCK];
        inner_hash[..32].copy_from_slice(&finish(
            &mut self.state,
            &mut self.block,
            self.filled,
            self.total,
        ));
        // The outer hash: its pad's block (in `outer`), then the inner hash.
        finish(&mut self.outer, &mut inner_hash, 32, (BLOCK + 32) as u64)
    }
}

/// SHA-256's padding and length over the `filled` bytes left in `block`,
/// `total` bytes hashed in all; the digest.
fn finish(state: &mut [u32; 8], block: &mut [u8; BLOCK], filled: usize, total: u64) -> [u8; 32] {
    block[filled] = 0x80;
    block[filled + 1..].fill(0);
    // The 8-byte length must fit after the 0x80: else it takes a block more.
    if filled + 1 > BLOCK - 8 {
        compress(state, block);
        block.fill(0);
    }
    block[BLOCK - 8..].copy_from_slice(&(total * 8).to_be_bytes());
    compress(state, block);
    let mut digest = [0u8; 32];
    for (out, word) in digest.chunks_exact_mut(4).zip(state.iter()) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use hmac::{Hmac, Mac as _};
    use proptest::prelude::*;
    use sha2::Sha256;

    use super::*;

    fn oracle(key: &[u8; 32], pieces: &[Vec<u8>]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        for p in pieces {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    proptest! {
        /// Messages fed in pieces of every size, so that pieces end on,
        /// before and after block boundaries, and messages end where the
        /// padding does and does not need a block of its own (55, 56, 63,
        /// 64 bytes past a boundary).
        #[test]
        fn macs_are_the_hmac_crates(
            key: [u8; 32],
            pieces in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..8),
                    proptest::collection::vec(any::<u8>(), 50..70),
                    proptest::collection::vec(any::<u8>(), 0..200),
                ],
                0..6,
            ),
        ) {
            let k = MacKey::new(&key);
            let mut mac = k.begin();
            for p in &pieces {
                mac.update(p);
            }
            prop_assert_eq!(mac.finalize(), oracle(&key, &pieces));
        }
    }

    #[test]
    fn every_message_length_around_the_padding_edges() {
        let key = [0x0b; 32];
        let k = MacKey::new(&key);
        for len in 0..=200 {
            let message = vec![0xa5; len];
            let mut mac = k.begin();
            mac.update(&message);
            assert_eq!(mac.finalize(), oracle(&key, &[message]), "{len} bytes");
        }
    }

    /// RFC 4231 test case 2 has a 4-byte key: zero-padded to 32 bytes it
    /// is the same HMAC key (RFC 2104 pads it to a block either way).
    #[test]
    fn rfc_4231_case_2() {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let mut mac = MacKey::new(&key).begin();
        mac.update(b"what do ya want ");
        mac.update(b"for nothing?");
        assert_eq!(
            crate::sigv4::hex32(&mac.finalize()),
            *b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
