//! Random names, bytes and their digests: every run and test gets its own
//! buckets, users and keys, so tests sharing a store never collide.

use rand::Rng;
use sha2::{Digest, Sha256};

/// A name no other test (or run) uses: `label-<10 random>`, valid as a bucket.
pub fn unique_name(label: &str) -> String {
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    format!("{label}-{}", random_lower(10))
}

pub fn random_lower(n: usize) -> String {
    random_alnum(n * 2)
        .to_ascii_lowercase()
        .chars()
        .take(n)
        .collect()
}

pub fn random_upper(n: usize) -> String {
    random_alnum(n).to_ascii_uppercase()
}

pub fn random_alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut data = vec![0u8; n];
    rand::rng().fill(&mut data[..]);
    data
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}
